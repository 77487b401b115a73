// What the programs under test printed, kept for the whole test run so that one final check
// (test/security/output-secrets.test.ts) can look for test passwords in all of it, across ava's
// worker processes: each worker appends JSON lines to files of its own in a directory named after
// the run, and the check reads every file there once the other workers have finished.
//
// The run is ava's main process (every worker is forked from it, so `process.ppid` names it), or
// VPOPMAIL_TEST_RUN when set. Directories of runs whose main process is gone are removed on first use.
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CAPTURE_ROOT = join(tmpdir(), 'vpopmail-ts-capture');

/** Output kept per stream and run; longer output is cut here (and the record says so). */
const MAX_STREAM_CHARS = 1 << 20;

/**
 * Where a program's output may show a password because the operator asked for it:
 * - `stdout`: the whole of stdout (vuserinfo's password fields, vpopmaild's replies, vmkpasswd's hash);
 * - `random-password`: the `Random password: ...` line a tool prints for the password it made up.
 * stderr (the log) is never exempt.
 */
export type Exemption = 'stdout' | 'random-password';

/** Programs whose stdout is the operator's own request for account data. */
export const STDOUT_EXEMPT: ReadonlySet<string> = new Set(['vuserinfo', 'vpopmaild', 'vmkpasswd']);

export interface CaptureRecord {
  /** The test file that ran the program (path below the project). */
  readonly file: string;
  readonly program: string;
  readonly args: readonly string[];
  readonly stdout: string;
  readonly stderr: string;
  readonly exemptions: readonly Exemption[];
  /** Secrets that only this run must not show (e.g. the password it was given on fd 3). */
  readonly ownSecrets: readonly string[];
  readonly truncated: boolean;
}

export interface SecretRecord {
  readonly file: string;
  readonly secret: string;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The id of this test run: VPOPMAIL_TEST_RUN, else ava's main process id. */
export function runId(): string {
  const given = process.env['VPOPMAIL_TEST_RUN'];
  if (given !== undefined && /^[\w.-]{1,64}$/.test(given)) return given;
  return String(process.ppid);
}

let prepared: string | undefined;

/** This run's capture directory (made, and stale runs swept, on first use in each worker). */
export function captureDir(): string {
  if (prepared !== undefined) return prepared;
  const dir = join(CAPTURE_ROOT, runId());
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const name of readdirSync(CAPTURE_ROOT)) {
    if (name === runId() || !/^\d+$/.test(name) || isAlive(Number(name))) continue;
    rmSync(join(CAPTURE_ROOT, name), { recursive: true, force: true });
  }
  prepared = dir;
  return dir;
}

/**
 * The test file on the stack (`test/.../x.test.ts`): helpers are called from a test. Read from a
 * stack trace rather than ava's test.meta, so that this module also loads in child processes.
 */
function currentTestFile(): string {
  const stack = new Error().stack ?? '';
  const m = /(?:file:\/\/)?(\/[^\s():]*\/test\/[^\s():]*\.test\.ts)/.exec(stack);
  if (m === null) return 'unknown';
  return m[1]!.slice(m[1]!.lastIndexOf('/test/') + 1);
}

function cut(text: string): { text: string; cut: boolean } {
  return text.length > MAX_STREAM_CHARS ? { text: text.slice(0, MAX_STREAM_CHARS), cut: true } : { text, cut: false };
}

function asText(data: string | Buffer | null | undefined): string {
  if (data === null || data === undefined) return '';
  return typeof data === 'string' ? data : data.toString('latin1');
}

export interface RecordOptions {
  readonly exemptions?: readonly Exemption[];
  readonly ownSecrets?: readonly string[];
}

/**
 * Keep what one run of a program printed. `program` is the name it was run as (dist/bin/<name>, or a
 * path: its last component counts); stdout of the programs in STDOUT_EXEMPT is exempt by default.
 */
export function recordOutput(program: string, args: readonly string[], stdout: string | Buffer | null | undefined, stderr: string | Buffer | null | undefined, options: RecordOptions = {}): void {
  const name = program.slice(program.lastIndexOf('/') + 1);
  const exemptions = new Set<Exemption>(options.exemptions ?? []);
  if (STDOUT_EXEMPT.has(name)) exemptions.add('stdout');
  exemptions.add('random-password');
  const out = cut(asText(stdout));
  const err = cut(asText(stderr));
  const record: CaptureRecord = {
    file: currentTestFile(),
    program: name,
    args: [...args],
    stdout: exemptions.has('stdout') ? '' : out.text,
    stderr: err.text,
    exemptions: [...exemptions],
    ownSecrets: [...(options.ownSecrets ?? [])],
    truncated: out.cut || err.cut,
  };
  appendFileSync(join(captureDir(), `${process.pid}.out.jsonl`), `${JSON.stringify(record)}\n`);
}

/** A password (or hash) the tests gave an account: no program's non-exempt output may show it. */
export function noteSecret(...secrets: readonly (string | undefined)[]): void {
  const file = currentTestFile();
  const lines = secrets.filter((s): s is string => s !== undefined && s !== '').map((secret) => `${JSON.stringify({ file, secret } satisfies SecretRecord)}\n`);
  if (lines.length > 0) appendFileSync(join(captureDir(), `${process.pid}.secrets.jsonl`), lines.join(''));
}

