// bcrypt ($2a$, $2b$, $2x$, $2y$): Provos and Mazières' eksblowfish (USENIX 1999) as libxcrypt
// computes it: key = password bytes + NUL, cycled to 72 bytes; cost 04..31; 23 bytes of
// "OrpheanBeholderScryDoubt" encrypted 64 times. $2b$ and $2y$ are the same hash; $2x$ reproduces
// the old sign-extension bug on bytes ≥ 0x80; $2a$ adds libxcrypt's guard against that bug's collisions.
import { BLOWFISH_P, BLOWFISH_S } from './blowfish-pi.ts';
import { decodeBcrypt64, encodeBcrypt64 } from './crypt64.ts';

export const BCRYPT_MIN_COST = 4;
export const BCRYPT_MAX_COST = 31;
export const BCRYPT_DEFAULT_COST = 10;
export type BcryptVariant = 'a' | 'b' | 'x' | 'y';

export interface BcryptSetting {
  readonly variant: BcryptVariant;
  readonly cost: number;
  /** 16 bytes. */
  readonly salt: Uint8Array;
}

/** Parse `$2b$10$<22 salt chars>[hash]`; undefined when it is not a usable bcrypt setting. */
export function parseBcryptSetting(setting: string): BcryptSetting | undefined {
  const m = /^\$2([abxy])\$(\d\d)\$/.exec(setting);
  if (m === null) return undefined;
  const cost = Number(m[2]);
  if (cost < BCRYPT_MIN_COST || cost > BCRYPT_MAX_COST) return undefined;
  const salt = decodeBcrypt64(setting.slice(7, 29), 16);
  if (salt === undefined) return undefined;
  return { variant: m[1] as BcryptVariant, cost, salt };
}

/** `$2b$10$<22 chars>`: the salt written canonically (its last character carries 2 bits). */
export function formatBcryptSetting(s: BcryptSetting): string {
  return `$2${s.variant}$${String(s.cost).padStart(2, '0')}$${encodeBcrypt64(s.salt)}`;
}

function words(bytes: Uint8Array): Int32Array {
  const out = new Int32Array(bytes.length >>> 2);
  for (let i = 0; i < out.length; i++) {
    const j = i * 4;
    out[i] = (bytes[j]! << 24) | (bytes[j + 1]! << 16) | (bytes[j + 2]! << 8) | bytes[j + 3]!;
  }
  return out;
}

interface KeySchedule {
  /** The 18 key words XORed into P in every expansion. */
  readonly expanded: Int32Array;
  /** Bit 16 to flip in P[0] before the first expansion only ($2a$ collision guard), or 0. */
  readonly firstFlip: number;
}

/**
 * The 18 key words from the cycled key P‖NUL. For $2x$ each byte is sign-extended into the word being
 * built, as the bug did. For $2a$, where that bug would give the same words as the correct code while
 * a sign bit was in play, libxcrypt flips bit 16 of P[0] once so such hashes differ from both.
 */
function keySchedule(password: Uint8Array, variant: BcryptVariant): KeySchedule {
  const expanded = new Int32Array(18);
  let pos = 0;
  let diff = 0;
  let sign = 0;
  for (let i = 0; i < 18; i++) {
    let good = 0;
    let bug = 0;
    for (let j = 0; j < 4; j++) {
      const byte = pos < password.length ? password[pos]! : 0;
      good = (good << 8) | byte;
      bug = (bug << 8) | (byte >= 0x80 ? byte | 0xffffff00 : byte);
      if (j > 0) sign |= bug & 0x80;
      pos = pos < password.length ? pos + 1 : 0;
    }
    diff |= good ^ bug;
    expanded[i] = variant === 'x' ? bug : good;
  }
  const anyDiff = ((diff | (diff >>> 16)) & 0xffff) !== 0;
  const firstFlip = variant === 'a' && sign !== 0 && !anyDiff ? 0x10000 : 0;
  return { expanded, firstFlip };
}

