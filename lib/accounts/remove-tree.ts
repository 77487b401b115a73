// Removing a user's or a domain's directory tree without ever leaving the tree it belongs to.
//
// C deletes recursively with stat(), so a symlink inside a Maildir pointing at /etc is followed and
// its target emptied (layout.md pitfall 8), and vdeluser deletes whatever pw_dir says, even a path
// outside the domain (pitfall S9). We refuse a path that is not below its base, refuse a symlinked
// directory on the way down to it, remove a symlink itself rather than its target, and let
// rmSync (which lstat()s every entry and unlinks symlinks) do the rest.
import { lstatSync, rmSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PermError, TempError } from '../exit.ts';
import { fsyncDirSync, type Durable } from '../fs/durable.ts';
import { componentsBelow } from '../maildir/make.ts';

export type RemoveOutcome = 'removed' | 'missing' | 'unlinked-symlink';

function errno(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err);
}

/**
 * Remove `dir` (absolute) and everything below it, provided it lies below `base`. A missing
 * directory is fine ('missing'). PermError when the path leaves `base` or passes through a symlink;
 * TempError when removal fails part-way (what is left stays).
 */
export function removeTreeBelow(base: string, dir: string, durable: Durable): RemoveOutcome {
  const parts = componentsBelow(base, dir);
  let path = base.length > 1 ? base.replace(/\/+$/, '') : base;
  for (let i = 0; i < parts.length; i++) {
    path = join(path, parts[i]!);
    let st;
    try {
      st = lstatSync(path);
    } catch (err) {
      if (errno(err) === 'ENOENT') return 'missing';
      throw new TempError(`lstat(${path}) failed: ${errno(err)}`, { cause: err });
    }
    const isLast = i === parts.length - 1;
    if (st.isSymbolicLink()) {
      if (!isLast) throw new PermError(`refusing to remove ${dir}: ${path} is a symlink`);
      try {
        unlinkSync(path);
      } catch (err) {
        throw new TempError(`unlink(${path}) failed: ${errno(err)}`, { cause: err });
      }
      fsyncDirSync(dirname(path), durable);
      return 'unlinked-symlink';
    }
    if (!st.isDirectory()) throw new PermError(`refusing to remove ${dir}: ${path} is not a directory`);
  }
  try {
    rmSync(dir, { recursive: true, force: false, maxRetries: 2 });
  } catch (err) {
    throw new TempError(`unable to remove ${dir}: ${errno(err)}`, { cause: err });
  }
  fsyncDirSync(dirname(dir), durable);
  return 'removed';
}
