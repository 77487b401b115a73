import test from 'ava';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VA, VpopmailError, TempError, PermError } from '../../lib/exit.ts';
import {
  VpasswdFormatError,
  addVpasswdEntry,
  checkVpasswdLengths,
  deleteVpasswdEntry,
  formatVpasswdLine,
  iterateVpasswd,
  iterateVpasswdCdb,
  modifyVpasswdEntry,
  parseVpasswdLine,
  readVpasswdEntry,
  rebuildVpasswdCdb,
  recoverVpasswd,
} from '../../lib/store/vpasswd.ts';
import { parseCdbDump, tempDir } from '../helpers/cdb-tools.ts';
import { cdbLines, checkPair, goldenDomainDirs, sampleEntry, vpasswdLines } from '../helpers/vpasswd-tree.ts';

const isRoot = process.geteuid?.() === 0;

function domainWith(t: Parameters<typeof tempDir>[0], lines: readonly string[]): string {
  const dir = join(tempDir(t), 'example.test');
  mkdirSync(dir);
  if (lines.length > 0) {
    writeFileSync(join(dir, 'vpasswd'), lines.map((l) => `${l}\n`).join(''), { mode: 0o600 });
    rebuildVpasswdCdb(dir);
  }
  return dir;
}

const line = (name: string, over = {}) => formatVpasswdLine(sampleEntry(name, over));

test('every golden vpasswd parses and formats back byte for byte', (t) => {
  const dirs = goldenDomainDirs();
  t.true(dirs.length >= 4);
  for (const dir of dirs) {
    const bytes = readFileSync(join(dir, 'vpasswd'));
    const text = bytes.toString('latin1');
    const out = text
      .slice(0, -1)
      .split('\n')
      .map((l, i) => formatVpasswdLine(parseVpasswdLine(l, { file: dir, line: i + 1 })))
      .join('\n');
    t.true(Buffer.from(`${out}\n`, 'latin1').equals(bytes), dir);
  }
});

test('our reader finds every golden vpasswd line through the golden vpasswd.cdb', (t) => {
  for (const dir of goldenDomainDirs()) {
    const flat = [...iterateVpasswd(dir)];
    t.deepEqual([...iterateVpasswdCdb(dir)], flat, dir);
    for (const entry of flat) t.deepEqual(readVpasswdEntry(dir, entry.name), entry, `${dir} ${entry.name}`);
    t.is(readVpasswdEntry(dir, 'nobody-here'), undefined);
  }
});

test('a cdb built from a golden vpasswd is byte-identical to the one C built', (t) => {
  for (const golden of goldenDomainDirs()) {
    const dir = join(tempDir(t), 'd');
    mkdirSync(dir);
    copyFileSync(join(golden, 'vpasswd'), join(dir, 'vpasswd'));
    rebuildVpasswdCdb(dir);
    t.true(readFileSync(join(dir, 'vpasswd.cdb')).equals(readFileSync(join(golden, 'vpasswd.cdb'))), golden);
  }
});

test('tinycdb reads the vpasswd.cdb we write after an add, a modify and a delete', (t) => {
  const dir = domainWith(t, []);
  addVpasswdEntry(dir, sampleEntry('carol'));
  addVpasswdEntry(dir, sampleEntry('alice'));
  addVpasswdEntry(dir, sampleEntry('bob'));
  modifyVpasswdEntry(dir, sampleEntry('bob', { gecos: 'Bob B', quota: '1000S' }));
  deleteVpasswdEntry(dir, 'carol');
  const dump = parseCdbDump(execFileSync('cdb', ['-d', join(dir, 'vpasswd.cdb')]));
  const fromTiny = dump.map(([k, d]) => `${k.toString('latin1')}:${d.toString('latin1')}`);
  t.deepEqual(fromTiny, [line('alice'), line('bob', { gecos: 'Bob B', quota: '1000S' })]);
  t.deepEqual(vpasswdLines(dir), fromTiny);
  const q = execFileSync('cdb', ['-q', join(dir, 'vpasswd.cdb'), 'alice']).toString('latin1');
  t.is(`alice:${q}`, line('alice'));
});

