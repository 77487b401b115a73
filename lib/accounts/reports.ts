// What vuserinfo shows about an account: the record, its effective flags, quota use, last login.
// Read-only: nothing here writes (C's usage code rewrites maildirsize while it reads).
import { join } from 'node:path';
import { effectiveFlags, resolveDomainLimits, type DomainLimits } from '../backends/backend.ts';
import { VA, VpopmailError } from '../exit.ts';
import { countMaildir, readMaildirsize } from '../maildir/maildirsize.ts';
import { NOQUOTA, parseQuotaLimits } from '../quota.ts';
import type { Lastauth } from '../store/lastauth.ts';
import type { VpasswdEntry } from '../store/vpasswd.ts';
import type { AccountsContext } from './context.ts';
import { findDomain, requireDomain, type DomainRef } from './lookup.ts';

export interface UserReport {
  readonly domain: DomainRef;
  readonly entry: VpasswdEntry;
  /** pw_flags: pw_gid with the domain limits' bits unless V_OVERRIDE. */
  readonly flags: number;
}

export interface ReportWants {
  readonly usage?: boolean;
  readonly lastauth?: boolean;
}

export interface FullUserReport extends UserReport {
  /** Percent of the size quota in use (0–100); undefined for NOQUOTA; absent when not asked. */
  readonly usagePercent?: number | undefined;
  /** The lastauth record; undefined when there is none; absent when not asked. */
  readonly lastauth?: Lastauth | undefined;
}

/**
 * Percent of the byte quota in use, capped at 100, as vuserinfo prints it; undefined for NOQUOTA.
 * Taken from maildirsize; when that is missing or damaged the Maildir is counted (and, unlike C,
 * maildirsize is not written: showing must not change anything).
 */
export function quotaUsagePercent(entry: VpasswdEntry): number | undefined {
  if (entry.quota === NOQUOTA) return undefined;
  const limits = parseQuotaLimits(entry.quota);
  if (limits.bytes === undefined) return 0;
  if (entry.dir === '') return 0;
  const maildir = join(entry.dir, 'Maildir');
  const file = readMaildirsize(maildir);
  let bytes: number;
  if (file !== undefined) bytes = file.bytes;
  else {
    try {
      bytes = countMaildir(maildir).bytes;
    } catch {
      return 0; // no Maildir yet: nothing in use
    }
  }
  if (limits.bytes <= 0) return 100;
  return Math.min(100, Math.floor((bytes * 100) / limits.bytes));
}

/** The domain's limits as pw_flags needs them: undefined when there are none anywhere (C: pw_gid alone). */
async function limitsForFlags(ctx: AccountsContext, domain: DomainRef): Promise<DomainLimits | undefined> {
  try {
    return (await resolveDomainLimits(ctx.backend, ctx.config, domain.domain, { whenMissing: 'error' })).limits;
  } catch (err) {
    if (err instanceof VpopmailError && err.code === VA.CANNOT_READ_LIMITS) return undefined;
    throw err;
  }
}

async function report(ctx: AccountsContext, domain: DomainRef, entry: VpasswdEntry, wants: ReportWants, limits: DomainLimits | undefined): Promise<FullUserReport> {
  const flags = effectiveFlags(entry.gid, limits);
  const out: { -readonly [K in keyof FullUserReport]: FullUserReport[K] } = { domain, entry, flags };
  if (wants.usage === true) out.usagePercent = quotaUsagePercent(entry);
  if (wants.lastauth === true && ctx.config.authLogging) out.lastauth = await ctx.backend.getLastauth(domain.domain, entry);
  return out;
}

/** One account; undefined when the domain or the user does not exist. */
export async function userReport(ctx: AccountsContext, domainName: string, user: string, wants: ReportWants = {}): Promise<FullUserReport | undefined> {
  const domain = findDomain(ctx, domainName);
  if (domain === undefined) return undefined;
  const entry = await ctx.backend.getUser(domain.domain, user);
  return entry === undefined ? undefined : report(ctx, domain, entry, wants, await limitsForFlags(ctx, domain));
}

/** Every account of a domain in store order (vuserinfo -D); VA_DOMAIN_DOES_NOT_EXIST for an unknown domain. */
export async function* domainUserReports(ctx: AccountsContext, domainName: string, wants: ReportWants = {}): AsyncGenerator<FullUserReport> {
  const domain = requireDomain(ctx, domainName);
  const limits = await limitsForFlags(ctx, domain); // read once, not once per user
  for await (const entry of ctx.backend.listUsers(domain.domain)) yield await report(ctx, domain, entry, wants, limits);
}
