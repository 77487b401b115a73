// vpopbull through the built executable (dist/bin/vpopbull): the golden run's steps 188–195 with
// their outputs, exit codes and the files they leave, and a 10,000-user domain in every mode,
// read back by Python's mailbox.Maildir.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VPOPBULL_USAGE } from '../../lib/bulletin/cli.ts';
import {
  addManyUsers,
  BULLETIN_DATED_TXT,
  BULLETIN_TXT,
  domainDirOf,
  EXCLUDE_TXT,
  fastWorld,
  goldenBulletinWorld,
  readMaildirsWithPython,
  sha256,
} from '../helpers/bulletin-world.ts';
import { loadGolden, type Step } from '../helpers/golden.ts';
import { binPath } from '../helpers/dist.ts';
import { runProgram, type MailWorld } from '../helpers/mail-world.ts';

const isRoot = process.geteuid?.() === 0;
const golden = loadGolden().transcript.steps;
const goldenStep = (n: number): Step => golden.find((s) => s.number === n)!;
const DATE_LINE = /^Date: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000$/m;
/** C's names and ours: `<time>.<pid>.<host>` (golden/VARIES.md masks time and pid). */
const MESSAGE_NAME = /^\d{10}\.\d+\.[^/]+$/;

function newDir(w: MailWorld, domain: string, user: string): string {
  return join(domainDirOf(w, domain), user, 'Maildir', 'new');
}

function newest(w: MailWorld, domain: string, user: string): string {
  const dir = newDir(w, domain, user);
  const names = readdirSync(dir).sort((a, b) => statSync(join(dir, b)).mtimeMs - statSync(join(dir, a)).mtimeMs || (a < b ? 1 : -1));
  return join(dir, names[0]!);
}

/** `f600 89 89 156` as run.sh's showls prints a file: type+mode, owner, group, size (lstat). */
function listing(path: string): string {
  const st = lstatSync(path);
  const type = st.isSymbolicLink() ? 'l' : st.isDirectory() ? 'd' : 'f';
  return `${type}${(st.mode & 0o777).toString(8)} ${st.uid} ${st.gid} ${st.isDirectory() ? '-' : st.size}`;
}

test('golden steps 188–195: the same stdout, stderr and exit codes as C, and the files C leaves (but the untouched bulletin and the owner\'s symlinks)', async (t) => {
  const w = await goldenBulletinWorld(t);
  const work = join(w.root, 'golden-work');
  mkdirSync(work);
  for (const [name, text] of [['bulletin.txt', BULLETIN_TXT], ['bulletin-dated.txt', BULLETIN_DATED_TXT], ['exclude.txt', EXCLUDE_TXT]] as const) {
    writeFileSync(join(work, name), text);
    chmodSync(join(work, name), 0o644); // run.sh's printf under umask 022
  }
  const run = (n: number) => {
    const step = goldenStep(n);
    t.is(step.program, 'vpopbull');
    const r = runProgram(w, 'vpopbull', step.argv, { cwd: work });
    t.is(r.status, step.exit, `step ${n}: exit code`);
    return { step, r };
  };
  const exact = (n: number) => {
    const { step, r } = run(n);
    t.is(r.stdout, step.stdout.text, `step ${n}: stdout`);
    t.is(r.stderr, step.stderr.text, `step ${n}: stderr`);
  };

  exact(188); // -n -V: the machine-read listing
  exact(189); // -V -c
  const alice = newest(w, 'example.test', 'alice');
  t.regex(alice.split('/').pop()!, MESSAGE_NAME);
  t.is(listing(alice), isRoot ? 'f600 89 89 156' : listing(alice), "step 189's state: f600 89 89 156");
  t.regex(readFileSync(alice, 'latin1'), DATE_LINE);

  const source = join(work, 'bulletin-dated.txt');
  const sourceBefore = listing(source);
  exact(190); // -h
  const linked = newest(w, 'path.test', 'postmaster');
  t.is(readFileSync(linked, 'latin1'), readFileSync(source, 'latin1'));
  t.is(listing(source), sourceBefore, 'C makes the bulletin itself 89:89 0600; we leave it as it was');
  t.is(statSync(source).nlink, isRoot ? 1 : 2);
  if (isRoot) {
    // As root, each domain's mailboxes are served as its owner, linked to the owner's own copy of
    // the bulletin: the message is 89:89 0600 as in C's tree, and the copy's name is gone.
    t.is(listing(linked), `f600 89 89 ${statSync(source).size}`, "step 190's state, as C leaves the message");
    t.deepEqual(readdirSync(domainDirOf(w, 'path.test')).filter((n) => n.startsWith('.vpopbull-')), []);
  } else {
    t.is(statSync(linked).ino, statSync(source).ino, 'not root: the link is the bulletin itself');
  }

  exact(191); // -s
  const symlink = newest(w, 'catch.test', 'postmaster');
  t.is(readlinkSync(symlink), join(work, 'bulletin.txt'));
  if (isRoot) t.is(listing(symlink), `l777 89 89 ${join(work, 'bulletin.txt').length}`, "made as the domain's owner (the golden tree's symlink is root's)");
  t.is(listing(join(work, 'bulletin.txt')).slice(0, 4), 'f644', 'the symlink target is not chowned or chmodded');

  exact(192); // -V -e
  exact(193); // unknown domain: C's text, exit 0
  const s194 = run(194); // no -f: usage in our words on stdout, C's error line on stderr
  t.is(s194.r.stdout, VPOPBULL_USAGE);
  t.is(s194.r.stderr, s194.step.stderr.text);
  exact(195); // empty file

  // "a copied bulletin that had its own Date" and "(Date header added)": the states after step 195.
  const ownDate = goldenStep(195).states.find((s) => s.title === 'a copied bulletin that had its own Date');
  t.is(ownDate?.kind, 'files');
  if (ownDate?.kind === 'files') t.is(readFileSync(newest(w, 'example.test', 'alice'), 'latin1'), ownDate.files[0]!.content.text);
  const carol = readdirSync(newDir(w, 'example.test', 'carol'));
  t.is(carol.length, 1, 'carol was excluded from the second bulletin');
  t.is(
    readFileSync(join(newDir(w, 'example.test', 'carol'), carol[0]!), 'latin1').replace(DATE_LINE, 'Date: <date>'),
    `To: carol@example.test\nDate: <date>\n${BULLETIN_TXT}`,
  );
  const tinySize = readFileSync(join(domainDirOf(w, 'example.test'), 'tiny', 'Maildir', 'maildirsize'), 'latin1');
  t.true(tinySize.endsWith('\n155 1\n169 1\n'), `tiny's maildirsize counts both bulletins: ${tinySize}`);
});

