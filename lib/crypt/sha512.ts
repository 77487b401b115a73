// SHA-512 (FIPS 180-4) in 32-bit halves, for SHA-512-crypt's 5000 short hashes per login without an
// allocation per call. The fallback for a runtime with no one-shot native hash: on Node 24 and Bun it
// is 2-5x slower than native, warm and cold (scripts/bench/crypt.bench.ts).

/** Round constants K[0..79] as (high, low) 32-bit pairs (FIPS 180-4 §4.2.3). */
export const SHA512_K = Int32Array.of(
  0x428a2f98, 0xd728ae22, 0x71374491, 0x23ef65cd, 0xb5c0fbcf, 0xec4d3b2f, 0xe9b5dba5, 0x8189dbbc,
  0x3956c25b, 0xf348b538, 0x59f111f1, 0xb605d019, 0x923f82a4, 0xaf194f9b, 0xab1c5ed5, 0xda6d8118,
  0xd807aa98, 0xa3030242, 0x12835b01, 0x45706fbe, 0x243185be, 0x4ee4b28c, 0x550c7dc3, 0xd5ffb4e2,
  0x72be5d74, 0xf27b896f, 0x80deb1fe, 0x3b1696b1, 0x9bdc06a7, 0x25c71235, 0xc19bf174, 0xcf692694,
  0xe49b69c1, 0x9ef14ad2, 0xefbe4786, 0x384f25e3, 0x0fc19dc6, 0x8b8cd5b5, 0x240ca1cc, 0x77ac9c65,
  0x2de92c6f, 0x592b0275, 0x4a7484aa, 0x6ea6e483, 0x5cb0a9dc, 0xbd41fbd4, 0x76f988da, 0x831153b5,
  0x983e5152, 0xee66dfab, 0xa831c66d, 0x2db43210, 0xb00327c8, 0x98fb213f, 0xbf597fc7, 0xbeef0ee4,
  0xc6e00bf3, 0x3da88fc2, 0xd5a79147, 0x930aa725, 0x06ca6351, 0xe003826f, 0x14292967, 0x0a0e6e70,
  0x27b70a85, 0x46d22ffc, 0x2e1b2138, 0x5c26c926, 0x4d2c6dfc, 0x5ac42aed, 0x53380d13, 0x9d95b3df,
  0x650a7354, 0x8baf63de, 0x766a0abb, 0x3c77b2a8, 0x81c2c92e, 0x47edaee6, 0x92722c85, 0x1482353b,
  0xa2bfe8a1, 0x4cf10364, 0xa81a664b, 0xbc423001, 0xc24b8b70, 0xd0f89791, 0xc76c51a3, 0x0654be30,
  0xd192e819, 0xd6ef5218, 0xd6990624, 0x5565a910, 0xf40e3585, 0x5771202a, 0x106aa070, 0x32bbd1b8,
  0x19a4c116, 0xb8d2d0c8, 0x1e376c08, 0x5141ab53, 0x2748774c, 0xdf8eeb99, 0x34b0bcb5, 0xe19b48a8,
  0x391c0cb3, 0xc5c95a63, 0x4ed8aa4a, 0xe3418acb, 0x5b9cca4f, 0x7763e373, 0x682e6ff3, 0xd6b2b8a3,
  0x748f82ee, 0x5defb2fc, 0x78a5636f, 0x43172f60, 0x84c87814, 0xa1f0ab72, 0x8cc70208, 0x1a6439ec,
  0x90befffa, 0x23631e28, 0xa4506ceb, 0xde82bde9, 0xbef9a3f7, 0xb2c67915, 0xc67178f2, 0xe372532b,
  0xca273ece, 0xea26619c, 0xd186b8c7, 0x21c0c207, 0xeada7dd6, 0xcde0eb1e, 0xf57d4f7f, 0xee6ed178,
  0x06f067aa, 0x72176fba, 0x0a637dc5, 0xa2c898a6, 0x113f9804, 0xbef90dae, 0x1b710b35, 0x131c471b,
  0x28db77f5, 0x23047d84, 0x32caab7b, 0x40c72493, 0x3c9ebe0a, 0x15c9bebc, 0x431d67c4, 0x9c100d4c,
  0x4cc5d4be, 0xcb3e42b6, 0x597f299c, 0xfc657e2a, 0x5fcb6fab, 0x3ad6faec, 0x6c44198c, 0x4a475817,
);

