// schemeOf and isWeakHash: telling a stored hash's scheme from its prefix.
import test from 'ava';
import { isWeakHash, schemeOf, stripSchemePrefix } from '../../lib/crypt/index.ts';

test('schemeOf names each scheme we verify, through a {SCHEME} prefix too', (t) => {
  t.is(schemeOf('abJnggxhB/yWI'), 'des');
  t.is(schemeOf('{CRYPT}abJnggxhB/yWI'), 'des');
  t.is(schemeOf('_J9..CCCC.MOp/ZbelpA'), 'bsdi-des');
  t.is(schemeOf('$1$Gold3nSa$SCZGo/u1MpOW7fVg02r6g.'), 'md5-crypt');
  t.is(schemeOf('$5$xy$DHehcrJkc2nh0kjfLxABNtT'), 'sha256-crypt');
  t.is(schemeOf('$6$Gold3nSa$tgzf'), 'sha512-crypt');
  t.is(schemeOf('{SHA512-CRYPT}$6$rounds=9000$abc$def'), 'sha512-crypt');
  for (const v of 'abxy') t.is(schemeOf(`$2${v}$10$CCCCCCCCCCCCCCCCCCCCC.`), 'bcrypt');
});

test('schemeOf is undefined for what we cannot verify', (t) => {
  for (const h of ['', 'abc', 'abJnggxhB/yW', 'abJnggxhB/yWI!', '$y$j9T$a$b', '$7$abc', '$apr1$abc$def', '$2c$10$abc', '$2$', '$', '$$', '{PLAIN}pw', '*', '!$6$abc$def', '_J9..CCCC']) {
    t.is(schemeOf(h), undefined, JSON.stringify(h));
  }
});

test('isWeakHash marks DES, BSDi DES and MD5-crypt for upgrade, and nothing else', (t) => {
  t.true(isWeakHash('abJnggxhB/yWI'));
  t.true(isWeakHash('_J9..CCCC.MOp/ZbelpA'));
  t.true(isWeakHash('{MD5-CRYPT}$1$Gold3nSa$SCZGo/u1MpOW7fVg02r6g.'));
  t.false(isWeakHash('$5$xy$DHehcrJkc2nh0kjfLxABNtT'));
  t.false(isWeakHash('$6$Gold3nSa$tgzf'));
  t.false(isWeakHash('$2b$10$CCCCCCCCCCCCCCCCCCCCC.'));
  t.false(isWeakHash('$y$j9T$a$b'), 'an unknown scheme cannot be upgraded: it never verifies');
  t.false(isWeakHash(''));
});

test('stripSchemePrefix drops up to the first } only when the hash starts with {', (t) => {
  t.is(stripSchemePrefix('{SHA512-CRYPT}$6$a$b'), '$6$a$b');
  t.is(stripSchemePrefix('{a}b}c'), 'b}c');
  t.is(stripSchemePrefix('{abc'), '{abc');
  t.is(stripSchemePrefix('x{a}b'), 'x{a}b');
  t.is(stripSchemePrefix('{}'), '');
});
