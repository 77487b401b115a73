// Test helpers for Maildir work: temp trees, child processes running lib code, Python's mailbox reader.
import type { ExecutionContext } from 'ava';
import { spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PROJECT_ROOT } from './dist.ts';

/** A fresh directory removed after the test. */
export function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'vpop-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `<dir>/Maildir/{new,cur,tmp}`, plain mkdir (the code under test is not used to make it). */
export function plainMaildir(dir: string, name = 'Maildir'): string {
  const md = join(dir, name);
  for (const sub of ['new', 'cur', 'tmp']) mkdirSync(join(md, sub), { recursive: true });
  return md;
}

/** file:// URL of a lib module, for import() inside child code. */
export function libUrl(rel: string): string {
  return pathToFileURL(join(PROJECT_ROOT, rel)).href;
}

export interface ChildResult {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Arguments running `code` (an ES module in JavaScript that may import .ts files) under Node with tsx. */
export function childArgs(code: string): string[] {
  return ['--import', 'tsx', '--input-type=module', '-e', code];
}

/** Run child code synchronously; `stdin` may be an open fd to give the child as fd 0. */
export function runChildSync(code: string, options: { stdin?: number | 'ignore'; env?: NodeJS.ProcessEnv } = {}): ChildResult {
  const r = spawnSync(process.execPath, childArgs(code), {
    cwd: PROJECT_ROOT,
    stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
    env: options.env ?? process.env,
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.error !== undefined) throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Run child code asynchronously (for many at once). */
export function runChild(code: string, options: SpawnOptions = {}): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, childArgs(code), { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'], ...options });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

export interface PythonMessage {
  readonly key: string;
  readonly subdir: string;
  readonly size: number;
  readonly sha256: string;
}

const PY_READER = `
import hashlib, json, mailbox, sys
mb = mailbox.Maildir(sys.argv[1], factory=None, create=False)
out = []
for key in sorted(mb.keys()):
    data = mb.get_bytes(key)
    out.append({"key": key, "subdir": mb._lookup(key).split("/")[0], "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest()})
print(json.dumps({"count": len(mb), "messages": out}))
`;

/** What Python's mailbox.Maildir sees in a Maildir: message count, and per message its bytes' hash. */
export function readWithPython(maildir: string): { count: number; messages: PythonMessage[] } {
  const r = spawnSync('python3', ['-c', PY_READER, maildir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python3 mailbox reader failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { count: number; messages: PythonMessage[] };
}
