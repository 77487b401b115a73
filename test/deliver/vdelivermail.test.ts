// lib/deliver/vdelivermail in-process: every row of spec/vdelivermail.md's tables, with generated
// inputs for the character rules, against real files made by lib/accounts.
import test from 'ava';
import { existsSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addAliasDomain } from '../../lib/accounts/domains.ts';
import { modifyUser } from '../../lib/accounts/users.ts';
import { PW_FLAG, type Backend } from '../../lib/backends/backend.ts';
import { createCdbBackend } from '../../lib/backends/cdb.ts';
import { TempError } from '../../lib/exit.ts';
import { deliverInProcess, put } from '../helpers/deliver-in-process.ts';
import { deliveryWorld, goldenMessage, maildirFiles, modeLine, newMessages, storedPrefix, type DeliveryWorld } from '../helpers/qmail-env.ts';
import { readWithPython } from '../helpers/maildir-tools.ts';

const MSG = 'Received: from remote.test by mail.golden.test with SMTP\nFrom: a@remote.test\nTo: x@example.test\nSubject: s\n\nbody\n';

async function world(t: import('ava').ExecutionContext, settings = ''): Promise<DeliveryWorld & { dom: string }> {
  const w = await deliveryWorld(t, settings);
  const dom = await w.addDomain('example.test');
  await w.addUser('alice@example.test', 'pw-a');
  return Object.assign(w, { dom });
}

const md = (w: { dom: string }, user: string) => join(w.dom, user, 'Maildir');

test('wrong argument count is 111 with C text, before EXT and HOST are looked at', async (t) => {
  const w = await world(t);
  for (const args of [[], [''], ['', 'delete', 'x']]) {
    const r = await deliverInProcess(w, 'alice', 'example.test', '', MSG, { args, env: { EXT: undefined } });
    t.deepEqual(r, { code: 111, out: 'vdelivermail: invalid syntax in .qmail-default file\n', err: '' });
  }
  t.deepEqual(maildirFiles(md(w, 'alice')), []);
});

test('no EXT or no HOST is 100 with C text (typo included)', async (t) => {
  const w = await world(t);
  t.deepEqual(await deliverInProcess(w, 'alice', 'example.test', 'delete', MSG, { env: { EXT: undefined } }), {
    code: 100,
    out: 'vdelivermail: no EXT environment varilable\n',
    err: '',
  });
  t.deepEqual(await deliverInProcess(w, 'alice', 'example.test', 'delete', MSG, { env: { HOST: undefined } }), {
    code: 100,
    out: 'vdelivermail: no HOST environment varilable\n',
    err: '',
  });
});

