// MD5-crypt ($1$), Poul-Henning Kamp's FreeBSD scheme (1994) as glibc and libxcrypt implement it:
// salt of up to 8 characters, 1000 rounds, 22-character digest.
import { encodeGroups } from './crypt64.ts';
import { makeDigest, type Digest, type DigestImpl } from './digest.ts';

export const MD5_CRYPT_MAX_SALT = 8;

const MAGIC = Uint8Array.of(0x24, 0x31, 0x24); // "$1$"

// Digest bytes per output group (the scheme's fixed order); the last group has one byte, 2 chars.
const GROUPS: readonly (readonly number[])[] = [[0, 6, 12], [1, 7, 13], [2, 8, 14], [3, 9, 15], [4, 10, 5], [11]];

/** The salt of a `$1$salt[$...]` setting (cut at `$`, at most 8 characters), or undefined. */
export function parseMd5CryptSalt(setting: string): string | undefined {
  if (!setting.startsWith('$1$')) return undefined;
  const rest = setting.slice(3);
  const end = rest.indexOf('$');
  return (end < 0 ? rest : rest.slice(0, end)).slice(0, MD5_CRYPT_MAX_SALT);
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

/** crypt(3) for a `$1$` setting: the full hash string, or undefined when the setting is not one. */
export function md5Crypt(password: Uint8Array, setting: string, impl: DigestImpl = 'auto'): string | undefined {
  const saltText = parseMd5CryptSalt(setting);
  if (saltText === undefined) return undefined;
  const digest = makeDigest('md5', impl);
  const salt = Uint8Array.from(saltText, (c) => c.charCodeAt(0)); // the caller checked: ASCII only
  const sum = md5CryptDigest(password, salt, digest);
  const out = `$1$${saltText}$${encodeGroups(sum, GROUPS)}`;
  sum.fill(0);
  return out;
}

function md5CryptDigest(p: Uint8Array, s: Uint8Array, digest: Digest): Uint8Array {
  const wipe: Uint8Array[] = [];
  const keep = <T extends Uint8Array>(a: T): T => {
    wipe.push(a);
    return a;
  };
  const alt = Buffer.alloc(16);
  wipe.push(alt);
  digest(keep(concat([p, s, p])), alt);
  // P "$1$" S, then |P| bytes of alt, then per bit of |P| (lowest first) a NUL byte for 1, P[0] for 0.
  const parts: Uint8Array[] = [p, MAGIC, s];
  for (let len = p.length; len > 0; len -= 16) parts.push(alt.subarray(0, Math.min(16, len)));
  const zero = Uint8Array.of(0);
  const first = p.subarray(0, 1);
  for (let len = p.length; len > 0; len >>>= 1) parts.push(len & 1 ? zero : first);
  const c = Buffer.alloc(16);
  digest(keep(concat(parts)), c);

  // Round r hashes [P or C] [S if r%3] [P if r%7] [C or P], C first on even rounds: 42 layouts, each
  // round's digest written straight into the C slot of the next round's message.
  const templates: Buffer[] = [];
  const slots: Buffer[] = [];
  const cSlot = new Uint8Array(16);
  for (let r = 0; r < 42; r++) {
    const odd = (r & 1) === 1;
    const layout = [odd ? p : cSlot];
    if (r % 3 !== 0) layout.push(s);
    if (r % 7 !== 0) layout.push(p);
    layout.push(odd ? cSlot : p);
    const t = keep(concat(layout));
    const off = odd ? p.length + (r % 3 !== 0 ? s.length : 0) + (r % 7 !== 0 ? p.length : 0) : 0;
    templates.push(t);
    slots.push(t.subarray(off, off + 16));
  }
  slots[0]!.set(c);
  let k = 0;
  for (let r = 0; r < 1000; r++) {
    const next = k === 41 ? 0 : k + 1;
    digest(templates[k]!, slots[next]!);
    k = next;
  }
  c.set(slots[k]!);
  for (const a of wipe) a.fill(0);
  return c;
}
