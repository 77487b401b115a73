// Domain limits (layout.md §13): `<dom>/.qmailadmin-limits` and `~vpopmail/etc/vlimits.default`,
// their exact text format, the account flag bits, and the flag mask limits add to pw_gid.
import { readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { TempError, VA, VpopmailError } from '../exit.ts';
import { DURABLE, replaceFileSync, type Durable } from '../fs/durable.ts';

export const DOMAIN_LIMITS_FILE = '.qmailadmin-limits';
export const DEFAULT_LIMITS_FILE = 'vlimits.default';

/** pw_gid / pw_flags bits (passwords.md §6.1). */
export const PW_FLAG = Object.freeze({
  NO_PASSWD_CHNG: 0x01,
  NO_POP: 0x02,
  NO_WEBMAIL: 0x04,
  NO_IMAP: 0x08,
  BOUNCE_MAIL: 0x10,
  NO_RELAY: 0x20,
  NO_DIALUP: 0x40,
  V_USER0: 0x80,
  V_USER1: 0x100,
  V_USER2: 0x200,
  V_USER3: 0x400,
  NO_SMTP: 0x800,
  QA_ADMIN: 0x1000,
  V_OVERRIDE: 0x2000,
  NO_SPAMASSASSIN: 0x4000,
  DELETE_SPAM: 0x8000,
  SA_ADMIN: 0x10000,
  SA_EXPERT: 0x20000,
  NO_MAILDROP: 0x40000,
} as const);

/** Permission bits for non-postmaster admins: set = denied. */
export const PERM = Object.freeze({ CREATE: 1, MODIFY: 2, DELETE: 4, ALL: 7 } as const);

/** C's struct vlimits, by meaning. */
export interface DomainLimits {
  /** -1 = unlimited. */
  readonly maxPopAccounts: number;
  readonly maxAliases: number;
  readonly maxForwards: number;
  readonly maxAutoresponders: number;
  readonly maxMailinglists: number;
  /** `quota`: domain quota in MB (SQL `diskquota`). */
  readonly diskQuotaMb: number;
  readonly maxMsgCount: number;
  /** `default_quota`: bytes, for new users. */
  readonly defaultQuotaBytes: number;
  readonly defaultMaxMsgCount: number;
  readonly disablePop: boolean;
  readonly disableImap: boolean;
  readonly disableDialup: boolean;
  readonly disablePasswordChanging: boolean;
  readonly disableWebmail: boolean;
  readonly disableExternalRelay: boolean;
  readonly disableSmtp: boolean;
  readonly disableSpamassassin: boolean;
  readonly deleteSpam: boolean;
  readonly disableMaildrop: boolean;
  /** 3-bit PERM masks. */
  readonly permAccount: number;
  readonly permAlias: number;
  readonly permForward: number;
  readonly permAutoresponder: number;
  /** perm_maillist bits 0–2. */
  readonly permMaillist: number;
  /** perm_maillist bits 3–5. */
  readonly permMaillistUsers: number;
  /** perm_maillist bits 6–8. */
  readonly permMaillistModerators: number;
  readonly permQuota: number;
  readonly permDefaultQuota: number;
}

/** Keys absent from a file keep these (layout.md §13): every max* unlimited, everything else 0. */
export const DEFAULT_LIMITS: DomainLimits = Object.freeze({
  maxPopAccounts: -1,
  maxAliases: -1,
  maxForwards: -1,
  maxAutoresponders: -1,
  maxMailinglists: -1,
  diskQuotaMb: 0,
  maxMsgCount: 0,
  defaultQuotaBytes: 0,
  defaultMaxMsgCount: 0,
  disablePop: false,
  disableImap: false,
  disableDialup: false,
  disablePasswordChanging: false,
  disableWebmail: false,
  disableExternalRelay: false,
  disableSmtp: false,
  disableSpamassassin: false,
  deleteSpam: false,
  disableMaildrop: false,
  permAccount: 0,
  permAlias: 0,
  permForward: 0,
  permAutoresponder: 0,
  permMaillist: 0,
  permMaillistUsers: 0,
  permMaillistModerators: 0,
  permQuota: 0,
  permDefaultQuota: 0,
});

type NumberKey = 'maxPopAccounts' | 'maxAliases' | 'maxForwards' | 'maxAutoresponders' | 'maxMailinglists' | 'diskQuotaMb' | 'maxMsgCount' | 'defaultQuotaBytes' | 'defaultMaxMsgCount';
type FlagKey = 'disablePop' | 'disableImap' | 'disableDialup' | 'disablePasswordChanging' | 'disableWebmail' | 'disableExternalRelay' | 'disableSmtp' | 'disableSpamassassin' | 'deleteSpam' | 'disableMaildrop';
type PermKey = 'permAccount' | 'permAlias' | 'permForward' | 'permAutoresponder';

/** File key, field, in writer order. */
const NUMBER_KEYS: readonly (readonly [string, NumberKey])[] = [
  ['maxpopaccounts', 'maxPopAccounts'],
  ['maxaliases', 'maxAliases'],
  ['maxforwards', 'maxForwards'],
  ['maxautoresponders', 'maxAutoresponders'],
  ['maxmailinglists', 'maxMailinglists'],
  ['quota', 'diskQuotaMb'],
  ['maxmsgcount', 'maxMsgCount'],
  ['default_quota', 'defaultQuotaBytes'],
  ['default_maxmsgcount', 'defaultMaxMsgCount'],
];

/** File key, field, pw_flags bit, in writer order. */
const FLAG_KEYS: readonly (readonly [string, FlagKey, number])[] = [
  ['disable_pop', 'disablePop', PW_FLAG.NO_POP],
  ['disable_imap', 'disableImap', PW_FLAG.NO_IMAP],
  ['disable_dialup', 'disableDialup', PW_FLAG.NO_DIALUP],
  ['disable_password_changing', 'disablePasswordChanging', PW_FLAG.NO_PASSWD_CHNG],
  ['disable_webmail', 'disableWebmail', PW_FLAG.NO_WEBMAIL],
  ['disable_external_relay', 'disableExternalRelay', PW_FLAG.NO_RELAY],
  ['disable_smtp', 'disableSmtp', PW_FLAG.NO_SMTP],
  ['disable_spamassassin', 'disableSpamassassin', PW_FLAG.NO_SPAMASSASSIN],
  ['delete_spam', 'deleteSpam', PW_FLAG.DELETE_SPAM],
  ['disable_maildrop', 'disableMaildrop', PW_FLAG.NO_MAILDROP],
];

const PERM_KEYS: readonly (readonly [string, PermKey])[] = [
  ['perm_account', 'permAccount'],
  ['perm_alias', 'permAlias'],
  ['perm_forward', 'permForward'],
  ['perm_autoresponder', 'permAutoresponder'],
];

/** atoi: optional sign and leading digits, anything else 0 (C reads limits this leniently). */
function atoi(text: string): number {
  const m = /^[ \t]*([+-]?[0-9]+)/.exec(text);
  if (m === null) return 0;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : n < 0 ? Number.MIN_SAFE_INTEGER : Number.MAX_SAFE_INTEGER;
}

/**
 * Parse a limits file as C does: LF or CR ends a line; `#` lines and empty lines are skipped; the key
 * runs to the first space, TAB or `:`, the value starts after the run of those that follows; unknown
 * keys are ignored; a flag counts as set by its presence. Numbers are read as atoi reads them.
 */
export function parseLimits(text: string): DomainLimits {
  const out: Record<string, number | boolean> = { ...DEFAULT_LIMITS };
  const numbers = new Map(NUMBER_KEYS);
  const flags = new Map(FLAG_KEYS.map(([k, f]) => [k, f]));
  const perms = new Map(PERM_KEYS);
  for (const line of text.split(/[\r\n]/)) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([^ \t:]*)[ \t:]*(.*)$/.exec(line)!;
    const key = m[1]!;
    const value = m[2]!;
    if (key === '') continue;
    const number = numbers.get(key);
    if (number !== undefined) {
      out[number] = atoi(value);
      continue;
    }
    const flag = flags.get(key);
    if (flag !== undefined) {
      out[flag] = true;
      continue;
    }
    const perm = perms.get(key);
    if (perm !== undefined) {
      out[perm] = atoi(value) & PERM.ALL;
      continue;
    }
    if (key === 'perm_maillist') {
      const v = atoi(value);
      out.permMaillist = v & PERM.ALL;
      out.permMaillistUsers = (v >> 3) & PERM.ALL;
      out.permMaillistModerators = (v >> 6) & PERM.ALL;
    } else if (key === 'perm_quota') out.permQuota = atoi(value) & PERM.ALL;
    else if (key === 'perm_defaultquota') out.permDefaultQuota = atoi(value) & PERM.ALL;
  }
  return out as unknown as DomainLimits;
}