test('every byte in EXT and HOST is judged by C character rules (512 cases)', async (t) => {
  const w = await world(t);
  const userOk = /^[!#$&'*+\-./0-9=?A-Za-z^_`{|}~]$/;
  const domainOk = /^[A-Za-z0-9.-]$/;
  for (let b = 1; b < 256; b++) {
    const c = String.fromCharCode(b);
    const r = await deliverInProcess(w, `ghost${c}x`, 'example.test', 'delete', MSG, { env: { EXT: `ghost${c}x` } });
    t.deepEqual([r.code, r.out], userOk.test(c) ? [0, ''] : [100, 'invalid username\n'], `EXT byte ${b}`);
    const h = await deliverInProcess(w, 'ghost', 'example.test', 'delete', MSG, { env: { HOST: `exa${c}mple.test` } });
    t.deepEqual([h.code, h.out], domainOk.test(c) ? [0, ''] : [100, 'invalid domain name\n'], `HOST byte ${b}`);
  }
});

test('a message for an existing user lands in new/ with C name, mode and prepended lines', async (t) => {
  const w = await world(t);
  const body = goldenMessage('msg-alice.eml', 'alice@example.test', 'hello alice');
  const now = 1795988144_123;
  const r = await deliverInProcess(w, 'alice', 'example.test', 'bounce-no-mailbox', body, { now: () => now, pid: 27175 });
  t.deepEqual(r, { code: 0, out: '', err: '' });
  const expected = storedPrefix('alice@example.test') + body;
  t.is(expected.length, 319, 'the golden size');
  t.deepEqual(maildirFiles(md(w, 'alice')), ['1795988144.27175.mail.golden.test,S=319']);
  t.is(readFileSync(join(md(w, 'alice'), 'new', '1795988144.27175.mail.golden.test,S=319'), 'latin1'), expected);
  t.is(modeLine(join(md(w, 'alice'), 'new', '1795988144.27175.mail.golden.test,S=319')), 'f600 89:89 319');
  t.deepEqual(maildirFiles(md(w, 'alice'), 'tmp'), []);
  t.false(existsSync(join(md(w, 'alice'), 'maildirsize')), 'NOQUOTA without maildirsize: none is made');
  const py = readWithPython(md(w, 'alice'));
  t.is(py.count, 1);
});

test('EXT is lower-cased; an alias domain delivers to the real one, Delivered-To from the path', async (t) => {
  const w = await world(t);
  await addAliasDomain(w.ctx, 'example.test', 'alias.test');
  t.is((await deliverInProcess(w, 'ALICE', 'example.test', 'bounce-no-mailbox', MSG)).code, 0);
  t.is((await deliverInProcess(w, 'Alice', 'ALIAS.test', 'bounce-no-mailbox', MSG)).code, 0);
  const msgs = newMessages(md(w, 'alice')).map((b) => b.toString('latin1'));
  t.is(msgs.length, 2);
  for (const m of msgs) t.true(m.startsWith(storedPrefix('alice@example.test')), m);
});

test('an unknown user: delete is 0, bounce-no-mailbox 100 with C text or the .no-user.msg files', async (t) => {
  const w = await world(t);
  t.deepEqual(await deliverInProcess(w, 'nobody', 'example.test', 'delete', MSG), { code: 0, out: '', err: '' });
  t.deepEqual(await deliverInProcess(w, 'nobody', 'example.test', '#comment', MSG), { code: 0, out: '', err: '' });
  t.deepEqual(await deliverInProcess(w, 'nobody', 'example.test', 'bounce-no-mailbox', MSG), {
    code: 100,
    out: 'Sorry, no mailbox here by that name. (#5.1.1)\n',
    err: '',
  });
  put(join(w.vhome, 'domains', '.no-user.msg'), 'global: no such user\nsecond line\n');
  t.is((await deliverInProcess(w, 'nobody', 'example.test', 'bounce-no-mailbox', MSG)).out, 'global: no such user\nsecond line\n');
  put(join(w.dom, '.no-user.msg'), 'domain text');
  t.deepEqual(await deliverInProcess(w, 'nobody', 'example.test', 'bounce-no-mailbox', MSG), { code: 100, out: 'domain text', err: '' });
  // a domain users/assign does not know: only the global file, never /.no-user.msg
  t.is((await deliverInProcess(w, 'nobody', 'unknown.test', 'bounce-no-mailbox', MSG)).out, 'global: no such user\nsecond line\n');
  t.is((await deliverInProcess(w, 'nobody', 'unknown.test', 'delete', MSG)).code, 0);
});

test('catch-all address: qmail-inject -- address with Return-Path and the recipient as Delivered-To', async (t) => {
  const w = await world(t);
  const body = goldenMessage('msg-catch.eml', 'ghost@example.test', 'catch-all by address');
  const r = await deliverInProcess(w, 'ghost', 'example.test', '&catchall@elsewhere.test', body);
  t.deepEqual(r, { code: 0, out: '', err: '' });
  t.is(readFileSync(w.injectLog, 'latin1'), `=== qmail-inject [--] [catchall@elsewhere.test]\n${storedPrefix('ghost@example.test')}${body}=== end\n`);
});

test('catch-all home path: C notice, the Maildir of that home, Delivered-To the recipient, quota from its maildirsize', async (t) => {
  const w = await world(t);
  const pm = join(w.dom, 'postmaster');
  writeFileSync(join(pm, 'Maildir', 'maildirsize'), '4000000S\n0 0\n');
  const body = goldenMessage('msg-path.eml', 'ghost@example.test', 'catch-all by path');
  const r = await deliverInProcess(w, 'ghost', 'example.test', pm, body);
  t.deepEqual(r, { code: 0, out: `user does not exist, but will deliver to ${pm}/\n`, err: '' });
  const msgs = newMessages(join(pm, 'Maildir'));
  t.is(msgs.length, 1);
  t.is(msgs[0]!.toString('latin1'), storedPrefix('ghost@example.test') + body);
  t.is(readFileSync(join(pm, 'Maildir', 'maildirsize'), 'latin1'), `4000000S\n0 0\n${msgs[0]!.length} 1\n`);
  // the quota of that Maildir holds for catch-all mail too
  writeFileSync(join(pm, 'Maildir', 'maildirsize'), '100S\n0 0\n');
  const over = await deliverInProcess(w, 'ghost', 'example.test', `${pm}/`, body);
  t.deepEqual([over.code, over.out], [100, `user does not exist, but will deliver to ${pm}/\nuser is over quota\n\n`]);
});

test('catch-all home with a .qmail: its lines are obeyed, relative ones inside that home', async (t) => {
  const w = await world(t);
  const pm = join(w.dom, 'postmaster');
  put(join(pm, '.qmail'), '&copy@elsewhere.test\n./Maildir/\n');
  const r = await deliverInProcess(w, 'ghost', 'example.test', pm, MSG);
  t.is(r.code, 0);
  t.regex(readFileSync(w.injectLog, 'latin1'), /^=== qmail-inject \[--\] \[copy@elsewhere.test\]\nReturn-Path: <sender@remote.test>\nDelivered-To: ghost@example.test\n/);
  const msgs = newMessages(join(pm, 'Maildir'));
  t.is(msgs.length, 1);
  t.true(msgs[0]!.toString('latin1').startsWith(storedPrefix('postmaster@example.test')));
});

test('default action ./Maildir/ is relative to the domain dir and names the recipient; a mbox path is 111', async (t) => {
  const w = await world(t);
  for (const sub of ['new', 'cur', 'tmp']) mkdirSync(join(w.dom, 'Maildir', sub), { recursive: true });
  t.deepEqual(await deliverInProcess(w, 'ghost', 'example.test', './Maildir/', MSG), { code: 0, out: '', err: '' });
  t.is(newMessages(join(w.dom, 'Maildir'))[0]!.toString('latin1'), storedPrefix('ghost@example.test') + MSG);
  t.deepEqual(await deliverInProcess(w, 'ghost', 'example.test', './mbox', MSG), { code: 111, out: "can't handle mbox delivery for ./mbox\n", err: '' });
});

test('default action |program: runs in the domain dir, its 99/100/111 become ours', async (t) => {
  const w = await world(t);
  const out = join(w.root, 'prog.out');
  t.is((await deliverInProcess(w, 'ghost', 'example.test', `|cat > ${out}; pwd >> ${out}`, MSG)).code, 0);
  t.is(readFileSync(out, 'latin1'), `${MSG}${w.dom}\n`, 'nothing prepended, cwd the domain dir');
  t.is((await deliverInProcess(w, 'ghost', 'example.test', '|exit 99', MSG)).code, 99);
  t.is((await deliverInProcess(w, 'ghost', 'example.test', '|exit 100', MSG)).code, 100);
  t.is((await deliverInProcess(w, 'ghost', 'example.test', '|exit 65', MSG)).code, 100);
  t.is((await deliverInProcess(w, 'ghost', 'example.test', '|exit 1', MSG)).code, 111);
});

test("a user's .qmail forwards and keeps a copy (golden step 182)", async (t) => {
  const w = await world(t);
  await w.addUser('carol@example.test', 'pw-c');
  put(join(w.dom, 'carol', '.qmail'), '&carol@elsewhere.test\n./Maildir/\n');
  const body = goldenMessage('msg-bob.eml', 'bob@example.test', 'hello bob');
  t.deepEqual(await deliverInProcess(w, 'carol', 'example.test', 'bounce-no-mailbox', body), { code: 0, out: '', err: '' });
  t.is(readFileSync(w.injectLog, 'latin1'), `=== qmail-inject [--] [carol@elsewhere.test]\n${storedPrefix('carol@example.test')}${body}=== end\n`);
  const msgs = newMessages(md(w, 'carol'));
  t.is(msgs.length, 1);
  t.is(msgs[0]!.length, 311, 'the golden size');
  t.is(msgs[0]!.toString('latin1'), storedPrefix('carol@example.test') + body);
});

test('.qmail rules: comments count as lines, blank lines do not, 99 stops, 100 bounces, mbox defers', async (t) => {
  const w = await world(t);
  const qm = join(w.dom, 'alice', '.qmail');
  put(qm, '# only a comment\n');
  t.is((await deliverInProcess(w, 'alice', 'example.test', 'bounce-no-mailbox', MSG)).code, 0);
  t.deepEqual(maildirFiles(md(w, 'alice')), [], 'a comment-only .qmail discards, as in C');
  put(qm, '');
  t.is((await deliverInProcess(w, 'alice', 'example.test', 'bounce-no-mailbox', MSG)).code, 0);
  t.is(maildirFiles(md(w, 'alice')).length, 1, 'an empty .qmail falls through to the Maildir');
  put(qm, '\n  \n\r\n');
  t.is((await deliverInProcess(w, 'alice', 'example.test', 'bounce-no-mailbox', MSG)).code, 0);
  t.is(maildirFiles(md(w, 'alice')).length, 2, 'blank lines only: also the Maildir, no empty forward');
  put(qm, '|exit 99\n&never@elsewhere.test\n');
  t.is((await deliverInProcess(w, 'alice', 'example.test', 'bounce-no-mailbox', MSG)).code, 99);
  t.is(readFileSync(w.injectLog, 'latin1'), '', '99 stops before the next line');
  put(qm, './Maildir/\r\n|exit 100\n');
  t.is((await deliverInProcess(w, 'alice', 'example.test', 'bounce-no-mailbox', MSG)).code, 100);
  t.is(maildirFiles(md(w, 'alice')).length, 3, 'the CR-ended Maildir line was delivered first');
  put(qm, './Maildir\n');
  t.deepEqual(await deliverInProcess(w, 'alice', 'example.test', 'bounce-no-mailbox', MSG), { code: 111, out: "can't handle mbox delivery for ./Maildir\n", err: '' });
  put(qm, '|pwd > pwd.out\n');
  t.is((await deliverInProcess(w, 'alice', 'example.test', 'bounce-no-mailbox', MSG)).code, 0);
  t.is(readFileSync(join(w.dom, 'alice', 'pwd.out'), 'latin1'), `${join(w.dom, 'alice')}\n`, 'programs of a user .qmail run in the home');
});

test('two Maildir lines in one run give two messages with different names', async (t) => {
  const w = await world(t);
  put(join(w.dom, 'alice', '.qmail'), './Maildir/\n./Maildir/\n');
  const now = 1700000000_000;
  t.is((await deliverInProcess(w, 'alice', 'example.test', 'bounce-no-mailbox', MSG, { now: () => now, pid: 77 })).code, 0);
  const size = storedPrefix('alice@example.test').length + MSG.length;
  t.deepEqual(maildirFiles(md(w, 'alice')), [`1700000000.77.mail.golden.test,S=${size}`, `1700000000.P77Q2.mail.golden.test,S=${size}`]);
  t.is(readWithPython(md(w, 'alice')).count, 2);
});

test('a looping message bounces: for the recipient, and for a forward target of a .qmail', async (t) => {
  const w = await world(t);
  const loop = `Delivered-To: alice@example.test\n${MSG}`;
  t.deepEqual(await deliverInProcess(w, 'alice', 'example.test', 'bounce-no-mailbox', loop), { code: 100, out: 'mail is looping\n', err: '' });
  t.deepEqual(await deliverInProcess(w, 'ALICE', 'example.test', 'delete', `delivered-to: ALICE@EXAMPLE.TEST\n${MSG}`), { code: 100, out: 'mail is looping\n', err: '' });
  t.is((await deliverInProcess(w, 'alice', 'example.test', 'bounce-no-mailbox', `${MSG}Delivered-To: alice@example.test\n`)).code, 0, 'in the body it is no loop');
  put(join(w.dom, 'alice', '.qmail'), '&fwd@elsewhere.test\n');
  t.deepEqual(await deliverInProcess(w, 'alice', 'example.test', 'bounce-no-mailbox', `Delivered-To: fwd@elsewhere.test\n${MSG}`), { code: 100, out: 'mail is looping\n', err: '' });
  t.is(readFileSync(w.injectLog, 'latin1'), '');
  t.deepEqual(await deliverInProcess(w, 'ghost', 'example.test', 'fwd@elsewhere.test', `Delivered-To: fwd@elsewhere.test\n${MSG}`), { code: 100, out: 'mail is looping\n', err: '' });
});

test('an account with BOUNCE_MAIL bounces with C text; other flags do not', async (t) => {
  const w = await world(t);
  await w.addUser('frank@example.test', 'pw-f');
  await modifyUser(w.ctx, 'example.test', 'frank', { addFlags: PW_FLAG.NO_POP | PW_FLAG.NO_IMAP });
  t.is((await deliverInProcess(w, 'frank', 'example.test', 'bounce-no-mailbox', MSG)).code, 0);
  await modifyUser(w.ctx, 'example.test', 'frank', { addFlags: PW_FLAG.BOUNCE_MAIL });
  t.deepEqual(await deliverInProcess(w, 'Frank', 'example.test', 'bounce-no-mailbox', MSG), {
    code: 100,
    out: 'vdelivermail: account is locked email bounced frank@example.test\n',
    err: '',
  });
  t.is(maildirFiles(md(w, 'frank')).length, 1);
});

test('a missing home is recreated with its Maildir; a home outside the domain is refused with C text', async (t) => {
  const w = await world(t);
  rmSync(join(w.dom, 'alice'), { recursive: true });
  t.is((await deliverInProcess(w, 'alice', 'example.test', 'bounce-no-mailbox', MSG)).code, 0);
  t.is(maildirFiles(md(w, 'alice')).length, 1);
  t.is(modeLine(md(w, 'alice')), 'd700 89:89');
  rmSync(md(w, 'alice'), { recursive: true });
  t.is((await deliverInProcess(w, 'alice', 'example.test', 'bounce-no-mailbox', MSG)).code, 0, 'a home without its Maildir too');
  await modifyUser(w.ctx, 'example.test', 'alice', { dir: join(w.root, 'elsewhere', 'alice') });
  t.deepEqual(await deliverInProcess(w, 'alice', 'example.test', 'bounce-no-mailbox', MSG), { code: 100, out: 'Auto re-creation of maildir failed. (#5.9.9)\n', err: '' });
});

test('an empty pw_dir gets <domain>/<user> made and stored', async (t) => {
  const w = await world(t);
  const b = createCdbBackend(w.config);
  const entry = (await b.getUser('example.test', 'alice'))!;
  rmSync(join(w.dom, 'alice'), { recursive: true });
  await b.setUser('example.test', { ...entry, dir: '' });
  t.is((await deliverInProcess(w, 'alice', 'example.test', 'bounce-no-mailbox', MSG)).code, 0);
  t.is((await b.getUser('example.test', 'alice'))!.dir, join(w.dom, 'alice'));
  t.is(maildirFiles(md(w, 'alice')).length, 1);
});

test('qmail-ext: user-ext goes to the user with .qmail-<ext>, -default and .qmail-default forms; off: no such user', async (t) => {
  const w = await world(t, 'qmail-ext = yes\n');
  const home = join(w.dom, 'alice');
  put(join(home, '.qmail-lists'), '&lists@elsewhere.test\n');
  put(join(home, '.qmail-a-default'), '&adefault@elsewhere.test\n');
  t.is((await deliverInProcess(w, 'alice-lists', 'example.test', 'bounce-no-mailbox', MSG)).code, 0);
  t.is((await deliverInProcess(w, 'alice-a-b:c', 'example.test', 'bounce-no-mailbox', MSG, { env: { EXT: 'alice-a-b.c' } })).code, 0);
  const log = readFileSync(w.injectLog, 'latin1');
  t.regex(log, /\[lists@elsewhere.test\]/);
  t.regex(log, /\[adefault@elsewhere.test\]/);
  t.is((await deliverInProcess(w, 'alice-other', 'example.test', 'bounce-no-mailbox', MSG)).code, 0);
  const msgs = newMessages(join(home, 'Maildir'));
  t.is(msgs.length, 1, 'no extension file: the Maildir');
  t.true(msgs[0]!.toString('latin1').startsWith(storedPrefix('alice@example.test')));
  w.settings('');
  t.is((await deliverInProcess(w, 'alice-other', 'example.test', 'bounce-no-mailbox', MSG)).code, 100);
});

test('quota below, at and above the limit; the size tested is the message as it came', async (t) => {
  const w = await world(t);
  const size = MSG.length; // stored: + prepended lines
  const stored = storedPrefix('quser@example.test').length + size;
  await w.addUser('quser@example.test', 'pw', { quota: `${2 * stored + size}S` });
  const m = md(w, 'quser');
  t.is(readFileSync(join(m, 'maildirsize'), 'latin1'), `${2 * stored + size}S\n0 0\n`);
  t.is((await deliverInProcess(w, 'quser', 'example.test', 'bounce-no-mailbox', MSG)).code, 0);
  t.is((await deliverInProcess(w, 'quser', 'example.test', 'bounce-no-mailbox', MSG)).code, 0);
  // usage 2*stored + incoming size == quota exactly: not over (over is strictly greater)
  t.is((await deliverInProcess(w, 'quser', 'example.test', 'bounce-no-mailbox', MSG)).code, 0);
  const r = await deliverInProcess(w, 'quser', 'example.test', 'bounce-no-mailbox', MSG);
  t.deepEqual([r.code, r.out], [100, 'user is over quota\n\n']);
  t.is(maildirFiles(m).length, 3);
  t.is(readFileSync(join(m, 'maildirsize'), 'latin1'), `${2 * stored + size}S\n${3 * stored} 3\n`, 'recounted on refusal');
  t.is(modeLine(join(m, 'maildirsize')).slice(0, 4), 'f644');
  t.true(existsSync(join(m, 'quotawarn')));
  put(join(w.dom, '.over-quota.msg'), 'Mailbox full.\n');
  t.is((await deliverInProcess(w, 'quser', 'example.test', 'bounce-no-mailbox', MSG)).out, 'Mailbox full.\n\n');
});

test('a .qmail line to a Maildir++ folder: the quota and the maildirsize line are those of the Maildir above it', async (t) => {
  const w = await world(t);
  await w.addUser('fuser@example.test', 'pw', { quota: '1000000S' });
  const m = md(w, 'fuser');
  const folder = join(m, '.Lists');
  for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(folder, sub), { recursive: true });
  writeFileSync(join(folder, 'maildirfolder'), '');
  put(join(w.dom, 'fuser', '.qmail'), './Maildir/.Lists/\n');
  t.is((await deliverInProcess(w, 'fuser', 'example.test', 'bounce-no-mailbox', MSG)).code, 0);
  const stored = newMessages(folder);
  t.is(stored.length, 1);
  t.deepEqual(newMessages(m), []);
  t.is(readFileSync(join(m, 'maildirsize'), 'latin1'), `1000000S\n0 0\n${stored[0]!.length} 1\n`);
  t.false(existsSync(join(folder, 'maildirsize')));
  // over the Maildir's quota, the folder refuses too
  writeFileSync(join(m, 'maildirsize'), '1000000S\n999999 1\n');
  t.is((await deliverInProcess(w, 'fuser', 'example.test', 'bounce-no-mailbox', MSG)).code, 100);
  t.is(newMessages(folder).length, 1);
});