/** Encrypt lr[0], lr[1] in place with state (p, s). */
function encrypt(p: Int32Array, s: Int32Array, lr: Int32Array): void {
  let l = lr[0]! ^ p[0]!;
  let r = lr[1]!;
  for (let i = 1; i < 17; i += 2) {
    r ^= (((s[l >>> 24]! + s[256 | ((l >>> 16) & 255)]!) ^ s[512 | ((l >>> 8) & 255)]!) + s[768 | (l & 255)]!) ^ p[i]!;
    l ^= (((s[r >>> 24]! + s[256 | ((r >>> 16) & 255)]!) ^ s[512 | ((r >>> 8) & 255)]!) + s[768 | (r & 255)]!) ^ p[i + 1]!;
  }
  lr[0] = r ^ p[17]!;
  lr[1] = l;
}

/**
 * Re-key the state: chained encryptions, each block XORed first with the next 64 salt bits (cycled),
 * replacing P and then the S-boxes. The cipher is written out here rather than calling encrypt():
 * this loop is all of bcrypt's cost (2^cost x 2 x 521 blocks).
 */
function expandState(p: Int32Array, s: Int32Array, salt: Int32Array): void {
  const s0 = salt[0]!, s1 = salt[1]!, s2 = salt[2]!, s3 = salt[3]!;
  let l = 0;
  let r = 0;
  for (let i = 0; i < 1042; i += 2) {
    if ((i & 2) === 0) {
      l ^= s0;
      r ^= s1;
    } else {
      l ^= s2;
      r ^= s3;
    }
    l ^= p[0]!;
    for (let j = 1; j < 17; j += 2) {
      r ^= (((s[l >>> 24]! + s[256 | ((l >>> 16) & 255)]!) ^ s[512 | ((l >>> 8) & 255)]!) + s[768 | (l & 255)]!) ^ p[j]!;
      l ^= (((s[r >>> 24]! + s[256 | ((r >>> 16) & 255)]!) ^ s[512 | ((r >>> 8) & 255)]!) + s[768 | (r & 255)]!) ^ p[j + 1]!;
    }
    const t = r ^ p[17]!;
    r = l;
    l = t;
    if (i < 18) {
      p[i] = l;
      p[i + 1] = r;
    } else {
      s[i - 18] = l;
      s[i - 17] = r;
    }
  }
}

function xorKey(p: Int32Array, key: Int32Array): void {
  for (let i = 0; i < 18; i++) p[i] ^= key[i % key.length]!;
}

const MAGIC = 'OrpheanBeholderScryDoubt';

/** crypt(3) for a bcrypt setting: the 60-character hash, or undefined when the setting is not one. */
export function bcryptCrypt(password: Uint8Array, setting: string): string | undefined {
  const s = parseBcryptSetting(setting);
  if (s === undefined) return undefined;
  const sum = eksBlowfish(password, s);
  const out = formatBcryptSetting(s) + encodeBcrypt64(sum, 23);
  sum.fill(0);
  return out;
}

function eksBlowfish(password: Uint8Array, setting: BcryptSetting): Uint8Array {
  const p = Int32Array.from(BLOWFISH_P, (x) => x | 0);
  const sb = Int32Array.from(BLOWFISH_S, (x) => x | 0);
  const lr = new Int32Array(2);
  const salt = words(setting.salt);
  const zero = new Int32Array(4);
  const { expanded, firstFlip } = keySchedule(password, setting.variant);
  xorKey(p, expanded);
  p[0] ^= firstFlip;
  expandState(p, sb, salt);
  for (let n = 2 ** setting.cost; n > 0; n--) {
    xorKey(p, expanded);
    expandState(p, sb, zero);
    xorKey(p, salt);
    expandState(p, sb, zero);
  }
  const text = Int32Array.from(MAGIC.match(/..../g)!, (w) => (w.charCodeAt(0) << 24) | (w.charCodeAt(1) << 16) | (w.charCodeAt(2) << 8) | w.charCodeAt(3));
  for (let i = 0; i < 6; i += 2) {
    lr[0] = text[i]!;
    lr[1] = text[i + 1]!;
    for (let n = 0; n < 64; n++) encrypt(p, sb, lr);
    text[i] = lr[0]!;
    text[i + 1] = lr[1]!;
  }
  const out = new Uint8Array(24);
  for (let i = 0; i < 6; i++) {
    const w = text[i]!;
    out[4 * i] = w >>> 24;
    out[4 * i + 1] = w >>> 16;
    out[4 * i + 2] = w >>> 8;
    out[4 * i + 3] = w;
  }
  p.fill(0);
  sb.fill(0);
  expanded.fill(0);
  return out;
}