/** Initial hash value H(0) as (high, low) pairs (FIPS 180-4 §5.3.5). */
export const SHA512_H0 = Int32Array.of(
  0x6a09e667, 0xf3bcc908, 0xbb67ae85, 0x84caa73b, 0x3c6ef372, 0xfe94f82b, 0xa54ff53a, 0x5f1d36f1,
  0x510e527f, 0xade682d1, 0x9b05688c, 0x2b3e6c1f, 0x1f83d9ab, 0xfb41bd6b, 0x5be0cd19, 0x137e2179,
);

/** Scratch space for one SHA-512 user: chaining value, message schedule and a padded block buffer. */
export interface Sha512Work {
  readonly h: Int32Array;
  readonly w: Int32Array;
  /** Message buffer; sha512Padded pads in place, so it holds `len` bytes plus up to 2 blocks. */
  buf: Uint8Array;
}

export function newSha512Work(capacity = 256): Sha512Work {
  return { h: new Int32Array(16), w: new Int32Array(160), buf: new Uint8Array(roundUpBlocks(capacity)) };
}

function roundUpBlocks(len: number): number {
  return (Math.floor((len + 16) / 128) + 1) * 128;
}

/** Make sure work.buf can hold a message of `len` bytes with its padding (keeps the first `keep` bytes). */
export function reserveSha512(work: Sha512Work, len: number, keep = 0): void {
  const need = roundUpBlocks(len);
  if (work.buf.length >= need) return;
  const grown = new Uint8Array(need);
  grown.set(work.buf.subarray(0, keep));
  work.buf = grown;
}

/**
 * SHA-512 of the first `len` bytes of work.buf, written as 64 bytes to out[outOff..]. The bytes after
 * `len` are overwritten with the padding (reserveSha512 guarantees the room).
 */
export function sha512Padded(work: Sha512Work, len: number, out: Uint8Array, outOff = 0): void {
  const { h, w, buf } = work;
  const total = roundUpBlocks(len);
  buf[len] = 0x80;
  buf.fill(0, len + 1, total - 4);
  // Bit length in the last 128 bits; messages here are far below 2^29 bytes, so 32 bits suffice.
  const bits = len * 8;
  buf[total - 4] = bits >>> 24;
  buf[total - 3] = bits >>> 16;
  buf[total - 2] = bits >>> 8;
  buf[total - 1] = bits;
  h.set(SHA512_H0);
  for (let off = 0; off < total; off += 128) compress(h, w, buf, off);
  for (let i = 0; i < 16; i++) {
    const v = h[i]!;
    const j = outOff + i * 4;
    out[j] = v >>> 24;
    out[j + 1] = v >>> 16;
    out[j + 2] = v >>> 8;
    out[j + 3] = v;
  }
}

/** SHA-512 of a whole byte string (convenience for tests and one-off use). */
export function sha512(data: Uint8Array): Uint8Array {
  const work = newSha512Work(data.length);
  work.buf.set(data);
  const out = new Uint8Array(64);
  sha512Padded(work, data.length, out);
  return out;
}

// 64-bit words are (high, low) int32 pairs. A low-half sum of a few uint32 stays exact in a double
// (< 2^53), so the carry into the high half is floor(sum / 2^32), and ToInt32 wraps both halves.
const INV_TWO32 = 1 / 4294967296;

