// Exclusive locks for read-modify-write of shared files, safe against kill -9 and usable from Node and Bun.
//
// Design (COMPATIBILITY.md, "Locking"):
// 1. Owner file. `<lockfile>.pid` is created atomically with link(2) from a private temp file and
//    holds `<pid> <start-time>`. Whoever links it first holds the lock. A holder that died (no such
//    process, or the pid was reused: its /proc start time differs) leaves a stale file, which the
//    next waiter removes under a second, short-lived `<lockfile>.pid.break` owner file, so two
//    waiters can never both break a lock or break a live one. Works in Node, which has no fcntl.
// 2. C's lock. When running under Bun, the C lock file itself (`<lockfile>`, created 0600 and never
//    removed, as C does) is also locked with fcntl(F_SETLK, F_WRLCK) through bun:ffi, so C tools
//    such as qmailadmin that lock the same file are excluded too. Under Node this step is skipped.
import {
  closeSync,
  existsSync,
  fchownSync,
  linkSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeFileSync,
  constants as fsc,
} from 'node:fs';
import { TempError } from '../exit.ts';

export interface LockOptions {
  /** Give up after this long (C: 10 tries 2 s apart). */
  readonly timeoutMs?: number;
  /** Mode for a lock file we create (C: 0600). */
  readonly mode?: number;
  /** Chown a newly created C lock file (C chowns .vpasswd.lock to the domain). */
  readonly owner?: { readonly uid: number; readonly gid: number };
}

export interface Lock {
  readonly path: string;
  release(): void;
}

const DEFAULT_TIMEOUT_MS = 20_000;
/** How often a waiter checks whether the owner died (the first wait, then every n-th: about 0.4 s). */
const STALE_CHECK_EVERY = 8;
/** A break marker older than this belongs to a waiter that died while breaking (it takes microseconds). */
const BREAK_STALE_MS = 10_000;

/** Start time of a process in clock ticks since boot (field 22 of /proc/<pid>/stat), or undefined. */
function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

function ownerText(): string {
  return `${process.pid} ${startTimeOf(process.pid) ?? '0'}\n`;
}

/**
 * Is the process named in an owner file gone? An unreadable file counts as alive. A garbled one
 * (empty after a power cut: link(2) reached the disk, the text did not) counts as alive until it is
 * older than BREAK_STALE_MS, since no live owner leaves it garbled that long.
 */
function isStaleOwner(text: string, path: string): boolean {
  const m = /^(\d+) (\d+)\n$/.exec(text);
  if (m === null) {
    try {
      return Date.now() - statSync(path).mtimeMs > BREAK_STALE_MS;
    } catch {
      return false;
    }
  }
  const pid = Number(m[1]);
  if (pid === process.pid) {
    // Our own pid: this process holds it, unless the file is from an earlier process that had our
    // pid (another boot, or a container restart), which its start time tells.
    const start = ownerText().split(' ')[1]!.trim();
    return m[2] !== '0' && start !== '0' && m[2] !== start;
  }
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return true;
    // EPERM: it exists under another uid.
  }
  const start = startTimeOf(pid);
  if (start === undefined) return false; // no /proc: trust kill()
  return m[2] !== '0' && start !== m[2];
}

function readQuiet(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return undefined;
  }
}

/** Try once to create `target` holding our owner text. True if we now own it. */
function tryLink(target: string): boolean {
  // unique per process (pid) and per attempt (a nanosecond clock); no secret is needed
  const tmp = `${target}.${process.pid}.${process.hrtime.bigint().toString(36)}`;
  writeFileSync(tmp, ownerText(), { mode: 0o600, flag: 'wx' });
  try {
    linkSync(tmp, target);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing to clean
    }
  }
}

/**
 * Remove a stale owner file, holding the break marker so no other waiter races us. True when we
 * removed it; false when another waiter holds the marker (it is breaking the lock, or died doing so).
 */
