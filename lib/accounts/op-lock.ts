// Operation locks: one per domain, held for the whole of an account operation, on top of the
// per-file locks the stores take. C locks file by file only, so two admin tools (or a tool and
// vpopmaild) can interleave the steps of one change: check "no such user", allocate a bucket, make
// the directory, add the vpasswd line. Holding the domain's lock across all of them makes each
// operation one step for every other operation on that domain.
//
// The lock files live in ~vpopmail/locks/ (not in the domain directory, which does not exist yet
// while a domain is being added, and not among the files qmail or C read). Domain add and delete
// also hold the `.domains` lock: they change what every domain shares (the domain bucket counter,
// users/assign as a whole), and domain names cannot start with a dot, so the names never clash.
import { chownSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.ts';
import { TempError } from '../exit.ts';
import { acquireLock, type Lock } from '../store/lock.ts';
import { isRoot, type AccountsContext } from './context.ts';

export const LOCKS_DIR = 'locks';
/** The lock of operations that change the set of domains. */
export const DOMAINS_LOCK = '.domains';

export function operationLockDir(config: Pick<Config, 'vpopmailHome'>): string {
  return join(config.vpopmailHome, LOCKS_DIR);
}

function ensureLockDir(config: Config): string {
  const dir = operationLockDir(config);
  try {
    mkdirSync(dir, { mode: 0o700 });
    // Made by root: give it to vpopmail, so a vpopmaild running as vpopmail can lock too.
    if (isRoot()) chownSync(dir, config.vpopmailUid, config.vpopmailGid);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new TempError(`unable to create ${dir}: ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err });
    }
  }
  return dir;
}

/**
 * Run fn holding the operation locks of `names` (domain names, or DOMAINS_LOCK), taken in sorted
 * order so that two operations never wait for each other. Released in `finally`.
 */
export async function withOperationLocks<T>(ctx: AccountsContext, names: readonly string[], fn: () => Promise<T>): Promise<T> {
  const dir = ensureLockDir(ctx.config);
  const unique = [...new Set(names)].sort();
  const held: Lock[] = [];
  try {
    for (const name of unique) {
      if (name === '' || name.includes('/') || (name.startsWith('.') && name !== DOMAINS_LOCK)) {
        throw new TempError(`refusing to lock ${JSON.stringify(name)}: not a domain name`);
      }
      held.push(
        acquireLock(join(dir, `${name}.lock`), {
          ...(ctx.lockTimeoutMs === undefined ? {} : { timeoutMs: ctx.lockTimeoutMs }),
          owner: { uid: ctx.config.vpopmailUid, gid: ctx.config.vpopmailGid },
        }),
      );
    }
    return await fn();
  } finally {
    for (const lock of held.reverse()) lock.release();
  }
}
