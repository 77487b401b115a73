// vdeloldusers: the accounts of a domain not used for a given time. An account's last use is its
// last login (lastauth); one with no login record ages from when it was made, where the file system
// keeps a birth time for its home (C never selects such accounts, pitfall T8).
import { statSync } from 'node:fs';
import type { VpasswdEntry } from '../backends/backend.ts';
import type { AccountsContext } from './context.ts';
import { requireDomain, type DomainRef } from './lookup.ts';

/** vdeloldusers never selects the domain's postmaster. */
export const KEPT_ACCOUNT = 'postmaster';

export interface OldAccount {
  readonly user: string;
  /** Seconds since the epoch of the last use. */
  readonly lastUsedSec: number;
  /** lastauth: the last login; created: no login on record, the home's birth time. */
  readonly source: 'lastauth' | 'created';
}

export interface OldAccountsScan {
  readonly domain: DomainRef;
  /** Accounts last used before the cutoff, in store order. */
  readonly old: readonly OldAccount[];
  /** Whether the domain has a postmaster (C says it skipped it). */
  readonly hasPostmaster: boolean;
  /** Accounts with neither a login record nor a known creation time: never selected. */
  readonly undated: readonly string[];
}

/** The birth time of an account's home in whole seconds; undefined when the file system does not keep one or there is no home. */
export function homeCreatedSec(entry: Pick<VpasswdEntry, 'dir'>): number | undefined {
  if (entry.dir === '') return undefined;
  try {
    const st = statSync(entry.dir);
    return st.birthtimeMs > 0 ? Math.floor(st.birthtimeMs / 1000) : undefined;
  } catch {
    return undefined;
  }
}

/** When the account was last used, and how we know; undefined when we cannot tell. */
export async function lastUseOf(ctx: AccountsContext, domain: string, entry: VpasswdEntry): Promise<Omit<OldAccount, 'user'> | undefined> {
  const last = await ctx.backend.getLastauth(domain, entry);
  if (last !== undefined && last.timeSec !== 0) return { lastUsedSec: last.timeSec, source: 'lastauth' };
  const created = homeCreatedSec(entry);
  return created === undefined ? undefined : { lastUsedSec: created, source: 'created' };
}

/**
 * The accounts of `domainName` (an alias reads its real domain) last used before `cutoffSec`,
 * postmaster excepted. Read-only; VA_DOMAIN_DOES_NOT_EXIST for an unknown domain.
 */
export async function findOldAccounts(ctx: AccountsContext, domainName: string, cutoffSec: number): Promise<OldAccountsScan> {
  const domain = requireDomain(ctx, domainName);
  const old: OldAccount[] = [];
  const undated: string[] = [];
  let hasPostmaster = false;
  for await (const entry of ctx.backend.listUsers(domain.domain)) {
    if (entry.name === KEPT_ACCOUNT) {
      hasPostmaster = true;
      continue;
    }
    const use = await lastUseOf(ctx, domain.domain, entry);
    if (use === undefined) undated.push(entry.name);
    else if (use.lastUsedSec < cutoffSec) old.push({ user: entry.name, ...use });
  }
  return { domain, old, hasPostmaster, undated };
}
