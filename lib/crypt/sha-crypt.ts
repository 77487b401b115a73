// SHA-256-crypt ($5$) and SHA-512-crypt ($6$), after Ulrich Drepper's "Unix crypt using SHA-256 and
// SHA-512" (2007), the scheme glibc and libxcrypt implement: salt of up to 16 characters, `rounds=N$`
// (default 5000, clamped to 1000..999999999 as glibc does).
import { encodeGroups } from './crypt64.ts';
import { DIGEST_SIZE, makeDigest, type Digest, type DigestImpl } from './digest.ts';
import { hasWasm, ShaMachine, type ShaBits } from './sha-wasm.ts';

export const SHA_CRYPT_DEFAULT_ROUNDS = 5000;
export const SHA_CRYPT_MIN_ROUNDS = 1000;
export const SHA_CRYPT_MAX_ROUNDS = 999_999_999;
export const SHA_CRYPT_MAX_SALT = 16;

// Which digest bytes make up each 4-character group of the output (Drepper's spec, step 22).
const GROUPS_512: readonly (readonly number[])[] = [
  [0, 21, 42], [22, 43, 1], [44, 2, 23], [3, 24, 45], [25, 46, 4], [47, 5, 26], [6, 27, 48],
  [28, 49, 7], [50, 8, 29], [9, 30, 51], [31, 52, 10], [53, 11, 32], [12, 33, 54], [34, 55, 13],
  [56, 14, 35], [15, 36, 57], [37, 58, 16], [59, 17, 38], [18, 39, 60], [40, 61, 19], [62, 20, 41],
  [63],
];
const GROUPS_256: readonly (readonly number[])[] = [
  [0, 10, 20], [21, 1, 11], [12, 22, 2], [3, 13, 23], [24, 4, 14], [15, 25, 5], [6, 16, 26],
  [27, 7, 17], [18, 28, 8], [9, 19, 29], [31, 30],
];

export interface ShaCryptSetting {
  readonly bits: 256 | 512;
  /** Rounds after clamping. */
  readonly rounds: number;
  /** Whether `rounds=` was written (then the output repeats it). */
  readonly roundsGiven: boolean;
  /** At most 16 characters, no `$`. */
  readonly salt: string;
}

/**
 * Parse `$5$[rounds=N$]salt[$...]` or `$6$...`. Anything after the salt's `$` is ignored (it is the
 * hash being verified). A `rounds=` that is not digits ending in `$` is refused (libxcrypt does; glibc
 * would take it as salt), an out-of-range count is clamped (glibc; libxcrypt refuses — either way the
 * output then differs from the stored string, so such a hash never verifies).
 */
export function parseShaCryptSetting(setting: string): ShaCryptSetting | undefined {
  const bits = setting.startsWith('$6$') ? 512 : setting.startsWith('$5$') ? 256 : undefined;
  if (bits === undefined) return undefined;
  let rest = setting.slice(3);
  let rounds = SHA_CRYPT_DEFAULT_ROUNDS;
  let roundsGiven = false;
  if (rest.startsWith('rounds=')) {
    const m = /^rounds=(\d+)\$/.exec(rest);
    if (m === null) return undefined;
    rounds = Math.min(SHA_CRYPT_MAX_ROUNDS, Math.max(SHA_CRYPT_MIN_ROUNDS, Number(m[1])));
    roundsGiven = true;
    rest = rest.slice(m[0].length);
  }
  const end = rest.indexOf('$');
  const salt = (end < 0 ? rest : rest.slice(0, end)).slice(0, SHA_CRYPT_MAX_SALT);
  return { bits, rounds, roundsGiven, salt };
}

/** `$6$rounds=N$salt` (rounds= only when given). */
export function formatShaCryptSetting(s: ShaCryptSetting): string {
  return `$${s.bits === 512 ? 6 : 5}$${s.roundsGiven ? `rounds=${s.rounds}$` : ''}${s.salt}`;
}