test('message-count quotas: over when one more would exceed the count', async (t) => {
  const w = await world(t);
  await w.addUser('cuser@example.test', 'pw', { quota: '2C' });
  t.is((await deliverInProcess(w, 'cuser', 'example.test', 'bounce-no-mailbox', MSG)).code, 0);
  t.is((await deliverInProcess(w, 'cuser', 'example.test', 'bounce-no-mailbox', MSG)).code, 0);
  t.is((await deliverInProcess(w, 'cuser', 'example.test', 'bounce-no-mailbox', MSG)).code, 100);
});

test('a missing maildirsize is rebuilt from the Maildir before the test; a damaged one too', async (t) => {
  const w = await world(t);
  await w.addUser('ruser@example.test', 'pw', { quota: '1000000S' });
  const m = md(w, 'ruser');
  writeFileSync(join(m, 'cur', '1.2.h,S=5000:2,S'), 'x');
  writeFileSync(join(m, 'new', '1.3.h'), 'y'.repeat(700));
  rmSync(join(m, 'maildirsize'));
  t.is((await deliverInProcess(w, 'ruser', 'example.test', 'bounce-no-mailbox', MSG)).code, 0);
  const stored = storedPrefix('ruser@example.test').length + MSG.length;
  t.is(readFileSync(join(m, 'maildirsize'), 'latin1'), `1000000S\n5700 2\n${stored} 1\n`);
  writeFileSync(join(m, 'maildirsize'), '1000000S\n-999999999 0\n');
  t.is((await deliverInProcess(w, 'ruser', 'example.test', 'bounce-no-mailbox', MSG)).code, 0);
  t.is(readFileSync(join(m, 'maildirsize'), 'latin1'), `1000000S\n${5700 + stored} 3\n${stored} 1\n`);
});

