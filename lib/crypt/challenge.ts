// Challenge/response checks against a clear-text password (spec/passwords.md §3.3): CRAM-MD5 for
// SMTP AUTH, APOP for POP3. Both need the clear field, which only clear-password builds keep.
import { nodeCrypto } from './node-crypto.ts';

function bytes(s: string | Uint8Array): Uint8Array {
  return typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
}

/**
 * Exact string equality without an early exit; the length is not secret. In plain JS (every code unit
 * XORed, the differences ORed) so that verifying a password does not load node:crypto.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** CRAM-MD5: lower-case hex HMAC-MD5 with key = clear password, data = challenge. */
export function cramMd5Response(clear: string | Uint8Array, challenge: string | Uint8Array): string {
  return nodeCrypto().createHmac('md5', bytes(clear)).update(bytes(challenge)).digest('hex');
}

/** APOP: lower-case hex MD5(timestamp ‖ clear password). */
export function apopDigest(clear: string | Uint8Array, timestamp: string | Uint8Array): string {
  return nodeCrypto().createHash('md5').update(bytes(timestamp)).update(bytes(clear)).digest('hex');
}

/**
 * Could `s` equal a digest we compute: 32 lower-case hex digits? Anything else cannot match, so it is
 * refused before the MD5 (and the load of node:crypto that a plain password login would otherwise pay
 * when the account keeps a clear password). Says nothing about the secret: only the response's shape.
 */
function isMd5Hex(s: string): boolean {
  return s.length === 32 && /^[0-9a-f]{32}$/.test(s);
}

/** Does `response` equal the expected CRAM-MD5 digest exactly (C compares the strings; upper case fails)? */
export function verifyCramMd5(clear: string | Uint8Array, challenge: string | Uint8Array, response: string): boolean {
  return isMd5Hex(response) && constantTimeEqual(cramMd5Response(clear, challenge), response);
}

/** Does `digest` equal the expected APOP digest exactly? */
export function verifyApop(clear: string | Uint8Array, timestamp: string | Uint8Array, digest: string): boolean {
  return isMd5Hex(digest) && constantTimeEqual(apopDigest(clear, timestamp), digest);
}
