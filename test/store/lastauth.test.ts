import test from 'ava';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
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

test('a login from the IP the file holds sets the times of that file; anything else gets a new file', (t) => {
  const home = tempDir(t);
  const path = join(home, 'lastauth');
  const root = process.geteuid?.() === 0;
  const owner = root ? { owner: { uid: 89, gid: 89 } } : {};
  writeLastauth(home, '192.0.2.7', 1000, owner);
  const first = statSync(path);
  t.true(writeLastauth(home, '192.0.2.7', 2000, owner));
  const again = statSync(path);
  t.is(again.ino, first.ino, 'the same IP: the same file, only its times set');
  t.deepEqual(readLastauth(home), { ip: '192.0.2.7', timeSec: 2000 });
  t.is(Math.floor(again.atimeMs / 1000), 2000);
  t.deepEqual(readdirSync(home), ['lastauth']);

  writeLastauth(home, '192.0.2.8', 3000, owner);
  t.not(statSync(path).ino, first.ino, 'another IP: a new file');
  t.deepEqual(readLastauth(home), { ip: '192.0.2.8', timeSec: 3000 });

  // set-id bits, or (as root) another owner than the domain's: written anew, as the rewrite leaves it
  chmodSync(path, 0o4600);
  let ino = statSync(path).ino;
  writeLastauth(home, '192.0.2.8', 4000, owner);
  t.not(statSync(path).ino, ino);
  t.is(statSync(path).mode & 0o7777, 0o600);
  if (root) {
    chownSync(path, 0, 0);
    ino = statSync(path).ino;
    writeLastauth(home, '192.0.2.8', 5000, owner);
    t.not(statSync(path).ino, ino);
    t.deepEqual([statSync(path).uid, statSync(path).gid], [89, 89]);
  }

  // a symlink is replaced, its target untouched; a FIFO is not waited for
  const target = join(tempDir(t), 'elsewhere');
  writeFileSync(target, '192.0.2.8');
  utimesSync(target, 10, 10);
  rmSync(path);
  symlinkSync(target, path);
  writeLastauth(home, '192.0.2.8', 6000, owner);
  t.true(lstatSync(path).isFile());
  t.is(Math.floor(statSync(target).mtimeMs / 1000), 10, "the symlink's target keeps its times");
  rmSync(path);
  spawnSync('mkfifo', [path]);
  t.true(lstatSync(path).isFIFO());
  writeLastauth(home, '192.0.2.8', 7000, owner);
  t.true(lstatSync(path).isFile());
  t.deepEqual(readLastauth(home), { ip: '192.0.2.8', timeSec: 7000 });
});
