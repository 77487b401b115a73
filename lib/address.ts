// Addresses as vpopmail reads them: user@domain (or user%domain, user/domain), character rules,
// default-domain fill-in, and the name checks C lacks (no `/`, no leading `.`).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TempError } from './exit.ts';

/** User-name characters C accepts (spec/tools.md §0.2), the backtick included. */
const USER_CHARS = /^[!#$&'*+\-./0-9=?A-Z^_`a-z{|}~]*$/;
const DOMAIN_CHARS = /^[A-Za-z0-9.-]*$/;

export const MAX_USER_LENGTH = 64;
export const MAX_DOMAIN_LENGTH = 96;

export interface SplitAddress {
  readonly user: string;
  readonly domain: string;
  /** Which separator was found: '@', '%', '/', or '' for none. */
  readonly separator: '@' | '%' | '/' | '';
}

/**
 * Lower-case and split as C's parse_email: the first `@`; failing that the first `%`; failing that
 * the first `/`. No separator: the whole string is the user and the domain is empty. (C also
 * truncates at 156 characters; we do not, and let the length checks speak instead.)
 */
export function splitAddress(address: string): SplitAddress {
  const lower = address.toLowerCase();
  for (const sep of ['@', '%', '/'] as const) {
    const i = lower.indexOf(sep);
    if (i >= 0) return { user: lower.slice(0, i), domain: lower.slice(i + 1), separator: sep };
  }
  return { user: lower, domain: '', separator: '' };
}

/** C's character check on a user name. */
export function hasUserChars(user: string): boolean {
  return USER_CHARS.test(user);
}

/** C's character check on a domain name. */
export function hasDomainChars(domain: string): boolean {
  return DOMAIN_CHARS.test(domain);
}

/**
 * Can this name become a directory under the domain? C accepts `/` and `.`, so `../x` escapes the
 * domain directory (pitfalls S9); we refuse `/`, `\`, a leading `.` and the names `.` and `..`.
 */
export function isSafeUserName(user: string): boolean {
  return user !== '' && hasUserChars(user) && !user.includes('/') && !user.includes('\\') && !user.startsWith('.');
}

/** The sanitising C applies to VPOPMAIL_DOMAIN and TCPLOCALIP: anything outside [A-Za-z0-9_.@-] becomes `_`. */
export function sanitizeToken(value: string): string {
  return value.replace(/[^A-Za-z0-9_.@-]/g, '_');
}

/**
 * The rules vadddomain applies to a new domain name (spec/tools.md §0.2): 3..96 characters, a dot,
 * a last label of 2..63 characters, only [a-z0-9.-], no leading or trailing `-`, no `..`.
 */
export function isValidNewDomain(domain: string): boolean {
  if (domain.length < 3 || domain.length > MAX_DOMAIN_LENGTH) return false;
  if (!/^[a-z0-9.-]+$/.test(domain)) return false;
  if (!domain.includes('.') || domain.includes('..')) return false;
  if (domain.startsWith('-') || domain.endsWith('-')) return false;
  const tld = domain.slice(domain.lastIndexOf('.') + 1);
  return tld.length >= 2 && tld.length <= 63;
}

/** First line of ~vpopmail/etc/defaultdomain without its line end, or undefined when absent or empty. */
export function readDefaultDomainFile(etcDir: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(join(etcDir, 'defaultdomain'), 'latin1');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TempError(`unable to read ${join(etcDir, 'defaultdomain')}: ${(err as NodeJS.ErrnoException).code}`, { cause: err });
  }
  const first = text.split('\n', 1)[0]!.replace(/\r$/, '').trim().toLowerCase();
  return first === '' ? undefined : first;
}

export interface DefaultDomainSources {
  readonly env: NodeJS.ProcessEnv;
  readonly etcDir: string;
  /** ip-alias builds: the domain mapped to the server address (TCPLOCALIP), if any. */
  readonly lookupIpDomain?: (localIp: string) => string | undefined;
}

/**
 * C's default domain, in order: env VPOPMAIL_DOMAIN (sanitised, at most 96 chars), the ip-alias map
 * entry for TCPLOCALIP, the first line of ~vpopmail/etc/defaultdomain. Empty string when none.
 * Unlike C we never rewrite the caller's environment while doing so (pitfall 10 of vchkpw.md).
 */
export function defaultDomain(sources: DefaultDomainSources): string {
  const fromEnv = sources.env.VPOPMAIL_DOMAIN;
  if (fromEnv !== undefined && fromEnv !== '') return sanitizeToken(fromEnv).slice(0, MAX_DOMAIN_LENGTH).toLowerCase();
  const localIp = sources.env.TCPLOCALIP;
  if (sources.lookupIpDomain !== undefined && localIp !== undefined && localIp !== '') {
    const mapped = sources.lookupIpDomain(localIp);
    if (mapped !== undefined && mapped !== '') return mapped;
  }
  return readDefaultDomainFile(sources.etcDir) ?? '';
}
