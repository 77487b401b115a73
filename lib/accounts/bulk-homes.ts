// vaddusers' mailboxes: many user directories made at once, in parallel, and made durable by one
// flush of the file system instead of three directory fsyncs per user.
//
// Each fsync here costs a disk cache flush (about 1.5 ms on the test machine even with nothing to
// write), so the 3 directory fsyncs of one vadduser would cost a 100,000-user import 7 minutes on
// their own. syncfs(2) makes everything written so far durable in one call; where it cannot be had
// (Node has no binding, and no `sync -f`), every directory and file made is fsynced instead.
import { spawnSync } from 'node:child_process';
import { closeSync, fchmodSync, fchownSync, futimesSync, lchownSync, mkdirSync, openSync, constants as fsc } from 'node:fs';
import { lchown, mkdir, open } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { TempError, VA, VpopmailError } from '../exit.ts';
import type { Durable } from '../fs/durable.ts';
import { NEVER_LOGGED_IN_IP } from '../store/lastauth.ts';
import { isRoot } from './context.ts';
import { removeTreeBelow } from './remove-tree.ts';
import { collectGarbage } from '../runtime.ts';

type Owner = { readonly uid: number; readonly gid: number };

/** One mailbox to make. */
export interface HomeTask {
  readonly home: string;
  /** A bare leftover of an interrupted add sits there: remove it first, as vadduser does. */
  readonly reuse: boolean;
  /** Write `<home>/lastauth` ("never logged in", this time), as the cdb backend keeps it. */
  readonly lastauthSec: number | undefined;
  /** Called after the Maildir exists (maildirsize for a quota), synchronously. */
  readonly after?: (home: string) => void;
}

export interface MakeHomesOptions {
  readonly domainDir: string;
  readonly owner: Owner;
  /** Writes and renames go through it; its fsyncs are left to syncHomes. */
  readonly durable: Durable;
  readonly concurrency: number;
  /** Called with the number of mailboxes made so far, now and then. */
  readonly onProgress?: (done: number) => void;
}

/** A Durable that writes and renames through `base` but leaves fsync to one flush at the end. */
export function deferredDurable(base: Durable): Durable {
  return {
    write: (fd, data, position) => base.write(fd, data, position),
    fsync: () => {},
    rename: (from, to) => base.rename(from, to),
    link: (from, to) => base.link(from, to),
  };
}

function errno(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err);
}

/** mkdir 0700 and chown, as makeUserDir does; the user directory itself must be new (VA_EXIST_U_DIR). */
async function makeDir(path: string, owner: Owner, root: boolean, isHome = false): Promise<void> {
  try {
    await mkdir(path, 0o700);
  } catch (err) {
    const code = isHome && errno(err) === 'EEXIST' ? VA.EXIST_U_DIR : VA.SUBDIR_CREATION;
    throw new VpopmailError(code, `mkdir(${path}) failed: ${errno(err)}`, { cause: err });
  }
  if (!root) return;
  try {
    await lchown(path, owner.uid, owner.gid);
  } catch (err) {
    throw new VpopmailError(VA.SUBDIR_CREATION, `chown(${path}) failed: ${errno(err)}`, { cause: err });
  }
}