/** The secret of a checkpassword fd-3 buffer (`login\0secret\0...`), when it is one worth looking for. */
export function fd3Secret(fd3: string | Buffer): string | undefined {
  const bytes = typeof fd3 === 'string' ? Buffer.from(fd3, 'latin1') : fd3;
  const parts = bytes.toString('latin1').split('\0');
  if (parts.length < 3) return undefined;
  const [login = '', secret = ''] = parts;
  return isDistinctive(secret) && !login.toLowerCase().includes(secret.toLowerCase()) ? secret : undefined;
}

/**
 * Secrets short or common enough to occur in honest output (`pw`, `secret`, a user name) would
 * only produce false alarms: the check looks for printable ones of 6 characters or more that are
 * not plain lower-case words.
 */
export function isDistinctive(secret: string): boolean {
  return secret.length >= 6 && /^[\x21-\x7e]+$/.test(secret) && !/^[a-z]+$/.test(secret);
}

function readJsonLines<T>(path: string): T[] {
  const out: T[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) if (line !== '') out.push(JSON.parse(line) as T);
  return out;
}

export interface Captured {
  readonly records: CaptureRecord[];
  readonly secrets: SecretRecord[];
  readonly workers: number;
}

/** Everything this run captured so far. */
export function readCaptured(dir = captureDir()): Captured {
  const records: CaptureRecord[] = [];
  const secrets: SecretRecord[] = [];
  const workers = new Set<string>();
  if (!existsSync(dir)) return { records, secrets, workers: 0 };
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (!statSync(path).isFile()) continue;
    workers.add(name.split('.')[0]!);
    if (name.endsWith('.out.jsonl')) records.push(...readJsonLines<CaptureRecord>(path));
    else if (name.endsWith('.secrets.jsonl')) secrets.push(...readJsonLines<SecretRecord>(path));
  }
  return { records, secrets, workers: workers.size };
}

export interface Leak {
  readonly file: string;
  readonly program: string;
  readonly args: readonly string[];
  readonly stream: 'stdout' | 'stderr';
  /** Where the secret came from (the test file that set it, or `fd 3`). */
  readonly secretFrom: string;
  /** The line that shows it, with the secret itself masked. */
  readonly line: string;
}

function withoutRandomPasswordLines(text: string): string {
  return text.replace(/^Random password: .*$/gm, '');
}

/** Every place a secret shows in output it must not be in. */
export function findLeaks(captured: Pick<Captured, 'records' | 'secrets'>): Leak[] {
  const global = new Map<string, string>();
  for (const s of captured.secrets) if (isDistinctive(s.secret) && !global.has(s.secret)) global.set(s.secret, s.file);
  const leaks: Leak[] = [];
  for (const r of captured.records) {
    const streams: ['stdout' | 'stderr', string][] = [
      ['stdout', r.exemptions.includes('random-password') ? withoutRandomPasswordLines(r.stdout) : r.stdout],
      ['stderr', r.stderr],
    ];
    const own = r.ownSecrets.filter(isDistinctive).map((s) => [s, 'fd 3'] as const);
    for (const [stream, text] of streams) {
      if (text === '') continue;
      for (const [secret, from] of [...global, ...own]) {
        const at = text.indexOf(secret);
        if (at < 0) continue;
        const start = text.lastIndexOf('\n', at) + 1;
        const end = text.indexOf('\n', at);
        const line = text.slice(start, end < 0 ? undefined : end).split(secret).join('<secret>');
        leaks.push({ file: r.file, program: r.program, args: r.args.map((a) => a.split(secret).join('<secret>')), stream, secretFrom: from, line: line.slice(0, 300) });
      }
    }
  }
  return leaks;
}

/** Pids of the other ava workers of this run (children of our parent, ava's main process). */
export function otherWorkers(): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'latin1');
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[1]) === process.ppid) out.push(Number(name));
  }
  return out;
}

/** Is our parent ava's main process (and not a shell that ran one file with node)? */
export function isUnderAva(): boolean {
  try {
    return readFileSync(`/proc/${process.ppid}/cmdline`, 'latin1').includes('ava');
  } catch {
    return false;
  }
}

/**
 * Wait until no other worker of this run has been alive for `quietMs` (ava starts the next queued
 * file within milliseconds of a slot freeing, so a quiet spell means the queue is empty), or until
 * `maxMs` has passed. Returns how long it waited.
 */
export async function waitForOtherWorkers(options: { quietMs?: number; maxMs?: number; pollMs?: number } = {}): Promise<{ waitedMs: number; quiet: boolean }> {
  const quietMs = options.quietMs ?? 4000;
  const maxMs = options.maxMs ?? 45 * 60_000;
  const pollMs = options.pollMs ?? 250;
  const start = Date.now();
  let quietSince = Date.now();
  while (Date.now() - start < maxMs) {
    if (otherWorkers().length > 0) quietSince = Date.now();
    else if (Date.now() - quietSince >= quietMs) return { waitedMs: Date.now() - start, quiet: true };
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return { waitedMs: Date.now() - start, quiet: false };
}
