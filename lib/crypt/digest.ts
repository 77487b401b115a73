// One-shot digests for the crypt round loops (5000 SHA-512 calls per $6$ login), picked per runtime
// at call time. Measured in scripts/bench/crypt.bench.ts: on Node 24 crypto.hash() with a latin1 string
// result is fastest (a Buffer result costs an allocation per call, createHash() an object); on Bun,
// Bun.SHA512.hash() writing into our own array is fastest. The pure-TS SHA-512 is the fallback.
// vchkpw verifies once per process, so the cold (not yet compiled) cost counts as much as the warm one.
import { nodeCrypto } from './node-crypto.ts';
import { newSha512Work, reserveSha512, sha512Padded } from './sha512.ts';
import { hasWasm, ShaMachine } from './sha-wasm.ts';

export type DigestName = 'sha512' | 'sha256' | 'md5';

/**
 * Write the digest of all of `data` into `out` (exactly the digest size; a Buffer, so a view into the
 * next round's message can be written natively). `data` and `out` must not overlap.
 */
export type Digest = (data: Uint8Array, out: Buffer) => void;

/** How a digest is computed; 'auto' picks the fastest the current runtime offers. */
export type DigestImpl = 'auto' | 'bun' | 'node-hash' | 'node-create-hash' | 'wasm' | 'pure-ts';

export const DIGEST_SIZE: Readonly<Record<DigestName, number>> = { sha512: 64, sha256: 32, md5: 16 };

interface BunHasher {
  hash(data: Uint8Array, into: Uint8Array): Uint8Array;
}
interface BunGlobal {
  SHA512: BunHasher;
  SHA256: BunHasher;
  MD5: BunHasher;
}

type HashFn = (algorithm: string, data: Uint8Array, outputEncoding: 'latin1') => string;

function bunGlobal(): BunGlobal | undefined {
  return (globalThis as { Bun?: BunGlobal }).Bun;
}

function nodeHash(): HashFn | undefined {
  const fn = (nodeCrypto() as { hash?: unknown }).hash;
  return typeof fn === 'function' ? (fn as HashFn) : undefined;
}

/** The implementations the current runtime offers, fastest first. */
export function availableDigestImpls(name: DigestName): DigestImpl[] {
  const out: DigestImpl[] = [];
  if (bunGlobal() !== undefined) out.push('bun');
  if (nodeHash() !== undefined) out.push('node-hash');
  out.push('node-create-hash');
  if (name !== 'md5' && hasWasm()) out.push('wasm');
  if (name === 'sha512') out.push('pure-ts');
  return out;
}

/** A digest function; throws for an implementation the runtime lacks. Decided now, not at import. */
export function makeDigest(name: DigestName, impl: DigestImpl = 'auto'): Digest {
  const chosen = impl === 'auto' ? availableDigestImpls(name)[0]! : impl;
  switch (chosen) {
    case 'bun': {
      const bun = bunGlobal();
      if (bun === undefined) throw new Error('digest: Bun is not the current runtime');
      const hasher = name === 'sha512' ? bun.SHA512 : name === 'sha256' ? bun.SHA256 : bun.MD5;
      return (data, out) => {
        hasher.hash(data, out);
      };
    }
    case 'node-hash': {
      const hash = nodeHash();
      if (hash === undefined) throw new Error('digest: crypto.hash() is missing');
      // A latin1 string result maps each digest byte to one char code and costs no Buffer allocation;
      // Buffer#write copies it natively (a JS byte loop is twice as slow before the JIT warms up).
      return (data, out) => {
        out.write(hash(name, data, 'latin1'), 0, out.length, 'latin1');
      };
    }
    case 'node-create-hash': {
      const { createHash } = nodeCrypto();
      return (data, out) => {
        out.set(createHash(name).update(data).digest());
      };
    }
    case 'wasm': {
      if (name === 'md5') throw new Error('digest: no wasm md5');
      // Our SHA-2 compression in wasm, one call per message; the message is wiped after each.
      const machine = new ShaMachine(name === 'sha512' ? 512 : 256);
      return (data, out) => {
        machine.digest([data], out);
        machine.wipe();
      };
    }
    case 'pure-ts': {
      if (name !== 'sha512') throw new Error(`digest: no pure-TS ${name}`);
      const work = newSha512Work();
      return (data, out) => {
        reserveSha512(work, data.length);
        work.buf.set(data);
        sha512Padded(work, data.length, out);
      };
    }
    default:
      throw new Error(`digest: unknown implementation ${String(chosen)}`);
  }
}
