// vmoddomlimits: the limits of one domain or of vlimits.default, read, changed field by field under
// a lock, written whole, deleted; flag and permission letters; the `-S` report in C's exact layout.
import { statSync } from 'node:fs';
import type { Config } from '../config.ts';
import { PermError, TempError } from '../exit.ts';
import { formatMaildirQuota, NOQUOTA } from '../quota.ts';
import {
  DEFAULT_LIMITS,
  defaultLimitsPath,
  PERM,
  readLimitsFile,
  writeLimitsFile,
  type DomainLimits,
} from '../store/limits.ts';
import type { AccountsContext } from './context.ts';
import { requireDomain, type DomainRef } from './lookup.ts';
import { DOMAINS_LOCK, withOperationLocks } from './op-lock.ts';

type FlagField = { [K in keyof DomainLimits]: DomainLimits[K] extends boolean ? K : never }[keyof DomainLimits];
type NumberField = { [K in keyof DomainLimits]: DomainLimits[K] extends number ? K : never }[keyof DomainLimits];

/** Letter (`-g`), name in the report, field; in the report's order (spec/tools.md §16). */
const GID_FLAGS: readonly (readonly [string, string, FlagField])[] = [
  ['i', 'NO_IMAP', 'disableImap'],
  ['s', 'NO_SMTP', 'disableSmtp'],
  ['p', 'NO_POP', 'disablePop'],
  ['w', 'NO_WEBMAIL', 'disableWebmail'],
  ['d', 'NO_PASSWD_CHNG', 'disablePasswordChanging'],
  ['r', 'NO_RELAY', 'disableExternalRelay'],
  ['u', 'NO_DIALUP', 'disableDialup'],
  ['c', 'NO_SPAMASSASSIN', 'disableSpamassassin'],
  ['x', 'DEL_SPAM', 'deleteSpam'],
  ['m', 'NO_MAILDROP', 'disableMaildrop'],
];

/** The permission options of vmoddomlimits, the report's label, the field; in the report's order. */
export const PERM_OPTIONS: readonly (readonly [string, string, NumberField])[] = [
  ['p', 'pop account', 'permAccount'],
  ['a', 'alias', 'permAlias'],
  ['f', 'forward', 'permForward'],
  ['r', 'autoresponder', 'permAutoresponder'],
  ['l', 'mailinglist', 'permMaillist'],
  ['u', 'mailinglist users', 'permMaillistUsers'],
  ['o', 'mailinglist moderators', 'permMaillistModerators'],
  ['x', 'quota', 'permQuota'],
  ['z', 'default quota', 'permDefaultQuota'],
];

/** Permission letters: a = deny all, c = deny create, m = deny modify, d = deny delete. */
const PERM_LETTERS: ReadonlyMap<string, number> = new Map([
  ['a', PERM.ALL],
  ['c', PERM.CREATE],
  ['m', PERM.MODIFY],
  ['d', PERM.DELETE],
]);

/** A change to limits: the fields to set, everything else kept. */
export type LimitsChange = Partial<{ -readonly [K in keyof DomainLimits]: DomainLimits[K] }>;

/**
 * `-g letters`: the whole set of domain flags (the letters not given are cleared; `""` clears all).
 * An unknown letter is refused (C ignores it).
 */
export function parseGidFlagLetters(letters: string): LimitsChange {
  const known = new Map(GID_FLAGS.map(([letter, , field]) => [letter, field]));
  for (const c of letters) {
    if (!known.has(c)) throw new PermError(`unknown flag letter ${JSON.stringify(c)} in -g ${JSON.stringify(letters)} (known: u d p s w i r c x m)`);
  }
  const change: LimitsChange = {};
  for (const [letter, , field] of GID_FLAGS) change[field] = letters.includes(letter);
  return change;
}

/** A permission option's letters as the 3-bit deny mask (replacing the old one). Unknown letters are refused. */
export function parsePermLetters(option: string, letters: string): number {
  let mask = 0;
  for (const c of letters) {
    const bit = PERM_LETTERS.get(c);
    if (bit === undefined) throw new PermError(`unknown permission letter ${JSON.stringify(c)} in -${option} ${JSON.stringify(letters)} (known: a c m d)`);
    mask |= bit;
  }
  return mask;
}

/**
 * A whole decimal number in [min, max]. C reads these with atoi/strtoll, so `ten` is 0 and `5x`
 * is 5; we refuse both, naming the option.
 */
