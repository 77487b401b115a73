import test from 'ava';
import {
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { TempError } from '../../lib/exit.ts';
import { deliverToMaildir } from '../../lib/maildir/deliver.ts';
import {
  MAILDIRSIZE_MAX_BYTES,
  appendMaildirsize,
  checkMaildirQuota,
  countMaildir,
  parseMaildirsize,
  quotaRootOf,
  readMaildirsize,
  recalculateMaildirsize,
  removeMaildirsize,
  sizeFromMaildirName,
  writeMaildirsize,
  type MaildirsizeWriteOptions,
} from '../../lib/maildir/maildirsize.ts';
import { libUrl, plainMaildir, runChild, tempDir } from '../helpers/maildir-tools.ts';

const GOLDEN = '/work/shared/fixtures/golden/tree/vpopmail/domains/example.test/tiny/Maildir/new';
const NOW = 1795988144_000;
const W: MaildirsizeWriteOptions = { nowMs: NOW, pid: 4242, host: 'mail.golden.test' };

function maildirWith(t: import('ava').ExecutionContext, text?: string | Buffer): string {
  const md = plainMaildir(tempDir(t));
  if (text !== undefined) writeFileSync(join(md, 'maildirsize'), text);
  return md;
}

function setMtime(path: string, ms: number): void {
  utimesSync(path, ms / 1000, ms / 1000);
}

// --- reading ---------------------------------------------------------------------------------

test('a missing maildirsize reads as undefined', (t) => {
  t.is(readMaildirsize(maildirWith(t)), undefined);
});

test('the golden files read as their quota line and the sums of the lines after it', (t) => {
  const m = readMaildirsize(maildirWith(t, '1000000S\n0 0\n309 1\n'));
  t.like(m, { quota: '1000000S', bytes: 309, count: 1, lines: 2, sizeBytes: 19 });
  t.like(readMaildirsize(maildirWith(t, '3000S\n2336 2\n')), { quota: '3000S', bytes: 2336, count: 2, lines: 1 });
  t.like(readMaildirsize(maildirWith(t, '10485760S,1000C\n0 0\n')), { quota: '10485760S,1000C', bytes: 0, count: 0 });
});

test('negative lines (written by Dovecot on expunge) are summed; a negative total is damage', (t) => {
  t.like(readMaildirsize(maildirWith(t, '5000S\n3000 3\n-1000 -1\n')), { bytes: 2000, count: 2, lines: 2 });
  t.is(readMaildirsize(maildirWith(t, '5000S\n100 1\n-1000 -1\n')), undefined);
  t.is(readMaildirsize(maildirWith(t, '5000S\n100 1\n-50 -2\n')), undefined);
});

test('damaged files read as undefined: no LF, NUL byte, a bad line, no data line, empty', (t) => {
  for (const text of ['5000S', '5000S\n0 0\0\n', '5000S\n12\n', '5000S\nabc def\n', '5000S\n\n', '5000S\n', '']) {
    t.is(readMaildirsize(maildirWith(t, text)), undefined, JSON.stringify(text));
    t.is(parseMaildirsize(text), undefined, JSON.stringify(text));
  }
});

test('a last line without LF is a write in progress and is ignored, as Dovecot does', (t) => {
  t.like(readMaildirsize(maildirWith(t, '5000S\n100 1\n200')), { bytes: 100, count: 1, lines: 1 });
});

test('a file of 5120 bytes or more reads as undefined; 5119 bytes is read', (t) => {
  // 11 header bytes + 1277 lines of 4 bytes = 5119 bytes.
  const text = '999999999S\n' + '1 1\n'.repeat(1277);
  t.is(text.length, MAILDIRSIZE_MAX_BYTES - 1);
  t.like(readMaildirsize(maildirWith(t, text)), { bytes: 1277, count: 1277 });
  t.is(readMaildirsize(maildirWith(t, text + '1 1\n')), undefined);
});

test('a symlinked maildirsize is not followed, and a directory there is not a file', (t) => {
  const md = maildirWith(t);
  const elsewhere = join(md, '..', 'elsewhere');
  writeFileSync(elsewhere, '5000S\n100 1\n');
  symlinkSync(elsewhere, join(md, 'maildirsize'));
  t.is(readMaildirsize(md), undefined);
  const md2 = maildirWith(t);
  mkdirSync(join(md2, 'maildirsize'));
  t.is(readMaildirsize(md2), undefined);
});

test('reading never deletes: an old file is still there afterwards (unlike C, pitfall 9)', (t) => {
  const md = maildirWith(t, '5000S\n100 1\n');
  setMtime(join(md, 'maildirsize'), NOW - 3600_000);
  t.like(readMaildirsize(md), { bytes: 100, count: 1 });
  t.true(existsSync(join(md, 'maildirsize')));
});

// --- writing ---------------------------------------------------------------------------------

test('writeMaildirsize writes the quota line and one total line, mode 0644, through tmp/ and rename', (t) => {
  const md = maildirWith(t, 'old\n');
  writeMaildirsize(md, '3000S', { bytes: 2336, count: 2 }, W);
  t.is(readFileSync(join(md, 'maildirsize'), 'latin1'), '3000S\n2336 2\n');
  t.is(statSync(join(md, 'maildirsize')).mode & 0o7777, 0o644);
  t.deepEqual(readdirSync(join(md, 'tmp')), []);
});

test('writeMaildirsize takes an exact mode (tools write 0600 as C does under umask 077)', (t) => {
  const md = maildirWith(t);
  writeMaildirsize(md, '5000000S', { bytes: 0, count: 0 }, { ...W, mode: 0o600 });
  t.is(readFileSync(join(md, 'maildirsize'), 'latin1'), '5000000S\n0 0\n');
  t.is(statSync(join(md, 'maildirsize')).mode & 0o7777, 0o600);
});

test('writeMaildirsize replaces a symlink instead of writing through it', (t) => {
  const md = maildirWith(t);
  const target = join(md, '..', 'victim');
  writeFileSync(target, 'precious\n');
  symlinkSync(target, join(md, 'maildirsize'));
  writeMaildirsize(md, '1000S', { bytes: 1, count: 1 }, W);
  t.is(readFileSync(target, 'utf8'), 'precious\n');
  t.false(lstatSync(join(md, 'maildirsize')).isSymbolicLink());
});

test('maildirsize is chowned to the given owner only when running as root', (t) => {
  const md = maildirWith(t);
  writeMaildirsize(md, '1000S', { bytes: 0, count: 0 }, { ...W, owner: { uid: 65534, gid: 65533 }, euid: 0 });
  const st = statSync(join(md, 'maildirsize'));
  if (process.geteuid?.() === 0) t.deepEqual([st.uid, st.gid], [65534, 65533]);
  const md2 = maildirWith(t);
  writeMaildirsize(md2, '1000S', { bytes: 0, count: 0 }, { ...W, owner: { uid: 65534, gid: 65533 }, euid: 1000 });
  t.is(statSync(join(md2, 'maildirsize')).uid, process.geteuid!());
});

test('a missing Maildir/tmp makes the rewrite a TempError naming open() and the path', (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, 'Maildir'));
  const err = t.throws(() => writeMaildirsize(join(dir, 'Maildir'), '1000S', { bytes: 0, count: 0 }, W), { instanceOf: TempError });
  t.is(err.message, `open(${join(dir, 'Maildir', 'tmp', '1795988144.4242_NeWmAiLdIrSiZe.mail.golden.test')}) failed: ENOENT`);
});