function breakIfStale(ownerPath: string): boolean {
  const marker = `${ownerPath}.break`;
  if (!tryLink(marker)) {
    try {
      if (Date.now() - statSync(marker).mtimeMs > BREAK_STALE_MS) unlinkSync(marker);
    } catch {
      // gone meanwhile
    }
    return false;
  }
  try {
    // Holding the marker: nobody else removes ownerPath, and nobody can create it while it exists,
    // so what we read now is what we unlink.
    const text = readQuiet(ownerPath);
    if (text !== undefined && isStaleOwner(text, ownerPath)) {
      unlinkSync(ownerPath);
      return true;
    }
    return false;
  } finally {
    unlinkSync(marker);
  }
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

// --- fcntl through bun:ffi (Bun only) ---------------------------------------------------------

interface FcntlApi {
  lock(fd: number): 'ok' | 'busy' | 'error';
  unlock(fd: number): void;
  /** flock(fd, LOCK_EX | LOCK_NB) */
  flock(fd: number): 'ok' | 'busy' | 'error';
}

let fcntlApi: FcntlApi | null | undefined;

function loadFcntl(): FcntlApi | null {
  if (fcntlApi !== undefined) return fcntlApi;
  fcntlApi = null;
  if (typeof (globalThis as { Bun?: unknown }).Bun === 'undefined') return fcntlApi;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const ffi = require('bun:ffi') as BunFfi;
    const libc = ffi.dlopen('libc.so.6', {
      fcntl: { args: ['i32', 'i32', 'ptr'], returns: 'i32' },
      flock: { args: ['i32', 'i32'], returns: 'i32' },
      __errno_location: { args: [], returns: 'ptr' },
    });
    const LOCK_EX = 2;
    const LOCK_NB = 4;
    const F_SETLK = 6;
    const F_WRLCK = 1;
    const F_UNLCK = 2;
    // struct flock on x86-64 Linux: short l_type, short l_whence, (pad), off_t l_start, off_t l_len, pid_t l_pid
    const call = (fd: number, type: number): number => {
      const buf = new Uint8Array(32);
      new DataView(buf.buffer).setInt16(0, type, true);
      const rc = libc.symbols.fcntl(fd, F_SETLK, ffi.ptr(buf));
      if (rc === 0) return 0;
      return ffi.read.i32(libc.symbols.__errno_location(), 0);
    };
    fcntlApi = {
      lock(fd) {
        const errno = call(fd, F_WRLCK);
        if (errno === 0) return 'ok';
        return errno === 11 || errno === 13 ? 'busy' : 'error'; // EAGAIN, EACCES
      },
      unlock(fd) {
        call(fd, F_UNLCK);
      },
      flock(fd) {
        if (libc.symbols.flock(fd, LOCK_EX | LOCK_NB) === 0) return 'ok';
        return ffi.read.i32(libc.symbols.__errno_location(), 0) === 11 ? 'busy' : 'error'; // EWOULDBLOCK
      },
    };
  } catch {
    fcntlApi = null;
  }
  return fcntlApi;
}

interface BunFfi {
  dlopen(
    name: string,
    symbols: Record<string, { args: string[]; returns: string }>,
  ): { symbols: Record<string, (...args: unknown[]) => number> & { __errno_location(): number } };
  ptr(buf: Uint8Array): number;
  read: { i32(ptr: number, offset: number): number };
}

// --- the lock ------------------------------------------------------------------------------

/**
 * Take the exclusive lock that guards `lockPath` (the C lock file name, e.g. `<dom>/.vpasswd.lock`
 * or `users/assign.lock`). Waits up to timeoutMs, then throws TempError("File busy try again later!").
 */
