// Shared pieces of test/reliability and test/security: small worlds made fast (on tmpfs, set-up
// without fsync), the built programs run asynchronously with their output kept for the secrets
// check (capture.ts), a bounded pool for parallel trials, and the consistency checks of a world.
import type { ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { appendFileSync, chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accountsContext, type AccountsContext } from '../../lib/accounts/context.ts';
import { addDomain } from '../../lib/accounts/domains.ts';
import { addUser } from '../../lib/accounts/users.ts';
import type { Backend } from '../../lib/backends/backend.ts';
import { createCdbBackend } from '../../lib/backends/cdb.ts';
import { loadConfig, type Config } from '../../lib/config.ts';
import { DURABLE, type Durable } from '../../lib/fs/durable.ts';
import { parseMaildirsize } from '../../lib/maildir/maildirsize.ts';
import { compileUsersCdb, lookupAssignDomain, parseAssignText } from '../../lib/store/assign.ts';
import { parseVpasswdLine } from '../../lib/store/vpasswd.ts';
import { captureDir, fd3Secret, noteSecret, recordOutput, type Exemption } from './capture.ts';
import { binPath } from './dist.ts';
import { cdbRecords, vpasswdLines } from './vpasswd-tree.ts';

/** Set-up only: the same writes without fsync (nothing crashes while a world is being made). */
export const NO_SYNC: Durable = { ...DURABLE, fsync: () => {} };

/**
 * Where trial worlds live: a tmpfs when there is one. The trials kill processes, not the machine,
 * so what the kernel holds survives them either way; on tmpfs fsync costs nothing and hundreds of
 * trials fit in seconds.
 */
export const FAST_ROOT = (() => {
  try {
    if (statSync('/dev/shm').isDirectory()) return '/dev/shm';
  } catch {
    // no /dev/shm: the ordinary temp dir
  }
  return tmpdir();
})();

export interface World {
  readonly root: string;
  readonly vhome: string;
  readonly qhome: string;
  /** The environment that points the programs at this world. */
  readonly env: Record<string, string>;
  readonly config: Config;
  /** Set-up and repair context (no fsync); the programs under test make their own. */
  readonly ctx: AccountsContext;
  readonly backend: Backend;
  addDomain(domain: string, postmasterPassword?: string): Promise<string>;
  addUser(address: string, password: string, options?: { quota?: string; gecos?: string }): Promise<void>;
  domainDir(domain: string): string;
}

export interface WorldOptions {
  /** ~vpopmail/etc/vpopmail.conf */
  readonly conf?: string;
  /** Directory to make the world in (default FAST_ROOT). */
  readonly base?: string;
}

/** A world of our own, removed after the test; everything reachable by uid 89 (deliveries run as the domain). */
export function makeWorld(t: ExecutionContext, options: WorldOptions = {}): World {
  const root = mkdtempSync(join(options.base ?? FAST_ROOT, 'vpop-rel-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  chmodSync(root, 0o755);
  const vhome = join(root, 'vpopmail');
  const qhome = join(root, 'qmail');
  for (const d of [join(vhome, 'etc'), join(vhome, 'bin'), join(vhome, 'domains'), join(qhome, 'users'), join(qhome, 'control'), join(qhome, 'bin')]) {
    mkdirSync(d, { recursive: true, mode: 0o755 });
  }
  writeFileSync(join(vhome, 'etc', 'vpopmail.conf'), options.conf ?? '');
  writeFileSync(join(vhome, 'etc', 'password_strength.conf'), 'Policy = Passwords must be at least one character long\nLength >= 1\n');
  // qmail-inject stand-in: vdelivermail forwards and bounces through it.
  const inject = join(qhome, 'bin', 'qmail-inject');
  writeFileSync(inject, '#!/bin/sh\ncat > /dev/null\nexit 0\n', { mode: 0o755 });
  const env = { PATH: '/usr/bin:/bin', VPOPMAIL_HOME: vhome, QMAIL_HOME: qhome, TZ: 'UTC' };
  const config = loadConfig(env);
  const backend = createCdbBackend(config, { durable: NO_SYNC });
  const ctx = accountsContext(config, backend, 'mail.test', { durable: NO_SYNC, hupQmailSend: () => {}, lockTimeoutMs: 30_000 });
  return {
    root,
    vhome,
    qhome,
    env,
    config,
    ctx,
    backend,
    async addDomain(domain, postmasterPassword = 'Pm-Secret-1') {
      noteSecret(postmasterPassword);
      const r = await addDomain(ctx, { domain, uid: 89, gid: 89, postmaster: { password: { clear: postmasterPassword } } });
      noteSecret(r.postmaster.passwd);
      return r.domain.dir;
    },
    async addUser(address, password, opts = {}) {
      const [user, domain] = address.split('@') as [string, string];
      noteSecret(password);
      const r = await addUser(ctx, { domain, user, password: { clear: password }, ...opts });
      noteSecret(r.entry.passwd);
    },
    domainDir(domain) {
      const found = lookupAssignDomain(qhome, domain);
      if (found === undefined) throw new Error(`no domain ${domain}`);
      return found.dir;
    },
  };
}

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

export interface RunOptions {
  readonly env?: Record<string, string | undefined>;
  readonly cwd?: string;
  /** A file given as stdin (seekable, as qmail-local gives messages). */
  readonly stdinFile?: string;
  /** Bytes on a pipe as stdin. */
  readonly input?: string | Buffer;
  /** Bytes on fd 3 (through a pipe). */
  readonly fd3?: string | Buffer;
  readonly uid?: number;
  readonly gid?: number;
  /** SIGKILL after this many ms (a random-instant crash). */
  readonly killAfterMs?: number;
  /** SIGKILL and report after this long (default 60 s): every run is bounded. */
  readonly timeoutMs?: number;
  readonly exemptions?: readonly Exemption[];
  /** Run a file that is not one of dist/bin (e.g. a set-uid copy). */
  readonly exe?: string;
}

/** Run a built program (dist/bin/<program>) asynchronously; its output goes to the capture directory. */
export function runBuilt(program: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(options.env ?? {})) if (v !== undefined) env[k] = v;
    const stdinFd = options.stdinFile === undefined ? undefined : openSync(options.stdinFile, 'r');
    const stdio: ('pipe' | 'ignore' | number)[] = [stdinFd ?? (options.input === undefined ? 'ignore' : 'pipe'), 'pipe', 'pipe'];
    if (options.fd3 !== undefined) stdio.push('pipe');
    const started = Date.now();
    const child = spawn(options.exe ?? binPath(program), [...args], {
      env,
      cwd: options.cwd ?? '/',
      stdio,
      ...(options.uid === undefined ? {} : { uid: options.uid }),
      ...(options.gid === undefined ? {} : { gid: options.gid }),
    });
    if (stdinFd !== undefined) closeSync(stdinFd);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (d: Buffer) => out.push(d));
    child.stderr?.on('data', (d: Buffer) => err.push(d));
    child.stdin?.on('error', () => {}); // the program may exit before it reads everything
    if (options.input !== undefined) child.stdin?.end(options.input);
    const fd3 = child.stdio[3] as import('node:stream').Writable | undefined;
    if (fd3 !== undefined && fd3 !== null) {
      fd3.on('error', () => {});
      fd3.end(options.fd3);
    }
    const killer = options.killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.killAfterMs);
    const limit = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(killer);
      clearTimeout(limit);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      clearTimeout(limit);
      const stdout = Buffer.concat(out).toString('latin1');
      const stderr = Buffer.concat(err).toString('latin1');
      const own = options.fd3 === undefined ? undefined : fd3Secret(options.fd3);
      recordOutput(program, args, stdout, stderr, { ...(options.exemptions === undefined ? {} : { exemptions: options.exemptions }), ...(own === undefined ? {} : { ownSecrets: [own] }) });
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** Run `jobs` with at most `width` at a time; results in job order. */
export async function pool<T>(width: number, jobs: readonly (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const lane = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, jobs.length) }, lane));
  return results;
}

