// Finding and signalling processes by their exact name, read from /proc (never by a substring of a
// `ps` line: C's vkill killed `tail -f .../qmail-send/current` with qmail-send, pitfall S13).
import { readFileSync, readdirSync } from 'node:fs';
import { basename } from 'node:path';

/** The kernel keeps at most 15 bytes of a process name in /proc/<pid>/comm (TASK_COMM_LEN − 1). */
const COMM_MAX = 15;

export interface ProcessMatchOptions {
  /** Default /proc. */
  readonly procDir?: string;
  /** Never matched (the caller itself). Default process.pid. */
  readonly selfPid?: number;
}

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return undefined; // gone meanwhile, or not ours to read
  }
}

/**
 * Is this process called `name`? Its comm is the name of the program it runs. A name longer than
 * the 15 bytes comm keeps must also be the last path component of argv[0], so `vpopmail-very-long`
 * never matches `vpopmail-very-lo`.
 */
function hasName(procDir: string, pid: string, name: string): boolean {
  const comm = readOrUndefined(`${procDir}/${pid}/comm`)?.replace(/\n$/, '');
  if (comm === undefined) return false;
  if (Buffer.byteLength(name, 'latin1') <= COMM_MAX) return comm === name;
  if (comm !== Buffer.from(name, 'latin1').subarray(0, COMM_MAX).toString('latin1')) return false;
  const argv0 = readOrUndefined(`${procDir}/${pid}/cmdline`)?.split('\0', 1)[0];
  return argv0 !== undefined && basename(argv0) === name;
}

/** The pids of every process named exactly `name`, in /proc order. No /proc: none. */
export function findProcessesByName(name: string, options: ProcessMatchOptions = {}): number[] {
  const procDir = options.procDir ?? '/proc';
  const self = options.selfPid ?? process.pid;
  if (name === '' || name.includes('/') || name.includes('\0')) return [];
  let entries: string[];
  try {
    entries = readdirSync(procDir);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === self) continue;
    if (hasName(procDir, entry, name)) out.push(Number(entry));
  }
  return out;
}

export interface SignalResult {
  readonly signalled: readonly number[];
  /** Processes that could not be signalled (EPERM), with the reason; those that exited meanwhile are not listed. */
  readonly failed: readonly { readonly pid: number; readonly reason: string }[];
}

/** Send `signal` to every process named exactly `name`. */
export function signalProcessesByName(name: string, signal: NodeJS.Signals, options: ProcessMatchOptions = {}): SignalResult {
  const signalled: number[] = [];
  const failed: { pid: number; reason: string }[] = [];
  for (const pid of findProcessesByName(name, options)) {
    try {
      process.kill(pid, signal);
      signalled.push(pid);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ESRCH') failed.push({ pid, reason: String(code ?? err) });
    }
  }
  return { signalled, failed };
}
