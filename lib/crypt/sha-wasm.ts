// SHA-256 and SHA-512 (FIPS 180-4) and SHA-crypt's round loop as a WebAssembly module that this file
// writes with wasm-asm.ts. Why: vchkpw verifies one $6$ hash per process, and a fresh Node runs the
// JavaScript of all 5000 rounds cold, while V8's baseline wasm compiler (Liftoff) makes machine code
// for the whole loop before its first round. scripts/bench/crypt.bench.ts has the figures.
//
// The code is shaped for Liftoff, which compiles each instruction on its own: rotations are written
// as shifts (Liftoff calls a C helper for i64.rotr), three rotations XORed are folded into nested
// shifts so each shift works on a temporary, the message schedule is a 16-word window held in locals,
// and the rounds are unrolled 16 to a pass with the working variables renamed instead of moved.
//
// The module is emitted and compiled on first use and the compiled module kept for the process (a
// memo, not state: it holds code and constants only). Every hash gets a fresh instance with its own
// memory, wiped before it is dropped.
import { Code, ModuleBuilder, type Fragment, type Local, type ValType } from './wasm-asm.ts';
import { SHA512_H0, SHA512_K } from './sha512.ts';

export type ShaBits = 256 | 512;

interface Shape {
  readonly t: ValType;
  /** Bytes per word. */
  readonly w: 4 | 8;
  readonly rounds: 64 | 80;
  /** Σ0, Σ1 (three rotations) and σ0, σ1 (two rotations, then a shift): FIPS 180-4 §4.1.2, §4.1.3. */
  readonly sigma: readonly (readonly [number, number, number])[];
}

const SHAPES: Readonly<Record<ShaBits, Shape>> = {
  256: { t: 'i32', w: 4, rounds: 64, sigma: [[2, 13, 22], [6, 11, 25], [7, 18, 3], [17, 19, 10]] },
  512: { t: 'i64', w: 8, rounds: 80, sigma: [[28, 34, 39], [14, 18, 41], [1, 8, 7], [19, 61, 6]] },
};

/** SHA-crypt's round messages repeat every 42 rounds (the lcm of 2, 3 and 7). */
export const SHA_CRYPT_LAYOUTS = 42;

/** Byte offsets in the module's memory; words are held in native (little-endian) order. */
export interface ShaLayout {
  readonly wordBytes: 4 | 8;
  readonly blockBytes: 64 | 128;
  readonly digestBytes: 32 | 64;
  /** Bytes of the message length at the end of the padding (FIPS 180-4 §5.1). */
  readonly lengthBytes: 8 | 16;
  readonly k: number;
  readonly h0: number;
  /** The chaining value H; after a hash, the digest as native words. */
  readonly h: number;
  /** 42 entries of four i32: template address, block count, address of the word where C starts, shift in bits. */
  readonly meta: number;
  /** Messages and round templates, to the end of memory. */
  readonly data: number;
}

export function shaLayout(bits: ShaBits): ShaLayout {
  const { w, rounds } = SHAPES[bits];
  const h0 = rounds * w;
  const h = h0 + 8 * w;
  const meta = h + 8 * w;
  return { wordBytes: w, blockBytes: w === 8 ? 128 : 64, digestBytes: w === 8 ? 64 : 32, lengthBytes: w === 8 ? 16 : 8, k: 0, h0, h, meta, data: meta + SHA_CRYPT_LAYOUTS * 16 };
}

/** K then H(0), native words. SHA-256's constants are the high halves of SHA-512's (FIPS 180-4 §4.2). */
function constants(bits: ShaBits): Uint8Array {
  const { w, rounds } = SHAPES[bits];
  const view = new DataView(new ArrayBuffer((rounds + 8) * w));
  const put = (i: number, pairs: Int32Array, j: number) => {
    if (w === 8) view.setInt32(i * 8, pairs[2 * j + 1]!, true);
    view.setInt32(i * w + w - 4, pairs[2 * j]!, true);
  };
  for (let i = 0; i < rounds; i++) put(i, SHA512_K, i);
  for (let i = 0; i < 8; i++) put(rounds + i, SHA512_H0, i);
  return new Uint8Array(view.buffer);
}

/**
 * XOR of x shifted by each amount (ascending), written as (((x >> d3) ^ x) >> d2 ^ x) >> d1 with the
 * differences d: the same value, but only temporaries are shifted, so x is never copied.
 */
function shifts(c: Code, t: ValType, x: Local<ValType>, amounts: readonly number[], op: 'shrU' | 'shl'): void {
  c.get(x);
  for (let i = amounts.length - 1; i > 0; i--) c.constant(t, amounts[i]! - amounts[i - 1]!).num(t, op).get(x).num(t, 'xor');
  c.constant(t, amounts[0]!).num(t, op);
}