test('a 10,000-user domain gets a bulletin in each mode, and Python reads every Maildir', async (t) => {
  t.timeout(240_000);
  const started = Date.now();
  const w = fastWorld(t);
  await w.addDomain('big.test');
  t.log(`domain made: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const names = Array.from({ length: 10_000 }, (_, i) => `user${String(i).padStart(5, '0')}`);
  // Every 1,000th user has a quota: the quota path runs at scale too (user00999 is over it).
  const quotaOf = (i: number) => (i % 1000 === 999 ? (i === 999 ? '100S' : '1000000S') : 'NOQUOTA');
  let mark = Date.now();
  const phase = (what: string) => {
    t.log(`${what}: ${((Date.now() - mark) / 1000).toFixed(1)} s`);
    mark = Date.now();
  };
  addManyUsers(w, 'big.test', names, { quotaOf });
  phase('10,000 users and Maildirs made');
  const bulletin = join(w.root, 'bulletin.txt');
  writeFileSync(bulletin, BULLETIN_DATED_TXT);
  chmodSync(bulletin, 0o644);
  const all = ['postmaster', ...names];

  for (const mode of ['-c', '-h', '-s']) {
    const r = runProgram(w, 'vpopbull', [mode, '-f', 'bulletin.txt', 'big.test'], { cwd: w.root });
    t.is(r.status, 0, r.stderr);
    t.is(r.stdout, '');
    t.is(r.stderr, 'user00999@big.test: over quota (in use 0 bytes in 0 messages of 100S), bulletin not delivered\n', `${mode}: only the tiny quota is refused`);
    phase(`vpopbull ${mode}`);
  }
  // -h: one inode in every mailbox but the refused one; as root it is the domain owner's copy, not the bulletin
  const hardLinked = readdirSync(newDir(w, 'big.test', 'user00000')).map((n) => join(newDir(w, 'big.test', 'user00000'), n)).filter((p) => !lstatSync(p).isSymbolicLink() && lstatSync(p).nlink > 1);
  t.is(hardLinked.length, 1);
  t.is(statSync(hardLinked[0]!).nlink, (isRoot ? 0 : 1) + all.length - 1, 'one hard link per mailbox but the refused one');
  t.is(statSync(bulletin).nlink, isRoot ? 1 : all.length, 'as root the bulletin itself is not linked');
  if (isRoot) t.is(listing(hardLinked[0]!), `f600 89 89 ${Buffer.byteLength(BULLETIN_DATED_TXT)}`);

  const dir = domainDirOf(w, 'big.test');
  const maildirs = all.map((n) => join(dir, n, 'Maildir'));
  const seen = readMaildirsWithPython(maildirs);
  phase('python3 mailbox.Maildir read all 10,001 Maildirs');
  const linkSha = sha256(BULLETIN_DATED_TXT);
  let wrong = 0;
  const firstWrong: string[] = [];
  for (const [i, name] of all.entries()) {
    const expected = name === 'user00999' ? [] : [linkSha, linkSha, sha256(`To: ${name}@big.test\n${BULLETIN_DATED_TXT}`)].sort();
    if (JSON.stringify(seen[maildirs[i]!]) !== JSON.stringify(expected)) {
      wrong++;
      if (firstWrong.length < 3) firstWrong.push(`${name}: ${JSON.stringify(seen[maildirs[i]!])}`);
    }
  }
  t.is(wrong, 0, firstWrong.join('\n'));
  t.is(Object.keys(seen).length, all.length);

  const quotaUser = readFileSync(join(dir, 'user01999', 'Maildir', 'maildirsize'), 'latin1');
  const size = Buffer.byteLength(BULLETIN_DATED_TXT);
  t.is(quotaUser, `1000000S\n0 0\n${size + Buffer.byteLength('To: user01999@big.test\n')} 1\n${size} 1\n${size} 1\n`);
  const sample = join(dir, 'user04242', 'Maildir', 'new');
  for (const name of readdirSync(sample)) {
    t.regex(name, MESSAGE_NAME);
    const st = lstatSync(join(sample, name));
    if (st.isSymbolicLink()) t.is(readlinkSync(join(sample, name)), bulletin);
    else if (st.nlink === 1) t.is(listing(join(sample, name)), isRoot ? `f600 89 89 ${size + 23}` : listing(join(sample, name)));
  }
  t.deepEqual(readdirSync(join(dir, 'user04242', 'Maildir', 'tmp')), [], 'no copy left in tmp/');
  phase('checks');
});

test('as root, each domain is served as its owner: the kernel refuses a Maildir linked out of the domain, and without a copy to link to, copies', async (t) => {
  if (!isRoot) {
    t.pass('needs root to become another user');
    return;
  }
  const w = await goldenBulletinWorld(t);
  const domain = domainDirOf(w, 'example.test');
  const bulletin = join(w.root, 'b.txt');
  writeFileSync(bulletin, BULLETIN_TXT);
  chmodSync(bulletin, 0o600); // root's and private: the owner could not read a link to it
  // alice's new/ leads to a directory of root's; bob's Maildir to a directory of the owner's elsewhere
  const rootDir = join(w.root, 'roots');
  mkdirSync(rootDir, { mode: 0o755 });
  rmSync(join(domain, 'alice', 'Maildir', 'new'), { recursive: true });
  symlinkSync(rootDir, join(domain, 'alice', 'Maildir', 'new'));
  const moved = join(w.root, 'bigdisk');
  mkdirSync(moved, { mode: 0o755 });
  renameSync(join(domain, 'bob', 'Maildir'), join(moved, 'Maildir'));
  symlinkSync(join(moved, 'Maildir'), join(domain, 'bob', 'Maildir'));
  for (const mode of ['-h', '-s', '-c']) {
    const r = runProgram(w, 'vpopbull', ['-V', mode, '-f', 'b.txt', 'example.test'], { cwd: w.root });
    t.is(r.status, 0, r.stderr);
    t.regex(r.stderr, new RegExp(`^alice@example\\.test: ERROR COPYING TO ${domain}/alice \\((link|symlink)[^()]*: EACCES\\)$`, 'm'), `${mode}: ${r.stderr}`);
    t.true(r.stdout.split('\n').includes('bob@example.test'), `${mode}: a Maildir moved to a directory of the owner's is served`);
    t.is(r.stdout.split('\n').length - 1, 9, `${mode}: every mailbox but alice's`);
  }
  t.deepEqual(readdirSync(rootDir), [], 'nothing was made in root\'s directory');
  t.is(listing(bulletin), `f600 0 0 ${BULLETIN_TXT.length}`, 'the bulletin is as it was');
  t.is(statSync(bulletin).nlink, 1);
  const bobs = readdirSync(join(moved, 'Maildir', 'new')).map((n) => join(moved, 'Maildir', 'new', n));
  t.is(bobs.length, 3);
  for (const p of bobs) t.true(lstatSync(p).uid === 89 && lstatSync(p).gid === 89, `${p} is the owner's`);
  t.deepEqual(readdirSync(domain).filter((n) => n.startsWith('.vpopbull-')), [], 'the copy linked to is gone');
  // the copy linked to is 0600 whatever umask vpopbull was started with, as every message is
  const masked = runProgram(w, 'vpopbull', ['-h', '-f', 'b.txt', 'example.test'], { cwd: w.root, wrap: ['/bin/sh', '-c', 'umask 277; exec "$@"', 'sh'] });
  t.is(masked.status, 0, masked.stderr);
  t.is(listing(newest(w, 'example.test', 'postmaster')), `f600 89 89 ${BULLETIN_TXT.length}`, 'under umask 277');

  // a domain directory the owner cannot write: no copy to link to, so the bulletin itself, which
  // the kernel refuses the owner (protected_hardlinks): copies, with both warnings
  rmSync(join(domain, 'alice', 'Maildir', 'new'));
  mkdirSync(join(domain, 'alice', 'Maildir', 'new'));
  chownSync(join(domain, 'alice', 'Maildir', 'new'), 89, 89);
  chownSync(domain, 0, 0);
  chmodSync(domain, 0o755);
  const r = runProgram(w, 'vpopbull', ['-V', '-h', '-f', 'b.txt', 'example.test'], { cwd: w.root });
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout.split('\n').length - 1, 10, 'every mailbox');
  t.regex(r.stderr, /^vpopbull: warning: example\.test: no copy of the bulletin to link to \(EACCES\b.*\); linking the bulletin itself$/m);
  t.regex(r.stderr, /^vpopbull: warning: cannot hard-link \S+b\.txt into \S+ \(EPERM: .*\); copying instead$/m);
});

