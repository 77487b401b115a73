// Name checks done before anything is touched: addresses as C's parse_email reads them, the names a
// new mailbox may have, and the names a new domain may have.
import {
  MAX_DOMAIN_LENGTH,
  MAX_USER_LENGTH,
  hasDomainChars,
  hasUserChars,
  isSafeUserName,
  isValidNewDomain,
  splitAddress,
} from '../address.ts';
import { VA, VpopmailError, type MailErrorOptions } from '../exit.ts';

/**
 * A name C's checks refuse (VA_ILLEGAL_USERNAME and friends). `detail` is the line C prints on
 * stderr before `Error: <text>` (`user invalid <u>`), or our reason where C has none.
 */
export class NameError extends VpopmailError {
  override name = 'NameError';
  readonly detail: string;
  constructor(code: number, detail: string, options?: MailErrorOptions) {
    super(code, undefined, options);
    this.detail = detail;
  }
}

export interface UserAddress {
  readonly user: string;
  /** The domain as given (lower case), or the default domain; '' when there is neither. */
  readonly domain: string;
}

/**
 * parse_email plus its character checks: lower-cased user and domain, the default domain when the
 * address has none. Refuses what C refuses (a bad character in either part: NameError with C's
 * `user invalid <u>` / `domain invalid <d>` detail) and an address longer than C would look at.
 */
export function parseUserAddress(address: string, defaultDomain: () => string): UserAddress {
  const parts = splitAddress(address);
  if (!hasUserChars(parts.user)) throw new NameError(VA.ILLEGAL_USERNAME, `user invalid ${parts.user}`);
  if (!hasDomainChars(parts.domain)) throw new NameError(VA.ILLEGAL_USERNAME, `domain invalid ${parts.domain}`);
  const domain = parts.domain === '' ? defaultDomain().toLowerCase() : parts.domain;
  if (!hasDomainChars(domain)) throw new NameError(VA.ILLEGAL_USERNAME, `domain invalid ${domain}`);
  return { user: parts.user, domain };
}

/**
 * Names that would collide with the files of a domain directory (vpasswd and the temp names of its
 * rewrite) or with what qmail and C keep there. A user directory of that name would overwrite them.
 */
const RESERVED_USER_NAMES: ReadonlySet<string> = new Set([
  'vpasswd',
  'vpasswd.cdb',
  'vpasswd.tmp',
  'vpasswd.cdb.tmp',
  'vpasswd.cdb.new',
  'cdb.tmp',
]);

export interface NewUserNameOptions {
  /** users-big-dir: a one-character name could be a bucket directory, so C refuses it. */
  readonly hashedDirs: boolean;
}

/**
 * May a new mailbox have this (lower-cased) name? C's order: length, then characters; then ours:
 * no `/`, `\`, leading `.` (it would become a directory outside the domain or a hidden one, pitfall
 * S9), no name of a domain-directory file, and none of one character when directories are hashed.
 */
export function checkNewUserName(user: string, options: NewUserNameOptions): void {
  if (user === '') throw new NameError(VA.ILLEGAL_USERNAME, 'the user name is empty');
  if (Buffer.byteLength(user) > MAX_USER_LENGTH) throw new NameError(VA.USER_NAME_TOO_LONG, `user name longer than ${MAX_USER_LENGTH} characters`);
  if (!hasUserChars(user)) throw new NameError(VA.ILLEGAL_USERNAME, `user invalid ${user}`);
  if (!isSafeUserName(user)) {
    throw new NameError(VA.ILLEGAL_USERNAME, `user invalid ${user}: a user name may not contain / or \\ or start with a dot`);
  }
  if (RESERVED_USER_NAMES.has(user)) throw new NameError(VA.ILLEGAL_USERNAME, `user invalid ${user}: the name of a file in the domain directory`);
  if (options.hashedDirs && user.length === 1) {
    throw new NameError(VA.ILLEGAL_USERNAME, `user invalid ${user}: one-character names are refused while user directories are hashed`);
  }
}

/** A domain name as C's character and length checks take it (alias domains, look-ups). */
export function checkDomainName(domain: string): void {
  if (domain === '' || !hasDomainChars(domain)) throw new NameError(VA.INVALID_DOMAIN_NAME, `domain invalid ${domain}`);
  if (domain.length > MAX_DOMAIN_LENGTH) throw new NameError(VA.DOMAIN_NAME_TOO_LONG, `domain name longer than ${MAX_DOMAIN_LENGTH} characters`);
}

/** The rules for a new domain (spec/tools.md §0.2): VA_INVALID_DOMAIN_NAME, or VA_DOMAIN_NAME_TOO_LONG. */
export function checkNewDomainName(domain: string): void {
  if (domain.length > MAX_DOMAIN_LENGTH) throw new NameError(VA.DOMAIN_NAME_TOO_LONG, `domain name longer than ${MAX_DOMAIN_LENGTH} characters`);
  if (!isValidNewDomain(domain)) throw new NameError(VA.INVALID_DOMAIN_NAME, `domain invalid ${domain}`);
}

/**
 * A gecos as vadduser takes it: no `:` (it would split the vpasswd line: VA_BAD_CHAR), no control
 * characters (a newline would end it), at most 64 bytes.
 */
export function checkGecos(gecos: string): void {
  if (gecos.includes(':')) throw new VpopmailError(VA.BAD_CHAR);
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(gecos)) throw new VpopmailError(VA.BAD_CHAR, 'bad character (a control character in the comment)');
  if (Buffer.byteLength(gecos) > 64) throw new VpopmailError(VA.GECOS_TOO_LONG);
}