test('seven and eight fields: the clear field is everything after the 7th colon, empty fields stay empty', (t) => {
  const seven = parseVpasswdLine('joe::1:0:::');
  t.deepEqual(seven, { name: 'joe', passwd: '', uid: 1, gid: 0, gecos: '', dir: '', quota: '', clear: undefined });
  t.is(formatVpasswdLine(seven), 'joe::1:0:::');
  const eight = parseVpasswdLine('joe:$1$x$y:2:2048:Joe:/d/joe:NOQUOTA:a:b::c');
  t.is(eight.clear, 'a:b::c');
  t.is(eight.gid, 2048);
  t.is(formatVpasswdLine(eight), 'joe:$1$x$y:2:2048:Joe:/d/joe:NOQUOTA:a:b::c');
  t.is(parseVpasswdLine('joe:x:1:0:g:/d:NOQUOTA:').clear, '');
});

test('malformed lines are errors naming the file and line, never the line content', (t) => {
  for (const [bad, reason] of [
    ['joe:x:1:0:g:/d', /expected 7 or 8 fields/],
    [':x:1:0:g:/d:q', /empty user name/],
    ['joe:x:one:0:g:/d:q', /uid field/],
    ['joe:x:1::g:/d:q', /gid field/],
    ['joe:x:1:007:g:/d:q', /gid field/],
    ['joe:x:1:99999999999:g:/d:q', /out of range/],
    ['', /expected 7 or 8 fields/],
  ] as const) {
    const err = t.throws(() => parseVpasswdLine(bad, { file: '/d/vpasswd', line: 7 }), { instanceOf: VpasswdFormatError });
    t.regex(err!.message, /^\/d\/vpasswd line 7: /);
    t.regex(err!.message, reason);
  }
  const dir = domainWith(t, []);
  writeFileSync(join(dir, 'vpasswd'), `${line('alice')}\n${line('bob')}\nsecret-hash-no-colons\n${line('dave')}\n`);
  const listed: string[] = [];
  const err = t.throws(
    () => {
      for (const e of iterateVpasswd(dir)) listed.push(e.name);
    },
    { instanceOf: VpasswdFormatError },
  );
  t.deepEqual(listed, ['alice', 'bob']);
  t.is(err!.line, 3);
  t.false(err!.message.includes('secret-hash'));
});

test('uid and gid: only the canonical decimal int32 form; a short line says how many fields it has', (t) => {
  const where = { file: '/d/vpasswd', line: 3 };
  for (const good of ['0', '7', '-1', '89', '2147483647', '-2147483648']) {
    t.is(parseVpasswdLine(`joe:x:${good}:${good}:g:/d:q`, where).uid, Number(good));
    t.is(parseVpasswdLine(`joe:x:1:${good}:g:/d:q`, where).gid, Number(good));
  }
  for (const bad of ['', '-', '-0', '00', '01', '-01', '+1', ' 1', '1 ', '1a', '0x1', '1e3', '1.0', '١']) {
    t.throws(() => parseVpasswdLine(`joe:x:${bad}:0:g:/d:q`, where), { message: /uid field is not a decimal number/ }, JSON.stringify(bad));
    t.throws(() => parseVpasswdLine(`joe:x:0:${bad}:g:/d:q`, where), { message: /gid field is not a decimal number/ }, JSON.stringify(bad));
  }
  for (const big of ['2147483648', '-2147483649', '99999999999999999999']) {
    t.throws(() => parseVpasswdLine(`joe:x:${big}:0:g:/d:q`, where), { message: /uid field is out of range/ });
  }
  const full = ['joe', 'x', '1', '0', 'g', '/d', 'q'];
  for (let n = 1; n < 7; n++) {
    t.throws(() => parseVpasswdLine(full.slice(0, n).join(':'), where), { message: new RegExp(`expected 7 or 8 fields, found ${n}$`) });
  }
  t.throws(() => parseVpasswdLine('joe:x:1:0:g:/d:q\nmore', where), { message: /line holds a newline/ });
});