/** perm_maillist as stored: list | users << 3 | moderators << 6. */
export function packMaillistPerms(limits: DomainLimits): number {
  return (limits.permMaillist & 7) | ((limits.permMaillistUsers & 7) << 3) | ((limits.permMaillistModerators & 7) << 6);
}

/**
 * The text vmoddomlimits and qmailadmin write, key by key in C's order. One fix (pitfall 10): C ORs
 * the list-user and moderator bits into the `perm_quota` line, so a round trip loses them and damages
 * perm_quota; we write them into `perm_maillist`, where C's reader takes them from. The bytes are C's
 * whenever those bits are 0.
 */
export function formatLimits(limits: DomainLimits): string {
  let text = '';
  for (const [key, field] of NUMBER_KEYS) text += `${key}: ${Math.trunc(limits[field])}\n`;
  for (const [key, field] of FLAG_KEYS) if (limits[field]) text += `${key}\n`;
  for (const [key, field] of PERM_KEYS) text += `${key}: ${limits[field] & 7}\n`;
  text += `perm_maillist: ${packMaillistPerms(limits)}\n`;
  text += `perm_quota: ${limits.permQuota & 7}\n`;
  text += `perm_defaultquota: ${limits.permDefaultQuota & 7}\n`;
  return text;
}

/** The pw_flags bits the limits add (passwords.md §6.2): one per disable_* / delete_spam key set. */
export function limitsFlagMask(limits: DomainLimits): number {
  let mask = 0;
  for (const [, field, bit] of FLAG_KEYS) if (limits[field]) mask |= bit;
  return mask;
}

