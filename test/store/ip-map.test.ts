import test from 'ava';
import { copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PermError } from '../../lib/exit.ts';
import { addIpAlias, deleteIpAlias, ipAliasCandidates, lookupIpAlias, readIpAliasMap } from '../../lib/store/ip-map.ts';
import { tempDir } from '../helpers/cdb-tools.ts';
import { GOLDEN } from '../helpers/vpasswd-tree.ts';

const GOLDEN_MAP = join(GOLDEN, 'tree', 'vpopmail', 'etc', 'ip_alias_map');

test('the golden map reads as one mapping and answers for its IP only', (t) => {
  t.deepEqual(readIpAliasMap(GOLDEN_MAP), [{ ip: '192.0.2.1', domain: 'example.test' }]);
  t.is(lookupIpAlias(GOLDEN_MAP, '192.0.2.1'), 'example.test');
  t.is(lookupIpAlias(GOLDEN_MAP, '192.0.2.10'), undefined);
  t.is(lookupIpAlias(GOLDEN_MAP, ''), undefined);
});

test('adding to a copy of the golden map gives the bytes vipmap -a writes', (t) => {
  const path = join(tempDir(t), 'ip_alias_map');
  copyFileSync(GOLDEN_MAP, path);
  addIpAlias(path, '192.0.2.2', 'catch.test');
  t.is(readFileSync(path, 'latin1'), '192.0.2.1 example.test\n192.0.2.2 catch.test\n');
  t.is(statSync(path).mode & 0o777, 0o644);
});

test('add drops an identical pair first, so re-adding moves it to the end instead of duplicating', (t) => {
  const path = join(tempDir(t), 'ip_alias_map');
  addIpAlias(path, '192.0.2.1', 'a.test');
  addIpAlias(path, '192.0.2.2', 'b.test');
  addIpAlias(path, '192.0.2.1', 'a.test');
  addIpAlias(path, '192.0.2.1', 'c.test');
  t.is(readFileSync(path, 'latin1'), '192.0.2.2 b.test\n192.0.2.1 a.test\n192.0.2.1 c.test\n');
  t.is(lookupIpAlias(path, '192.0.2.1'), 'a.test'); // the first matching line wins
});

test('delete removes only lines matching both fields and copies the rest verbatim, % included', (t) => {
  const path = join(tempDir(t), 'ip_alias_map');
  const text = '192.0.2.1 a.test\n# 100% comment %s %n\n192.0.2.1\tb.test  trailing\nlonely\n192.0.2.3 c.test\n';
  writeFileSync(path, text);
  t.true(deleteIpAlias(path, '192.0.2.1', 'b.test'));
  t.is(readFileSync(path, 'latin1'), '192.0.2.1 a.test\n# 100% comment %s %n\nlonely\n192.0.2.3 c.test\n');
  t.false(deleteIpAlias(path, '192.0.2.9', 'a.test'));
  t.false(deleteIpAlias(join(tempDir(t), 'none'), '192.0.2.9', 'a.test'));
});

test('tabs and runs of spaces separate the fields; a long line is one line, not 155-byte pieces', (t) => {
  const path = join(tempDir(t), 'ip_alias_map');
  const long = `${'x'.repeat(200)}.test`;
  writeFileSync(path, `192.0.2.5 \t  five.test\n192.0.2.6 ${long}\n`);
  t.is(lookupIpAlias(path, '192.0.2.5'), 'five.test');
  t.is(lookupIpAlias(path, '192.0.2.6'), long);
});

test('an IPv4-mapped server address matches its IPv4 line; C\'s sanitised spelling matches too', (t) => {
  const path = join(tempDir(t), 'ip_alias_map');
  writeFileSync(path, '192.0.2.1 v4.test\n2001_db8__1 v6c.test\n');
  t.is(lookupIpAlias(path, '::ffff:192.0.2.1'), 'v4.test');
  t.is(lookupIpAlias(path, '::FFFF:192.0.2.1'), 'v4.test');
  t.is(lookupIpAlias(path, '2001:db8::1'), 'v6c.test');
  t.deepEqual(ipAliasCandidates('2001:db8::1'), ['2001:db8::1', '2001_db8__1']);
});

test('an empty or blank-holding IP or domain is refused', (t) => {
  const path = join(tempDir(t), 'ip_alias_map');
  for (const [ip, domain] of [
    ['', 'a.test'],
    ['192.0.2.1', ''],
    ['192.0.2.1 x', 'a.test'],
    ['192.0.2.1', 'a\nb'],
  ] as const) {
    t.throws(() => addIpAlias(path, ip, domain), { instanceOf: PermError });
  }
});
