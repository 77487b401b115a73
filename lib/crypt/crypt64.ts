// The two base-64 alphabets of crypt(3) hashes: crypt's own (DES, $1$, $5$, $6$) and bcrypt's.

/** DES, MD5-crypt and SHA-crypt: salts and digests use this order (0 = '.', 63 = 'z'). */
export const CRYPT64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** bcrypt's order: the same 64 characters, letters before digits. */
export const BCRYPT64 = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Value of a CRYPT64 character, or -1. */
export function crypt64Value(code: number): number {
  if (code === 0x2e || code === 0x2f) return code - 0x2e; // . /
  if (code >= 0x30 && code <= 0x39) return code - 0x30 + 2; // 0-9
  if (code >= 0x41 && code <= 0x5a) return code - 0x41 + 12; // A-Z
  if (code >= 0x61 && code <= 0x7a) return code - 0x61 + 38; // a-z
  return -1;
}

/** Value of a BCRYPT64 character, or -1. */
export function bcrypt64Value(code: number): number {
  if (code === 0x2e || code === 0x2f) return code - 0x2e;
  if (code >= 0x41 && code <= 0x5a) return code - 0x41 + 2;
  if (code >= 0x61 && code <= 0x7a) return code - 0x61 + 28;
  if (code >= 0x30 && code <= 0x39) return code - 0x30 + 54;
  return -1;
}

/**
 * MD5-crypt and SHA-crypt digest encoding: bytes are taken in groups of three (an order fixed per
 * scheme), the first byte of a group most significant, and each 24-bit group is written as four
 * characters, least significant 6 bits first. A short last group writes fewer characters.
 */
export function encodeGroups(digest: Uint8Array, groups: readonly (readonly number[])[]): string {
  let out = '';
  for (const g of groups) {
    let v = 0;
    for (const i of g) v = (v << 8) | digest[i]!;
    const chars = g.length + 1;
    for (let k = 0; k < chars; k++) {
      out += CRYPT64[v & 63];
      v >>>= 6;
    }
  }
  return out;
}

/** bcrypt encoding: bytes in order, each 6 bits most significant first; a partial last group is cut short. */
export function encodeBcrypt64(data: Uint8Array, len: number = data.length): string {
  let out = '';
  for (let i = 0; i < len; i += 3) {
    const b0 = data[i]!;
    const b1 = i + 1 < len ? data[i + 1]! : 0;
    const b2 = i + 2 < len ? data[i + 2]! : 0;
    out += BCRYPT64[b0 >>> 2];
    out += BCRYPT64[((b0 & 3) << 4) | (b1 >>> 4)];
    if (i + 1 >= len) break;
    out += BCRYPT64[((b1 & 15) << 2) | (b2 >>> 6)];
    if (i + 2 >= len) break;
    out += BCRYPT64[b2 & 63];
  }
  return out;
}

/** Inverse of encodeBcrypt64 for `len` bytes; undefined on a character outside BCRYPT64. */
export function decodeBcrypt64(text: string, len: number): Uint8Array | undefined {
  const out = new Uint8Array(len);
  let bits = 0;
  let acc = 0;
  let n = 0;
  for (let i = 0; n < len; i++) {
    if (i >= text.length) return undefined;
    const v = bcrypt64Value(text.charCodeAt(i));
    if (v < 0) return undefined;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >>> bits) & 0xff;
      acc &= (1 << bits) - 1;
    }
  }
  return out;
}
