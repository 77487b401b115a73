// vpopmail quota strings (passwords.md §7): C's normalisation, the delivery-side reading, the
// default quota of new users, and a strict parser for inputs of our own.
import { PermError, VA, VpopmailError } from './exit.ts';

/** The stored form meaning "no limit" (also what §7.3 gives a domain without default limits). */
export const NOQUOTA = 'NOQUOTA';

/** C refuses a quota argument longer than this (VA_QUOTA_TOO_LONG, "quota too long (max=20)"). */
export const QUOTA_MAX_LENGTH = 20;

const LLONG_MAX = (1n << 63n) - 1n;
const LLONG_MIN = -(1n << 63n);

const MIB = 1048576n;
const KIB = 1024n;

function isCSpace(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\v' || c === '\f' || c === '\r';
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

/**
 * strtoll(text, NULL, 10) from index `from`: leading white space, an optional sign, decimal digits;
 * no digits gives 0; out of range clamps to LLONG_MIN/LLONG_MAX as glibc does. Returns the value
 * and the index after the last digit (`from` when nothing was read).
 */
export function parseLeadingInteger(text: string, from = 0): { readonly value: bigint; readonly end: number } {
  let i = from;
  while (i < text.length && isCSpace(text[i]!)) i++;
  let negative = false;
  if (text[i] === '+' || text[i] === '-') {
    negative = text[i] === '-';
    i++;
  }
  const start = i;
  while (isDigit(text[i])) i++;
  if (i === start) return { value: 0n, end: from };
  let value = BigInt(text.slice(start, i));
  if (negative) value = -value;
  if (value > LLONG_MAX) value = LLONG_MAX;
  if (value < LLONG_MIN) value = LLONG_MIN;
  return { value, end: i };
}

function sizeOfPart(part: string): bigint {
  let p = part;
  if (p.endsWith('S') || p.endsWith('s')) p = p.slice(0, -1);
  if (p.endsWith('B') || p.endsWith('b')) p = p.slice(0, -1);
  const n = parseLeadingInteger(p).value;
  const last = p[p.length - 1];
  // C multiplies in a 64-bit integer, so large or negative values wrap; BigInt.asUintN below does the same.
  if (last === 'M' || last === 'm') return n * MIB;
  if (last === 'K' || last === 'k') return n * KIB;
  return n;
}

/**
 * C's `format_maildirquota`, exactly (passwords.md §7.2): `NOQUOTA` stays, otherwise the comma parts
 * become `<bytes>S`, `<count>C` or `<bytes>S,<count>C`, both zero gives the empty string, numbers are
 * printed as unsigned 64-bit (`-5` → `18446744073709551611S`). Only `K`/`M` units exist (`1G` → `1S`)
 * and only an upper-case `C` marks a count (`1000c` → `1000S`). Input longer than 20 bytes throws
 * VpopmailError(VA.QUOTA_TOO_LONG), as C refuses it before normalising.
 */
export function formatMaildirQuota(input: string): string {
  if (Buffer.byteLength(input) > QUOTA_MAX_LENGTH) throw new VpopmailError(VA.QUOTA_TOO_LONG);
  if (input === NOQUOTA) return NOQUOTA;
  let size = 0n;
  let count = 0n;
  // strtok(",") semantics: empty parts (",,", a leading or trailing comma) are skipped.
  for (const part of input.split(',')) {
    if (part === '') continue;
    if (part.endsWith('C')) count = parseLeadingInteger(part).value;
    else size = sizeOfPart(part);
  }
  const s = BigInt.asUintN(64, size);
  const c = BigInt.asUintN(64, count);
  if (s === 0n && c === 0n) return '';
  if (c === 0n) return `${s}S`;
  if (s === 0n) return `${c}C`;
  return `${s}S,${c}C`;
}

/** What the delivery code makes of a quota string; an absent limit is no limit. */
export interface QuotaLimits {
  readonly bytes?: number;
  readonly count?: number;
}

/**
 * The Maildir++ reading used at delivery (passwords.md §7.5): left to right, skip non-digits, read a
 * number; a `C` right after it makes it the message limit, anything else (or the end) the byte
 * limit. `NOQUOTA` and the empty string have no digits, so no limits. C accumulates in a signed
 * 64-bit integer, so `18446744073709551611S` (a stored `-5`) reads as −5, a limit every mailbox is
 * over; values are returned as numbers (exact up to 2^53, far beyond any real mailbox).
 */
export function parseQuotaLimits(quota: string): QuotaLimits {
  let bytes: number | undefined;
  let count: number | undefined;
  let i = 0;
  while (i < quota.length) {
    if (!isDigit(quota[i])) {
      i++;
      continue;
    }
    let n = 0n;
    while (isDigit(quota[i])) n = BigInt.asIntN(64, n * 10n + BigInt(quota.charCodeAt(i++) - 48));
    if (quota[i] === 'C') count = Number(n);
    else bytes = Number(n);
  }
  return { ...(bytes === undefined ? {} : { bytes }), ...(count === undefined ? {} : { count }) };
}

/** vdelivermail skips every quota check for a stored quota starting with `NO` (pitfall: any `NO…`). */
export function isQuotaDisabled(quota: string): boolean {
  return quota.startsWith('NO');
}

export function hasQuotaLimits(limits: QuotaLimits): boolean {
  return limits.bytes !== undefined || limits.count !== undefined;
}

export interface QuotaUsage {
  readonly bytes: number;
  readonly count: number;
}

/** Over when usage plus the incoming message is strictly greater than a limit (a limit of 0 is real). */
export function isOverQuota(limits: QuotaLimits, usage: QuotaUsage, incomingBytes = 0, incomingCount = 0): boolean {
  if (limits.bytes !== undefined && usage.bytes + incomingBytes > limits.bytes) return true;
  if (limits.count !== undefined && usage.count + incomingCount > limits.count) return true;
  return false;
}

/**
 * Percentage of the quota in use: the larger of the byte and count figures, rounded down; a limit of
 * 0 or below counts as 100 % full. 0 when there are no limits.
 */
export function quotaPercent(limits: QuotaLimits, usage: QuotaUsage): number {
  const of = (used: number, limit: number | undefined): number => {
    if (limit === undefined) return 0;
    if (limit <= 0) return 100;
    return Math.floor((used * 100) / limit);
  };
  return Math.max(of(usage.bytes, limits.bytes), of(usage.count, limits.count));
}

/** The two domain-limit keys that give a new user's quota (layout.md §13). */
export interface DefaultQuotaLimits {
  /** `default_quota`, bytes. */
  readonly defaultQuota: number;
  /** `default_maxmsgcount`. */
  readonly defaultMaxMsgCount: number;
}

/** Quota of a new user (passwords.md §7.3): `<q>S,<n>C`, `<q>S`, `<n>C` or `NOQUOTA`. */
export function defaultUserQuota(limits: DefaultQuotaLimits): string {
  const q = limits.defaultQuota > 0 ? `${Math.trunc(limits.defaultQuota)}S` : '';
  const n = limits.defaultMaxMsgCount > 0 ? `${Math.trunc(limits.defaultMaxMsgCount)}C` : '';
  if (q !== '' && n !== '') return `${q},${n}`;
  return q || n || NOQUOTA;
}

const STRICT_UNITS: ReadonlyMap<string, bigint> = new Map([
  ['', 1n],
  ['K', 1n << 10n],
  ['M', 1n << 20n],
  ['G', 1n << 30n],
  ['T', 1n << 40n],
]);

function strictError(input: string, why: string): PermError {
  return new PermError(
    `invalid quota ${JSON.stringify(input)}: ${why} (expected NOQUOTA, a size such as 500K, 10M or 2G, a count such as 1000C, or both: 10M,1000C)`,
  );
}

/**
 * A strict parser for tools that opt in to our own grammar: `NOQUOTA` (any case), a size
 * `<n>[K|M|G|T][B]` or `<n>S` (binary units, case-insensitive), a count `<n>C`, or a size and a
 * count separated by one comma in either order. Zero, garbage, a repeated kind and values that C's
 * signed 64-bit reader cannot hold are refused with a PermError naming the input. The result is the
 * stored form C writes (`<bytes>S`, `<count>C`, `<bytes>S,<count>C`, `NOQUOTA`), never empty.
 */
export function parseQuotaStrict(input: string): string {
  const text = input.trim();
  if (text.toUpperCase() === NOQUOTA) return NOQUOTA;
  if (text === '') throw strictError(input, 'empty');
  const parts = text.split(',');
  if (parts.length > 2) throw strictError(input, 'more than two parts');
  let bytes: bigint | undefined;
  let count: bigint | undefined;
  for (const raw of parts) {
    const part = raw.trim().toUpperCase();
    const m = /^(\d+)(?:(C)|([KMGT]?)B?|S)$/.exec(part);
    if (m === null) throw strictError(input, `cannot read ${JSON.stringify(raw.trim())}`);
    const n = BigInt(m[1]!);
    if (m[2] === 'C') {
      if (count !== undefined) throw strictError(input, 'two message counts');
      count = n;
    } else {
      if (bytes !== undefined) throw strictError(input, 'two sizes');
      bytes = n * STRICT_UNITS.get(m[3] ?? '')!;
    }
  }
  if (bytes === 0n || count === 0n) throw strictError(input, 'a limit of 0 would refuse all mail; use NOQUOTA for no limit');
  if ((bytes ?? 0n) > LLONG_MAX || (count ?? 0n) > LLONG_MAX) throw strictError(input, 'too large');
  const out = [...(bytes === undefined ? [] : [`${bytes}S`]), ...(count === undefined ? [] : [`${count}C`])];
  return out.join(',');
}
