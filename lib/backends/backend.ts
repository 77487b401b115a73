// The one interface every store of users speaks (cdb files now; MariaDB and PostgreSQL later).
//
// Rules every implementation keeps, and test/backends/contract.test.ts checks:
// - A miss is `undefined` (or `false` from a delete that found nothing); "could not look" is a
//   thrown TempError; bad input is a PermError or a VpopmailError with the VA code C uses.
// - Names arrive lower-cased (lib/address does that); domains may be alias domains where C resolves
//   them (users, limits, dir-control), never in the global tables (relay, ip map).
// - User records are VpasswdEntry for every backend: strings are byte strings (latin1), exactly as
//   the vpasswd file holds them; a SQL backend converts at its edge.
import type { BackendName, Config } from '../config.ts';
import { VpopmailError, VA } from '../exit.ts';
import type { DirControlState } from '../store/dir-control.ts';
import type { IpAlias } from '../store/ip-map.ts';
import type { Lastauth } from '../store/lastauth.ts';
import { effectiveFlags, resolveLimits, type DomainLimits, type ResolvedLimits, type ResolveLimitsOptions } from '../store/limits.ts';
import { checkVpasswdFields, checkVpasswdLengths, type VpasswdEntry } from '../store/vpasswd.ts';

export type { VpasswdEntry } from '../store/vpasswd.ts';
export type { DirControlState } from '../store/dir-control.ts';
export type { DomainLimits, ResolvedLimits } from '../store/limits.ts';
export type { Lastauth } from '../store/lastauth.ts';
export type { IpAlias } from '../store/ip-map.ts';
export { effectiveFlags, limitsFlagMask, PW_FLAG } from '../store/limits.ts';

/**
 * Which allocator state: a domain's user buckets (file `<dom>/.dir-control`, SQL row `domain`), or
 * the domain buckets of one owning uid (file `<domainsDir>/.dir-control`, SQL row `dom_<uid>`;
 * domainsDir is `~vpopmail/domains` for VPOPMAILUID, else `<home of uid>/domains`).
 */
export type DirControlKey =
  | { readonly domain: string }
  | { readonly uid: number; readonly gid: number; readonly domainsDir: string };

/** What setLastauth and getLastauth need of a user: C keeps lastauth in the home, SQL by name. */
export type LastauthUser = Pick<VpasswdEntry, 'name' | 'dir'>;

/** One valias row (sql.md §5.7): one delivery line of an alias. */
export interface ValiasLine {
  readonly alias: string;
  readonly line: string;
}

/** Runs while the relay store is still locked, with the tcprules lines (`<ip>:allow,RELAYCLIENT="",RBLSMTPD=""`) it now holds. */
export type RelayRebuild = (rules: readonly string[]) => void;

export interface Backend {
  readonly name: BackendName;
  /** False when valias rows live elsewhere (cdb: aliases are `.qmail-<alias>` files, lib/accounts). */
  readonly hasValiasTable: boolean;

  // --- domains -------------------------------------------------------------------------------
  /** The backend's part of adding a real domain (vauth_adddomain): cdb nothing, SQL its tables. */
  addDomain(domain: string): Promise<void>;
  /**
   * The backend's part of deleting a real domain (vauth_deldomain): everything it keeps about the
   * domain (SQL: users, lastauth, valias, limits, dir_control rows). cdb: nothing, because all of it
   * sits in the domain directory, which the caller removes afterwards.
   */
  delDomain(domain: string): Promise<void>;
  /** Mirror of alias domains (MySQL `aliasdomains`); no-op elsewhere. */
  addAliasDomain(alias: string, realDomain: string): Promise<void>;
  delAliasDomain(alias: string): Promise<void>;

  // --- users ---------------------------------------------------------------------------------
  /** vauth_getpw; an unknown domain is a miss as well. */
  getUser(domain: string, user: string): Promise<VpasswdEntry | undefined>;
  /** vauth_adduser: VA_USERNAME_EXISTS if taken, VA_DOMAIN_DOES_NOT_EXIST, VA_*_TOO_LONG. */
  addUser(domain: string, entry: VpasswdEntry): Promise<void>;
  /** vauth_setpw: replaces the whole record; VA_USER_DOES_NOT_EXIST if there is none. */
  setUser(domain: string, entry: VpasswdEntry): Promise<void>;
  /** vauth_deluser: VA_USER_DOES_NOT_EXIST if there is none. SQL also drops the lastauth row. */
  delUser(domain: string, user: string): Promise<void>;
  /** vauth_getall: every user; cdb in file order (sorted by name when written by us), SQL by name. */
  listUsers(domain: string): AsyncIterable<VpasswdEntry>;

