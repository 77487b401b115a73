// What kind of crypt(3) hash a stored password is, told from its prefix, and the input checks C's
// libc (libxcrypt) applies before hashing.

export type SchemeName = 'des' | 'bsdi-des' | 'md5-crypt' | 'sha256-crypt' | 'sha512-crypt' | 'bcrypt';

const PREFIXES: ReadonlyMap<string, SchemeName> = new Map([
  ['$1$', 'md5-crypt'],
  ['$5$', 'sha256-crypt'],
  ['$6$', 'sha512-crypt'],
  ['$2a$', 'bcrypt'],
  ['$2b$', 'bcrypt'],
  ['$2x$', 'bcrypt'],
  ['$2y$', 'bcrypt'],
]);

/**
 * vauth_crypt's prefix rule (spec/passwords.md §3.2): a hash starting with `{` that contains `}` loses
 * everything up to and including the first `}`, whatever the braces said (`{SHA512-CRYPT}$6$…`).
 */
export function stripSchemePrefix(stored: string): string {
  if (!stored.startsWith('{')) return stored;
  const end = stored.indexOf('}');
  return end < 0 ? stored : stored.slice(end + 1);
}

/** The scheme of a stored hash (after any `{SCHEME}` prefix), or undefined when we cannot verify it. */
export function schemeOf(hash: string): SchemeName | undefined {
  const h = stripSchemePrefix(hash);
  if (/^[./0-9A-Za-z]{13}$/.test(h)) return 'des';
  if (/^_[./0-9A-Za-z]{19}$/.test(h)) return 'bsdi-des';
  return PREFIXES.get(h.slice(0, h.indexOf('$', 1) + 1));
}

/** DES (8 bytes of password count) and MD5-crypt: worth re-hashing after a good login, if configured. */
export function isWeakHash(hash: string): boolean {
  const s = schemeOf(hash);
  return s === 'des' || s === 'bsdi-des' || s === 'md5-crypt';
}

/**
 * libxcrypt refuses a setting holding anything but printable ASCII, or one of `! * : ; \` (they mark
 * locked accounts and field separators). Checked on the whole stored string: our output never holds
 * them, so such a string could not match anyway.
 */
export function isValidSetting(setting: string): boolean {
  for (let i = 0; i < setting.length; i++) {
    const c = setting.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x21 || c === 0x2a || c === 0x3a || c === 0x3b || c === 0x5c) return false;
  }
  return true;
}
