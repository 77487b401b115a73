// Random passwords and salts: C's alphabet and lengths, from the injected source, without modulo bias;
// hashPassword's formats.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { VA, VpopmailError } from '../../lib/exit.ts';
import { hashPassword, newSetting, RANDOM_PASSWORD_ALPHABET, randomPassword, randomSalt, schemeOf, verifyPassword, type RandomSource } from '../../lib/crypt/index.ts';

/** A seeded byte source (xorshift32), so counts are the same every run. */
function seeded(seed: number): RandomSource {
  let x = seed >>> 0 || 1;
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      out[i] = x >>> 24;
    }
    return out;
  };
}

/** A source that replays fixed bytes, then zeros. */
function replay(bytes: readonly number[]): RandomSource {
  let i = 0;
  return (n) => Uint8Array.from({ length: n }, () => (i < bytes.length ? bytes[i++]! : 0));
}

test("the alphabet is C's 68 characters", (t) => {
  t.is(RANDOM_PASSWORD_ALPHABET, 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.@!#%*');
  t.is(new Set(RANDOM_PASSWORD_ALPHABET).size, 68);
});

test('a random password is 12 characters by default, up to 128, all from the alphabet', (t) => {
  t.is(randomPassword().length, 12);
  t.is(randomPassword(1).length, 1);
  const long = randomPassword(128);
  t.is(long.length, 128);
  t.true([...long].every((c) => RANDOM_PASSWORD_ALPHABET.includes(c)));
  t.not(randomPassword(), randomPassword(), 'two draws from the CSPRNG differ');
});

test('more than 128 characters is VA_PASSWD_TOO_LONG; a length below 1 is a RangeError', (t) => {
  const err = t.throws(() => randomPassword(129), { instanceOf: VpopmailError });
  t.is((err as VpopmailError).code, VA.PASSWD_TOO_LONG);
  t.is(err?.message, 'password too long (max=128)');
  t.throws(() => randomPassword(0), { instanceOf: RangeError });
  t.throws(() => randomPassword(2.5), { instanceOf: RangeError });
});

test('bytes at or above 204 (3 x 68) are skipped, the rest taken modulo 68', (t) => {
  t.is(randomPassword(4, replay([255, 204, 0, 203, 134, 68])), 'a*%a');
});

test('characters come out uniformly: no modulo bias over 68 000 draws', (t) => {
  const text = randomPassword(128, seeded(12345)) + Array.from({ length: 530 }, (_, i) => randomPassword(128, seeded(i + 1))).join('');
  const counts = new Map<string, number>();
  for (const c of text) counts.set(c, (counts.get(c) ?? 0) + 1);
  const expected = text.length / 68;
  let chi2 = 0;
  for (const c of RANDOM_PASSWORD_ALPHABET) chi2 += ((counts.get(c) ?? 0) - expected) ** 2 / expected;
  // 67 degrees of freedom: p = 1e-6 is about 140. A plain byte % 68 scores in the hundreds here.
  t.true(chi2 < 140, `chi-square ${chi2.toFixed(1)}`);
});

test('salts use ./0-9A-Za-z and take one byte per character', (t) => {
  t.is(randomSalt(4, replay([0, 1, 63, 64])), './z.');
  t.regex(randomSalt(16), /^[./0-9A-Za-z]{16}$/);
});

test('hashPassword makes $6$ with a 16-character salt by default, and $5$, $1$, $2b$10$ on request', (t) => {
  const six = hashPassword('pw');
  t.regex(six, /^\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/);
  t.regex(hashPassword('pw', 'sha256'), /^\$5\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{43}$/);
  t.regex(hashPassword('pw', 'md5'), /^\$1\$[./0-9A-Za-z]{8}\$[./0-9A-Za-z]{22}$/);
  t.regex(newSetting('bcrypt'), /^\$2b\$10\$[./A-Za-z0-9]{22}$/);
  t.is(schemeOf(six), 'sha512-crypt');
  t.true(verifyPassword('pw', six));
  t.not(hashPassword('pw'), six, 'a fresh salt each time');
});

test('hashPassword with bcrypt makes a cost-10 $2b$ hash that verifies', (t) => {
  const h = hashPassword('pw', 'bcrypt', replay(new Array(16).fill(0)));
  t.is(h.slice(0, 29), '$2b$10$......................');
  t.true(verifyPassword('pw', h));
});

test('hashPassword takes its salt from the given source, giving what openssl gives for that salt', (t) => {
  const salt = '................';
  const ours = hashPassword('pw', 'sha512', replay(new Array(16).fill(0)));
  const theirs = spawnSync('openssl', ['passwd', '-6', '-salt', salt, '-stdin'], { input: 'pw\n', encoding: 'utf8' }).stdout.trim();
  t.is(ours, theirs);
  const md5 = hashPassword('pw', 'md5', replay([1, 2, 3, 4, 5, 6, 7, 8]));
  t.is(md5, spawnSync('openssl', ['passwd', '-1', '-salt', '/0123456', '-stdin'], { input: 'pw\n', encoding: 'utf8' }).stdout.trim());
});
