// vpopbull in-process: modes, headers, links, exclusions, quota, domain selection, start-up checks.
import test from 'ava';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addAliasDomain } from '../../lib/accounts/domains.ts';
import { vpopbullMain, VPOPBULL_USAGE, type VpopbullRuntime } from '../../lib/bulletin/cli.ts';
import { BulletinOutput } from '../../lib/bulletin/output.ts';
import { sendBulletin } from '../../lib/bulletin/vpopbull.ts';
import { openBulletin } from '../../lib/bulletin/bulletin.ts';
import { captureIo } from '../../lib/cli/agent.ts';
import { createCdbBackend } from '../../lib/backends/cdb.ts';
import { DURABLE, type Durable } from '../../lib/fs/durable.ts';
import { iterateVpasswd, modifyVpasswdEntry } from '../../lib/store/vpasswd.ts';
import { addManyUsers, BULLETIN_DATED_TXT, BULLETIN_TXT, domainDirOf, EXCLUDE_TXT, fastWorld, goldenBulletinWorld } from '../helpers/bulletin-world.ts';
import type { MailWorld } from '../helpers/mail-world.ts';

const isRoot = process.geteuid?.() === 0;
const EXAMPLE_ALL = ['alice', 'bob', 'carol', 'dave', 'dora', 'erin', 'frank', 'gina', 'postmaster', 'tiny'].map((u) => `${u}@example.test`);
const DATE_LINE = /^Date: (Sun|Mon|Tue|Wed|Thu|Fri|Sat), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d \+0000$/;

