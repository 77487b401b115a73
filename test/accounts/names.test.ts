import test from 'ava';
import { NameError, checkDomainName, checkGecos, checkNewDomainName, checkNewUserName, parseUserAddress } from '../../lib/accounts/names.ts';
import { VA, VpopmailError } from '../../lib/exit.ts';

const hashed = { hashedDirs: true };

test('every printable ASCII character is accepted or refused in a user name as C accepts it, minus / \\ and a leading dot', (t) => {
  const cAccepts = new Set("!#$&'*+-./0123456789=?ABCDEFGHIJKLMNOPQRSTUVWXYZ^_`abcdefghijklmnopqrstuvwxyz{|}~");
  for (let code = 0; code < 256; code++) {
    const c = String.fromCharCode(code);
    const name = `ab${c}cd`;
    const ok = cAccepts.has(c) && c !== '/';
    if (ok) t.notThrows(() => checkNewUserName(name, hashed), `char ${code}`);
    else t.throws(() => checkNewUserName(name, hashed), { instanceOf: NameError }, `char ${code}`);
  }
});

test('names that would leave the domain directory or hide in it are refused before anything is touched', (t) => {
  for (const name of ['..', '.', '../x', 'a/b', '.hidden', '..a', 'a\\b', '/etc', 'x/../../y']) {
    const err = t.throws(() => checkNewUserName(name, hashed), { instanceOf: NameError }, name);
    t.is(err?.code, VA.ILLEGAL_USERNAME, name);
  }
  t.notThrows(() => checkNewUserName('a.b', hashed));
  t.notThrows(() => checkNewUserName('a..b', hashed));
});

test('user names of 65 bytes or more are too long, 64 is fine', (t) => {
  t.notThrows(() => checkNewUserName('u'.repeat(64), hashed));
  for (let n = 65; n < 200; n += 7) {
    const err = t.throws(() => checkNewUserName('u'.repeat(n), hashed), { instanceOf: VpopmailError });
    t.is(err?.code, VA.USER_NAME_TOO_LONG);
  }
});

test('one-character names are refused only while user directories are hashed', (t) => {
  t.throws(() => checkNewUserName('a', hashed), { instanceOf: NameError });
  t.notThrows(() => checkNewUserName('a', { hashedDirs: false }));
});

test('the names of files in the domain directory are refused as user names', (t) => {
  for (const name of ['vpasswd', 'vpasswd.cdb', 'vpasswd.tmp', 'cdb.tmp']) t.throws(() => checkNewUserName(name, hashed), { instanceOf: NameError }, name);
});

test('parseUserAddress splits at @, then %, then / and lower-cases, as parse_email', (t) => {
  t.deepEqual(parseUserAddress('Bob@Example.COM', () => ''), { user: 'bob', domain: 'example.com' });
  t.deepEqual(parseUserAddress('bob%example.com', () => ''), { user: 'bob', domain: 'example.com' });
  t.deepEqual(parseUserAddress('bob/example.com', () => ''), { user: 'bob', domain: 'example.com' });
  t.deepEqual(parseUserAddress('bob', () => 'Default.Test'), { user: 'bob', domain: 'default.test' });
  t.deepEqual(parseUserAddress('bob', () => ''), { user: 'bob', domain: '' });
});

test('parseUserAddress gives C stderr line for a bad user or domain part', (t) => {
  const bad = t.throws(() => parseUserAddress('bad name@example.test', () => ''), { instanceOf: NameError });
  t.is(bad?.detail, 'user invalid bad name');
  t.is(bad?.message, 'Illegal username');
  const dom = t.throws(() => parseUserAddress('bob@exa_mple.test', () => ''), { instanceOf: NameError });
  t.is(dom?.detail, 'domain invalid exa_mple.test');
});

test('new domain names follow the vadddomain rules', (t) => {
  for (const ok of ['example.test', 'a-b.co', 'x.y.z.museum', `${'a'.repeat(90)}.test`]) t.notThrows(() => checkNewDomainName(ok), ok);
  for (const bad of ['', 'ab', 'nodot', 'a..b.test', '-a.test', 'a.test-', 'a_b.test', 'a.t', 'A.TEST', `a.${'b'.repeat(64)}`]) {
    t.throws(() => checkNewDomainName(bad), { instanceOf: NameError }, bad);
  }
  const long = t.throws(() => checkNewDomainName(`${'a'.repeat(93)}.test`), { instanceOf: NameError });
  t.is(long?.code, VA.DOMAIN_NAME_TOO_LONG);
});

test('alias domain names get only the character and length checks', (t) => {
  t.notThrows(() => checkDomainName('localhost'));
  t.throws(() => checkDomainName('a b'), { instanceOf: NameError });
  t.throws(() => checkDomainName(''), { instanceOf: NameError });
});

test('a gecos with a colon or a control character is refused, as is one over 64 bytes', (t) => {
  t.is(t.throws(() => checkGecos('a:b'), { instanceOf: VpopmailError })?.code, VA.BAD_CHAR);
  t.is(t.throws(() => checkGecos('a\nb'), { instanceOf: VpopmailError })?.code, VA.BAD_CHAR);
  t.is(t.throws(() => checkGecos('x'.repeat(65)), { instanceOf: VpopmailError })?.code, VA.GECOS_TOO_LONG);
  t.notThrows(() => checkGecos('Frank N. Stein'));
  t.notThrows(() => checkGecos('é'.repeat(32)));
  t.throws(() => checkGecos('é'.repeat(33)), { instanceOf: VpopmailError });
});