test('at 90 % a warning from .quotawarn.msg is stored first, once a day; legacy and NO quotas', async (t) => {
  const w = await world(t);
  await w.addUser('wuser@example.test', 'pw', { quota: '1000S' });
  const m = md(w, 'wuser');
  writeFileSync(join(m, 'maildirsize'), '1000S\n900 1\n');
  put(join(w.vhome, 'domains', '.quotawarn.msg'), 'From: postmaster\nSubject: quota\n\nYou are nearly full.\n');
  let now = Date.UTC(2030, 0, 2, 3, 4, 5);
  const small = 'Subject: s\n\nx\n';
  t.is((await deliverInProcess(w, 'wuser', 'example.test', 'bounce-no-mailbox', small, { now: () => now })).code, 0);
  const msgs = newMessages(m).map((b) => b.toString('latin1'));
  t.is(msgs.length, 2);
  const warning = msgs.find((x) => x.includes('nearly full'))!;
  t.is(warning, 'Delivered-To: wuser@example.test\nDate: Wed, 02 Jan 2030 03:04:05 +0000\nFrom: postmaster\nSubject: quota\n\nYou are nearly full.\n');
  t.is(modeLine(join(m, 'quotawarn')).slice(0, 4), 'f644');
  const lines = readFileSync(join(m, 'maildirsize'), 'latin1').trim().split('\n');
  t.is(lines.length, 4, 'both were added to maildirsize');
  writeFileSync(join(m, 'maildirsize'), '1000S\n900 1\n');
  now += 3600_000;
  t.is((await deliverInProcess(w, 'wuser', 'example.test', 'bounce-no-mailbox', small, { now: () => now })).code, 0);
  t.is(maildirFiles(m).length, 3, 'no second warning within 24 h');
  utimesSync(join(m, 'quotawarn'), (now - 25 * 3600_000) / 1000, (now - 25 * 3600_000) / 1000);
  writeFileSync(join(m, 'maildirsize'), '1000S\n900 1\n');
  t.is((await deliverInProcess(w, 'wuser', 'example.test', 'bounce-no-mailbox', small, { now: () => now })).code, 0);
  t.is(maildirFiles(m).length, 5, 'a day later, a warning again');
  // NOQUOTA-like strings skip every check
  await modifyUser(w.ctx, 'example.test', 'wuser', { quota: 'NOLIMIT' });
  writeFileSync(join(m, 'maildirsize'), '1S\n900000 100\n');
  t.is((await deliverInProcess(w, 'wuser', 'example.test', 'bounce-no-mailbox', small, { now: () => now })).code, 0);
  // a legacy quota is normalised first: 1KB is 1024 bytes
  await modifyUser(w.ctx, 'example.test', 'wuser', { quota: '1KB' });
  writeFileSync(join(m, 'maildirsize'), '1024S\n1000 1\n');
  utimesSync(join(m, 'maildirsize'), now / 1000, now / 1000);
  t.is((await deliverInProcess(w, 'wuser', 'example.test', 'bounce-no-mailbox', 'x'.repeat(25), { now: () => now })).code, 100);
});

