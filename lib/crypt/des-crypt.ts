// Traditional DES crypt(3) (13 characters: 2 salt + 11 digest; 25 DES encryptions of a zero block
// keyed by the first 8 password bytes, 7 bits each) and BSDi extended DES (`_` + 4 count + 4 salt
// characters + 11 digest; every password byte counts). Tables are FIPS 46-3's, 1-based bit numbers.
import { CRYPT64, crypt64Value } from './crypt64.ts';

const IP = [
  58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4, 62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48, 40, 32, 24, 16, 8,
  57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3, 61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7,
] as const;

const P = [16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10, 2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4, 25] as const;

const PC1 = [
  57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, 10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44, 36,
  63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22, 14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4,
] as const;

const PC2 = [
  14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2,
  41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48, 44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
] as const;

const SHIFTS = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1] as const;

/** S-boxes S1..S8, each 4 rows of 16; row = outer input bits, column = inner four. */
export const SBOXES: readonly (readonly number[])[] = [
  [14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7, 0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11, 9, 5, 3, 8,
    4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0, 15, 12, 8, 2, 4, 9, 1, 7, 5, 11, 3, 14, 10, 0, 6, 13],
  [15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10, 3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10, 6, 9, 11, 5,
    0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15, 13, 8, 10, 1, 3, 15, 4, 2, 11, 6, 7, 12, 0, 5, 14, 9],
  [10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8, 13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14, 12, 11, 15, 1,
    13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7, 1, 10, 13, 0, 6, 9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12],
  [7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15, 13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12, 1, 10, 14, 9,
    10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4, 3, 15, 0, 6, 10, 1, 13, 8, 9, 4, 5, 11, 12, 7, 2, 14],
  [2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9, 14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10, 3, 9, 8, 6,
    4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14, 11, 8, 12, 7, 1, 14, 2, 13, 6, 15, 0, 9, 10, 4, 5, 3],
  [12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11, 10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14, 0, 11, 3, 8,
    9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6, 4, 3, 2, 12, 9, 5, 15, 10, 11, 14, 1, 7, 6, 0, 8, 13],
  [4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1, 13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12, 2, 15, 8, 6,
    1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2, 6, 11, 13, 8, 1, 4, 10, 7, 9, 5, 0, 15, 14, 2, 3, 12],
  [13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7, 1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11, 0, 14, 9, 2,
    7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8, 2, 1, 14, 7, 4, 10, 8, 13, 15, 12, 9, 0, 3, 5, 6, 11],
];

/** Bit n (1-based, 1 = most significant) of a 64-bit block held as two 32-bit words. */
function bit64(hi: number, lo: number, n: number): number {
  return n <= 32 ? (hi >>> (32 - n)) & 1 : (lo >>> (64 - n)) & 1;
}

/** out bit i = in bit table[i]: a 64-to-64 permutation of a (hi, lo) pair. */
function permute64(hi: number, lo: number, table: readonly number[]): [number, number] {
  let oh = 0;
  let ol = 0;
  for (let i = 0; i < 32; i++) oh = (oh << 1) | bit64(hi, lo, table[i]!);
  for (let i = 32; i < 64; i++) ol = (ol << 1) | bit64(hi, lo, table[i]!);
  return [oh >>> 0, ol >>> 0];
}

function inverse(table: readonly number[]): number[] {
  const out = new Array<number>(table.length);
  table.forEach((from, to) => (out[from - 1] = to + 1));
  return out;
}

/** S-box outputs already moved through P: sp[box][six input bits] (per call: no module state). */
function makeSpTables(): Int32Array[] {
  const sp: Int32Array[] = [];
  for (let box = 0; box < 8; box++) {
    const t = new Int32Array(64);
    for (let v = 0; v < 64; v++) {
      const row = ((v >>> 4) & 2) | (v & 1);
      const col = (v >>> 1) & 15;
      const s = SBOXES[box]![row * 16 + col]!;
      const pre = s << (28 - 4 * box); // S-box output bits 4*box+1 .. 4*box+4 of the 32-bit word
      let post = 0;
      for (let i = 0; i < 32; i++) post = (post << 1) | ((pre >>> (32 - P[i]!)) & 1);
      t[v] = post;
    }
    sp.push(t);
  }
  return sp;
}

/** 16 round keys, each as two 24-bit halves in E-output order. */
function keySchedule(key: Uint8Array): Int32Array {
  const bits = new Uint8Array(65);
  for (let i = 0; i < 64; i++) bits[i + 1] = (key[i >>> 3]! >>> (7 - (i & 7))) & 1;
  const cd = new Uint8Array(56);
  for (let i = 0; i < 56; i++) cd[i] = bits[PC1[i]!]!;
  const ks = new Int32Array(32);
  for (let round = 0; round < 16; round++) {
    for (let s = 0; s < SHIFTS[round]!; s++) {
      const c0 = cd[0]!;
      const d0 = cd[28]!;
      cd.copyWithin(0, 1, 28);
      cd[27] = c0;
      cd.copyWithin(28, 29, 56);
      cd[55] = d0;
    }
    let l = 0;
    let r = 0;
    for (let i = 0; i < 24; i++) l = (l << 1) | cd[PC2[i]! - 1]!;
    for (let i = 24; i < 48; i++) r = (r << 1) | cd[PC2[i]! - 1]!;
    ks[2 * round] = l;
    ks[2 * round + 1] = r;
  }
  cd.fill(0);
  bits.fill(0);
  return ks;
}

function rotl(x: number, n: number): number {
  return n === 0 ? x : (x << n) | (x >>> (32 - n));
}