test('killed at any step of a rewrite, maildirsize is the old file or the whole new one', async (t) => {
  const before = '5000S\n0 0\n100 1\n100 1\n';
  for (let n = 1; n <= 5; n++) {
    const md = maildirWith(t, before);
    const r = await runChild(`
      const { writeMaildirsize } = await import(${JSON.stringify(libUrl('lib/maildir/maildirsize.ts'))});
      const { faultyDurable } = await import(${JSON.stringify(libUrl('lib/fs/durable.ts'))});
      writeMaildirsize(${JSON.stringify(md)}, '5000S', { bytes: 200, count: 2 },
        { nowMs: Date.now(), pid: process.pid, host: 'h', durable: faultyDurable({ op: 'any', n: ${n} }) });
    `);
    const now = readFileSync(join(md, 'maildirsize'), 'latin1');
    t.true(now === before || now === '5000S\n200 2\n', `op ${n}: ${JSON.stringify(now)}`);
    // write, fsync, rename, fsync dir: the 5th operation does not exist.
    if (n <= 4) t.is(r.signal, 'SIGKILL', r.stderr);
    else t.is(r.status, 0, r.stderr);
    if (n <= 3) t.is(now, before);
  }
});

// --- appending -------------------------------------------------------------------------------

test('appendMaildirsize adds "<size> <count>" to an existing file and keeps its mode', (t) => {
  const md = maildirWith(t, '4000000S\n0 0\n');
  t.is(appendMaildirsize(md, '4000000S', { bytes: 315, count: 1 }, W), 'appended');
  t.is(readFileSync(join(md, 'maildirsize'), 'latin1'), '4000000S\n0 0\n315 1\n');
});

