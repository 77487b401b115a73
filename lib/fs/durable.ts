// Durable file replacement (tmp, fsync, rename, fsync dir) and the crash-test fault switch behind it.
import {
  closeSync,
  fchmodSync,
  fchownSync,
  fstatSync,
  fsyncSync,
  linkSync,
  openSync,
  renameSync,
  unlinkSync,
  writeSync,
  constants as fsc,
  type Stats,
} from 'node:fs';
import { dirname } from 'node:path';
import type { FaultSpec } from '../config.ts';

/**
 * The operations whose order makes a write crash-safe. Every writer in lib/ goes through one of
 * these objects, so a test can make the process die at the n-th one (see faultyDurable).
 */
export interface Durable {
  /** Write all of data; at `position` if given (pwrite), else at the file offset. */
  write(fd: number, data: Uint8Array, position?: number): void;
  fsync(fd: number): void;
  rename(from: string, to: string): void;
  link(from: string, to: string): void;
}

function writeAll(fd: number, data: Uint8Array, position?: number): void {
  let off = 0;
  while (off < data.length) {
    try {
      off += writeSync(fd, data, off, data.length - off, position === undefined ? null : position + off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    }
  }
}

export const DURABLE: Durable = Object.freeze({
  write: writeAll,
  fsync: (fd: number) => fsyncSync(fd),
  rename: (from: string, to: string) => renameSync(from, to),
  link: (from: string, to: string) => linkSync(from, to),
});

/**
 * A Durable that kills its own process (SIGKILL: no cleanup, no finally) when the n-th operation of
 * the given kind is about to run: the operation itself never happens. Only for crash tests;
 * config.fault is never set in a set-uid process.
 */
export function faultyDurable(spec: FaultSpec, base: Durable = DURABLE): Durable {
  let count = 0;
  const gate = (op: 'write' | 'fsync' | 'rename') => {
    if (spec.op !== 'any' && spec.op !== op) return;
    count++;
    if (count === spec.n) process.kill(process.pid, 'SIGKILL');
  };
  return {
    write(fd, data, position) {
      gate('write');
      base.write(fd, data, position);
    },
    fsync(fd) {
      gate('fsync');
      base.fsync(fd);
    },
    rename(from, to) {
      gate('rename');
      base.rename(from, to);
    },
    link(from, to) {
      gate('rename');
      base.link(from, to);
    },
  };
}

export function durableFor(config: { readonly fault?: FaultSpec | undefined }): Durable {
  return config.fault === undefined ? DURABLE : faultyDurable(config.fault);
}

export function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone, or never made: either way nothing to clean up
  }
}

/**
 * `use(fd, stat)` on `path` opened with `flags` when it is a plain file; undefined when it cannot be
 * opened, is anything else, or `use` throws or answers undefined. A symlink is not followed and a
 * FIFO not waited for (O_NOFOLLOW | O_NONBLOCK). For small files read, or updated in place, by the
 * fast path of a caller that falls back to the careful one on undefined.
 */
export function withPlainFile<T>(path: string, flags: number, use: (fd: number, st: Stats) => T | undefined): T | undefined {
  let fd: number;
  try {
    fd = openSync(path, flags | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    return st.isFile() ? use(fd, st) : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** fsync a directory so a rename or link inside it survives a crash. */
export function fsyncDirSync(dir: string, durable: Durable = DURABLE): void {
  const fd = openSync(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
  try {
    durable.fsync(fd);
  } finally {
    closeSync(fd);
  }
}

export interface ReplaceOptions {
  /** Mode of the new file, set at creation (no window with a wrong mode). Default 0600. */
  readonly mode?: number;
  /** Temp file name; default `<path>.tmp.<pid>` in the same directory, so rename is atomic. */
  readonly tmpPath?: string;
  readonly durable?: Durable;
  /** Give the new file this owner before it takes the name (only when running as root). */
  readonly owner?: { readonly uid: number; readonly gid: number };
}

/**
 * Replace `path` with `chunks` so that a crash at any instant leaves either the old file or the
 * complete new one: write a sibling temp file, fsync, close (close can fail late on NFS), rename,
 * fsync the directory.
 */
export function replaceFileSync(path: string, chunks: Uint8Array | Iterable<Uint8Array>, options: ReplaceOptions = {}): void {
  const durable = options.durable ?? DURABLE;
  const tmp = options.tmpPath ?? `${path}.tmp.${process.pid}`;
  const mode = options.mode ?? 0o600;
  try {
    unlinkQuiet(tmp); // a stale temp file of a crashed run with our pid
    const fd = openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, mode);
    try {
      fchmodSync(fd, mode); // exactly this mode, whatever the caller's umask
      if (options.owner !== undefined && process.geteuid?.() === 0) fchownSync(fd, options.owner.uid, options.owner.gid);
      if (chunks instanceof Uint8Array) durable.write(fd, chunks);
      else for (const chunk of chunks) durable.write(fd, chunk);
      durable.fsync(fd);
    } finally {
      closeSync(fd);
    }
    durable.rename(tmp, path);
  } catch (err) {
    unlinkQuiet(tmp);
    throw err;
  }
  fsyncDirSync(dirname(path), durable);
}
