// verifyPassword and crypt(): prefixes, wrong passwords, the byte rules of each scheme, and garbage.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { VA, VpopmailError } from '../../lib/exit.ts';
import { crypt, hashPassword, MAX_PASSWORD_BYTES, verifyPassword } from '../../lib/crypt/index.ts';
import { parseShaCryptSetting } from '../../lib/crypt/sha-crypt.ts';

// Made by libxcrypt (mkpasswd / Python crypt) for the password "password".
const REFERENCE: Readonly<Record<string, string>> = {
  des: 'abJnggxhB/yWI',
  'bsdi-des': '_J9..CCCC.MOp/ZbelpA',
  'md5-crypt': '$1$abcdefgh$G//4keteveJp0qb8z2DxG/',
  'sha256-crypt': '$5$rounds=2000$xy$DHehcrJkc2nh0kjfLxABNtT/5raQV60H80A1oo9Pjq8',
  'sha512-crypt': '$6$rounds=1000$abc$vw5PRczzmm7dyJhZWNpaLcy/M.HywGlo.UsELxKYV/ZI4356.iT3zYgbwHVzPSnvkT2lVlMoWMoJdUSLcmUNg.',
  'bcrypt-2a': '$2a$05$CCCCCCCCCCCCCCCCCCCCC.aDV7CQarKHMuNfh2oJkFzsHZya4whFe',
  'bcrypt-2b': '$2b$05$CCCCCCCCCCCCCCCCCCCCCej4u/wymnCeZpF.2Hcb0tTz2WECoWAkC',
  'bcrypt-2x': '$2x$05$CCCCCCCCCCCCCCCCCCCCC.aDV7CQarKHMuNfh2oJkFzsHZya4whFe',
};

for (const [scheme, hash] of Object.entries(REFERENCE)) {
  test(`a ${scheme} hash verifies its password and refuses others`, (t) => {
    t.true(verifyPassword('password', hash));
    t.false(verifyPassword('Password', hash));
    t.false(verifyPassword('passwor', hash));
    t.false(verifyPassword('', hash));
  });
}

test('a string password is UTF-8 encoded, the same as passing its bytes', (t) => {
  const h = crypt('pässwörd', '$6$saltsalt')!;
  t.true(verifyPassword(Buffer.from('pässwörd', 'utf8'), h));
  t.false(verifyPassword(Buffer.from('pässwörd', 'latin1'), h));
});

test('a {SCHEME} prefix is stripped up to the first }, whatever it names', (t) => {
  const six = REFERENCE['sha512-crypt']!;
  t.true(verifyPassword('password', `{SHA512-CRYPT}${six}`));
  t.true(verifyPassword('password', `{MD5-CRYPT}${REFERENCE['md5-crypt']}`));
  t.true(verifyPassword('password', `{CRYPT}${REFERENCE.des}`));
  t.true(verifyPassword('password', `{PLAIN}${six}`), 'C ignores what the braces say');
  t.true(verifyPassword('password', `{}${six}`));
  t.false(verifyPassword('password', `{A}{B}${six}`), 'only the first } ends the prefix');
  t.false(verifyPassword('password', `{SHA512-CRYPT${six}`), 'no } means no prefix');
  t.false(verifyPassword('password', ` {CRYPT}${six}`), 'the prefix must come first');
});

test('non-crypt schemes behind a prefix never verify, not even with the text they hold', (t) => {
  t.false(verifyPassword('password', '{PLAIN}password'));
  t.false(verifyPassword('secret', '{CLEARTEXT}secret'));
  t.false(verifyPassword('password', '{MD5}X03MO1qnZdYdgyfeuILPmQ=='));
  t.false(verifyPassword('password', '{SSHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g='));
  t.false(verifyPassword('password', 'password'));
});

test('schemes we do not implement are "cannot verify": crypt() is undefined and verification false', (t) => {
  for (const h of [
    '$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7',
    '$7$CU..../....$abc',
    '$gy$j9T$abc$def',
    '$3$$8846f7eaee8fb117ad06bdd830b7586c',
    '$apr1$abcdefgh$Jm7ZMQfgfzTeVV0xJw4pq.',
    '$md5$rounds=904$abc$def',
    '$sha1$40000$abc$def',
    '$9$abc',
  ]) {
    t.is(crypt('password', h), undefined, h.slice(0, 6));
    t.false(verifyPassword('password', h));
  }
});

test('an empty or prefix-only stored hash never verifies, not even an empty password', (t) => {
  t.false(verifyPassword('', ''));
  t.false(verifyPassword('x', ''));
  t.false(verifyPassword('', '{CRYPT}'));
});