/**
 * pw_flags = pw_gid | mask(limits), unless the account has V_OVERRIDE or the limits could not be
 * read (undefined): then pw_gid alone. Computed on every look-up, never stored.
 */
export function effectiveFlags(pwGid: number, limits: DomainLimits | undefined): number {
  if (limits === undefined || (pwGid & PW_FLAG.V_OVERRIDE) !== 0) return pwGid;
  return pwGid | limitsFlagMask(limits);
}

// --- files ---------------------------------------------------------------------------------------

export function domainLimitsPath(domainDir: string): string {
  return join(domainDir, DOMAIN_LIMITS_FILE);
}

export function defaultLimitsPath(etcDir: string): string {
  return join(etcDir, DEFAULT_LIMITS_FILE);
}

function sysCode(err: unknown): string {
  return String((err as NodeJS.ErrnoException).code ?? err);
}

/** The limits in one file; undefined when it does not exist. Unreadable is an error, not a miss. */
export function readLimitsFile(path: string): DomainLimits | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TempError(`unable to read ${path}: ${sysCode(err)}`, { cause: err });
  }
  return parseLimits(text);
}

export type LimitsSource = 'domain' | 'default-file' | 'built-in';

export interface ResolvedLimits {
  readonly limits: DomainLimits;
  readonly source: LimitsSource;
}

export interface ResolveLimitsOptions {
  /**
   * Neither file exists: `built-in` gives DEFAULT_LIMITS (our default: a deleted vlimits.default then
   * no longer stops every vadduser, pitfalls O2); `error` throws VA_CANNOT_READ_LIMITS as C does.
   */
  readonly whenMissing?: 'built-in' | 'error';
}

/**
 * vget_limits for the file store: `<dom>/.qmailadmin-limits`, else the whole of vlimits.default (no
 * merging), else per whenMissing. Unlike C we do not chown and chmod the file on every read
 * (pitfall 9), and a file that exists but cannot be read is a TempError, not a reason to fall back.
 */
export function resolveLimits(domainLimits: DomainLimits | undefined, etcDir: string, options: ResolveLimitsOptions = {}): ResolvedLimits {
  if (domainLimits !== undefined) return { limits: domainLimits, source: 'domain' };
  const fallback = readLimitsFile(defaultLimitsPath(etcDir));
  if (fallback !== undefined) return { limits: fallback, source: 'default-file' };
  if ((options.whenMissing ?? 'built-in') === 'error') throw new VpopmailError(VA.CANNOT_READ_LIMITS);
  return { limits: DEFAULT_LIMITS, source: 'built-in' };
}

export interface LimitsWriteOptions {
  readonly durable?: Durable;
  /** Default 0600 (C chmods .qmailadmin-limits 0600); vlimits.default is 0644. */
  readonly mode?: number;
  /** chowned to this when running as root (the domain's uid/gid). */
  readonly owner?: { readonly uid: number; readonly gid: number };
}

/** Replace a limits file atomically (C rewrites it in place with fopen "w+"). */
export function writeLimitsFile(path: string, limits: DomainLimits, options: LimitsWriteOptions = {}): void {
  try {
    replaceFileSync(path, Buffer.from(formatLimits(limits), 'latin1'), {
      mode: options.mode ?? 0o600,
      durable: options.durable ?? DURABLE,
      ...(options.owner === undefined ? {} : { owner: options.owner }),
    });
  } catch (err) {
    throw new TempError(`unable to write ${path}: ${sysCode(err)}`, { cause: err });
  }
}

/** vdel_limits: remove the file; a missing file is success (as in 5.6.13). */
export function deleteLimitsFile(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new TempError(`unable to remove ${path}: ${sysCode(err)}`, { cause: err });
  }
}
