// The bulletin file, the copy headers, the exclusion list and the buffered output.
import test from 'ava';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BULLETIN_MEMORY_MAX_BYTES, BulletinError, closeBulletin, copyHeaders, formatDateLine, headerHasDate, openBulletin } from '../../lib/bulletin/bulletin.ts';
import { readExclusions } from '../../lib/bulletin/exclusions.ts';
import { BulletinOutput } from '../../lib/bulletin/output.ts';
import { sendBulletin } from '../../lib/bulletin/vpopbull.ts';
import { createCdbBackend } from '../../lib/backends/cdb.ts';
import { captureIo } from '../../lib/cli/agent.ts';
import { tempDir } from '../helpers/maildir-tools.ts';
import { domainDirOf, fastWorld, sha256 } from '../helpers/bulletin-world.ts';

test('the Date test reads header lines only, up to the first blank line (LF or CRLF)', (t) => {
  const yes = ['Date: Mon, 01 Jan 2024 00:00:00 +0000\n\nx', 'From: a\nDATE: x\n\n', 'From: a\ndate:x\n\n', 'From: a\r\nDate: x\r\n\r\n', 'Subject: s\nDate: x'];
  const no = ['From: a\n\nDate: x\n', 'From: a\r\n\r\nDate: x\r\n', '\nDate: x\n', 'From: a\nX-Date: x\n\n', 'From: a\n Date: x\n\n', 'Dat\n', ''];
  for (const text of yes) t.true(headerHasDate(Buffer.from(text)), JSON.stringify(text));
  for (const text of no) t.false(headerHasDate(Buffer.from(text)), JSON.stringify(text));
});

test('the added Date line is RFC 5322 in UTC with a two-digit day, as the spec gives it', (t) => {
  t.is(formatDateLine(Date.UTC(2024, 0, 1, 0, 0, 0)), 'Date: Mon, 01 Jan 2024 00:00:00 +0000\n');
  t.is(formatDateLine(Date.UTC(2026, 11, 31, 23, 59, 59, 999)), 'Date: Thu, 31 Dec 2026 23:59:59 +0000\n');
  t.is(copyHeaders('bob@example.test', undefined).toString('latin1'), 'To: bob@example.test\n');
  t.is(copyHeaders('b\xe9@example.test', 'Date: x\n').toString('hex'), Buffer.from('To: b\xe9@example.test\nDate: x\n', 'latin1').toString('hex'), 'names are bytes');
});

test('a small bulletin is read once into memory; a large one is streamed, its headers still scanned', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'small'), 'Date: x\n\nbody\n');
  const small = openBulletin('small', dir);
  t.teardown(() => closeBulletin(small));
  t.is(small.bytes?.toString(), 'Date: x\n\nbody\n');
  t.true(small.hasDate);
  t.is(small.path, join(dir, 'small'));
  writeFileSync(join(dir, 'large'), Buffer.concat([Buffer.from('Subject: big\n\n'), Buffer.alloc(BULLETIN_MEMORY_MAX_BYTES, 0x61)]));
  const large = openBulletin(join(dir, 'large'), '/');
  t.teardown(() => closeBulletin(large));
  t.is(large.bytes, undefined);
  t.is(large.sizeBytes, BULLETIN_MEMORY_MAX_BYTES + 14);
  t.false(large.hasDate);
});

test('opening refuses a missing, empty or non-regular bulletin with C\'s texts and exit 255', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'empty'), '');
  for (const [name, message] of [
    ['missing', 'Could not open file missing'],
    ['empty', 'Error: empty is empty'],
    ['/dev/null', 'Error: /dev/null is empty'],
    ['.', 'Error: . is not a regular file'],
  ] as const) {
    const err = t.throws(() => openBulletin(name, dir), { instanceOf: BulletinError });
    t.is(err?.message, message);
    t.is(err?.exitCode, 255);
  }
});

test('a bulletin larger than the memory limit is copied whole into every mailbox', async (t) => {
  const w = fastWorld(t);
  await w.addDomain('example.test');
  await w.addDomain('other.test');
  const body = Buffer.alloc(BULLETIN_MEMORY_MAX_BYTES + 12345);
  for (let i = 0; i < body.length; i++) body[i] = 0x41 + (i % 26);
  body.write('Date: Mon, 01 Jan 2024 00:00:00 +0000\n\n', 0, 'latin1');
  writeFileSync(join(w.root, 'big'), body);
  const bulletin = openBulletin('big', w.root);
  t.teardown(() => closeBulletin(bulletin));
  const io = captureIo();
  const summary = await sendBulletin(
    { mode: 'copy', verbose: false, dryRun: false, bulletin, exclusions: new Set(), domains: ['example.test', 'other.test'] },
    { config: w.config, backend: createCdbBackend(w.config), out: new BulletinOutput(io), host: 'h', pid: 7, now: Date.now },
  );
  t.is(summary.delivered, 2, io.err);
  for (const d of ['example.test', 'other.test']) {
    const newDir = join(domainDirOf(w, d), 'postmaster', 'Maildir', 'new');
    const [name] = readdirSync(newDir);
    const got = readFileSync(join(newDir, name!));
    t.is(sha256(got), sha256(Buffer.concat([Buffer.from(`To: postmaster@${d}\n`), body])));
  }
});

test('the exclusion list is its lines without LF, nothing trimmed; a last line without LF counts', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'x'), 'a@example.test\nb@example.test\r\n c@example.test\n\nlast@example.test');
  t.deepEqual([...readExclusions('x', dir)], ['a@example.test', 'b@example.test\r', ' c@example.test', '', 'last@example.test']);
  t.throws(() => readExclusions('nope', dir), { instanceOf: BulletinError, message: 'Could not open file nope' });
});

test('stdout lines are written in blocks and flushed before anything goes to stderr', (t) => {
  const writes: string[] = [];
  const out = new BulletinOutput({ stdout: (s) => writes.push(`out:${Buffer.from(s).toString('latin1')}`), stderr: (s) => writes.push(`err:${s}`) });
  out.stdout('a@x\n');
  out.stdout('b\xe9@x\n');
  t.deepEqual(writes, [], 'nothing written yet');
  out.stderr('oops\n');
  t.deepEqual(writes, ['out:a@x\nb\xe9@x\n', 'err:oops\n'], 'in order, bytes kept');
  out.status('42 so far');
  out.stdout('c@x\n');
  out.flush();
  t.deepEqual(writes.slice(2), ['err:\r\x1b[K42 so far', 'err:\r\x1b[K', 'out:c@x\n'], 'a progress line is cleared before other output');
});