/** lastauth as writeLastauth leaves it in a new home: the IP, mode 0600, the domain's owner, mtime = the time. */
function writeNewLastauth(home: string, timeSec: number, owner: Owner, root: boolean, durable: Durable): void {
  const path = join(home, 'lastauth');
  try {
    const fd = openSync(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600);
    try {
      fchmodSync(fd, 0o600);
      if (root) fchownSync(fd, owner.uid, owner.gid);
      durable.write(fd, NEVER_LOGGED_IN_BYTES);
      futimesSync(fd, timeSec, timeSec);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw new TempError(`unable to write ${path}: ${errno(err)}`, { cause: err });
  }
}

/** Lines checked, mailboxes made or entries written between two collections (collectGarbage). */
export const GARBAGE_EVERY = 8192;

const NEVER_LOGGED_IN_BYTES = Buffer.from(NEVER_LOGGED_IN_IP, 'latin1');

/** The same, one call after another: on a machine with one or two cores this costs less CPU. */
function makeDirSync(path: string, owner: Owner, root: boolean, isHome = false): void {
  try {
    mkdirSync(path, 0o700);
  } catch (err) {
    const code = isHome && errno(err) === 'EEXIST' ? VA.EXIST_U_DIR : VA.SUBDIR_CREATION;
    throw new VpopmailError(code, `mkdir(${path}) failed: ${errno(err)}`, { cause: err });
  }
  if (!root) return;
  try {
    lchownSync(path, owner.uid, owner.gid);
  } catch (err) {
    throw new VpopmailError(VA.SUBDIR_CREATION, `chown(${path}) failed: ${errno(err)}`, { cause: err });
  }
}

/**
 * How many mailboxes to make at once by default. Each is a dozen small system calls; run from a
 * thread pool they cost about 1.7 times the CPU of plain calls (one wake-up per call), which pays
 * only where there are cores to spare (measured: 10,000 mailboxes on 2 cores, 6-8 s either way,
 * 2.5 s of system time in order against 4.2 s in parallel).
 */
export function defaultHomeConcurrency(): number {
  const cores = availableParallelism();
  return cores <= 2 ? 1 : Math.min(16, 2 * cores);
}

/**
 * Make every home of `tasks` (the user directory and Maildir/{new,cur,tmp}, 0700, owned by the
 * domain when we are root, as makeUserDir does), `concurrency` at a time (1: in order, without the
 * thread pool). The bucket directories must exist. Stops at the first failure, after the mailboxes
 * under way are done; returns how many were made.
 */
export async function makeHomes(tasks: (i: number) => HomeTask | undefined, count: number, options: MakeHomesOptions): Promise<number> {
  const root = isRoot();
  const { owner, durable, domainDir } = options;
  let next = 0;
  let done = 0;
  let failure: unknown;
  const finish = (task: HomeTask) => {
    if (task.lastauthSec !== undefined) writeNewLastauth(task.home, task.lastauthSec, owner, root, durable);
    task.after?.(task.home);
    done++;
    if (done % 256 === 0) options.onProgress?.(done);
    if (done % GARBAGE_EVERY === 0) collectGarbage();
  };
  if (options.concurrency <= 1) {
    for (let i = 0; i < count; i++) {
      const task = tasks(i);
      if (task === undefined) continue;
      if (task.reuse) removeTreeBelow(domainDir, task.home, durable);
      const maildir = `${task.home}/Maildir`;
      makeDirSync(task.home, owner, root, true);
      makeDirSync(maildir, owner, root);
      for (const sub of ['new', 'cur', 'tmp']) makeDirSync(`${maildir}/${sub}`, owner, root);
      finish(task);
    }
    options.onProgress?.(done);
    return done;
  }
  const one = async (task: HomeTask) => {
    if (task.reuse) removeTreeBelow(domainDir, task.home, durable);
    const maildir = `${task.home}/Maildir`;
    await makeDir(task.home, owner, root, true);
    await makeDir(maildir, owner, root);
    // C's make_user_dir order; the three have nothing to wait for between them.
    await Promise.all(['new', 'cur', 'tmp'].map((sub) => makeDir(`${maildir}/${sub}`, owner, root)));
    finish(task);
  };
  const worker = async () => {
    while (failure === undefined && next < count) {
      const task = tasks(next++);
      if (task === undefined) continue;
      try {
        await one(task);
      } catch (err) {
        failure ??= err;
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  if (failure !== undefined) throw failure;
  options.onProgress?.(done);
  return done;
}

interface BunFfi {
  dlopen(name: string, symbols: Record<string, { args: string[]; returns: string }>): { symbols: Record<string, (...args: unknown[]) => number>; close(): void };
}

/**
 * syncfs(2) on the file system holding `dir`: through bun:ffi on Bun, else coreutils' `sync -f`.
 * False when neither could be run, or it failed: the caller must then fsync what it made itself.
 */
export function syncFileSystem(dir: string): boolean {
  if (typeof (globalThis as { Bun?: unknown }).Bun !== 'undefined') {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const ffi = require('bun:ffi') as BunFfi;
      const libc = ffi.dlopen('libc.so.6', { syncfs: { args: ['i32'], returns: 'i32' } });
      try {
        const fd = openSync(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
        try {
          return libc.symbols.syncfs!(fd) === 0;
        } finally {
          closeSync(fd);
        }
      } finally {
        libc.close();
      }
    } catch {
      // no FFI here: try the program
    }
  }
  const r = spawnSync('sync', ['-f', dir], { env: { PATH: '/usr/bin:/bin' }, stdio: 'ignore' });
  return r.status === 0;
}

/** The fallback of syncFileSystem: fsync these paths (directories and files), a few at a time. */
export async function fsyncPaths(paths: Iterable<string>, concurrency: number): Promise<void> {
  const iterator = paths[Symbol.iterator]();
  const worker = async () => {
    for (let r = iterator.next(); r.done !== true; r = iterator.next()) {
      const fh = await open(r.value, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
}
