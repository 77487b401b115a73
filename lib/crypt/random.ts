// Salts and random passwords from a CSPRNG (C used rand() seeded with time and pid: spec/passwords.md
// §8.1). The source is injectable so tests can fix it.
import { VA, VpopmailError } from '../exit.ts';
import { CRYPT64 } from './crypt64.ts';
import { nodeCrypto } from './node-crypto.ts';

/** n random bytes. */
export type RandomSource = (n: number) => Uint8Array;

export const defaultRandom: RandomSource = (n) => nodeCrypto().randomBytes(n);

/** C's alphabet for `-r[len]` passwords (spec/passwords.md §3.5), 68 characters. */
export const RANDOM_PASSWORD_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.@!#%*';
export const RANDOM_PASSWORD_DEFAULT_LENGTH = 12;
export const RANDOM_PASSWORD_MAX_LENGTH = 128;

/**
 * `length` characters drawn uniformly from an alphabet of at most 256: bytes at or above the largest
 * multiple of the alphabet size are thrown away, so `byte % size` has no modulo bias.
 */
export function randomString(alphabet: string, length: number, random: RandomSource = defaultRandom): string {
  const size = alphabet.length;
  const limit = 256 - (256 % size);
  let out = '';
  while (out.length < length) {
    const bytes = random(Math.max(16, (length - out.length) * 2));
    for (let i = 0; i < bytes.length && out.length < length; i++) {
      const b = bytes[i]!;
      if (b < limit) out += alphabet[b % size];
    }
  }
  return out;
}

/** A crypt salt of `length` characters from `./0-9A-Za-z`. */
export function randomSalt(length: number, random: RandomSource = defaultRandom): string {
  return randomString(CRYPT64, length, random);
}

/**
 * A random password as the `-r[len]` options make one: default 12 characters, longer than 128 is
 * VA_PASSWD_TOO_LONG as in C. A length below 1 or not an integer is a programming error (RangeError).
 */
export function randomPassword(length: number = RANDOM_PASSWORD_DEFAULT_LENGTH, random: RandomSource = defaultRandom): string {
  if (!Number.isInteger(length) || length < 1) throw new RangeError(`randomPassword: length must be a positive integer, got ${length}`);
  if (length > RANDOM_PASSWORD_MAX_LENGTH) throw new VpopmailError(VA.PASSWD_TOO_LONG);
  return randomString(RANDOM_PASSWORD_ALPHABET, length, random);
}
