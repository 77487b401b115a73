// A temp ~vpopmail and /var/qmail with domains and users made through lib/accounts, for agent tests.
import type { ExecutionContext } from 'ava';
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { accountsContext, type AccountsContext } from '../../lib/accounts/index.ts';
import { addDomain } from '../../lib/accounts/domains.ts';
import { addUser } from '../../lib/accounts/users.ts';
import { createCdbBackend } from '../../lib/backends/cdb.ts';
import { loadConfig, type Config } from '../../lib/config.ts';
import { fd3Secret, noteSecret, recordOutput } from './capture.ts';
import { binPath } from './dist.ts';

export interface MailWorld {
  readonly root: string;
  readonly vhome: string;
  readonly qhome: string;
  /** The environment that points our programs at this world. */
  readonly env: Record<string, string>;
  readonly config: Config;
  readonly ctx: AccountsContext;
  addDomain(domain: string, postmasterPassword?: string, options?: { uid?: number; gid?: number }): Promise<string>;
  addUser(address: string, password: string, options?: { quota?: string; gecos?: string }): Promise<void>;
  /** Rewrite the settings file ~vpopmail/etc/vpopmail.conf and reload the config. */
  settings(text: string): void;
}

/** A world in a fresh temp dir, removed after the test. Domains are owned by 89:89 as in C. */
export async function mailWorld(t: ExecutionContext, settings = ''): Promise<MailWorld> {
  const root = mkdtempSync(join(tmpdir(), 'vpop-world-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  chmodSync(root, 0o755); // sessions run as the domain owner and must reach the homes
  const vhome = join(root, 'vpopmail');
  const qhome = join(root, 'qmail');
  for (const d of [join(vhome, 'etc'), join(vhome, 'bin'), join(vhome, 'domains'), join(qhome, 'users'), join(qhome, 'control'), join(qhome, 'bin')]) {
    mkdirSync(d, { recursive: true });
  }
  const env = { PATH: '/usr/bin:/bin', VPOPMAIL_HOME: vhome, QMAIL_HOME: qhome };
  writeFileSync(join(vhome, 'etc', 'vpopmail.conf'), settings);
  let config = loadConfig(env);
  const backend = () => createCdbBackend(config);
  const context = () => accountsContext(config, backend(), 'mail.test', { hupQmailSend: () => {} });
  let ctx = context();
  return {
    root,
    vhome,
    qhome,
    env,
    get config() {
      return config;
    },
    get ctx() {
      return ctx;
    },
    async addDomain(domain, postmasterPassword = 'pm-secret', options = {}) {
      noteSecret(postmasterPassword); // for the secrets check (capture.ts): no program may print it
      const r = await addDomain(ctx, {
        domain,
        uid: options.uid ?? 89,
        gid: options.gid ?? 89,
        postmaster: { password: { clear: postmasterPassword } },
      });
      noteSecret(r.postmaster.passwd);
      return r.domain.dir;
    },
    async addUser(address, password, options = {}) {
      const [user, domain] = address.split('@') as [string, string];
      noteSecret(password);
      const r = await addUser(ctx, { domain, user, password: { clear: password }, ...options });
      noteSecret(r.entry.passwd);
    },
    settings(text) {
      writeFileSync(join(vhome, 'etc', 'vpopmail.conf'), text);
      config = loadConfig(env);
      ctx = context();
    },
  };
}

export interface RunOptions {
  readonly env?: Record<string, string>;
  /** Bytes for fd 3; undefined leaves fd 3 closed. */
  readonly fd3?: string | Buffer;
  readonly stdin?: string | Buffer;
  readonly cwd?: string;
  /** A command the program runs under (e.g. strace and its options), given the program's path and arguments. */
  readonly wrap?: readonly string[];
}

/** Run one of our built programs with the world's environment plus `env`, fd 3 from a temp file. */
export function runProgram(world: MailWorld, program: string, args: readonly string[], options: RunOptions = {}): SpawnSyncReturns<string> {
  let fd3: number | undefined;
  if (options.fd3 !== undefined) {
    const file = join(world.root, `fd3-${process.pid}-${Math.random().toString(36).slice(2)}`);
    writeFileSync(file, options.fd3);
    fd3 = openSync(file, 'r');
  }
  try {
    const argv = [...(options.wrap ?? []), binPath(program), ...args];
    const r = spawnSync(argv[0]!, argv.slice(1), {
      env: { ...world.env, ...options.env },
      cwd: options.cwd ?? world.root,
      encoding: 'utf8',
      input: options.stdin,
      stdio: fd3 === undefined ? ['pipe', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe', fd3],
      timeout: 60_000,
    });
    // Kept for the final secrets check (test/security/output-secrets.test.ts, capture.ts).
    const own = options.fd3 === undefined ? undefined : fd3Secret(options.fd3);
    recordOutput(program, args, r.stdout, r.stderr, own === undefined ? {} : { ownSecrets: [own] });
    return r;
  } finally {
    if (fd3 !== undefined) closeSync(fd3);
  }
}

/** `login\0secret\0challenge\0` as checkpassword clients send it. */
export function checkpassword(login: string, secret: string, challenge = ''): Buffer {
  return Buffer.from(`${login}\0${secret}\0${challenge}\0`, 'latin1');
}

/** The NAME=value lines /usr/bin/env printed, as a map. */
export function envOutput(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return out;
}