test('as root, -h removes the copies a killed run left in the domain directory once they are 36 hours old, and nothing else', async (t) => {
  if (!isRoot) {
    t.pass('needs root to become another user');
    return;
  }
  const w = await goldenBulletinWorld(t);
  const domain = domainDirOf(w, 'example.test');
  writeFileSync(join(w.root, 'b.txt'), BULLETIN_TXT);
  const hoursAgo = (h: number) => (Date.now() - h * 3600 * 1000) / 1000;
  const plant = (name: string, h: number, dir = false) => {
    const p = join(domain, name);
    if (dir) mkdirSync(p);
    else writeFileSync(p, BULLETIN_TXT);
    chownSync(p, 89, 89);
    utimesSync(p, hoursAgo(h), hoursAgo(h));
  };
  plant('.vpopbull-1700000000.4242.mail.test', 37); // a killed run's copy: goes
  plant('.vpopbull-1700000000.4243.mail.test-1', 40); // its second copy: goes
  plant('.vpopbull-1800000000.4244.mail.test', 35); // younger than 36 h: stays
  plant('.vpopbull-1700000000.4245.mail.test', 50, true); // not a file: stays
  plant('.qmail-old', 50); // not a copy: stays
  const copied = runProgram(w, 'vpopbull', ['-c', '-f', 'b.txt', 'example.test'], { cwd: w.root });
  t.is(copied.status, 0, copied.stderr);
  const left = () => readdirSync(domain).filter((n) => n.startsWith('.vpopbull-') || n === '.qmail-old').sort();
  t.is(left().length, 5, '-c does not write into the domain directory, and leaves it alone');
  const r = runProgram(w, 'vpopbull', ['-h', '-f', 'b.txt', 'example.test'], { cwd: w.root });
  t.is(r.status, 0, r.stderr);
  t.is(r.stderr, '');
  t.deepEqual(left(), ['.qmail-old', '.vpopbull-1700000000.4245.mail.test', '.vpopbull-1800000000.4244.mail.test']);
  t.is(readFileSync(newest(w, 'example.test', 'postmaster'), 'latin1'), BULLETIN_TXT, 'the bulletin was delivered');
});

