import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultDomain, hasDomainChars, hasUserChars, isSafeUserName, isValidNewDomain, sanitizeToken, splitAddress } from '../lib/address.ts';

test('the first @, else the first %, else the first / separates user and domain, lower-cased', (t) => {
  t.deepEqual(splitAddress('Joe@Example.COM'), { user: 'joe', domain: 'example.com', separator: '@' });
  t.deepEqual(splitAddress('joe%example.com'), { user: 'joe', domain: 'example.com', separator: '%' });
  t.deepEqual(splitAddress('joe/example.com'), { user: 'joe', domain: 'example.com', separator: '/' });
  t.deepEqual(splitAddress('joe%example.com@x'), { user: 'joe%example.com', domain: 'x', separator: '@' });
  t.deepEqual(splitAddress('joe'), { user: 'joe', domain: '', separator: '' });
});

test('user and domain character sets are C\'s', (t) => {
  t.true(hasUserChars("a!#$&'*+-./09=?AZ^_`az{|}~"));
  for (const bad of [' ', '"', '%', '(', ')', ',', ':', ';', '<', '>', '@', '[', '\\', ']', '\u00e9', '\x01']) t.false(hasUserChars(`a${bad}b`), bad);
  t.true(hasDomainChars('Example-1.test'));
  t.false(hasDomainChars('exa_mple.test'));
});

test('names that would leave the domain directory are refused', (t) => {
  for (const bad of ['../x', '.', '..', '.hidden', 'a/b', 'a\\b', '']) t.false(isSafeUserName(bad), bad);
  for (const good of ['alice', 'a.b', 'o\'brien', 'x-y_z']) t.true(isSafeUserName(good), good);
});

test('a new domain needs a dot, a 2..63 character last label and no leading or trailing dash', (t) => {
  for (const good of ['example.test', 'a.b.co', 'x-y.example']) t.true(isValidNewDomain(good), good);
  for (const bad of ['ab', 'example', 'example.t', '-x.test', 'x.test-', 'a..b.test', 'Example.test', 'ex_ample.test', `${'a'.repeat(95)}.t2`]) t.false(isValidNewDomain(bad), bad);
});

test('the default domain comes from VPOPMAIL_DOMAIN, then the ip map, then etc/defaultdomain', (t) => {
  const etc = mkdtempSync(join(tmpdir(), 'vpop-'));
  t.teardown(() => rmSync(etc, { recursive: true, force: true }));
  t.is(defaultDomain({ env: {}, etcDir: etc }), '');
  writeFileSync(join(etc, 'defaultdomain'), 'Default.Test\nignored\n');
  t.is(defaultDomain({ env: {}, etcDir: etc }), 'default.test');
  const lookupIpDomain = (ip: string) => (ip === '192.0.2.1' ? 'mapped.test' : undefined);
  t.is(defaultDomain({ env: { TCPLOCALIP: '192.0.2.1' }, etcDir: etc, lookupIpDomain }), 'mapped.test');
  t.is(defaultDomain({ env: { TCPLOCALIP: '192.0.2.9' }, etcDir: etc, lookupIpDomain }), 'default.test');
  const env = { VPOPMAIL_DOMAIN: 'env dom.test', TCPLOCALIP: '192.0.2.1' };
  t.is(defaultDomain({ env, etcDir: etc, lookupIpDomain }), 'env_dom.test');
  t.is(env.VPOPMAIL_DOMAIN, 'env dom.test', 'the environment is not rewritten');
});

test('sanitising keeps [A-Za-z0-9_.@-] and turns the rest into _', (t) => {
  t.is(sanitizeToken('::ffff:1.2.3.4'), '__ffff_1.2.3.4');
  t.is(sanitizeToken('a b%c'), 'a_b_c');
});