  // --- lastauth (auth logging) -----------------------------------------------------------------
  /** vset_lastauth: a no-op when the user's home does not exist (cdb), as in C. */
  setLastauth(domain: string, user: LastauthUser, ip: string, timeSec: number): Promise<void>;
  getLastauth(domain: string, user: LastauthUser): Promise<Lastauth | undefined>;

  // --- roaming relay (open-smtp file or relay table) -------------------------------------------
  /** Record a relay login; true when the IP was not listed (C then rebuilds tcp.smtp.cdb, in `rebuild`). */
  openRelay(ip: string, timeSec: number, rebuild?: (isNew: boolean, rules: readonly string[]) => void): Promise<boolean>;
  /** Drop entries with time + maxAgeSec <= now; returns how many went. `rebuild` always runs. */
  expireRelay(nowSec: number, maxAgeSec: number, rebuild?: RelayRebuild): Promise<number>;
  /** The tcprules lines for the relay entries, in store order. */
  relayRules(): Promise<string[]>;

  // --- IP-alias domains ------------------------------------------------------------------------
  getIpMap(ip: string): Promise<string | undefined>;
  addIpMap(ip: string, domain: string): Promise<void>;
  delIpMap(ip: string, domain: string): Promise<boolean>;
  listIpMap(): AsyncIterable<IpAlias>;

  // --- domain limits ---------------------------------------------------------------------------
  /** The domain's own limits; undefined when it has none (then vlimits.default: resolveDomainLimits). */
  getLimits(domain: string): Promise<DomainLimits | undefined>;
  setLimits(domain: string, limits: DomainLimits): Promise<void>;
  /** Missing limits are not an error (5.6.13). */
  delLimits(domain: string): Promise<void>;

  // --- hashed-directory allocator state --------------------------------------------------------
  getDirControl(key: DirControlKey): Promise<DirControlState | undefined>;
  setDirControl(key: DirControlKey, state: DirControlState): Promise<void>;
  delDirControl(key: DirControlKey): Promise<void>;
  /**
   * Read-modify-write in one step, as atomically as the store allows (C does it unlocked). `update`
   * gets the stored state, or INITIAL_DIR_CONTROL when there is none.
   */
  updateDirControl<T>(key: DirControlKey, update: (state: DirControlState) => { readonly state: DirControlState; readonly result: T }): Promise<T>;

  // --- valias table (--enable-valias) -----------------------------------------------------------
  /** The lines of one alias in insertion order; undefined when it has none. */
  getValias(domain: string, alias: string): Promise<string[] | undefined>;
  /** Every line of every alias of the domain, by alias then insertion order. */
  listValias(domain: string): AsyncIterable<ValiasLine>;
  addValiasLine(domain: string, alias: string, line: string): Promise<void>;
  /** Remove lines equal to `line` (exact, not C's prefix match); false when none was there. */
  delValiasLine(domain: string, alias: string, line: string): Promise<boolean>;
  /** Remove every line of the alias; false when it had none. */
  delValias(domain: string, alias: string): Promise<boolean>;

  close(): Promise<void>;
}

/**
 * What every backend checks before storing a user (C's vcheck_vqpw and the line format's limits),
 * and the clear-password field made to match the build: present (maybe empty) with clear passwords
 * on, absent with them off, as C's formatter writes 8 or 7 fields.
 */
export function prepareEntry(entry: VpasswdEntry, config: Pick<Config, 'clearPasswords'>): VpasswdEntry {
  const prepared: VpasswdEntry = { ...entry, clear: config.clearPasswords ? (entry.clear ?? '') : undefined };
  checkVpasswdLengths(prepared);
  checkVpasswdFields(prepared);
  return prepared;
}

/**
 * vget_limits: the domain's own limits, else vlimits.default, else (by default) the built-in
 * defaults, or VA_CANNOT_READ_LIMITS with `whenMissing: 'error'` as C.
 */
export async function resolveDomainLimits(
  backend: Backend,
  config: Pick<Config, 'etcDir'>,
  domain: string,
  options: ResolveLimitsOptions = {},
): Promise<ResolvedLimits> {
  return resolveLimits(await backend.getLimits(domain), config.etcDir, options);
}

/** pw_flags of a user: pw_gid | the domain's limit mask unless V_OVERRIDE (passwords.md §6.2). */
export async function userFlags(backend: Backend, config: Pick<Config, 'etcDir'>, domain: string, entry: VpasswdEntry): Promise<number> {
  let limits: DomainLimits | undefined;
  try {
    limits = (await resolveDomainLimits(backend, config, domain, { whenMissing: 'error' })).limits;
  } catch (err) {
    // No limits anywhere: C then uses pw_gid alone. Anything else (an unreadable file) is an error.
    if (!(err instanceof VpopmailError && err.code === VA.CANNOT_READ_LIMITS)) throw err;
  }
  return effectiveFlags(entry.gid, limits);
}