test('an empty password verifies against a hash of the empty password (vchkpw refuses it earlier)', (t) => {
  t.true(verifyPassword('', '$6$abc$mJP3a6FyA8uCnzRtlnNypPwjnvpi5TP9qOrInzrfDmwxUQG38PkpCPdqfTb8JQfAngapMxeim4AZ..hSdRRzD.'));
  t.true(verifyPassword('', 'abmF1QH4PEr.E'));
  t.true(verifyPassword('', '$2b$04$CCCCCCCCCCCCCCCCCCCCC.Cg0ly9t/KVBCBYYDfOmZKwry9JuXClC'));
});

test('a stored hash with extra or missing characters fails without throwing', (t) => {
  for (const h of Object.values(REFERENCE)) {
    t.false(verifyPassword('password', `${h}x`));
    t.false(verifyPassword('password', h.slice(0, -1)));
    t.false(verifyPassword('password', `${h}\n`));
  }
});

test('DES counts the first 8 bytes only and drops the top bit of each', (t) => {
  const h = crypt('abcdefgh', 'ab')!;
  t.true(verifyPassword('abcdefghIGNORED', h));
  t.false(verifyPassword('abcdefgX', h));
  // é is C3 A9 in UTF-8: without their top bits those are 'C' and ')'.
  t.is(crypt('pwé', 'ab'), crypt('pwC)', 'ab'));
  t.is(crypt('pw', 'ab'), 'abzlUXK5ed5rs');
});

test('BSDi DES counts every byte, folding in 8 at a time', (t) => {
  const h = crypt('abcdefghijklmnop', '_J9..CCCC')!;
  t.false(verifyPassword('abcdefghijklmnoq', h));
  t.false(verifyPassword('abcdefgh', h));
  t.true(verifyPassword('abcdefghijklmnop', h));
});

test('bcrypt counts 72 bytes; $2b$ and $2y$ are one hash; $2x$ differs only for 8-bit passwords', (t) => {
  const long = 'k'.repeat(72);
  const h = crypt(long, '$2b$04$CCCCCCCCCCCCCCCCCCCCC.')!;
  t.true(verifyPassword(`${long}anything`, h));
  t.false(verifyPassword(long.slice(0, 71), h));
  const body = (s: string) => s.slice(7);
  t.is(body(crypt('pw', '$2y$04$CCCCCCCCCCCCCCCCCCCCC.')!), body(crypt('pw', '$2b$04$CCCCCCCCCCCCCCCCCCCCC.')!));
  t.is(body(crypt('pw', '$2x$04$CCCCCCCCCCCCCCCCCCCCC.')!), body(crypt('pw', '$2b$04$CCCCCCCCCCCCCCCCCCCCC.')!));
  t.not(body(crypt('pwé', '$2x$04$CCCCCCCCCCCCCCCCCCCCC.')!), body(crypt('pwé', '$2b$04$CCCCCCCCCCCCCCCCCCCCC.')!));
});

test('bcrypt: a salt whose last character is not canonical, a cost outside 04..31 or a short salt cannot verify', (t) => {
  t.is(crypt('pw', '$2b$05$CCCCCCCCCCCCCCCCCCCCCf'), '$2b$05$CCCCCCCCCCCCCCCCCCCCCebHlxK1dyumFJzYwEIaF2AxAGCJEHUi2');
  t.false(verifyPassword('pw', '$2b$05$CCCCCCCCCCCCCCCCCCCCCfbHlxK1dyumFJzYwEIaF2AxAGCJEHUi2'));
  t.is(crypt('pw', '$2b$03$CCCCCCCCCCCCCCCCCCCCC.'), undefined);
  t.is(crypt('pw', '$2b$32$CCCCCCCCCCCCCCCCCCCCC.'), undefined);
  t.is(crypt('pw', '$2b$5$CCCCCCCCCCCCCCCCCCCCCC'), undefined);
  t.is(crypt('pw', '$2b$05$CCCCCCCCCCCCCCCCCCCCC'), undefined);
  t.is(crypt('pw', '$2c$05$CCCCCCCCCCCCCCCCCCCCC.'), undefined);
});

