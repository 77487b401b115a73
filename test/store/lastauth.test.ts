import test from 'ava';
import { chmodSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NEVER_LOGGED_IN_IP, readLastauth, writeLastauth } from '../../lib/store/lastauth.ts';
import { tempDir } from '../helpers/cdb-tools.ts';
import { GOLDEN_DOMAINS } from '../helpers/vpasswd-tree.ts';

test('the content is the IP without a newline and the mtime is the login time', (t) => {
  const home = tempDir(t);
  t.true(writeLastauth(home, '192.0.2.7', 1_795_988_144));
  t.is(readFileSync(join(home, 'lastauth'), 'latin1'), '192.0.2.7');
  t.is(Math.floor(statSync(join(home, 'lastauth')).mtimeMs / 1000), 1_795_988_144);
  t.deepEqual(readLastauth(home), { ip: '192.0.2.7', timeSec: 1_795_988_144 });
});

test('golden lastauth files read as IP plus mtime', (t) => {
  const golden = readLastauth(join(GOLDEN_DOMAINS, 'example.test', 'alice'));
  t.truthy(golden);
  t.regex(golden!.ip, /^(\d+\.){3}\d+$/);
  t.is(readLastauth(join(GOLDEN_DOMAINS, 'big.test', 'u036'))?.ip, NEVER_LOGGED_IN_IP);
});

test('a new file is 0600 unless told, an existing one keeps its mode, no temp file is left', (t) => {
  const home = tempDir(t);
  writeLastauth(home, NEVER_LOGGED_IN_IP, 1000);
  t.is(statSync(join(home, 'lastauth')).mode & 0o777, 0o600);
  chmodSync(join(home, 'lastauth'), 0o644);
  writeLastauth(home, '2001:db8::1', 2000, { sync: true, owner: { uid: 89, gid: 89 } });
  const st = statSync(join(home, 'lastauth'));
  t.is(st.mode & 0o777, 0o644);
  if (process.geteuid?.() === 0) t.deepEqual([st.uid, st.gid], [89, 89]);
  t.deepEqual(readLastauth(home), { ip: '2001:db8::1', timeSec: 2000 });
  t.deepEqual(readdirSync(home), ['lastauth']);
});

test('a missing user directory makes the write a quiet no-op and the read a miss', (t) => {
  const home = join(tempDir(t), 'not-yet');
  t.false(writeLastauth(home, '192.0.2.1', 1));
  t.is(readLastauth(home), undefined);
  t.false(writeLastauth('', '192.0.2.1', 1));
  t.is(readLastauth(''), undefined);
});

test('the reader takes the first line, as C\'s fgets does', (t) => {
  const home = tempDir(t);
  writeFileSync(join(home, 'lastauth'), '192.0.2.9\nextra\n');
  t.is(readLastauth(home)?.ip, '192.0.2.9');
  t.throws(() => writeLastauth(home, 'a\nb', 1));
});
