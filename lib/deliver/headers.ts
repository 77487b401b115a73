// The lines vdelivermail puts in front of a message (spec/vdelivermail.md §6.1, §10): Return-Path
// from RPLINE, and a Delivered-To line whose address depends on where the message goes.
import { DELIVERED_TO } from './loop.ts';

/** RPLINE as qmail-local gives it (`Return-Path: <sender>` + LF); nothing when unset, never `(null)`. */
export function returnPathLine(rpline: string | undefined): string {
  if (rpline === undefined || rpline === '') return '';
  return rpline.endsWith('\n') ? rpline : `${rpline}\n`; // a header line without LF would swallow the next one
}

export function deliveredToLine(address: string): string {
  return `${DELIVERED_TO}${address}\n`;
}

/**
 * The address a Maildir path stands for: the component before the last `Maildir` component is the
 * user, the nearest component above it holding a `.` is the domain
 * (`…/example.com/0/joe/Maildir/` → `joe@example.com`). `path` must be absolute and resolved.
 * Undefined when the path names no such pair.
 */
export function maildirAddress(path: string): string | undefined {
  const parts = path.split('/');
  const at = parts.lastIndexOf('Maildir');
  if (at < 2) return undefined;
  const user = parts[at - 1]!;
  if (user === '') return undefined;
  for (let i = at - 2; i >= 0; i--) {
    if (parts[i]!.includes('.')) return `${user}@${parts[i]}`;
  }
  return undefined;
}

/**
 * Delivered-To of a forward: DTLINE's address without qmail's `<domain>-` prefix. C skips as many
 * characters as follow the first `@` (the newline standing in for the `-`), so
 * `Delivered-To: example.com-joe@example.com` gives `joe@example.com`; we count the same way
 * whether or not DTLINE ends in LF, and always end the line with one. Without a usable DTLINE
 * (missing, shorter than 15 characters, no `@`), the forward address itself.
 */
export function forwardDeliveredToLine(dtline: string | undefined, forwardAddress: string): string {
  if (dtline === undefined || dtline.length < DELIVERED_TO.length + 1) return deliveredToLine(forwardAddress);
  const rest = dtline.slice(DELIVERED_TO.length);
  const body = rest.endsWith('\n') ? rest.slice(0, -1) : rest;
  const at = body.indexOf('@');
  const address = at < 0 ? '' : body.slice(body.length - at);
  return deliveredToLine(address === '' ? forwardAddress : address);
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;

/** `Date: Www, DD Mon YYYY hh:mm:ss +0000` + LF, in UTC, as the quota warning carries it. */
export function utcDateLine(nowMs: number): string {
  const d = new Date(nowMs);
  const two = (n: number) => String(n).padStart(2, '0');
  return `Date: ${DAYS[d.getUTCDay()]}, ${two(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000\n`;
}

/** Header lines as the bytes to write: environment strings go back to UTF-8, as they came. */
export function headerBytes(...lines: readonly string[]): Buffer {
  return Buffer.from(lines.join(''), 'utf8');
}