test('appendMaildirsize creates a missing file with the quota line and the one line', (t) => {
  const md = maildirWith(t);
  t.is(appendMaildirsize(md, '1000S,10C', { bytes: 315, count: 1 }, W), 'created');
  t.is(readFileSync(join(md, 'maildirsize'), 'latin1'), '1000S,10C\n315 1\n');
});

test('appendMaildirsize replaces a symlink rather than appending through it', (t) => {
  const md = maildirWith(t);
  const target = join(md, '..', 'victim');
  writeFileSync(target, 'precious\n');
  symlinkSync(target, join(md, 'maildirsize'));
  t.is(appendMaildirsize(md, '1000S', { bytes: 5, count: 1 }, W), 'created');
  t.is(readFileSync(target, 'utf8'), 'precious\n');
  t.is(readFileSync(join(md, 'maildirsize'), 'latin1'), '1000S\n5 1\n');
});

test('concurrent appends from many processes keep maildirsize parseable with exact totals', async (t) => {
  const md = maildirWith(t, '999999999S\n0 0\n');
  const CHILDREN = 12;
  const EACH = 40;
  const code = (k: number) => `
    const { appendMaildirsize } = await import(${JSON.stringify(libUrl('lib/maildir/maildirsize.ts'))});
    for (let i = 0; i < ${EACH}; i++)
      appendMaildirsize(${JSON.stringify(md)}, '999999999S', { bytes: ${k + 1} * 1000 + i, count: 1 },
        { nowMs: Date.now(), pid: process.pid, host: 'h' });
  `;
  const results = await Promise.all(Array.from({ length: CHILDREN }, (_, k) => runChild(code(k))));
  for (const r of results) t.is(r.status, 0, r.stderr);
  let bytes = 0;
  for (let k = 0; k < CHILDREN; k++) for (let i = 0; i < EACH; i++) bytes += (k + 1) * 1000 + i;
  const text = readFileSync(join(md, 'maildirsize'), 'latin1');
  t.true(text.split('\n').slice(1, -1).every((l) => /^\d+ 1$/.test(l) || l === '0 0'));
  // 12 * 40 lines of ~8 bytes is under 5120 bytes, so the file is still read rather than recounted.
  t.like(readMaildirsize(md), { bytes, count: CHILDREN * EACH, lines: CHILDREN * EACH + 1 });
});

test('removeMaildirsize removes the file and does not mind when it is missing', (t) => {
  const md = maildirWith(t, '1000S\n0 0\n');
  removeMaildirsize(md);
  t.false(existsSync(join(md, 'maildirsize')));
  t.notThrows(() => removeMaildirsize(md));
});