/**
 * `count` DES encryptions of (l, r) already through IP, with a 24-bit salt whose bit i swaps E-output
 * bits i and i+24 (0-based). Returns the pre-FP halves after the usual final swap.
 */
function desRounds(l: number, r: number, ks: Int32Array, saltMask: number, count: number, sp: Int32Array[]): [number, number] {
  const [s0, s1, s2, s3, s4, s5, s6, s7] = sp as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array];
  for (let n = 0; n < count; n++) {
    for (let round = 0; round < 16; round++) {
      // E(r): chunk i (6 bits) is r's bits 4i .. 4i+5 (1-based, bit 0 meaning bit 32).
      let el = ((rotl(r, 31) >>> 26) << 18) | ((rotl(r, 3) >>> 26) << 12) | ((rotl(r, 7) >>> 26) << 6) | (rotl(r, 11) >>> 26);
      let er = ((rotl(r, 15) >>> 26) << 18) | ((rotl(r, 19) >>> 26) << 12) | ((rotl(r, 23) >>> 26) << 6) | (rotl(r, 27) >>> 26);
      const swap = (el ^ er) & saltMask;
      el ^= swap ^ ks[2 * round]!;
      er ^= swap ^ ks[2 * round + 1]!;
      const f =
        s0[(el >>> 18) & 63]! | s1[(el >>> 12) & 63]! | s2[(el >>> 6) & 63]! | s3[el & 63]! |
        s4[(er >>> 18) & 63]! | s5[(er >>> 12) & 63]! | s6[(er >>> 6) & 63]! | s7[er & 63]!;
      const t = l ^ f;
      l = r;
      r = t;
    }
    const t = l;
    l = r;
    r = t;
  }
  return [l, r];
}

/** Salt bit i (0-based, i < 24) → E-output bit i of the left half, most significant first. */
function saltMaskOf(salt: number): number {
  let mask = 0;
  for (let i = 0; i < 24; i++) if ((salt >>> i) & 1) mask |= 1 << (23 - i);
  return mask;
}

/** 64-bit result as 11 characters, 6 bits at a time from the top (the last padded with 2 zero bits). */
function encodeBlock(hi: number, lo: number): string {
  let out = '';
  for (let i = 0; i < 66; i += 6) {
    let v = 0;
    for (let k = 0; k < 6; k++) v = (v << 1) | (i + k < 64 ? bit64(hi, lo, i + k + 1) : 0);
    out += CRYPT64[v];
  }
  return out;
}

function keyBlock(password: Uint8Array, start: number): Uint8Array {
  const key = new Uint8Array(8);
  for (let i = 0; i < 8 && start + i < password.length; i++) key[i] = (password[start + i]! << 1) & 0xff;
  return key;
}

/** crypt(3) with a 2-character DES salt: 13 characters, or undefined for an invalid salt. */
export function desCrypt(password: Uint8Array, setting: string): string | undefined {
  if (setting.length < 2) return undefined;
  const a = crypt64Value(setting.charCodeAt(0));
  const b = crypt64Value(setting.charCodeAt(1));
  if (a < 0 || b < 0) return undefined;
  const key = keyBlock(password, 0); // bytes past the eighth never count; bit 8 of each is dropped
  const ks = keySchedule(key);
  key.fill(0);
  const [l, r] = desRounds(0, 0, ks, saltMaskOf(a | (b << 6)), 25, makeSpTables());
  ks.fill(0);
  const [hi, lo] = permute64(l, r, inverse(IP));
  return setting.slice(0, 2) + encodeBlock(hi, lo);
}

/** crypt(3) with a BSDi `_CCCCSSSS` setting: 20 characters, or undefined for an invalid setting. */
export function bsdiCrypt(password: Uint8Array, setting: string): string | undefined {
  if (setting.length < 9 || setting[0] !== '_') return undefined;
  let count = 0;
  let salt = 0;
  for (let i = 0; i < 4; i++) {
    const c = crypt64Value(setting.charCodeAt(1 + i));
    const s = crypt64Value(setting.charCodeAt(5 + i));
    if (c < 0 || s < 0) return undefined;
    count |= c << (6 * i);
    salt |= s << (6 * i);
  }
  const sp = makeSpTables();
  const fp = inverse(IP);
  // Fold a longer password in 8 bytes at a time: encrypt the key with itself, XOR the next 8 bytes in.
  let key = keyBlock(password, 0);
  let ks = keySchedule(key);
  for (let off = 8; off < password.length; off += 8) {
    const hi = ((key[0]! << 24) | (key[1]! << 16) | (key[2]! << 8) | key[3]!) >>> 0;
    const lo = ((key[4]! << 24) | (key[5]! << 16) | (key[6]! << 8) | key[7]!) >>> 0;
    const [ih, il] = permute64(hi, lo, IP);
    const [l, r] = desRounds(ih, il, ks, 0, 1, sp);
    const [eh, elo] = permute64(l, r, fp);
    const next = keyBlock(password, off);
    const folded = new Uint8Array(8);
    for (let i = 0; i < 8; i++) folded[i] = (i < 4 ? eh >>> (24 - 8 * i) : elo >>> (56 - 8 * i)) ^ next[i]!;
    key.fill(0);
    next.fill(0);
    ks.fill(0);
    key = folded;
    ks = keySchedule(key);
  }
  key.fill(0);
  // libxcrypt hashes a count of 0 the same as a count of 1.
  const [l, r] = desRounds(0, 0, ks, saltMaskOf(salt), Math.max(1, count), sp);
  ks.fill(0);
  const [hi, lo] = permute64(l, r, fp);
  return setting.slice(0, 9) + encodeBlock(hi, lo);
}