test('SHA-crypt rounds are clamped as glibc does, so a hash naming an out-of-range count never verifies', (t) => {
  const clamped = crypt('pw', '$6$rounds=10$salt')!;
  t.true(clamped.startsWith('$6$rounds=1000$salt$'));
  t.true(verifyPassword('pw', clamped));
  t.false(verifyPassword('pw', clamped.replace('rounds=1000', 'rounds=10')));
  t.false(verifyPassword('pw', clamped.replace('rounds=1000', 'rounds=01000')));
  // The top clamp through the parser: running 999999999 rounds would take minutes.
  t.is(parseShaCryptSetting('$5$rounds=1000000000000$salt')?.rounds, 999_999_999);
  t.is(parseShaCryptSetting('$5$rounds=999999999$salt')?.rounds, 999_999_999);
  t.is(crypt('pw', '$6$rounds=$salt'), undefined);
  t.is(crypt('pw', '$6$rounds=12x$salt'), undefined);
  t.is(crypt('pw', '$6$rounds=5000'), undefined);
  // An explicit default is repeated in the output, so it is not the same string as no rounds=.
  t.true(crypt('pw', '$6$rounds=5000$salt')!.startsWith('$6$rounds=5000$salt$'));
  t.is(crypt('pw', '$6$rounds=5000$salt')!.slice(-86), crypt('pw', '$6$salt')!.slice(-86));
});

test('salts stop at $ and are cut to 16 (SHA) or 8 (MD5) characters', (t) => {
  t.true(crypt('pw', '$6$abcdefghijklmnopqrstu$')!.startsWith('$6$abcdefghijklmnop$'));
  t.true(crypt('pw', '$1$abcdefghij$')!.startsWith('$1$abcdefgh$'));
  t.true(crypt('pw', '$6$$')!.startsWith('$6$$'));
  t.is(crypt('pw', '$6$a$b$c'), crypt('pw', '$6$a'));
});

test('settings with characters libxcrypt refuses cannot verify', (t) => {
  for (const bad of ['$6$ab:c$', '$6$ab c$', '$6$ab*c$', '$6$ab!c$', '$6$ab;c$', '$6$ab\\c$', '$6$abé$', '$1$a\tb$', 'a!', '*', '!', '!!', 'a', '_J9..CC$C']) {
    t.is(crypt('pw', bad), undefined, JSON.stringify(bad));
    t.false(verifyPassword('pw', bad));
  }
});

test('a password with a NUL byte or more than 511 bytes cannot be hashed or verified, as in libxcrypt', (t) => {
  const max = 'a'.repeat(MAX_PASSWORD_BYTES);
  const h = hashPassword(max, 'md5');
  t.true(verifyPassword(max, h));
  t.false(verifyPassword(`${max}a`, crypt(`${max}`, '$1$abc')!));
  t.is(crypt(`${max}a`, '$1$abc'), undefined);
  t.is(crypt('a\0b', '$1$abc'), undefined);
  t.false(verifyPassword('a\0b', crypt('a', '$1$abc')!));
  const refused = t.throws(() => hashPassword('a\0b'), { instanceOf: VpopmailError });
  t.is((refused as VpopmailError).code, VA.CRYPT_FAILED);
  t.throws(() => hashPassword('é'.repeat(256)), { instanceOf: VpopmailError }, '512 bytes in UTF-8');
});

/** Random garbage shaped like hashes; costs kept small so a hostile-looking case stays quick. */
function garbage(): string {
  const b = randomBytes(64);
  const heads = ['', '$', '$1$', '$5$', '$6$', '$6$rounds=', '$5$rounds=1', '$2a$', '$2b$04$', '$2y$0', '$2x$', '_', '_.', '{', '{X}', '{CRYPT}$6$', '$y$', '$apr1$'];
  const head = heads[b[0]! % heads.length]!;
  const len = b[1]! % 60;
  let body = '';
  for (let i = 0; i < len; i++) {
    const r = b[2 + (i % 60)]! ^ (i * 31);
    body += r % 5 === 0 ? String.fromCharCode(r) : r % 7 === 0 ? '$' : r % 11 === 0 ? String.fromCodePoint(0x1f511) : './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'[r % 64]!;
  }
  return head + body;
}

function isExpensive(h: string): boolean {
  const s = h.replace(/^\{[^}]*\}/, '');
  if (/^\$[56]\$rounds=\d{5,}/.test(s)) return true;
  if (/^\$2[abxy]\$(0[7-9]|[1-3]\d)\$/.test(s)) return true;
  return /^_[./0-9A-Za-z]{2}[^.]/.test(s) || /^_[./0-9A-Za-z]{3}[^.]/.test(s); // BSDi count ≥ 4096
}

test('a thousand garbage hashes with garbage passwords never throw and never verify', (t) => {
  let tried = 0;
  while (tried < 1000) {
    const h = garbage();
    if (isExpensive(h)) continue;
    tried++;
    const pw = randomBytes(randomBytes(1)[0]! % 40);
    t.notThrows(() => crypt(pw, h));
    t.false(verifyPassword(pw, h));
  }
});