/** The parts joined, as a Buffer (so the digests can write into views of it natively). */
function concat(parts: readonly Uint8Array[]): Buffer {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = Buffer.alloc(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** `len` bytes made of `block` repeated (the last copy cut short). */
function repeatTo(block: Uint8Array, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let off = 0; off < len; off += block.length) out.set(block.subarray(0, Math.min(block.length, len - off)), off);
  return out;
}

/**
 * crypt(3) for a `$5$`/`$6$` setting: the full hash string, or undefined when the setting is not one.
 * `password` is the exact byte string (crypt() in index.ts has refused a NUL, which crypt(3) could not see).
 */
export function shaCrypt(password: Uint8Array, setting: string, impl: ShaCryptImpl = 'auto'): string | undefined {
  const s = parseShaCryptSetting(setting);
  if (s === undefined) return undefined;
  const name = s.bits === 512 ? 'sha512' : 'sha256';
  const salt = Uint8Array.from(s.salt, (c) => c.charCodeAt(0)); // the caller checked: ASCII only
  const chosen = impl === 'auto' ? preferredShaCryptImpl() : impl;
  const sum =
    chosen === 'wasm-rounds'
      ? shaCryptDigestWasm(password, salt, s.rounds, s.bits)
      : shaCryptDigest(password, salt, s.rounds, DIGEST_SIZE[name], makeDigest(name, chosen));
  const out = `${formatShaCryptSetting(s)}$${encodeGroups(sum, s.bits === 512 ? GROUPS_512 : GROUPS_256)}`;
  sum.fill(0);
  return out;
}

/** How SHA-crypt is computed: a digest per round from JS, or the whole round loop in wasm. */
export type ShaCryptImpl = DigestImpl | 'wasm-rounds';

/** What 'auto' means on this runtime, decided at call time. */
export function preferredShaCryptImpl(): ShaCryptImpl {
  if ((globalThis as { Bun?: unknown }).Bun !== undefined) return 'bun';
  return hasWasm() ? 'wasm-rounds' : 'auto';
}

function hashOf(digest: Digest, n: number, data: Uint8Array): Uint8Array {
  const out = Buffer.alloc(n);
  digest(data, out);
  return out;
}

function shaCryptDigest(p: Uint8Array, s: Uint8Array, rounds: number, n: number, digest: Digest): Uint8Array {
  const wipe: Uint8Array[] = [];
  const keep = <T extends Uint8Array>(a: T): T => {
    wipe.push(a);
    return a;
  };
  // B = H(P S P); A = H(P S, B stretched to |P|, then per bit of |P|: B if 1, P if 0).
  const b = keep(hashOf(digest, n, keep(concat([p, s, p]))));
  const aParts: Uint8Array[] = [p, s, keep(repeatTo(b, p.length))];
  for (let len = p.length; len > 0; len >>>= 1) aParts.push(len & 1 ? b : p);
  const c = keep(hashOf(digest, n, keep(concat(aParts))));
  // P' = H(P repeated |P| times) stretched to |P|; S' = H(S repeated 16 + A[0] times) stretched to |S|.
  const dp = keep(hashOf(digest, n, keep(concat(new Array<Uint8Array>(p.length).fill(p)))));
  const pp = keep(repeatTo(dp, p.length));
  const ds = keep(hashOf(digest, n, keep(concat(new Array<Uint8Array>(16 + c[0]!).fill(s)))));
  const ss = keep(repeatTo(ds, s.length));

  // Round r hashes [P' or C] [S' if r%3] [P' if r%7] [C or P'] with C first on even rounds. The layout
  // repeats every 42 rounds, so build the 42 messages once; each round's digest is written straight
  // into the C slot of the next round's message.
  const templates: Buffer[] = [];
  const slots: Buffer[] = [];
  for (let r = 0; r < 42; r++) {
    const odd = (r & 1) === 1;
    const cSlot = new Uint8Array(n);
    const parts = [odd ? pp : cSlot];
    if (r % 3 !== 0) parts.push(ss);
    if (r % 7 !== 0) parts.push(pp);
    parts.push(odd ? cSlot : pp);
    const t = keep(concat(parts));
    const off = odd ? pp.length + (r % 3 !== 0 ? ss.length : 0) + (r % 7 !== 0 ? pp.length : 0) : 0;
    templates.push(t);
    slots.push(t.subarray(off, off + n));
  }
  slots[0]!.set(c);
  let k = 0;
  for (let r = 0; r < rounds; r++) {
    const next = k === 41 ? 0 : k + 1;
    digest(templates[k]!, slots[next]!);
    k = next;
  }
  c.set(slots[k]!);
  for (const a of wipe) if (a !== c) a.fill(0);
  return c;
}

/** `part` copied to mem at `off`; returns the offset after it. */
function put(mem: Uint8Array, part: Uint8Array, off: number): number {
  mem.set(part, off);
  return off + part.length;
}

/** The same digest as shaCryptDigest, with every hash and the whole round loop in one wasm instance. */
export function shaCryptDigestWasm(p: Uint8Array, s: Uint8Array, rounds: number, bits: ShaBits): Uint8Array {
  const x = new ShaMachine(bits);
  const { data, digestBytes: n, blockBytes, wordBytes, meta, h } = x.layout;
  const b = new Uint8Array(n);
  const c = new Uint8Array(n);
  const dp = new Uint8Array(n);
  const ds = new Uint8Array(n);
  const wipe: Uint8Array[] = [b, c, dp, ds];
  try {
    x.digest([p, s, p], b);
    const aParts = [p, s, repeatTo(b, p.length)];
    wipe.push(aParts[2]!);
    for (let len = p.length; len > 0; len >>>= 1) aParts.push(len & 1 ? b : p);
    x.digest(aParts, c);
    x.digest(new Array<Uint8Array>(p.length).fill(p), dp);
    x.digest(new Array<Uint8Array>(16 + c[0]!).fill(s), ds);
    const pp = repeatTo(dp, p.length);
    const ss = repeatTo(ds, s.length);
    wipe.push(pp, ss);

    // The 42 round messages, padded, with C's slot zero; the module writes C into it each round.
    let end = data;
    for (let r = 0; r < 42; r++) end += x.padded(n + (r % 3 !== 0 ? ss.length : 0) + (r % 7 !== 0 ? pp.length : 0) + pp.length);
    const mem = x.reserve(end);
    const table = new DataView(mem.buffer, meta, 42 * 16);
    let at = data;
    for (let r = 0; r < 42; r++) {
      const odd = (r & 1) === 1;
      let off = odd ? put(mem, pp, at) : at;
      const cAt = odd ? off + (r % 3 !== 0 ? ss.length : 0) + (r % 7 !== 0 ? pp.length : 0) : at;
      if (!odd) off = put(mem, c, off); // any bytes: the module overwrites the slot before each use
      if (r % 3 !== 0) off = put(mem, ss, off);
      if (r % 7 !== 0) off = put(mem, pp, off);
      off = put(mem, odd ? c : pp, off);
      const total = x.pad(at, off - at);
      const word = cAt - ((cAt - at) % wordBytes);
      table.setInt32(r * 16, at, true);
      table.setInt32(r * 16 + 4, total / blockBytes, true);
      table.setInt32(r * 16 + 8, word, true);
      table.setInt32(r * 16 + 12, (cAt - word) * 8, true);
      at += total;
    }
    x.bswap(data, (end - data) / wordBytes);
    mem.set(c, h);
    x.bswap(h, n / wordBytes);
    x.rounds(rounds);
    const out = new Uint8Array(n);
    x.readH(out);
    return out;
  } finally {
    for (const a of wipe) a.fill(0);
    x.wipe();
  }
}