test('run as an ordinary user, files are the caller\'s and nothing is chowned', async (t) => {
  if (!isRoot) {
    t.pass('needs root to become another user');
    return;
  }
  const w = await goldenBulletinWorld(t);
  const nobody = 65534;
  spawnSync('chown', ['-R', `${nobody}:${nobody}`, w.root]);
  writeFileSync(join(w.root, 'b.txt'), BULLETIN_TXT);
  chmodSync(join(w.root, 'b.txt'), 0o644);
  const tinyMaildir = join(domainDirOf(w, 'example.test'), 'tiny', 'Maildir');
  spawnSync('rm', ['-rf', tinyMaildir]); // remade by vpopbull, as the caller
  const asNobody = (args: string[]) =>
    spawnSync('setpriv', [`--reuid=${nobody}`, `--regid=${nobody}`, '--clear-groups', binPath('vpopbull'), ...args], { cwd: w.root, env: w.env, encoding: 'utf8' });

  // The bulletin is root's: Linux's fs.protected_hardlinks refuses nobody a link to it, so copies.
  const refused = asNobody(['-V', '-h', '-f', 'b.txt', 'example.test']);
  t.is(refused.status, 0, refused.stderr);
  t.is(refused.stdout.split('\n').length - 1, 10);
  t.true(['', `vpopbull: warning: cannot hard-link ${join(w.root, 'b.txt')} into ${join(domainDirOf(w, 'example.test'), 'alice', 'Maildir')}/new (EPERM: links to it are not allowed, e.g. to a file of another user under fs.protected_hardlinks); copying instead\n`].includes(refused.stderr), refused.stderr);

  spawnSync('chown', [`${nobody}:${nobody}`, join(w.root, 'b.txt')]);
  for (const mode of ['-c', '-h']) {
    const r = asNobody(['-V', mode, '-f', 'b.txt', 'example.test']);
    t.is(r.status, 0, r.stderr);
    t.is(r.stderr, '');
    t.is(r.stdout.split('\n').length - 1, 10);
  }
  t.is(statSync(join(w.root, 'b.txt')).nlink, 11, 'the caller\'s own file is hard-linked');
  for (const user of ['alice', 'tiny']) {
    const dir = newDir(w, 'example.test', user);
    for (const name of readdirSync(dir)) {
      const st = statSync(join(dir, name));
      t.deepEqual([st.uid, st.gid], [nobody, nobody], `${user}/${name}`);
    }
  }
  const st = statSync(tinyMaildir);
  t.deepEqual([st.uid, st.gid, st.mode & 0o777], [nobody, nobody, 0o700], 'a remade Maildir is the caller\'s, 0700');
  const size = statSync(join(tinyMaildir, 'maildirsize'));
  t.deepEqual([size.uid, size.gid], [nobody, nobody]);
});