/** A deterministic generator, so a failing case can be replayed from its seed. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    // xorshift32
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

/**
 * One line per area for the run's report: logged by the test, and kept in the capture directory so
 * the final check (output-secrets.test.ts) lists every area's totals together.
 */
export function summarize(t: ExecutionContext, area: string, trials: number, failures: number, detail = ''): void {
  const line = `${area}: ${trials} trials, ${failures} failures${detail === '' ? '' : ` (${detail})`}`;
  t.log(line);
  appendFileSync(join(captureDir(), `${process.pid}.summary.jsonl`), `${JSON.stringify({ area, trials, failures, detail })}\n`);
}

export interface AreaSummary {
  readonly area: string;
  readonly trials: number;
  readonly failures: number;
  readonly detail: string;
}

export function readSummaries(dir = captureDir()): AreaSummary[] {
  const out: AreaSummary[] = [];
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.summary.jsonl'))) {
    for (const line of readFileSync(join(dir, name), 'utf8').split('\n')) if (line !== '') out.push(JSON.parse(line) as AreaSummary);
  }
  return out;
}

// --- what a world must look like after anything at all happened to it ------------------------------

/** vpasswd's lines ([] when there is none); a file not ending in a newline is a problem. */
export const vpasswdLinesOf = vpasswdLines;

export { cdbRecords };

/**
 * The pair in the raw state a crash left, before anyone repaired it: each file parses, vpasswd.cdb
 * holds vpasswd's lines, or (the documented in-between state, COMPATIBILITY "Crash-safe pair")
 * vpasswd.cdb.new does and vpasswd.cdb holds the state before. Returns the problems found.
 */