export function parseLimitNumber(option: string, value: string, min: number, max: number): number {
  if (!/^[+-]?\d{1,16}$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new PermError(`-${option} wants a whole number from ${min} to ${max}, not ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/**
 * `-q`: the default quota of new users, in bytes, read with C's quota grammar (`10M`, `500K`,
 * `10485760`, `NOQUOTA` = 0). A message count (`,1000C`), which C silently drops (pitfall D2), and
 * text that is no size at all, which C reads as 0, are refused.
 */
export function parseDefaultQuotaBytes(value: string): number {
  if (value === NOQUOTA) return 0;
  if (!/^\d/.test(value)) throw new PermError(`-q wants a size such as 10M, 500K or a number of bytes, not ${JSON.stringify(value)}`);
  const stored = formatMaildirQuota(value);
  if (stored.includes('C')) throw new PermError(`-q takes a size only; set the default message count with -m (${JSON.stringify(value)})`);
  const bytes = stored === '' ? 0 : Number(stored.slice(0, -1));
  if (!Number.isSafeInteger(bytes)) throw new PermError(`-q ${JSON.stringify(value)} is too large`);
  return bytes;
}

export function applyLimitsChange(limits: DomainLimits, change: LimitsChange): DomainLimits {
  return Object.freeze({ ...limits, ...change });
}

function permToken(denied: boolean, what: string): string {
  // Every token is 13 columns: `ALLOW_CREATE ` / `DENY_CREATE  `.
  return `${denied ? 'DENY' : 'ALLOW'}_${what}`.padEnd(13, ' ');
}

/** The `-S` report, byte for byte C's layout (golden steps 149, 151, 153, 154). */
export function formatLimitsReport(title: string, l: DomainLimits): string {
  let out = `${title}\n--\n`;
  out += `Max Pop Accounts: ${l.maxPopAccounts}\n`;
  out += `Max Aliases: ${l.maxAliases}\n`;
  out += `Max Forwards: ${l.maxForwards}\n`;
  out += `Max Autoresponders: ${l.maxAutoresponders}\n`;
  out += `Max Mailinglists: ${l.maxMailinglists}\n`;
  out += 'GID Flags:\n';
  let letters = '';
  for (const [letter, name, field] of GID_FLAGS) {
    if (!l[field]) continue;
    out += `  ${name}\n`;
    letters += letter;
  }
  out += `Flags (for commandline): ${letters}\n`;
  out += 'Flags for non postmaster accounts:\n';
  for (const [, label, field] of PERM_OPTIONS) {
    const mask = l[field];
    out += `  ${`${label}:`.padEnd(24, ' ')}`;
    out += permToken((mask & PERM.CREATE) !== 0, 'CREATE');
    out += permToken((mask & PERM.MODIFY) !== 0, 'MODIFY');
    out += permToken((mask & PERM.DELETE) !== 0, 'DELETE');
    out += '\n';
  }
  out += `Domain Quota: ${l.diskQuotaMb} MB\n`;
  out += `Default User Quota: ${l.defaultQuotaBytes} bytes\n`;
  out += `Max Domain Messages: ${l.maxMsgCount}\n`;
  out += `Default Max Messages per User: ${l.defaultMaxMsgCount}\n`;
  return out;
}

// --- a domain's limits ------------------------------------------------------------------------------

export interface DomainLimitsView {
  readonly domain: DomainRef;
  /** The domain's own limits, or the built-in defaults when it has none. */
  readonly limits: DomainLimits;
  /** Whether the domain has limits of its own (a `.qmailadmin-limits` file or a `limits` row). */
  readonly own: boolean;
}

/**
 * The limits vmoddomlimits shows and edits for a domain: its own, else the built-in defaults (every
 * max* unlimited, the rest 0). vlimits.default is not merged in: C's vmoddomlimits shows the
 * built-in values for a domain without a file (golden steps 149 and 153, while vlimits.default
 * says `maxaliases: 0`). VA_DOMAIN_DOES_NOT_EXIST for an unknown domain (an alias reads its real domain's).
 */
export async function readDomainLimits(ctx: AccountsContext, domainName: string): Promise<DomainLimitsView> {
  const domain = requireDomain(ctx, domainName);
  const own = await ctx.backend.getLimits(domain.domain);
  return { domain, limits: own ?? DEFAULT_LIMITS, own: own !== undefined };
}

/** Change some fields of a domain's limits and store them whole, the read and the write under the domain's lock. */
export async function changeDomainLimits(ctx: AccountsContext, domainName: string, change: LimitsChange): Promise<DomainLimits> {
  const first = requireDomain(ctx, domainName);
  return withOperationLocks(ctx, [first.domain], async () => {
    const { domain, limits } = await readDomainLimits(ctx, domainName);
    const updated = applyLimitsChange(limits, change);
    await ctx.backend.setLimits(domain.domain, updated);
    return updated;
  });
}

/** vdel_limits: the domain falls back to vlimits.default. Having none is not an error (5.6.13). */
export async function removeDomainLimits(ctx: AccountsContext, domainName: string): Promise<void> {
  const first = requireDomain(ctx, domainName);
  await withOperationLocks(ctx, [first.domain], async () => {
    await ctx.backend.delLimits(requireDomain(ctx, domainName).domain);
  });
}

// --- vlimits.default -----------------------------------------------------------------------------------

export function defaultLimitsFile(config: Pick<Config, 'etcDir'>): string {
  return defaultLimitsPath(config.etcDir);
}

/** vlimits.default; undefined when there is none. An unreadable file is a TempError. */
export function readDefaultLimits(config: Pick<Config, 'etcDir'>): DomainLimits | undefined {
  return readLimitsFile(defaultLimitsFile(config));
}

/**
 * Change some fields of vlimits.default (which must exist) and write it whole: 0644, keeping its
 * owner (C rewrites it in place). Undefined when there is no file to change. Held under the lock of
 * operations on all domains, since every domain without limits of its own reads this file.
 */
export async function changeDefaultLimits(ctx: AccountsContext, change: LimitsChange): Promise<DomainLimits | undefined> {
  return withOperationLocks(ctx, [DOMAINS_LOCK], async () => {
    const path = defaultLimitsFile(ctx.config);
    const limits = readLimitsFile(path);
    if (limits === undefined) return undefined;
    let owner: { uid: number; gid: number };
    try {
      const st = statSync(path);
      owner = { uid: st.uid, gid: st.gid };
    } catch (err) {
      throw new TempError(`unable to stat ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err });
    }
    const updated = applyLimitsChange(limits, change);
    writeLimitsFile(path, updated, { durable: ctx.durable, mode: 0o644, owner });
    return updated;
  });
}