test('lines are read whole across the 64 KiB read boundary, with latin1 bytes kept, and a line over 64 KiB is damage', (t) => {
  const dir = domainWith(t, []);
  // gecos lengths that put a line end, a line start and the middle of a line on every offset
  // around the first and second read boundaries; names hold bytes above 0x7f
  const entries = Array.from({ length: 1400 }, (_, i) => sampleEntry(`u${i}\xe9`, { gecos: 'g'.repeat(i % 97) }));
  writeFileSync(join(dir, 'vpasswd'), Buffer.from(entries.map((e) => `${formatVpasswdLine(e)}\n`).join(''), 'latin1'));
  t.true(statSync(join(dir, 'vpasswd')).size > 2 * 65536);
  t.deepEqual([...iterateVpasswd(dir)], entries.map((e) => parseVpasswdLine(formatVpasswdLine(e))));
  writeFileSync(join(dir, 'vpasswd'), `${line('alice')}\n${line('bob', { gecos: 'x'.repeat(70_000) })}\n`);
  const names: string[] = [];
  const err = t.throws(() => {
    for (const e of iterateVpasswd(dir)) names.push(e.name);
  }, { instanceOf: VpasswdFormatError });
  t.deepEqual(names, ['alice']);
  t.regex(err!.message, /line 2: line longer than 64 KiB/);
});

test('a malformed line stops every rewrite and leaves vpasswd and vpasswd.cdb untouched', (t) => {
  const dir = domainWith(t, [line('alice'), line('bob')]);
  const bad = `${line('alice')}\n${line('bob')}\njunk\n`;
  writeFileSync(join(dir, 'vpasswd'), bad);
  const cdbBefore = readFileSync(join(dir, 'vpasswd.cdb'));
  t.throws(() => addVpasswdEntry(dir, sampleEntry('carol')), { instanceOf: VpasswdFormatError, message: /line 3/ });
  t.throws(() => deleteVpasswdEntry(dir, 'alice'), { instanceOf: VpasswdFormatError });
  t.throws(() => modifyVpasswdEntry(dir, sampleEntry('bob')), { instanceOf: VpasswdFormatError });
  t.throws(() => rebuildVpasswdCdb(dir), { instanceOf: VpasswdFormatError });
  t.is(readFileSync(join(dir, 'vpasswd'), 'latin1'), bad);
  t.true(readFileSync(join(dir, 'vpasswd.cdb')).equals(cdbBefore));
  t.false(existsSync(join(dir, 'vpasswd.tmp')));
  t.false(existsSync(join(dir, 'vpasswd.cdb.tmp')));
});

test('add inserts before the first greater name, as C does, keeping an unsorted file as it is', (t) => {
  const dir = domainWith(t, [line('bob'), line('alice'), line('dave')]);
  addVpasswdEntry(dir, sampleEntry('carol'));
  addVpasswdEntry(dir, sampleEntry('zed'));
  addVpasswdEntry(dir, sampleEntry('aaron'));
  t.deepEqual(
    vpasswdLines(dir).map((l) => l.split(':')[0]),
    ['aaron', 'bob', 'alice', 'carol', 'dave', 'zed'],
  );
  t.is(checkPair(dir, [vpasswdLines(dir)]), 'agree');
});

test('add refuses an existing user with VA_USERNAME_EXISTS and writes nothing', (t) => {
  const dir = domainWith(t, [line('alice'), line('bob')]);
  const before = statSync(join(dir, 'vpasswd')).ino;
  const err = t.throws(() => addVpasswdEntry(dir, sampleEntry('bob', { gecos: 'other' })), { instanceOf: VpopmailError });
  t.is(err!.code, VA.USERNAME_EXISTS);
  t.is(statSync(join(dir, 'vpasswd')).ino, before);
  t.deepEqual(vpasswdLines(dir), [line('alice'), line('bob')]);
});

test('delete drops every line of the name; a miss returns false and rewrites nothing', (t) => {
  const dir = domainWith(t, [line('alice'), line('bob'), line('bob', { gecos: 'dup' }), line('carol')]);
  t.true(deleteVpasswdEntry(dir, 'bob'));
  t.deepEqual(vpasswdLines(dir), [line('alice'), line('carol')]);
  t.deepEqual(cdbLines(dir), [line('alice'), line('carol')]);
  const ino = statSync(join(dir, 'vpasswd')).ino;
  t.false(deleteVpasswdEntry(dir, 'bob'));
  t.false(deleteVpasswdEntry(dir, 'ali'));
  t.is(statSync(join(dir, 'vpasswd')).ino, ino);
});

test('modify replaces the matching line in place and only that one', (t) => {
  const dir = domainWith(t, [line('alice'), line('bob'), line('carol')]);
  t.true(modifyVpasswdEntry(dir, sampleEntry('bob', { gid: 0x2002, quota: '10485760S,1000C', clear: undefined })));
  t.deepEqual(vpasswdLines(dir), [line('alice'), 'bob:$6$salt3$hash-of-bob:1:8194:bob:/home/vpopmail/domains/example.test/bob:10485760S,1000C', line('carol')]);
  t.is(readVpasswdEntry(dir, 'bob')?.gid, 0x2002);
  t.false(modifyVpasswdEntry(dir, sampleEntry('bo')));
});