/** Σ (three rotations right) or, with `lastIsShift`, σ (two rotations and a shift), of x. */
function sigma(c: Code, s: Shape, x: Local<ValType>, [a, b, z]: readonly [number, number, number], lastIsShift: boolean): void {
  const bits = s.w * 8;
  shifts(c, s.t, x, [a, b, z].sort((p, q) => p - q), 'shrU');
  shifts(c, s.t, x, (lastIsShift ? [bits - b, bits - a] : [bits - z, bits - b, bits - a]), 'shl');
  c.num(s.t, 'xor');
}

/**
 * One round as a fragment. Locals: a..h, T1, p (t - j, in bytes), W[t], W[t-2], W[t-7], W[t-15];
 * offset: where K[t] is, relative to p. With `schedule`, W[t] is first computed in place of W[t-16].
 */
function roundFragment(s: Shape, schedule: boolean): Fragment {
  const { t } = s;
  return Code.fragment(new Array<ValType>(14).fill(t).fill('i32', 9, 10), 1, (c, l, [kAt]) => {
    const [a, b, cc, d, e, f, g, h, t1, p, wt, w2, w7, w15] = l as [Local<ValType>, Local<ValType>, Local<ValType>, Local<ValType>, Local<ValType>, Local<ValType>, Local<ValType>, Local<ValType>, Local<ValType>, Local<ValType>, Local<ValType>, Local<ValType>, Local<ValType>, Local<ValType>];
    if (schedule) {
      // W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16]
      sigma(c, s, w2, s.sigma[3]!, true);
      c.get(w7).num(t, 'add');
      sigma(c, s, w15, s.sigma[2]!, true);
      c.num(t, 'add').get(wt).num(t, 'add').set(wt);
    }
    // T1 = h + Σ1(e) + Ch(e, f, g) + K[t] + W[t], Ch = g ^ (e & (f ^ g)); d += T1
    c.get(h);
    sigma(c, s, e, s.sigma[1]!, false);
    c.num(t, 'add').get(g).get(e).get(f).get(g).num(t, 'xor').num(t, 'and').num(t, 'xor').num(t, 'add');
    c.get(p).load(t, kAt).num(t, 'add').get(wt).num(t, 'add').tee(t1);
    c.get(d).num(t, 'add').set(d);
    // h = T1 + Σ0(a) + Maj(a, b, c), Maj = (a & b) | (c & (a | b))
    c.get(t1);
    sigma(c, s, a, s.sigma[0]!, false);
    c.num(t, 'add').get(a).get(b).num(t, 'and').get(cc).get(a).get(b).num(t, 'or').num(t, 'and').num(t, 'or').num(t, 'add').set(h);
  });
}

