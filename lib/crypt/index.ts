// crypt(3) in TypeScript: verify every hash C vpopmail's libc verified (DES, BSDi DES, $1$, $5$, $6$,
// bcrypt) and make new ones. Passwords are bytes: a string is UTF-8 encoded first.
import type { HashScheme } from '../config.ts';
import { VA, VpopmailError } from '../exit.ts';
import { bcryptCrypt, BCRYPT_DEFAULT_COST } from './bcrypt.ts';
import { constantTimeEqual } from './challenge.ts';
import { encodeBcrypt64 } from './crypt64.ts';
import { bsdiCrypt, desCrypt } from './des-crypt.ts';
import { md5Crypt } from './md5-crypt.ts';
import { defaultRandom, randomSalt, type RandomSource } from './random.ts';
import { isValidSetting, stripSchemePrefix } from './scheme.ts';
import { shaCrypt } from './sha-crypt.ts';

export { apopDigest, cramMd5Response, verifyApop, verifyCramMd5 } from './challenge.ts';
export { randomPassword, randomSalt, RANDOM_PASSWORD_ALPHABET, RANDOM_PASSWORD_DEFAULT_LENGTH, RANDOM_PASSWORD_MAX_LENGTH, type RandomSource } from './random.ts';
export { isWeakHash, schemeOf, stripSchemePrefix, type SchemeName } from './scheme.ts';

/** libxcrypt's CRYPT_MAX_PASSPHRASE_SIZE: a passphrase of 512 bytes or more is refused. */
export const MAX_PASSWORD_BYTES = 511;

/**
 * The bytes crypt(3) would see, or undefined when it could not see them: a NUL cannot be inside a C
 * string, and libxcrypt refuses more than 511 bytes.
 */
function passwordBytes(password: string | Uint8Array): Uint8Array | undefined {
  const b = typeof password === 'string' ? Buffer.from(password, 'utf8') : password;
  if (b.length > MAX_PASSWORD_BYTES || b.includes(0)) return undefined;
  return b;
}

/**
 * crypt(3): hash `password` with the scheme, salt and cost that `setting` names (a setting or a whole
 * stored hash). Undefined where libxcrypt would fail (`*0`): unknown scheme, bad salt, bad cost.
 */
export function crypt(password: string | Uint8Array, setting: string): string | undefined {
  const p = passwordBytes(password);
  if (p === undefined || !isValidSetting(setting)) return undefined;
  if (setting.startsWith('$6$') || setting.startsWith('$5$')) return shaCrypt(p, setting);
  if (setting.startsWith('$1$')) return md5Crypt(p, setting);
  if (setting.startsWith('$2')) return bcryptCrypt(p, setting);
  if (setting.startsWith('_')) return bsdiCrypt(p, setting);
  if (setting.startsWith('$')) return undefined; // $y$, $7$, $apr1$, $md5, ...: not ours to verify
  return desCrypt(p, setting);
}

/**
 * vauth_crypt: strip a `{SCHEME}` prefix, crypt the candidate with the stored hash as setting, and
 * compare the whole result with the stored string in constant time. Anything we cannot verify
 * (unknown scheme, malformed, empty) is false.
 */
export function verifyPassword(password: string | Uint8Array, stored: string): boolean {
  const hash = stripSchemePrefix(stored);
  if (hash === '') return false;
  const computed = crypt(password, hash);
  return computed !== undefined && constantTimeEqual(computed, hash);
}

/**
 * A new hash with a fresh CSPRNG salt: `$6$` + 16 salt characters (default), `$5$` + 16, `$1$` + 8,
 * or `$2b$10$`. C made `$6$` with 8 weak salt characters. Throws VA_CRYPT_FAILED for a password
 * crypt(3) cannot take (a NUL byte, more than 511 bytes).
 */
export function hashPassword(password: string | Uint8Array, scheme: HashScheme = 'sha512', random: RandomSource = defaultRandom): string {
  const out = crypt(password, newSetting(scheme, random));
  if (out === undefined) throw new VpopmailError(VA.CRYPT_FAILED);
  return out;
}

/** A fresh setting string (scheme, salt, default cost) for `scheme`. */
export function newSetting(scheme: HashScheme, random: RandomSource = defaultRandom): string {
  switch (scheme) {
    case 'sha512':
      return `$6$${randomSalt(16, random)}`;
    case 'sha256':
      return `$5$${randomSalt(16, random)}`;
    case 'md5':
      return `$1$${randomSalt(8, random)}`;
    case 'bcrypt':
      return `$2b$${BCRYPT_DEFAULT_COST}$${encodeBcrypt64(random(16), 16)}`;
  }
}