test('a field with a colon or newline is refused before anything is written', (t) => {
  const dir = domainWith(t, [line('alice')]);
  t.throws(() => addVpasswdEntry(dir, sampleEntry('bob', { gecos: 'a:b' })), { instanceOf: PermError });
  t.throws(() => addVpasswdEntry(dir, sampleEntry('bob', { clear: 'x\ny' })), { instanceOf: PermError });
  t.throws(() => addVpasswdEntry(dir, sampleEntry('b:b')), { instanceOf: PermError });
  t.throws(() => addVpasswdEntry(dir, sampleEntry('bob', { gid: 1.5 })), { instanceOf: PermError });
  t.deepEqual(vpasswdLines(dir), [line('alice')]);
});

test('length limits carry C\'s VA codes', (t) => {
  const code = (over: object) => {
    try {
      checkVpasswdLengths(sampleEntry('joe', over));
      return 0;
    } catch (err) {
      return (err as VpopmailError).code;
    }
  };
  t.is(code({}), 0);
  t.is(code({ name: 'x'.repeat(65) }), VA.USER_NAME_TOO_LONG);
  t.is(code({ passwd: 'x'.repeat(129) }), VA.PASSWD_TOO_LONG);
  t.is(code({ gecos: 'x'.repeat(65) }), VA.GECOS_TOO_LONG);
  t.is(code({ dir: 'x'.repeat(161) }), VA.DIR_TOO_LONG);
  t.is(code({ quota: 'x'.repeat(21) }), VA.QUOTA_TOO_LONG);
  t.is(code({ clear: 'x'.repeat(129) }), VA.CLEAR_PASSWD_TOO_LONG);
});

test('without vpasswd.cdb a look-up scans vpasswd, or rebuilds the cdb under the lock when asked', (t) => {
  const dir = domainWith(t, [line('alice'), line('bob')]);
  renameSync(join(dir, 'vpasswd.cdb'), join(dir, 'gone'));
  t.is(readVpasswdEntry(dir, 'bob')?.gecos, 'bob');
  t.is(readVpasswdEntry(dir, 'carol'), undefined);
  t.false(existsSync(join(dir, 'vpasswd.cdb')));
  t.is(readVpasswdEntry(dir, 'alice', { missingCdb: 'rebuild' })?.name, 'alice');
  t.deepEqual(cdbLines(dir), [line('alice'), line('bob')]);
});

test('a hand edit stays invisible to look-ups until the cdb is rebuilt, as in C', (t) => {
  const dir = domainWith(t, [line('alice')]);
  writeFileSync(join(dir, 'vpasswd'), `${line('alice')}\n${line('bob')}\n`);
  t.is(readVpasswdEntry(dir, 'bob'), undefined);
  rebuildVpasswdCdb(dir);
  t.is(readVpasswdEntry(dir, 'bob')?.name, 'bob');
});

test('a damaged vpasswd.cdb is an error, not "no such user"', (t) => {
  const dir = domainWith(t, [line('alice'), line('bob')]);
  const cdb = readFileSync(join(dir, 'vpasswd.cdb'));
  writeFileSync(join(dir, 'vpasswd.cdb'), cdb.subarray(0, 2100));
  t.throws(() => readVpasswdEntry(dir, 'alice'), { instanceOf: TempError });
});

test('a domain directory that is gone is an error; one without vpasswd has no users', (t) => {
  const dir = domainWith(t, []);
  t.is(readVpasswdEntry(dir, 'alice'), undefined);
  t.deepEqual([...iterateVpasswd(dir)], []);
  t.throws(() => readVpasswdEntry(join(dir, 'nope'), 'alice'), { instanceOf: TempError, message: /missing/ });
  t.throws(() => [...iterateVpasswd(join(dir, 'nope'))], { instanceOf: TempError });
  t.throws(() => addVpasswdEntry(join(dir, 'nope'), sampleEntry('alice')), { instanceOf: TempError });
});

