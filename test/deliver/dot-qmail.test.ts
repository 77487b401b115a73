import test from 'ava';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TempError } from '../../lib/exit.ts';
import { dotQmailLines, dotQmailNames, parseInstruction, readDotQmail } from '../../lib/deliver/dot-qmail.ts';
import { tempDir } from '../helpers/maildir-tools.ts';

test('instructions by first character: comment, program, Maildir, mbox, forward', (t) => {
  t.deepEqual(parseInstruction('# note'), { kind: 'comment' });
  t.deepEqual(parseInstruction('| /usr/bin/prog -x'), { kind: 'program', command: '/usr/bin/prog -x' });
  t.deepEqual(parseInstruction('|| |prog'), { kind: 'program', command: 'prog' });
  t.deepEqual(parseInstruction('./Maildir/'), { kind: 'maildir', path: './Maildir/' });
  t.deepEqual(parseInstruction('/home/x/Maildir/'), { kind: 'maildir', path: '/home/x/Maildir/' });
  t.deepEqual(parseInstruction('./mbox'), { kind: 'mbox', path: './mbox' });
  t.deepEqual(parseInstruction('&bob@example.net'), { kind: 'forward', address: 'bob@example.net' });
  t.deepEqual(parseInstruction('bob@example.net'), { kind: 'forward', address: 'bob@example.net' });
  t.deepEqual(parseInstruction('&&bob'), { kind: 'forward', address: '&bob' });
  t.deepEqual(parseInstruction('delete-no-mailbox'), { kind: 'forward', address: 'delete-no-mailbox' });
});

test('.qmail text: LF-separated, trailing blanks and CR dropped, blank lines skipped, comments kept', (t) => {
  t.deepEqual(dotQmailLines('&a@b.test\r\n\n   \n./Maildir/ \t\n# c\n|prog'), ['&a@b.test', './Maildir/', '# c', '|prog']);
  t.deepEqual(dotQmailLines(''), []);
  t.deepEqual(dotQmailLines('\n\n'), []);
});

test('the names tried in a home: .qmail only, or with qmail-ext the extension forms first', (t) => {
  t.deepEqual(dotQmailNames('', true), ['.qmail']);
  t.deepEqual(dotQmailNames('lists', false), ['.qmail']);
  t.deepEqual(dotQmailNames('lists', true), ['.qmail-lists', '.qmail-default', '.qmail']);
  t.deepEqual(dotQmailNames('a-b-c', true), ['.qmail-a-b-c', '.qmail-a-b-default', '.qmail-a-default', '.qmail-default', '.qmail']);
  t.deepEqual(dotQmailNames('x/../../y', true), ['.qmail'], 'no name outside the home');
});

test('readDotQmail takes the first file that exists, missing ones are skipped', (t) => {
  const dir = tempDir(t);
  t.is(readDotQmail(dir, ['.qmail-x', '.qmail']), undefined);
  writeFileSync(join(dir, '.qmail'), '&a@b.test\n');
  t.deepEqual(readDotQmail(dir, ['.qmail-x', '.qmail']), { path: join(dir, '.qmail'), lines: ['&a@b.test'] });
  writeFileSync(join(dir, '.qmail-x'), '');
  t.deepEqual(readDotQmail(dir, ['.qmail-x', '.qmail'])?.lines, [], 'an empty file is found (and then falls through)');
});

test('a .qmail that exists but cannot be read is a temporary error, not "no .qmail"', (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, '.qmail'));
  t.throws(() => readDotQmail(dir, ['.qmail']), { instanceOf: TempError, message: /not a regular file/ });
  const big = join(dir, 'big');
  mkdirSync(big);
  writeFileSync(join(big, '.qmail'), Buffer.alloc(2 * 1024 * 1024, 0x61));
  t.throws(() => readDotQmail(big, ['.qmail']), { instanceOf: TempError, message: /larger than/ });
  if (process.geteuid?.() === 0) return; // root reads anything; the mode case runs unprivileged only
  const locked = join(dir, 'locked');
  mkdirSync(locked);
  writeFileSync(join(locked, '.qmail'), 'x\n');
  chmodSync(join(locked, '.qmail'), 0);
  t.throws(() => readDotQmail(locked, ['.qmail']), { instanceOf: TempError });
});