/** The module: exports memory, bswap(ptr, words), hash(ptr, blocks) and rounds(n). */
export function emitShaModule(bits: ShaBits): Uint8Array {
  const s = SHAPES[bits];
  const L = shaLayout(bits);
  const { t, w } = s;
  const m = new ModuleBuilder(1);
  m.dataSegment(L.k, constants(bits));
  const compress = m.declare(['i32'], []);
  const bswap = m.declare(['i32', 'i32'], [], 'bswap');
  const hash = m.declare(['i32', 'i32'], [], 'hash');
  const rounds = m.declare(['i32'], [], 'rounds');

  // compress(block): H += the rounds over the 16 native words at `block`.
  const plain = roundFragment(s, false);
  const scheduled = roundFragment(s, true);
  m.define(compress, (c) => {
    const block = c.param(0, 'i32');
    const v: Local<ValType>[] = [];
    for (let i = 0; i < 8; i++) v.push(c.local(t));
    const t1 = c.local(t);
    const p = c.local('i32');
    const win: Local<ValType>[] = [];
    for (let i = 0; i < 16; i++) win.push(c.local(t));
    for (let i = 0; i < 16; i++) c.get(block).load(t, i * w).set(win[i]!);
    for (let i = 0; i < 8; i++) c.i32(0).load(t, L.h + i * w).set(v[i]!);
    const round = (f: Fragment, j: number) => {
      const r = j & 7;
      const named = [v[-r & 7]!, v[(1 - r) & 7]!, v[(2 - r) & 7]!, v[(3 - r) & 7]!, v[(4 - r) & 7]!, v[(5 - r) & 7]!, v[(6 - r) & 7]!, v[(7 - r) & 7]!];
      c.stamp(f, [...named, t1, p, win[j & 15]!, win[(j + 14) & 15]!, win[(j + 9) & 15]!, win[(j + 1) & 15]!], [L.k + j * w]);
    };
    for (let j = 0; j < 16; j++) round(plain, j);
    // Rounds 16.. in passes of 16; p = (t - j) * w for the pass's rounds j = 16..31.
    const pass = c.loop();
    for (let j = 16; j < 32; j++) round(scheduled, j);
    c.get(p).i32(16 * w).num('i32', 'add').tee(p).i32((s.rounds - 16) * w).num('i32', 'ne').brIf(pass);
    c.end(pass);
    for (let i = 0; i < 8; i++) c.i32(0).i32(0).load(t, L.h + i * w).get(v[i]!).num(t, 'add').store(t, L.h + i * w);
  });

  // bswap(ptr, words): big-endian words to native and back, in place, a byte at a time.
  m.define(bswap, (c) => {
    const ptr = c.param(0, 'i32');
    const n = c.param(1, 'i32');
    const q = c.local('i32');
    const x = c.local(t);
    const done = c.block();
    c.get(n).num('i32', 'eqz').brIf(done);
    const word = c.loop();
    c.constant(t, 0).set(x).get(ptr).set(q);
    const byte = c.loop();
    c.get(x).constant(t, 8).num(t, 'shl').get(q).load8U(t).num(t, 'or').set(x);
    c.get(q).i32(1).num('i32', 'add').tee(q).get(ptr).i32(w).num('i32', 'add').num('i32', 'ne').brIf(byte);
    c.end(byte);
    c.get(ptr).get(x).store(t);
    c.get(q).set(ptr);
    c.get(n).i32(1).num('i32', 'sub').tee(n).brIf(word);
    c.end(word);
    c.end(done);
  });

  // hash(ptr, blocks): H = H(0), then the padded big-endian message at ptr (swapped in place).
  m.define(hash, (c) => {
    const ptr = c.param(0, 'i32');
    const n = c.param(1, 'i32');
    c.i32(L.h).i32(L.h0).i32(8 * w).memoryCopy();
    c.get(ptr).get(n).i32(16).num('i32', 'mul').call(bswap);
    const block = c.loop();
    c.get(ptr).call(compress);
    c.get(ptr).i32(16 * w).num('i32', 'add').set(ptr);
    c.get(n).i32(1).num('i32', 'sub').tee(n).brIf(block);
    c.end(block);
  });

  // rounds(n): SHA-crypt's loop (Drepper's steps 21a-j) over the 42 templates the layout table
  // describes. H holds C; each round writes C into its template's slot, then hashes the template.
  m.define(rounds, (c) => {
    const n = c.param(0, 'i32');
    const e = c.local('i32');
    const tp = c.local('i32');
    const nb = c.local('i32');
    const qp = c.local('i32');
    const sh = c.local('i32');
    const rs = c.local(t);
    const ls = c.local(t);
    const hw = (i: number) => c.i32(0).load(t, L.h + i * w);
    c.i32(L.meta).set(e);
    const round = c.loop();
    c.get(e).load('i32', 0).set(tp).get(e).load('i32', 4).set(nb).get(e).load('i32', 8).set(qp);
    c.get(e).load('i32', 12).tee(sh).num('i32', 'eqz');
    const aligned = c.if_();
    for (let i = 0; i < 8; i++) {
      c.get(qp);
      hw(i).store(t, i * w);
    }
    c.else_();
    // C starts `sh` bits into word q: the template's bytes before it (high bits) and after it stay.
    c.get(sh);
    if (t === 'i64') c.i64ExtendI32U();
    c.set(rs).constant(t, w * 8).get(rs).num(t, 'sub').set(ls);
    c.get(qp).get(qp).load(t, 0).constant(t, -1).get(rs).num(t, 'shrU').constant(t, -1).num(t, 'xor').num(t, 'and');
    hw(0).get(rs).num(t, 'shrU').num(t, 'or').store(t, 0);
    for (let i = 1; i < 8; i++) {
      c.get(qp);
      hw(i - 1).get(ls).num(t, 'shl');
      hw(i).get(rs).num(t, 'shrU').num(t, 'or').store(t, i * w);
    }
    c.get(qp).get(qp).load(t, 8 * w).constant(t, -1).get(rs).num(t, 'shrU').num(t, 'and');
    hw(7).get(ls).num(t, 'shl').num(t, 'or').store(t, 8 * w);
    c.end(aligned);
    c.i32(L.h).i32(L.h0).i32(8 * w).memoryCopy();
    const block = c.loop();
    c.get(tp).call(compress).get(tp).i32(16 * w).num('i32', 'add').set(tp);
    c.get(nb).i32(1).num('i32', 'sub').tee(nb).brIf(block);
    c.end(block);
    // the next layout, back to the first after the 42nd
    c.get(e).i32(16).num('i32', 'add').tee(e).i32(L.meta + SHA_CRYPT_LAYOUTS * 16).num('i32', 'eq');
    const wrap = c.if_();
    c.i32(L.meta).set(e);
    c.end(wrap);
    c.get(n).i32(1).num('i32', 'sub').tee(n).brIf(round);
    c.end(round);
  });
  return m.encode();
}