test('DELIVER_TO_STDOUT writes the prepended lines and the message to stdout, nothing to the Maildir', async (t) => {
  const w = await world(t);
  const r = await deliverInProcess(w, 'alice', 'example.test', 'bounce-no-mailbox', MSG, { env: { DELIVER_TO_STDOUT: '' } });
  t.deepEqual(r, { code: 0, out: storedPrefix('alice@example.test') + MSG, err: '' });
  t.deepEqual(maildirFiles(md(w, 'alice')), []);
});

test('an empty message is dropped silently with 0, as C; RPLINE unset gives no Return-Path line', async (t) => {
  const w = await world(t);
  t.deepEqual(await deliverInProcess(w, 'alice', 'example.test', 'bounce-no-mailbox', ''), { code: 0, out: '', err: '' });
  t.deepEqual(maildirFiles(md(w, 'alice')), []);
  t.is((await deliverInProcess(w, 'alice', 'example.test', 'bounce-no-mailbox', MSG, { env: { RPLINE: undefined } })).code, 0);
  t.is(newMessages(md(w, 'alice'))[0]!.toString('latin1'), `Delivered-To: alice@example.test\n${MSG}`);
});

test('qmail-inject failures: 100 bounces, other codes and a missing qmail-inject defer', async (t) => {
  const w = await world(t);
  const run = (exit: string) => deliverInProcess(w, 'ghost', 'example.test', 'x@elsewhere.test', MSG, { env: { INJECT_EXIT: exit } });
  t.deepEqual(await run('100'), { code: 100, out: 'system error calling qmail-inject\n', err: '' });
  t.deepEqual(await run('111'), { code: 111, out: 'system error calling qmail-inject\n', err: '' });
  t.deepEqual(await run('3'), { code: 111, out: 'system error calling qmail-inject\n', err: '' });
  rmSync(join(w.qhome, 'bin', 'qmail-inject'));
  const r = await run('0');
  t.is(r.code, 111);
  t.regex(r.out, /^vdelivermail: unable to run .*qmail-inject: ENOENT \(#4\.3\.0\)\n$/);
});

test('a store that cannot be read defers: users/cdb damaged, a backend outage', async (t) => {
  const w = await world(t);
  const real = createCdbBackend(w.config);
  const down: Backend = {
    ...real,
    getUser: async () => {
      throw new TempError('connect ECONNREFUSED 127.0.0.1:3306');
    },
  };
  const r = await deliverInProcess(w, 'alice', 'example.test', 'bounce-no-mailbox', MSG, { backend: down });
  t.is(r.code, 111);
  t.regex(r.out, /^vdelivermail: unable to look up alice@example.test: connect ECONNREFUSED .*\(#4\.3\.0\)\n$/);
  const nobody = await deliverInProcess(w, 'nobody', 'example.test', 'bounce-no-mailbox', MSG, { backend: down });
  t.is(nobody.code, 111, 'an outage is never "no such user"');
  writeFileSync(join(w.qhome, 'users', 'cdb'), Buffer.alloc(100, 0xff));
  const broken = await deliverInProcess(w, 'alice', 'example.test', 'bounce-no-mailbox', MSG);
  t.is(broken.code, 111);
  t.regex(broken.out, /\(#4\.3\.0\)\n$/);
  t.deepEqual(maildirFiles(md(w, 'alice')), []);
});

test('valias builds: the alias table first, -default forms with DEFAULT, outage says database down', async (t) => {
  const w = await world(t, 'valias = yes\n');
  const real = createCdbBackend(w.config);
  const table = new Map<string, string[]>([
    ['info', ['&info@elsewhere.test']],
    ['list-default', ['|echo "$DEFAULT" > ' + join(w.root, 'default.out')]],
  ]);
  const withValias: Backend = { ...real, hasValiasTable: true, getValias: async (_d, alias) => table.get(alias) };
  const r = await deliverInProcess(w, 'info', 'example.test', 'bounce-no-mailbox', MSG, { backend: withValias });
  t.deepEqual(r, { code: 0, out: 'vdelivermail: valiases processed\n', err: '' });
  t.regex(readFileSync(w.injectLog, 'latin1'), /\[info@elsewhere.test\]/);
  t.is((await deliverInProcess(w, 'list-a-b', 'example.test', 'bounce-no-mailbox', MSG, { backend: withValias })).code, 0);
  t.is(readFileSync(join(w.root, 'default.out'), 'latin1'), 'a-b\n');
  t.is((await deliverInProcess(w, 'alice', 'example.test', 'bounce-no-mailbox', MSG, { backend: withValias })).code, 0);
  t.is(maildirFiles(md(w, 'alice')).length, 1, 'no alias: the mailbox');
  const down: Backend = { ...withValias, getValias: async () => Promise.reject(new TempError('gone')) };
  t.deepEqual(await deliverInProcess(w, 'alice', 'example.test', 'bounce-no-mailbox', MSG, { backend: down }), {
    code: 111,
    out: 'vdelivermail: deferred, database down\n',
    err: '',
  });
});

test('a Maildir that cannot be written defers and leaves nothing behind', async (t) => {
  const w = await world(t);
  rmSync(join(md(w, 'alice'), 'tmp'), { recursive: true });
  writeFileSync(join(md(w, 'alice'), 'tmp'), 'not a dir');
  const r = await deliverInProcess(w, 'alice', 'example.test', 'bounce-no-mailbox', MSG);
  t.is(r.code, 111);
  t.regex(r.out, /^vdelivermail: unable to deliver to .*Maildir\/: open\(.*\) failed: ENOTDIR \(#4\.3\.0\)\n$/);
  t.deepEqual(maildirFiles(md(w, 'alice')), []);
});
