// A fresh ~vpopmail and /var/qmail in a temp dir for lib/accounts and admin-tool tests, the account
// context over the cdb backend, and the consistency checks crash tests need.
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { accountsContext, type AccountsContext } from '../../lib/accounts/context.ts';
import type { Backend } from '../../lib/backends/backend.ts';
import { createCdbBackend } from '../../lib/backends/cdb.ts';
import { loadConfig, type Config } from '../../lib/config.ts';
import { compileUsersCdb } from '../../lib/store/assign.ts';
import { parseVpasswdLine } from '../../lib/store/vpasswd.ts';
import { tempDir, tinycdbDump } from './cdb-tools.ts';
import { recordOutput } from './capture.ts';
import { binPath } from './dist.ts';

export interface Home {
  readonly root: string;
  readonly vhome: string;
  readonly qhome: string;
  /** The environment that points the programs at this home. */
  readonly env: Record<string, string>;
  readonly config: Config;
  readonly backend: Backend;
  readonly ctx: AccountsContext;
  /** How often qmail-send would have been signalled. */
  readonly hups: { count: number };
}

export interface HomeOptions {
  /** Lines of ~vpopmail/etc/vpopmail.conf. */
  readonly conf?: string;
  /** Contents of ~vpopmail/etc/password_strength.conf (default: C's shipped policy). */
  readonly policy?: string;
  /** Contents of ~vpopmail/etc/vlimits.default (default: none). */
  readonly limits?: string;
  readonly now?: () => number;
}

export const SHIPPED_POLICY = 'Policy = Passwords must be at least one character long\nLength >= 1\n';

export function makeHome(t: ExecutionContext, options: HomeOptions = {}): Home {
  const root = tempDir(t);
  const vhome = join(root, 'vpopmail');
  const qhome = join(root, 'qmail');
  for (const d of [join(vhome, 'etc'), join(vhome, 'domains'), join(vhome, 'bin'), join(qhome, 'users'), join(qhome, 'control')]) {
    mkdirSync(d, { recursive: true });
  }
  writeFileSync(join(vhome, 'etc', 'password_strength.conf'), options.policy ?? SHIPPED_POLICY);
  if (options.limits !== undefined) writeFileSync(join(vhome, 'etc', 'vlimits.default'), options.limits);
  if (options.conf !== undefined) writeFileSync(join(vhome, 'etc', 'vpopmail.conf'), options.conf);
  const env = { PATH: '/usr/bin:/bin', VPOPMAIL_HOME: vhome, QMAIL_HOME: qhome, TZ: 'UTC' };
  const config = loadConfig(env);
  const backend = createCdbBackend(config);
  const hups = { count: 0 };
  const ctx = accountsContext(config, backend, 'mail.test', {
    hupQmailSend: () => void hups.count++,
    ...(options.now === undefined ? {} : { now: options.now }),
    lockTimeoutMs: 20_000,
  });
  return { root, vhome, qhome, env, config, backend, ctx, hups };
}

export function domainDir(home: Home, domain: string): string {
  return join(home.vhome, 'domains', domain);
}

/** The built program: dist/bin, or VPOPMAIL_TEST_BIN (a build made with `node build.mjs --out DIR`). */
export function programPath(program: string): string {
  const dir = process.env['VPOPMAIL_TEST_BIN'];
  return dir === undefined || dir === '' ? binPath(program) : join(dir, program);
}

/** Run a built program against the home; stdin /dev/null unless given. */
export function run(home: Home, program: string, args: readonly string[], opts: { input?: string; env?: Record<string, string> } = {}): SpawnSyncReturns<string> {
  const r = spawnSync(programPath(program), args, {
    env: { ...home.env, ...opts.env },
    encoding: 'utf8',
    input: opts.input ?? '',
    cwd: home.root,
  });
  recordOutput(program, args, r.stdout, r.stderr); // for the secrets check (capture.ts)
  return r;
}

/** Every file and directory below `dir` with type, mode, uid and gid, for tree comparisons. */
export function listTree(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    const st = statSync(path);
    const rel = `${prefix}${name}`;
    out.push(`${st.isDirectory() ? 'd' : 'f'}${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${rel}`);
    if (st.isDirectory()) out.push(...listTree(path, `${rel}/`));
  }
  return out;
}

/** vpasswd as lines ([] when absent). */
export function vpasswdText(dir: string): string[] {
  const path = join(dir, 'vpasswd');
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'latin1');
  return text === '' ? [] : text.replace(/\n$/, '').split('\n');
}

/**
 * The invariants crash tests demand of a domain: vpasswd parses, vpasswd.cdb holds exactly its
 * lines as tinycdb reads it (or, while a change is being rolled forward, vpasswd.cdb.new does),
 * and the names are unique. Returns the user names.
 */
export function checkDomainStore(dir: string): string[] {
  const lines = vpasswdText(dir);
  const names = lines.map((l, i) => parseVpasswdLine(l, { file: 'vpasswd', line: i + 1 }).name);
  if (new Set(names).size !== names.length) throw new Error(`duplicate names in ${dir}/vpasswd`);
  const asCdb = (path: string) => tinycdbDump(path).map(([k, d]) => `${k.toString('latin1')}:${d.toString('latin1')}`);
  const cdb = join(dir, 'vpasswd.cdb');
  const pending = join(dir, 'vpasswd.cdb.new');
  const matches = (path: string) => existsSync(path) && asCdb(path).join('\n') === lines.join('\n');
  if (!matches(cdb) && !(existsSync(pending) && matches(pending)) && !(lines.length === 0 && !existsSync(cdb))) {
    throw new Error(`vpasswd.cdb of ${dir} does not hold vpasswd's lines`);
  }
  return names;
}

/** users/cdb is what assign compiles to (tinycdb reads it), or assign is newer and compiles. */
export function checkAssign(qhome: string): void {
  const assign = join(qhome, 'users', 'assign');
  if (!existsSync(assign)) return;
  const text = readFileSync(assign, 'latin1');
  const expected = compileUsersCdb(text).map(([k, d]) => `${k.toString('latin1')}=${d.toString('latin1')}`);
  const actual = tinycdbDump(join(qhome, 'users', 'cdb')).map(([k, d]) => `${k.toString('latin1')}=${d.toString('latin1')}`);
  if (expected.join('\n') !== actual.join('\n')) throw new Error('users/cdb does not match users/assign');
}

/** `cdb -d` works on a file (tinycdb can read it). */
export function tinycdbReads(path: string): boolean {
  try {
    execFileSync('cdb', ['-d', path], { stdio: ['ignore', 'ignore', 'ignore'] });
    return true;
  } catch {
    return false;
  }
}