// --- running it ------------------------------------------------------------------------------------

interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { readonly exports: Record<string, unknown> };
}

/** The WebAssembly global (typed here: the project's TypeScript lib has no DOM types), if any. */
function wasmApi(): WasmApi | undefined {
  return (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
}

export function hasWasm(): boolean {
  return wasmApi() !== undefined;
}

// The compiled modules, made on first use (never at import) and kept: code and constants only.
const compiled: { [B in ShaBits]?: object } = {};

/**
 * The module bytes emitShaModule makes, emitted once at build time (build.mjs) and given to the
 * bundle as base64: emitting them in a cold process costs 3–7 ms, a large part of one vchkpw login.
 * Absent when running from source (tests), where they are emitted on first use as before.
 */
declare const __VPOPMAIL_SHA_WASM__: { readonly [B in ShaBits]?: string } | undefined;

function moduleBytes(bits: ShaBits): Uint8Array {
  const prebuilt = typeof __VPOPMAIL_SHA_WASM__ === 'undefined' ? undefined : __VPOPMAIL_SHA_WASM__[bits];
  return prebuilt === undefined ? emitShaModule(bits) : Buffer.from(prebuilt, 'base64');
}

/** One instance of the module: its own memory, wiped by wipe(). */
export class ShaMachine {
  readonly layout: ShaLayout;
  readonly bswap: (ptr: number, words: number) => void;
  readonly hash: (ptr: number, blocks: number) => void;
  readonly rounds: (n: number) => void;
  private readonly memory: WasmMemory;
  /** The memory's bytes (a new view after it grows). */
  mem: Uint8Array;
  /** End of what a hash may have written since the last wipe. */
  private used = 0;

  constructor(bits: ShaBits) {
    const api = wasmApi();
    if (api === undefined) throw new Error('sha-wasm: this runtime has no WebAssembly');
    const x = new api.Instance((compiled[bits] ??= new api.Module(moduleBytes(bits)))).exports;
    this.layout = shaLayout(bits);
    this.memory = x.memory as WasmMemory;
    this.bswap = x.bswap as (ptr: number, words: number) => void;
    this.hash = x.hash as (ptr: number, blocks: number) => void;
    this.rounds = x.rounds as (n: number) => void;
    this.mem = new Uint8Array(this.memory.buffer);
  }

  /** Bytes of a message of `len` bytes once padded. */
  padded(len: number): number {
    const { blockBytes, lengthBytes } = this.layout;
    return Math.ceil((len + 1 + lengthBytes) / blockBytes) * blockBytes;
  }

  /** Make the memory reach `end`; returns its bytes. */
  reserve(end: number): Uint8Array {
    if (end > this.mem.length) {
      this.memory.grow(Math.ceil((end - this.mem.length) / 65536));
      this.mem = new Uint8Array(this.memory.buffer);
    }
    if (end > this.used) this.used = end;
    return this.mem;
  }

  /**
   * Pad the `len` message bytes at `at` (FIPS 180-4 §5.1.1, §5.1.2): 0x80, zeros, the bit length
   * big-endian; our messages are far below 2^29 bytes, so the length's top bytes stay zero.
   */
  pad(at: number, len: number): number {
    const total = this.padded(len);
    const mem = this.reserve(at + total);
    mem[at + len] = 0x80;
    mem.fill(0, at + len + 1, at + total - 4);
    const bits = len * 8;
    mem[at + total - 4] = bits >>> 24;
    mem[at + total - 3] = bits >>> 16;
    mem[at + total - 2] = bits >>> 8;
    mem[at + total - 1] = bits;
    return total;
  }

  /** The digest of the parts joined, into out. */
  digest(parts: readonly Uint8Array[], out: Uint8Array): void {
    const at = this.layout.data;
    let len = 0;
    for (const p of parts) len += p.length;
    const mem = this.reserve(at + this.padded(len));
    let off = at;
    for (const p of parts) {
      mem.set(p, off);
      off += p.length;
    }
    this.hash(at, this.pad(at, len) / this.layout.blockBytes);
    this.readH(out);
  }

  /** H as big-endian bytes into out (H itself is left as it was). */
  readH(out: Uint8Array): void {
    const { h, digestBytes, wordBytes } = this.layout;
    this.bswap(h, digestBytes / wordBytes);
    out.set(this.mem.subarray(h, h + digestBytes));
    this.bswap(h, digestBytes / wordBytes);
  }

  /** Zero everything a hash wrote (the constants stay). */
  wipe(): void {
    this.mem.fill(0, this.layout.h, Math.max(this.used, this.layout.data));
    this.used = 0;
  }
}