function compress(h: Int32Array, w: Int32Array, buf: Uint8Array, off: number): void {
  for (let i = 0; i < 32; i++) {
    const j = off + i * 4;
    w[i] = (buf[j]! << 24) | (buf[j + 1]! << 16) | (buf[j + 2]! << 8) | buf[j + 3]!;
  }
  for (let i = 32; i < 160; i += 2) {
    // σ0(W[t-15]) = ROTR1 ^ ROTR8 ^ SHR7
    const xh = w[i - 30]!;
    const xl = w[i - 29]!;
    const s0h = ((xh >>> 1) | (xl << 31)) ^ ((xh >>> 8) | (xl << 24)) ^ (xh >>> 7);
    const s0l = ((xl >>> 1) | (xh << 31)) ^ ((xl >>> 8) | (xh << 24)) ^ ((xl >>> 7) | (xh << 25));
    // σ1(W[t-2]) = ROTR19 ^ ROTR61 ^ SHR6
    const yh = w[i - 4]!;
    const yl = w[i - 3]!;
    const s1h = ((yh >>> 19) | (yl << 13)) ^ ((yl >>> 29) | (yh << 3)) ^ (yh >>> 6);
    const s1l = ((yl >>> 19) | (yh << 13)) ^ ((yh >>> 29) | (yl << 3)) ^ ((yl >>> 6) | (yh << 26));
    // + W[t-7] + W[t-16]
    const lo = (s0l >>> 0) + (s1l >>> 0) + (w[i - 13]! >>> 0) + (w[i - 31]! >>> 0);
    w[i] = s0h + s1h + w[i - 14]! + w[i - 32]! + Math.floor(lo * INV_TWO32);
    w[i + 1] = lo;
  }

  let ah = h[0]!, al = h[1]!, bh = h[2]!, bl = h[3]!, ch = h[4]!, cl = h[5]!, dh = h[6]!, dl = h[7]!;
  let eh = h[8]!, el = h[9]!, fh = h[10]!, fl = h[11]!, gh = h[12]!, gl = h[13]!, hh = h[14]!, hl = h[15]!;
  for (let i = 0; i < 160; i += 2) {
    // Σ1(e) = ROTR14 ^ ROTR18 ^ ROTR41; Ch(e, f, g)
    const S1h = ((eh >>> 14) | (el << 18)) ^ ((eh >>> 18) | (el << 14)) ^ ((el >>> 9) | (eh << 23));
    const S1l = ((el >>> 14) | (eh << 18)) ^ ((el >>> 18) | (eh << 14)) ^ ((eh >>> 9) | (el << 23));
    const chh = (eh & fh) ^ (~eh & gh);
    const chl = (el & fl) ^ (~el & gl);
    // T1 = h + Σ1 + Ch + K[t] + W[t], its low half left unwrapped (< 5 * 2^32)
    const t1l = (hl >>> 0) + (S1l >>> 0) + (chl >>> 0) + (SHA512_K[i + 1]! >>> 0) + (w[i + 1]! >>> 0);
    const t1h = hh + S1h + chh + SHA512_K[i]! + w[i]!;
    // Σ0(a) = ROTR28 ^ ROTR34 ^ ROTR39; Maj(a, b, c)
    const S0h = ((ah >>> 28) | (al << 4)) ^ ((al >>> 2) | (ah << 30)) ^ ((al >>> 7) | (ah << 25));
    const S0l = ((al >>> 28) | (ah << 4)) ^ ((ah >>> 2) | (al << 30)) ^ ((ah >>> 7) | (al << 25));
    const mjh = (ah & bh) ^ (ah & ch) ^ (bh & ch);
    const mjl = (al & bl) ^ (al & cl) ^ (bl & cl);
    hh = gh; hl = gl;
    gh = fh; gl = fl;
    fh = eh; fl = el;
    const el2 = (dl >>> 0) + t1l;
    eh = (dh + t1h + Math.floor(el2 * INV_TWO32)) | 0;
    el = el2 | 0;
    dh = ch; dl = cl;
    ch = bh; cl = bl;
    bh = ah; bl = al;
    const al2 = t1l + (S0l >>> 0) + (mjl >>> 0);
    ah = (t1h + S0h + mjh + Math.floor(al2 * INV_TWO32)) | 0;
    al = al2 | 0;
  }
  add(h, 0, ah, al);
  add(h, 2, bh, bl);
  add(h, 4, ch, cl);
  add(h, 6, dh, dl);
  add(h, 8, eh, el);
  add(h, 10, fh, fl);
  add(h, 12, gh, gl);
  add(h, 14, hh, hl);
}

function add(h: Int32Array, i: number, xh: number, xl: number): void {
  const lo = (h[i + 1]! >>> 0) + (xl >>> 0);
  h[i] = h[i]! + xh + Math.floor(lo * INV_TWO32);
  h[i + 1] = lo;
}