// --- counting --------------------------------------------------------------------------------

test('sizes come from ,S= before the info part; anything else has none', (t) => {
  t.is(sizeFromMaildirName('1795988144.27175.mail.golden.test,S=319'), 319);
  t.is(sizeFromMaildirName('1.2.h,S=319:2,S'), 319);
  t.is(sizeFromMaildirName('1.2.h,S=319,W=330:2,'), 319);
  t.is(sizeFromMaildirName('1.2.h,S=x'), undefined);
  t.is(sizeFromMaildirName('1.2.h:2,S=5'), undefined);
  t.is(sizeFromMaildirName('1.2.h'), undefined);
});

test('countMaildir counts new/, cur/ and folders, skipping .Trash, dot files and T-flagged mail', (t) => {
  const md = plainMaildir(tempDir(t));
  writeFileSync(join(md, 'new', '1.1.h,S=100'), 'x'); // size from the name, not the 1-byte file
  writeFileSync(join(md, 'new', '2.2.h'), 'x'.repeat(42)); // no ,S=: stat size
  writeFileSync(join(md, 'new', '.hidden'), 'x'.repeat(1000));
  writeFileSync(join(md, 'cur', '3.3.h,S=7:2,S'), '');
  writeFileSync(join(md, 'cur', '4.4.h,S=5000:2,ST'), ''); // marked deleted
  for (const f of ['.Sent', '.Trash', '.a.b']) {
    mkdirSync(join(md, f, 'cur'), { recursive: true });
    mkdirSync(join(md, f, 'new'), { recursive: true });
    writeFileSync(join(md, f, 'maildirfolder'), '');
  }
  writeFileSync(join(md, '.Sent', 'cur', '5.5.h,S=11:2,S'), '');
  writeFileSync(join(md, '.a.b', 'new', '6.6.h,S=13'), '');
  writeFileSync(join(md, '.Trash', 'cur', '7.7.h,S=100000:2,S'), '');
  mkdirSync(join(md, 'tmp', 'x'));
  writeFileSync(join(md, 'tmp', '8.8.h,S=999'), '');
  const c = countMaildir(md);
  t.is(c.count, 5);
  t.is(c.bytes, 100 + 42 + 7 + 11 + 13);
  t.true(c.latestMtimeMs > 0);
});

test('a Maildir++ folder (maildirfolder file) shares its parent Maildir quota', (t) => {
  const md = plainMaildir(tempDir(t));
  const folder = join(md, '.Sent');
  mkdirSync(join(folder, 'cur'), { recursive: true });
  writeFileSync(join(folder, 'maildirfolder'), '');
  t.is(quotaRootOf(folder), md);
  t.is(quotaRootOf(md), md);
  appendMaildirsize(folder, '1000S', { bytes: 1, count: 1 }, W);
  t.true(existsSync(join(md, 'maildirsize')));
  t.false(existsSync(join(folder, 'maildirsize')));
});

test('the check names the quota root and the quota line it read or wrote; none when it knows none', (t) => {
  const md = maildirWith(t, '5000S\n0 0\n100 1\n');
  const folder = join(md, '.Sent');
  mkdirSync(join(folder, 'cur'), { recursive: true });
  writeFileSync(join(folder, 'maildirfolder'), '');
  t.like(checkMaildirQuota(folder, '5000S', { ...W, incomingBytes: 1 }), { quotaRoot: md, quotaLine: '5000S', recounted: false });
  // a mismatched line is rewritten by the recount: the line is then the quota asked for
  t.like(checkMaildirQuota(md, '7000S', { ...W, incomingBytes: 1 }), { quotaRoot: md, quotaLine: '7000S', recounted: true });
  // no limits and no file: nothing read, nothing written, so nothing known
  const bare = maildirWith(t);
  t.like(checkMaildirQuota(bare, 'NOQUOTA', { ...W, incomingBytes: 1 }), { quotaRoot: bare, quotaLine: undefined });
});