export function pairProblems(domainDir: string, classify: (lines: readonly string[]) => 'old' | 'new' | undefined): string[] {
  const problems: string[] = [];
  let v: string[];
  try {
    v = vpasswdLinesOf(domainDir);
    v.forEach((l, i) => parseVpasswdLine(l, { file: 'vpasswd', line: i + 1 }));
  } catch (err) {
    return [`vpasswd unreadable: ${(err as Error).message}`];
  }
  const vState = classify(v);
  if (vState === undefined) problems.push(`vpasswd is neither the old nor the new state:\n${v.join('\n')}`);
  const c = cdbRecords(join(domainDir, 'vpasswd.cdb')) ?? [];
  const cState = classify(c);
  if (cState === undefined) problems.push(`vpasswd.cdb is neither the old nor the new state:\n${c.join('\n')}`);
  if (vState === 'old' && cState === 'new') problems.push('vpasswd.cdb is ahead of vpasswd');
  if (vState !== cState && c.join('\n') !== v.join('\n')) {
    const pending = cdbRecords(join(domainDir, 'vpasswd.cdb.new'));
    if (pending === undefined || pending.join('\n') !== v.join('\n')) problems.push('vpasswd and vpasswd.cdb differ and no vpasswd.cdb.new holds vpasswd');
  }
  return problems;
}

/** After a reader has looked (and rolled forward): vpasswd and vpasswd.cdb hold the same lines, names unique. */
export function agreedPairProblems(domainDir: string): string[] {
  try {
    const v = vpasswdLinesOf(domainDir);
    const names = v.map((l, i) => parseVpasswdLine(l, { file: 'vpasswd', line: i + 1 }).name);
    if (new Set(names).size !== names.length) return ['duplicate names in vpasswd'];
    const c = cdbRecords(join(domainDir, 'vpasswd.cdb')) ?? [];
    if (c.join('\n') !== v.join('\n')) return ['vpasswd.cdb does not hold vpasswd after a reader looked'];
    return [];
  } catch (err) {
    return [`pair unreadable: ${(err as Error).message}`];
  }
}

/** users/cdb is what users/assign compiles to. */
export function assignProblems(qhome: string): string[] {
  const assign = join(qhome, 'users', 'assign');
  if (!existsSync(assign)) return [];
  try {
    const text = readFileSync(assign, 'latin1');
    parseAssignText(text);
    const expected = compileUsersCdb(text).map(([k, d]) => `${k.toString('latin1')}:${d.toString('latin1')}`);
    const actual = cdbRecords(join(qhome, 'users', 'cdb')) ?? [];
    return expected.join('\n') === actual.join('\n') ? [] : ['users/cdb does not match users/assign'];
  } catch (err) {
    return [`users/assign or users/cdb unreadable: ${(err as Error).message}`];
  }
}

/** A maildirsize that exists parses; returns its problems and the parsed file. */
export function maildirsizeProblems(maildir: string, quotas: readonly string[] = []): { problems: string[]; parsed?: ReturnType<typeof parseMaildirsize> } {
  const path = join(maildir, 'maildirsize');
  if (!existsSync(path)) return { problems: [] };
  const parsed = parseMaildirsize(readFileSync(path, 'latin1'));
  if (parsed === undefined) return { problems: [`${path} does not parse`] };
  if (quotas.length > 0 && !quotas.includes(parsed.quota)) return { problems: [`${path}: quota line ${parsed.quota} is none of ${quotas.join(', ')}`], parsed };
  return { problems: [], parsed };
}

/** Messages in a Maildir subdirectory (sorted names). */
export function filesIn(maildir: string, sub: 'new' | 'cur' | 'tmp' = 'new'): string[] {
  const dir = join(maildir, sub);
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

/** Bytes and count of the messages in new/ and cur/. */
export function maildirUsage(maildir: string): { bytes: number; count: number } {
  let bytes = 0;
  let count = 0;
  for (const sub of ['new', 'cur'] as const) {
    for (const f of filesIn(maildir, sub)) {
      bytes += statSync(join(maildir, sub, f)).size;
      count++;
    }
  }
  return { bytes, count };
}

/** Every path below `dir` (files and directories), for "nothing else was touched" checks. */
export function listPaths(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    out.push(p);
    let isDir = false;
    try {
      isDir = statSync(p).isDirectory();
    } catch {
      // a dangling symlink: listed, not entered
    }
    if (isDir) listPaths(p, out);
  }
  return out;
}

/** A stack trace or a runtime's internal error text, which must reach no user. */
export const TRACE = /\n\s+at |node:internal|\bat (?:async )?\S+ \(|TypeError|ReferenceError|RangeError|SyntaxError|Unhandled|panic/;