test('killed at any fsync or link of a copy run, no mailbox holds a partial bulletin, and a rerun serves the rest', async (t) => {
  const w = fastWorld(t);
  await w.addDomain('crash.test');
  const names = Array.from({ length: 6 }, (_, i) => `user${i}`);
  addManyUsers(w, 'crash.test', names);
  writeFileSync(join(w.root, 'b.txt'), BULLETIN_DATED_TXT);
  const dir = domainDirOf(w, 'crash.test');
  const all = ['postmaster', ...names];
  const full = (user: string) => `To: ${user}@crash.test\n${BULLETIN_DATED_TXT}`;
  for (const fault of ['fsync:1', 'fsync:4', 'rename:1', 'rename:5']) {
    for (const user of all) spawnSync('sh', ['-c', `rm -f ${join(dir, user, 'Maildir')}/new/* ${join(dir, user, 'Maildir')}/tmp/*`]);
    const killed = runProgram(w, 'vpopbull', ['-f', 'b.txt', 'crash.test'], { cwd: w.root, env: { VPOPMAIL_FAULT: fault } });
    t.is(killed.signal, 'SIGKILL', fault);
    let served = 0;
    for (const user of all) {
      const got = readdirSync(join(dir, user, 'Maildir', 'new'));
      t.true(got.length <= 1, `${fault}: ${user}`);
      for (const name of got) t.is(readFileSync(join(dir, user, 'Maildir', 'new', name), 'latin1'), full(user), `${fault}: ${user} holds the whole bulletin`);
      served += got.length;
    }
    if (fault.startsWith('fsync')) t.is(served, 0, `${fault}: nothing is linked into new/ before its batch is fsynced`);
    writeFileSync(join(w.root, 'served.txt'), all.filter((u) => readdirSync(join(dir, u, 'Maildir', 'new')).length > 0).map((u) => `${u}@crash.test\n`).join(''));
    const again = runProgram(w, 'vpopbull', ['-f', 'b.txt', '-e', 'served.txt', 'crash.test'], { cwd: w.root });
    t.is(again.status, 0, again.stderr);
    for (const user of all) t.is(readdirSync(join(dir, user, 'Maildir', 'new')).length, 1, `${fault}: after the rerun ${user} has it once`);
    rmSync(join(w.root, 'served.txt'));
  }
});