test('a quota root given by the caller is used as it is: no second look for maildirfolder', (t) => {
  const md = maildirWith(t, '5000S\n0 0\n100 1\n');
  const folder = join(md, '.Sent');
  mkdirSync(join(folder, 'cur'), { recursive: true });
  writeFileSync(join(folder, 'maildirfolder'), '');
  // told the folder is its own root, the check and the append use the folder's own file
  writeFileSync(join(folder, 'maildirsize'), '9000S\n0 0\n5 1\n');
  const c = checkMaildirQuota(folder, '9000S', { ...W, incomingBytes: 1, quotaRoot: folder });
  t.like(c, { quotaRoot: folder, quotaLine: '9000S' });
  t.deepEqual(c.usage, { bytes: 5, count: 1 });
  appendMaildirsize(folder, '9000S', { bytes: 7, count: 1 }, { ...W, quotaRoot: folder });
  t.is(readFileSync(join(folder, 'maildirsize'), 'latin1'), '9000S\n0 0\n5 1\n7 1\n');
  t.is(readFileSync(join(md, 'maildirsize'), 'latin1'), '5000S\n0 0\n100 1\n');
});

test('recalculateMaildirsize writes the count with the quota line', (t) => {
  const md = maildirWith(t, '3000S\n0 0\n99999 9\n');
  writeFileSync(join(md, 'new', '1.1.h,S=1168'), '');
  writeFileSync(join(md, 'cur', '2.2.h,S=1168:2,S'), '');
  t.like(recalculateMaildirsize(md, '3000S', W), { bytes: 2336, count: 2, isStable: true });
  t.is(readFileSync(join(md, 'maildirsize'), 'latin1'), '3000S\n2336 2\n');
});

// --- the over-quota test ---------------------------------------------------------------------

const TINY = readdirSync(GOLDEN).filter((n) => n.includes(',S=')).sort();
const TINY_BODY = 1168 - 'Return-Path: <sender@remote.test>\nDelivered-To: tiny@example.test\n'.length;

test('golden steps 179-181: two deliveries append, the third recounts, refuses, and leaves 0644', (t) => {
  const md = maildirWith(t);
  writeMaildirsize(md, '3000S', { bytes: 0, count: 0 }, { ...W, mode: 0o600 }); // what vadduser left: 0600
  t.is(TINY.length, 2);
  for (const [i, name] of TINY.entries()) {
    const check = checkMaildirQuota(md, '3000S', { ...W, incomingBytes: TINY_BODY });
    t.false(check.isOverQuota);
    t.false(check.recounted);
    const fd = openSync(join(GOLDEN, name), 'r');
    const d = deliverToMaildir(md, { fd, offset: 0 }, { nowMs: NOW, pid: 27327 + i, host: 'mail.golden.test' });
    closeSync(fd);
    t.is(d.sizeBytes, 1168);
    appendMaildirsize(md, '3000S', { bytes: d.sizeBytes, count: 1 }, W);
  }
  t.is(readFileSync(join(md, 'maildirsize'), 'latin1'), '3000S\n0 0\n1168 1\n1168 1\n');
  t.is(statSync(join(md, 'maildirsize')).mode & 0o7777, 0o600);
  const third = checkMaildirQuota(md, '3000S', { ...W, incomingBytes: TINY_BODY });
  t.true(third.isOverQuota);
  t.true(third.recounted);
  t.deepEqual(third.usage, { bytes: 2336, count: 2 });
  t.is(third.percent, 77);
  t.is(readFileSync(join(md, 'maildirsize'), 'latin1'), '3000S\n2336 2\n');
  t.is(statSync(join(md, 'maildirsize')).mode & 0o7777, 0o644);
});