export function acquireLock(lockPath: string, options: LockOptions = {}): Lock {
  const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const ownerPath = `${lockPath}.pid`;
  let delay = 1;
  for (let polls = 0; ; polls++) {
    // A try writes and removes a temp file beside the lock, so it is made only when the owner file
    // is gone: a crowd of waiters trying every time slowed the holder's own writes in that
    // directory. Measured, 200 vchkpw logins at once from 50 new addresses: 76 of them gave up on
    // the relay after waiting 20 s; trying only when the owner file is gone, none did (two runs).
    if (polls === 0 || !existsSync(ownerPath)) {
      let linked: boolean;
      try {
        linked = tryLink(ownerPath);
      } catch (err) {
        throw new TempError(`unable to lock ${lockPath}: ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err });
      }
      if (linked) break;
    }
    // Retry at once only after removing a dead owner's file; otherwise wait (and watch the deadline),
    // so a waiter whose marker is held by a crashed breaker does not spin for BREAK_STALE_MS. The
    // owner is looked at on the first wait and then every STALE_CHECK_EVERY-th.
    if (polls % STALE_CHECK_EVERY === 0) {
      const text = readQuiet(ownerPath);
      if (text !== undefined && isStaleOwner(text, ownerPath) && breakIfStale(ownerPath)) continue;
    }
    if (Date.now() >= deadline) throw new TempError(`File busy try again later! (${lockPath})`);
    sleepMs(delay);
    delay = Math.min(delay * 2, 50);
  }

  let fd: number | undefined;
  const fcntl = loadFcntl();
  try {
    let created = false;
    try {
      fd = openSync(lockPath, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, options.mode ?? 0o600);
      created = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      fd = openSync(lockPath, fsc.O_WRONLY);
    }
    if (created && options.owner !== undefined && process.geteuid?.() === 0) {
      try {
        // fchown of our own new file; the tree's owner, as C leaves it
        fchownSync(fd, options.owner.uid, options.owner.gid);
      } catch {
        // not fatal: the lock still works
      }
    }
    if (fcntl !== null) {
      delay = 1;
      for (;;) {
        const r = fcntl.lock(fd);
        if (r === 'ok' || r === 'error') break; // 'error' (e.g. ENOLCK on NFS): owner file still excludes us
        if (Date.now() >= deadline) throw new TempError(`File busy try again later! (${lockPath})`);
        sleepMs(delay);
        delay = Math.min(delay * 2, 50);
      }
    }
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(ownerPath);
    } catch {
      // already gone: the error that brought us here is the one to report
    }
    if (err instanceof TempError) throw err;
    throw new TempError(`unable to lock ${lockPath}: ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err });
  }

  let released = false;
  const heldFd = fd;
  return {
    path: lockPath,
    release() {
      if (released) return;
      released = true;
      try {
        if (fcntl !== null) fcntl.unlock(heldFd);
        closeSync(heldFd);
      } finally {
        unlinkSync(ownerPath);
      }
    },
  };
}

/** Run `fn` holding the lock; the lock is released in `finally`, whatever fn does. */
export function withLock<T>(lockPath: string, fn: () => T, options?: LockOptions): T {
  const lock = acquireLock(lockPath, options);
  try {
    return fn();
  } finally {
    lock.release();
  }
}

/**
 * flock(2) an existing file or directory exclusively, for a critical section with no lock file of
 * its own: the kernel drops the lock when the holder exits, kill -9 included, so nothing is left to
 * break. Waits up to timeoutMs, then throws TempError. Bun only (bun:ffi): under Node, which has no
 * flock, or where the file system refuses flock, it returns undefined and the caller goes on
 * unlocked; a path that cannot be opened is left to the caller's own next step to report.
 */
export function flockExclusive(path: string, options: { readonly timeoutMs?: number } = {}): Lock | undefined {
  const fcntl = loadFcntl();
  if (fcntl === null) return undefined;
  let fd: number;
  try {
    fd = openSync(path, fsc.O_RDONLY);
  } catch {
    return undefined;
  }
  const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  let delay = 1;
  for (;;) {
    const r = fcntl.flock(fd);
    if (r === 'ok') break;
    if (r === 'error') {
      closeSync(fd);
      return undefined;
    }
    if (Date.now() >= deadline) {
      closeSync(fd);
      throw new TempError(`File busy try again later! (${path})`);
    }
    sleepMs(delay);
    delay = Math.min(delay * 2, 50);
  }
  let released = false;
  return {
    path,
    release() {
      if (released) return;
      released = true;
      closeSync(fd); // the last descriptor of the open file: the lock goes with it
    },
  };
}