interface Ran {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

async function vpopbull(w: MailWorld, argv: readonly string[], rt: Partial<VpopbullRuntime> = {}): Promise<Ran> {
  const io = captureIo();
  const code = await vpopbullMain(
    { name: 'vpopbull', argv0: 'vpopbull', argv, env: w.env, io },
    { cwd: w.root, host: 'mail.test', pid: process.pid, now: Date.now, isTerminal: false, ...rt },
  );
  return { code, out: io.out, err: io.err };
}

function write(w: MailWorld, name: string, text: string | Buffer): string {
  const path = join(w.root, name);
  writeFileSync(path, text);
  return path;
}

function maildirOf(w: MailWorld, address: string): string {
  const [user, domain] = address.split('@') as [string, string];
  return join(domainDirOf(w, domain), user, 'Maildir');
}

function newFiles(w: MailWorld, address: string): string[] {
  const dir = join(maildirOf(w, address), 'new');
  return readdirSync(dir)
    .sort()
    .map((n) => join(dir, n));
}

function lines(text: string): string[] {
  return text === '' ? [] : text.replace(/\n$/, '').split('\n');
}

test('copy mode puts To: and a Date: line before the bulletin in every mailbox, via tmp/, 0600 and owned by the domain', async (t) => {
  const w = await goldenBulletinWorld(t);
  write(w, 'bulletin.txt', BULLETIN_TXT);
  const r = await vpopbull(w, ['-V', '-c', '-f', 'bulletin.txt', 'example.test']);
  t.is(r.code, 0, r.err);
  t.deepEqual(lines(r.out), EXAMPLE_ALL, '-V lists every mailbox in vpasswd order');
  t.is(r.err, '');
  for (const address of EXAMPLE_ALL) {
    const [file, ...more] = newFiles(w, address);
    t.deepEqual(more, [], `${address} got exactly one message`);
    const text = readFileSync(file!, 'latin1');
    const [to, date, ...rest] = text.split('\n');
    t.is(to, `To: ${address}`);
    t.regex(date!, DATE_LINE);
    t.is(rest.join('\n'), BULLETIN_TXT);
    t.regex(file!, /\/new\/\d{10}\.\d+\.mail\.test$/, "C's name: <time>.<pid>.<host>");
    const st = statSync(file!);
    t.is(st.mode & 0o777, 0o600);
    if (isRoot) t.deepEqual([st.uid, st.gid], [89, 89]);
    t.deepEqual(readdirSync(join(maildirOf(w, address), 'tmp')), [], 'nothing is left in tmp/');
  }
});

test('copy mode adds no Date: line when the bulletin has one, however it is spelled', async (t) => {
  const w = fastWorld(t);
  await w.addDomain('example.test');
  const cases: [string, string, boolean][] = [
    ['dated', BULLETIN_DATED_TXT, false],
    ['lower case, no space', 'From: a@example.test\ndate:Mon, 01 Jan 2024 00:00:00 +0000\n\nbody\n', false],
    ['CRLF headers', 'From: a@example.test\r\nDATE: Mon, 01 Jan 2024 00:00:00 +0000\r\n\r\nbody\r\n', false],
    ['Date: only in the body', 'From: a@example.test\nSubject: x\n\nDate: in the body\n', true],
    ['Date: after a CRLF blank line', 'From: a@example.test\r\n\r\nDate: in the body\r\n', true],
    ['no header section at all', '\nDate: in the body\n', true],
  ];
  for (const [name, text, expectDate] of cases) {
    write(w, 'b.txt', text);
    const before = new Set(newFiles(w, 'postmaster@example.test'));
    const r = await vpopbull(w, ['-f', 'b.txt', 'example.test']);
    t.is(r.code, 0, r.err);
    const added = newFiles(w, 'postmaster@example.test').filter((f) => !before.has(f));
    t.is(added.length, 1, name);
    const got = readFileSync(added[0]!, 'latin1');
    const [to, second] = got.split('\n');
    t.is(to, 'To: postmaster@example.test', name);
    if (expectDate) {
      t.regex(second!, DATE_LINE, `${name}: a Date line is added`);
      t.is(got, `To: postmaster@example.test\n${second}\n${text}`, name);
    } else {
      t.is(got, `To: postmaster@example.test\n${text}`, `${name}: no Date line is added`);
    }
  }
});

test('hard links share the bulletin inode, which keeps its owner, mode and bytes', async (t) => {
  const w = await goldenBulletinWorld(t);
  const path = write(w, 'bulletin-dated.txt', BULLETIN_DATED_TXT);
  chmodSync(path, 0o644);
  const before = statSync(path);
  const r = await vpopbull(w, ['-h', '-f', 'bulletin-dated.txt', 'example.test']);
  t.is(r.code, 0, r.err);
  t.is(r.out, '', 'quiet without -V');
  t.is(r.err, '');
  const after = statSync(path);
  t.is(after.nlink, 1 + EXAMPLE_ALL.length, 'one link per mailbox');
  t.deepEqual([after.mode, after.uid, after.gid, after.size], [before.mode, before.uid, before.gid, before.size], 'the source is not chowned or chmodded');
  t.is(readFileSync(path, 'latin1'), BULLETIN_DATED_TXT);
  for (const address of EXAMPLE_ALL) {
    const [file] = newFiles(w, address);
    t.is(statSync(file!).ino, before.ino, `${address} holds a hard link`);
    t.is(readFileSync(file!, 'latin1'), BULLETIN_DATED_TXT, 'no To: header in link modes');
  }
});

test('symbolic links point at the absolute bulletin path, and the bulletin is left alone', async (t) => {
  const w = await goldenBulletinWorld(t);
  mkdirSync(join(w.root, 'work'));
  const path = write(w, 'work/bulletin.txt', BULLETIN_TXT);
  chmodSync(path, 0o644);
  const before = statSync(path);
  const r = await vpopbull(w, ['-s', '-f', 'bulletin.txt', 'catch.test'], { cwd: join(w.root, 'work') });
  t.is(r.code, 0, r.err);
  const [link, ...more] = newFiles(w, 'postmaster@catch.test');
  t.deepEqual(more, []);
  t.true(lstatSync(link!).isSymbolicLink());
  t.is(readlinkSync(link!), path, 'the relative -f is made absolute with the start-up directory');
  t.is(readFileSync(link!, 'latin1'), BULLETIN_TXT);
  const after = statSync(path);
  t.deepEqual([after.mode, after.uid, after.gid, after.nlink], [before.mode, before.uid, before.gid, 1]);
});

test('the exclusion list leaves out exactly the addresses it spells byte for byte', async (t) => {
  const w = await goldenBulletinWorld(t);
  write(w, 'bulletin.txt', BULLETIN_DATED_TXT);
  write(w, 'exclude.txt', `${EXCLUDE_TXT}Dave@example.test\ndora@example.test \nerin@example.test\r\nfrank@EXAMPLE.TEST\ngina`);
  const r = await vpopbull(w, ['-V', '-f', 'bulletin.txt', '-e', 'exclude.txt', 'example.test']);
  t.is(r.code, 0, r.err);
  const expected = EXAMPLE_ALL.filter((a) => a !== 'bob@example.test' && a !== 'carol@example.test');
  t.deepEqual(lines(r.out), expected, 'case, spaces, CR and partial names do not match');
  t.deepEqual(readdirSync(join(maildirOf(w, 'bob@example.test'), 'new')), []);
  t.deepEqual(readdirSync(join(maildirOf(w, 'carol@example.test'), 'new')), []);
  const n = await vpopbull(w, ['-n', '-e', 'exclude.txt', 'example.test']);
  t.deepEqual(lines(n.out), expected, '-n lists the same mailboxes');
});

test('a user over quota is skipped and reported; delivered copies and links are added to maildirsize', async (t) => {
  const w = fastWorld(t);
  await w.addDomain('example.test');
  await w.addUser('roomy@example.test', 'roomy-pw', { quota: '1000000S' });
  await w.addUser('full@example.test', 'full-pw', { quota: '300S' });
  await w.addUser('counted@example.test', 'counted-pw', { quota: '1000000S,1C' });
  await w.addUser('free@example.test', 'free-pw');
  write(w, 'b.txt', BULLETIN_DATED_TXT);
  const size = Buffer.byteLength(BULLETIN_DATED_TXT);
  const copySize = (address: string) => Buffer.byteLength(`To: ${address}\n`) + size;
  const maildirsize = (address: string) => readFileSync(join(maildirOf(w, address), 'maildirsize'), 'latin1');

  const first = await vpopbull(w, ['-V', '-f', 'b.txt', 'example.test']);
  t.is(first.code, 0);
  t.deepEqual(lines(first.out), ['counted@example.test', 'free@example.test', 'full@example.test', 'postmaster@example.test', 'roomy@example.test']);
  const roomy = maildirsize('roomy@example.test');
  const full = maildirsize('full@example.test');
  t.true(roomy.startsWith('1000000S\n') && roomy.endsWith(`\n${copySize('roomy@example.test')} 1\n`), roomy);
  t.true(full.startsWith('300S\n') && full.endsWith(`\n${copySize('full@example.test')} 1\n`), full);
  t.false(existsSync(join(maildirOf(w, 'free@example.test'), 'maildirsize')), 'NOQUOTA: maildirsize is not made');

  const second = await vpopbull(w, ['-V', '-h', '-f', 'b.txt', 'example.test']);
  t.is(second.code, 0);
  t.deepEqual(lines(second.out), ['free@example.test', 'postmaster@example.test', 'roomy@example.test'], 'full and counted are skipped');
  t.regex(second.err, /^counted@example\.test: over quota \(in use \d+ bytes in 1 message of 1000000S,1C\), bulletin not delivered$/m);
  t.regex(second.err, /^full@example\.test: over quota \(in use \d+ bytes in 1 message of 300S\), bulletin not delivered$/m);
  t.is(newFiles(w, 'full@example.test').length, 1, 'not pushed further over');
  t.is(maildirsize('roomy@example.test'), `${roomy}${size} 1\n`, 'a hard link counts its size');
  t.is(maildirsize('full@example.test'), `300S\n${copySize('full@example.test')} 1\n`, 'over by the file: recounted, as vdelivermail does; nothing added');
});

test('an unknown domain is reported on stderr and the others are still served; exit 0', async (t) => {
  const w = await goldenBulletinWorld(t);
  write(w, 'bulletin.txt', BULLETIN_TXT);
  const r = await vpopbull(w, ['-V', '-f', 'bulletin.txt', 'nosuch.test', 'path.test']);
  t.is(r.code, 0);
  t.is(r.err, 'Error: domain nosuch.test does not exist\n');
  t.is(r.out, 'postmaster@path.test\n');
});

test('start-up refusals: no arguments, a bad option, no -f, an empty, missing or non-regular bulletin, a missing exclusion file', async (t) => {
  const w = await goldenBulletinWorld(t);
  write(w, 'bulletin.txt', BULLETIN_TXT);
  write(w, 'empty.txt', '');
  mkdirSync(join(w.root, 'adir'));
  const expectations: [string[], string, string][] = [
    [[], VPOPBULL_USAGE, ''],
    [['-x', 'example.test'], VPOPBULL_USAGE, "vpopbull: invalid option -- 'x'\n"],
    [['example.test', '-f'], VPOPBULL_USAGE, "vpopbull: option requires an argument -- 'f'\n"],
    [['example.test'], VPOPBULL_USAGE, 'Error: email_file not specified\n'],
    [['-v'], `version: 5.6.13\n${VPOPBULL_USAGE}`, 'Error: email_file not specified\n'],
    [['-f', 'empty.txt', 'example.test'], '', 'Error: empty.txt is empty\n'],
    [['-f', '/dev/null', 'example.test'], '', 'Error: /dev/null is empty\n'],
    [['-f', 'missing.txt', 'example.test'], '', 'Could not open file missing.txt\n'],
    [['-f', 'adir', 'example.test'], '', 'Error: adir is not a regular file\n'],
    [['-f', 'bulletin.txt', '-e', 'missing.txt', 'example.test'], '', 'Could not open file missing.txt\n'],
  ];
  for (const [argv, out, err] of expectations) {
    const r = await vpopbull(w, argv);
    t.is(r.code, 255, argv.join(' '));
    t.is(r.out, out, argv.join(' '));
    t.is(r.err, err, argv.join(' '));
  }
  t.deepEqual(readdirSync(join(maildirOf(w, 'alice@example.test'), 'new')), [], 'nothing was delivered');
});

test('-n needs no bulletin, writes nothing and lists every mailbox; -v prints the version and carries on', async (t) => {
  const w = await goldenBulletinWorld(t);
  const r = await vpopbull(w, ['-v', '-n', 'example.test']);
  t.is(r.code, 0, r.err);
  t.deepEqual(lines(r.out), ['version: 5.6.13', ...EXAMPLE_ALL]);
  for (const a of EXAMPLE_ALL) t.deepEqual(readdirSync(join(maildirOf(w, a), 'new')), []);
});

test('an alias domain is served as its real domain; naming both serves the real domain twice, under distinct names', async (t) => {
  const w = await goldenBulletinWorld(t);
  await addAliasDomain(w.ctx, 'path.test', 'alias.test');
  write(w, 'bulletin.txt', BULLETIN_TXT);
  const r = await vpopbull(w, ['-V', '-f', 'bulletin.txt', 'alias.test path.test']);
  t.is(r.code, 0, r.err);
  t.is(r.out, 'postmaster@path.test\npostmaster@path.test\n', 'domains given in one argument are split on spaces, as C');
  const files = newFiles(w, 'postmaster@path.test');
  t.is(files.length, 2);
  for (const f of files) t.true(readFileSync(f, 'latin1').startsWith('To: postmaster@path.test\n'));
});

test('without domains every real domain of users/assign is served in file order, alias domains skipped (named with -V)', async (t) => {
  const w = await goldenBulletinWorld(t);
  await addAliasDomain(w.ctx, 'path.test', 'alias.test');
  write(w, 'bulletin.txt', BULLETIN_TXT);
  const r = await vpopbull(w, ['-V', '-s', '-f', 'bulletin.txt']);
  t.is(r.code, 0, r.err);
  t.is(r.err, 'skipping alias.test (alias of path.test)\n');
  t.deepEqual(lines(r.out), ['postmaster@catch.test', ...EXAMPLE_ALL, 'postmaster@path.test']);
  const quiet = await vpopbull(w, ['-n']);
  t.is(quiet.err, '', 'the alias note needs -V');
});

test('without domains: an unreadable users/assign is exit 255 with C\'s line on stdout; an empty one is "What now - Success"', async (t) => {
  const w = fastWorld(t);
  write(w, 'bulletin.txt', BULLETIN_TXT);
  const missing = await vpopbull(w, ['-f', 'bulletin.txt']);
  t.is(missing.code, 255);
  t.is(missing.out, "Can't get domain entries - can't read users/assign file\n");
  writeFileSync(join(w.qhome, 'users', 'assign'), '.\n');
  const empty = await vpopbull(w, ['-f', 'bulletin.txt']);
  t.is(empty.code, 0);
  t.is(empty.out, 'What now - Success\n');
});

test('user names longer than 32 characters do not end the walk', async (t) => {
  const w = fastWorld(t);
  await w.addDomain('example.test');
  const names = ['a-short-one', 'x'.repeat(33), 'y'.repeat(64), 'z-after-the-long-ones'];
  addManyUsers(w, 'example.test', names);
  write(w, 'b.txt', BULLETIN_TXT);
  const r = await vpopbull(w, ['-V', '-f', 'b.txt', 'example.test']);
  t.is(r.code, 0, r.err);
  t.deepEqual(lines(r.out), ['postmaster@example.test', ...names.map((n) => `${n}@example.test`)]);
  for (const n of names) t.is(newFiles(w, `${n}@example.test`).length, 1);
});

test('a missing Maildir or home is made again (0700, owned by the domain) and gets the bulletin', async (t) => {
  const w = await goldenBulletinWorld(t);
  write(w, 'b.txt', BULLETIN_TXT);
  for (const mode of ['-c', '-h', '-s']) {
    rmSync(join(maildirOf(w, 'alice@example.test'), 'new'), { recursive: true });
    rmSync(join(domainDirOf(w, 'example.test'), 'bob'), { recursive: true });
    rmSync(maildirOf(w, 'tiny@example.test'), { recursive: true }); // a quota user: the quota check meets it first
    const r = await vpopbull(w, [mode, '-f', 'b.txt', 'example.test']);
    t.is(r.code, 0, r.err);
    t.is(r.err, '');
    for (const a of ['alice@example.test', 'bob@example.test', 'tiny@example.test']) {
      t.is(newFiles(w, a).length, 1, `${a} ${mode}`);
      for (const d of ['', '/new', '/cur', '/tmp']) {
        const st = statSync(maildirOf(w, a) + d);
        t.is(st.mode & 0o777, 0o700);
        if (isRoot) t.deepEqual([st.uid, st.gid], [89, 89]);
      }
    }
  }
});

test('an account with an empty home (a SQL import) gets a home in a bucket, stored in vpasswd, and the bulletin', async (t) => {
  const w = await goldenBulletinWorld(t);
  const dir = domainDirOf(w, 'example.test');
  const gina = [...iterateVpasswd(dir)].find((e) => e.name === 'gina')!;
  modifyVpasswdEntry(dir, { ...gina, dir: '' });
  rmSync(gina.dir, { recursive: true });
  write(w, 'b.txt', BULLETIN_TXT);
  const r = await vpopbull(w, ['-f', 'b.txt', 'example.test']);
  t.is(r.code, 0, r.err);
  const stored = [...iterateVpasswd(dir)].find((e) => e.name === 'gina')!;
  t.not(stored.dir, '');
  t.true(stored.dir.startsWith(`${dir}/`) && stored.dir.endsWith('/gina'));
  t.is(readdirSync(join(stored.dir, 'Maildir', 'new')).length, 1);
});

test('a hard link across file systems falls back to a copy with one warning', async (t) => {
  if (!existsSync('/dev/shm') || statSync('/dev/shm').dev === statSync(tmpdir()).dev) {
    t.pass('no second file system to link across');
    return;
  }
  const w = await goldenBulletinWorld(t);
  const other = join('/dev/shm', `vpopbull-${process.pid}-${Date.now()}`);
  mkdirSync(other);
  t.teardown(() => rmSync(other, { recursive: true, force: true }));
  writeFileSync(join(other, 'b.txt'), BULLETIN_DATED_TXT);
  const r = await vpopbull(w, ['-V', '-h', '-f', join(other, 'b.txt'), 'example.test'], { isTerminal: true });
  t.is(r.code, 0);
  const warnings = lines(r.err).filter((l) => l.includes('cannot hard-link'));
  t.is(warnings.length, 1, r.err);
  t.regex(warnings[0]!, /\(EXDEV: it is on another file system\); copying instead$/);
  t.deepEqual(lines(r.out), EXAMPLE_ALL);
  for (const a of EXAMPLE_ALL) t.is(readFileSync(newFiles(w, a)[0]!, 'latin1'), BULLETIN_DATED_TXT, 'the copy is the bulletin as a link would show it');
  t.regex(r.err, /got the bulletin \(hard links\); 10 copied where a hard link was refused\n$/);
});

test('a link mode warns when the domain owner cannot read the bulletin', async (t) => {
  const w = await goldenBulletinWorld(t);
  const path = write(w, 'b.txt', BULLETIN_TXT);
  chmodSync(path, 0o600);
  const r = await vpopbull(w, ['-s', '-f', 'b.txt', 'catch.test']);
  t.is(r.code, 0);
  if (statSync(path).uid === 89) t.is(r.err, '');
  else t.regex(r.err, /b\.txt is not readable by the owner of catch\.test \(uid 89, gid 89\): its mailboxes cannot read the symlinked bulletin/);
});

test('on a terminal: a summary of delivered and skipped mailboxes with reasons; none when stderr is not a terminal', async (t) => {
  const w = await goldenBulletinWorld(t);
  write(w, 'b.txt', BULLETIN_DATED_TXT);
  write(w, 'exclude.txt', EXCLUDE_TXT);
  writeFileSync(join(w.root, 'big.txt'), 'x'.repeat(3000));
  const r = await vpopbull(w, ['-f', 'big.txt', '-e', 'exclude.txt', 'example.test', 'nosuch.test'], { isTerminal: true });
  t.is(r.code, 0);
  t.is(
    r.err.split('\n').at(-2),
    'vpopbull: 7 of 10 mailboxes in 1 domain got the bulletin (copies); skipped 3: 2 excluded, 1 over quota; 1 unknown domain',
  );
  const dry = await vpopbull(w, ['-n', 'example.test'], { isTerminal: true });
  t.is(dry.err, 'vpopbull: dry run: 10 of 10 mailboxes in 1 domain would get the bulletin\n');
  const quiet = await vpopbull(w, ['-n', 'example.test']);
  t.is(quiet.err, '');
});

test('on a terminal a run over 1,000 mailboxes shows a progress line, cleared before the summary', async (t) => {
  const w = fastWorld(t);
  await w.addDomain('many.test');
  addManyUsers(w, 'many.test', Array.from({ length: 1100 }, (_, i) => `u${String(i).padStart(4, '0')}`), { noHomes: true });
  let clock = 0;
  const r = await vpopbull(w, ['-n', 'many.test'], { isTerminal: true, now: () => (clock += 1000) });
  t.is(r.code, 0);
  t.is(lines(r.out).length, 1101);
  const statuses = r.err.match(/\r\x1b\[Kvpopbull: many\.test: \d+ mailboxes so far, 0 delivered, 0 skipped/g) ?? [];
  t.true(statuses.length >= 1, JSON.stringify(r.err));
  t.false(r.err.includes('many.test: 1000 mailboxes'), 'nothing before the 1,001st mailbox');
  t.true(r.err.endsWith('\r\x1b[Kvpopbull: dry run: 1101 of 1101 mailboxes in 1 domain would get the bulletin\n'), JSON.stringify(r.err.slice(-200)));
  const quiet = await vpopbull(w, ['-n', 'many.test'], { isTerminal: false });
  t.is(quiet.err, '', 'no progress and no summary when stderr is not a terminal');
});

test('batches keep vpasswd order in the -V listing and deliver every copy', async (t) => {
  const w = fastWorld(t);
  await w.addDomain('example.test');
  const names = Array.from({ length: 23 }, (_, i) => `user${String(i).padStart(2, '0')}`);
  addManyUsers(w, 'example.test', names);
  write(w, 'b.txt', BULLETIN_TXT);
  const io = captureIo();
  const out = new BulletinOutput(io);
  const bulletin = openBulletin('b.txt', w.root);
  const summary = await sendBulletin(
    { mode: 'copy', verbose: true, dryRun: false, bulletin, exclusions: new Set(['user05@example.test']), domains: ['example.test'] },
    { config: w.config, backend: createCdbBackend(w.config), out, host: 'mail.test', pid: 4242, now: Date.now, batchSize: 4 },
  );
  const expected = ['postmaster', ...names].filter((n) => n !== 'user05').map((n) => `${n}@example.test`);
  t.deepEqual(lines(io.out), expected);
  t.is(summary.delivered, expected.length);
  t.is(summary.excluded, 1);
  for (const a of expected) t.regex(newFiles(w, a)[0]!, /\/\d{10}\.4242\.mail\.test$/);
});

test('hard links to the domain owner\'s copy: a copy that reaches the most links allowed is followed by a fresh one, and every name goes', async (t) => {
  const w = fastWorld(t);
  await w.addDomain('example.test');
  const names = Array.from({ length: 7 }, (_, i) => `user${i}`);
  addManyUsers(w, 'example.test', names);
  write(w, 'b.txt', BULLETIN_TXT);
  // The file system's link limit, made small: a file already linked 3 times takes no more links.
  const links = new Map<string, number>();
  const durable: Durable = {
    ...DURABLE,
    link(from, to) {
      const n = links.get(from) ?? 0;
      if (n >= 3) throw Object.assign(new Error(`EMLINK: too many links, link '${from}' -> '${to}'`), { code: 'EMLINK' });
      DURABLE.link(from, to);
      links.set(from, n + 1);
    },
  };
  const switched: string[] = [];
  // Ids are not really switched here (the test process is shared): the switch is recorded.
  const switchIds = (to: { uid: number; gid: number }) => {
    switched.push(`to ${to.uid}:${to.gid}`);
    return () => switched.push('back');
  };
  const io = captureIo();
  const bulletin = openBulletin('b.txt', w.root);
  const summary = await sendBulletin(
    { mode: 'hard', verbose: true, dryRun: false, bulletin, exclusions: new Set(), domains: ['example.test'] },
    { config: w.config, backend: createCdbBackend(w.config), out: new BulletinOutput(io), host: 'mail.test', pid: 4242, now: Date.now, euid: 0, switchIds, durable },
  );
  t.deepEqual(switched, ['to 89:89', 'back']);
  t.is(summary.delivered, 8);
  t.is(summary.copiedInsteadOfLinked, 0, 'every mailbox got a link, none a copy');
  t.is(io.err, '');
  const sources = [...links.keys()];
  t.is(sources.length, 3, 'three copies of 3 links each for 8 mailboxes');
  for (const source of sources) {
    t.true(source.startsWith(`${domainDirOf(w, 'example.test')}/.vpopbull-`), source);
    t.false(existsSync(source), `${source} was removed`);
  }
  t.is(statSync(join(w.root, 'b.txt')).nlink, 1, 'the bulletin itself is not linked');
  const inodes = new Set(['postmaster', ...names].map((u) => statSync(newFiles(w, `${u}@example.test`)[0]!).ino));
  t.is(inodes.size, 3);
  for (const u of ['postmaster', ...names]) t.is(readFileSync(newFiles(w, `${u}@example.test`)[0]!, 'latin1'), BULLETIN_TXT);
});

test('a damaged vpasswd stops that domain with a message, the next domain is still served, and the exit is 111', async (t) => {
  const w = await goldenBulletinWorld(t);
  const dir = domainDirOf(w, 'catch.test');
  // A hand-edited vpasswd without its cdb: the listing reads the file and meets the bad line.
  writeFileSync(join(dir, 'vpasswd'), `${readFileSync(join(dir, 'vpasswd'), 'latin1')}broken line\n`);
  renameSync(join(dir, 'vpasswd.cdb'), join(dir, 'vpasswd.cdb.away'));
  write(w, 'b.txt', BULLETIN_TXT);
  const r = await vpopbull(w, ['-V', '-f', 'b.txt', 'catch.test', 'path.test']);
  t.is(r.code, 111);
  t.regex(r.err, /^vpopbull: catch\.test: stopped: .*vpasswd line 2/m);
  t.is(r.out, 'postmaster@catch.test\npostmaster@path.test\n');
});

test('as root, a Maildir that links out of the domain owner\'s directories is refused; one moved to another directory of the owner is served', async (t) => {
  if (!isRoot) {
    t.pass('the guard applies to root only');
    return;
  }
  const w = await goldenBulletinWorld(t);
  write(w, 'b.txt', BULLETIN_DATED_TXT);
  const outside = join(w.root, 'outside'); // root's
  for (const s of ['new', 'cur', 'tmp']) mkdirSync(join(outside, 'Maildir', s), { recursive: true });
  const moved = join(w.root, 'bigdisk', 'dave'); // the owner's, elsewhere
  for (const s of ['new', 'cur', 'tmp']) mkdirSync(join(moved, 'Maildir', s), { recursive: true });
  for (const d of [join(w.root, 'bigdisk'), moved, join(moved, 'Maildir'), ...['new', 'cur', 'tmp'].map((s) => join(moved, 'Maildir', s))]) chownSync(d, 89, 89);
  const dir = domainDirOf(w, 'example.test');
  rmSync(join(dir, 'alice', 'Maildir'), { recursive: true });
  symlinkSync(join(outside, 'Maildir'), join(dir, 'alice', 'Maildir')); // a whole Maildir
  rmSync(join(dir, 'bob', 'Maildir', 'new'), { recursive: true });
  symlinkSync(join(outside, 'Maildir', 'new'), join(dir, 'bob', 'Maildir', 'new')); // only new/ (bob has a quota)
  rmSync(join(dir, 'dave'), { recursive: true });
  symlinkSync(moved, join(dir, 'dave')); // the home, to the owner's own directory
  for (const mode of ['-c', '-h', '-s']) {
    const r = await vpopbull(w, ['-V', mode, '-f', 'b.txt', 'example.test']);
    t.is(r.code, 0);
    t.regex(r.err, /^alice@example\.test: ERROR COPYING TO \S+\/alice \(\S+\/alice\/Maildir\/(new|tmp) is not a directory of the domain's owner \(uid 89, found uid 0\): refusing to follow a link out of the domain\)$/m, mode);
    t.regex(r.err, /^bob@example\.test: ERROR COPYING TO /m, mode);
    t.false(lines(r.out).includes('alice@example.test'));
    t.true(lines(r.out).includes('dave@example.test'), `${mode}: a Maildir moved to the owner's own directory is served`);
  }
  t.deepEqual(readdirSync(join(outside, 'Maildir', 'new')), [], 'nothing written through the links');
  t.deepEqual(readdirSync(join(outside, 'Maildir', 'tmp')), []);
  t.is(readdirSync(join(moved, 'Maildir', 'new')).length, 3);
});