test('over quota by a fresh one-line file: refused without a recount', (t) => {
  // spec example 12.5: quota 1000S, fresh `900 3`, incoming 200.
  const md = maildirWith(t, '1000S\n900 3\n');
  setMtime(join(md, 'maildirsize'), NOW - 60_000);
  writeFileSync(join(md, 'new', '1.1.h,S=10'), ''); // a recount would say 10 bytes
  const c = checkMaildirQuota(md, '1000S', { ...W, incomingBytes: 200 });
  t.like(c, { isOverQuota: true, recounted: false, percent: 90 });
  t.is(readFileSync(join(md, 'maildirsize'), 'latin1'), '1000S\n900 3\n');
});

test('over quota by a one-line file older than 15 minutes: recounted first', (t) => {
  const md = maildirWith(t, '1000S\n900 3\n');
  setMtime(join(md, 'maildirsize'), NOW - 16 * 60_000);
  writeFileSync(join(md, 'new', '1.1.h,S=10'), '');
  const c = checkMaildirQuota(md, '1000S', { ...W, incomingBytes: 200 });
  t.like(c, { isOverQuota: false, recounted: true });
  t.deepEqual(c.usage, { bytes: 10, count: 1 });
  t.is(readFileSync(join(md, 'maildirsize'), 'latin1'), '1000S\n10 1\n');
});

test('not over quota by an old file: believed, not recounted (the Maildir++ rule, not C\'s)', (t) => {
  const md = maildirWith(t, '5000S\n0 0\n100 1\n');
  setMtime(join(md, 'maildirsize'), NOW - 24 * 3600_000);
  writeFileSync(join(md, 'new', '1.1.h,S=4000'), '');
  const c = checkMaildirQuota(md, '5000S', { ...W, incomingBytes: 200 });
  t.like(c, { isOverQuota: false, recounted: false });
  t.deepEqual(c.usage, { bytes: 100, count: 1 });
  t.is(readFileSync(join(md, 'maildirsize'), 'latin1'), '5000S\n0 0\n100 1\n');
});

test('a missing, damaged or mismatched maildirsize is rebuilt by the check', (t) => {
  for (const text of [undefined, 'garbage', '9999S\n0 0\n']) {
    const md = maildirWith(t, text);
    writeFileSync(join(md, 'cur', '1.1.h,S=700:2,S'), '');
    const c = checkMaildirQuota(md, '1000S,5C', { ...W, incomingBytes: 200 });
    t.like(c, { isOverQuota: false, recounted: true }, String(text));
    t.is(readFileSync(join(md, 'maildirsize'), 'latin1'), '1000S,5C\n700 1\n');
  }
});

test('the count limit refuses the message that would make one too many', (t) => {
  const md = maildirWith(t, '5C\n1 5\n');
  setMtime(join(md, 'maildirsize'), NOW);
  t.like(checkMaildirQuota(md, '5C', { ...W, incomingBytes: 1 }), { isOverQuota: true, recounted: false, percent: 100 });
  const md2 = maildirWith(t, '5C\n0 0\n1 4\n');
  t.like(checkMaildirQuota(md2, '5C', { ...W, incomingBytes: 1 }), { isOverQuota: false, percent: 80 });
});

test('a quota without limits is never over and touches no file', (t) => {
  for (const quota of ['NOQUOTA', '']) {
    const md = maildirWith(t);
    const c = checkMaildirQuota(md, quota, { ...W, incomingBytes: 1e12 });
    t.like(c, { isOverQuota: false, recounted: false, percent: 0 });
    t.false(existsSync(join(md, 'maildirsize')));
  }
});

test('asking with no incoming message reports usage and the percentage', (t) => {
  const md = maildirWith(t, '1000000S\n0 0\n309 1\n');
  const c = checkMaildirQuota(md, '1000000S', { ...W, incomingBytes: 0, incomingCount: 0 });
  t.deepEqual(c.usage, { bytes: 309, count: 1 });
  t.is(c.percent, 0);
});