test('vpasswd, vpasswd.cdb and the lock file are 0600 and, as root, owned by the domain', (t) => {
  const dir = domainWith(t, []);
  addVpasswdEntry(dir, sampleEntry('alice'), { owner: { uid: 89, gid: 89 } });
  for (const f of ['vpasswd', 'vpasswd.cdb', '.vpasswd.lock']) {
    const st = statSync(join(dir, f));
    t.is(st.mode & 0o777, 0o600, f);
    if (isRoot) t.deepEqual([st.uid, st.gid], [89, 89], f);
  }
  t.deepEqual(
    [...new Set(execFileSync('ls', ['-a', dir]).toString().split('\n'))].filter((f) => f !== '').sort(),
    ['.', '..', '.vpasswd.lock', 'vpasswd', 'vpasswd.cdb'],
  );
});

test('a look-up rolls an interrupted change forward: new vpasswd, whole new cdb waiting as vpasswd.cdb.new', (t) => {
  const dir = domainWith(t, [line('alice')]);
  const old = readFileSync(join(dir, 'vpasswd.cdb'));
  addVpasswdEntry(dir, sampleEntry('bob'));
  // Recreate the state a crash between the commit rename and the cdb rename leaves.
  renameSync(join(dir, 'vpasswd.cdb'), join(dir, 'vpasswd.cdb.new'));
  writeFileSync(join(dir, 'vpasswd.cdb'), old);
  t.is(checkPair(dir, [[line('alice')], [line('alice'), line('bob')]]), 'cdb-behind');
  t.is(readVpasswdEntry(dir, 'bob')?.name, 'bob');
  t.false(existsSync(join(dir, 'vpasswd.cdb.new')));
  t.is(checkPair(dir, [[line('alice'), line('bob')]]), 'agree');
});

test('an uncommitted change (vpasswd.tmp still there) is rolled back, never forward', (t) => {
  const dir = domainWith(t, [line('alice')]);
  writeFileSync(join(dir, 'vpasswd.tmp'), `${line('alice')}\n${line('bob')}\n`);
  writeFileSync(join(dir, 'vpasswd.cdb.new'), 'whatever');
  t.is(readVpasswdEntry(dir, 'bob'), undefined);
  t.is(recoverVpasswd(dir), 'rolled-back');
  t.false(existsSync(join(dir, 'vpasswd.tmp')));
  t.false(existsSync(join(dir, 'vpasswd.cdb.new')));
  t.is(checkPair(dir, [[line('alice')]]), 'agree');
  t.is(recoverVpasswd(dir), 'clean');
});

test('the list is in file order and streams a large file', (t) => {
  const dir = domainWith(t, []);
  const n = 30_000;
  const lines: string[] = [];
  for (let i = 0; i < n; i++) lines.push(line(`u${String(i).padStart(6, '0')}`));
  writeFileSync(join(dir, 'vpasswd'), `${lines.join('\n')}\n`);
  rebuildVpasswdCdb(dir);
  addVpasswdEntry(dir, sampleEntry('u0150005'));
  let count = 0;
  let prev = '';
  for (const e of iterateVpasswd(dir)) {
    t.true(e.name > prev || count === 0);
    prev = e.name;
    count++;
  }
  t.is(count, n + 1);
  t.is(readVpasswdEntry(dir, 'u029999')?.name, 'u029999');
  t.is(readVpasswdEntry(dir, 'u0150005')?.name, 'u0150005');
  t.is(checkPair(dir, [vpasswdLines(dir)]), 'agree');
});

test('a last line without a newline is read, and the next rewrite ends it with one', (t) => {
  const dir = domainWith(t, []);
  writeFileSync(join(dir, 'vpasswd'), `${line('alice')}\n${line('bob')}`);
  t.deepEqual([...iterateVpasswd(dir)].map((e) => e.name), ['alice', 'bob']);
  addVpasswdEntry(dir, sampleEntry('carol'));
  t.is(readFileSync(join(dir, 'vpasswd'), 'latin1'), `${line('alice')}\n${line('bob')}\n${line('carol')}\n`);
});

test('bytes outside ASCII round-trip through latin1 byte strings', (t) => {
  const dir = domainWith(t, []);
  const gecos = Buffer.from('Jörg Müller', 'utf8').toString('latin1');
  addVpasswdEntry(dir, sampleEntry('jorg', { gecos }));
  t.is(readVpasswdEntry(dir, 'jorg')?.gecos, gecos);
  t.true(readFileSync(join(dir, 'vpasswd')).includes(Buffer.from('Jörg Müller', 'utf8')));
});
