import test from 'ava';
import { existsSync, mkdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AccountsContext } from '../../lib/accounts/context.ts';
import { addDomain } from '../../lib/accounts/domains.ts';
import { NameError } from '../../lib/accounts/names.ts';
import { PasswordPolicyError } from '../../lib/accounts/password-policy.ts';
import {
  PasswordChangeDisabledError,
  addUser,
  deleteUser,
  modifyDomainUsers,
  modifyUser,
  setPassword,
  setQuota,
} from '../../lib/accounts/users.ts';
import type { Backend } from '../../lib/backends/backend.ts';
import { verifyPassword } from '../../lib/crypt/index.ts';
import { TempError, VA, VpopmailError } from '../../lib/exit.ts';
import { readDirControlFile } from '../../lib/store/dir-control.ts';
import { PW_FLAG } from '../../lib/store/limits.ts';
import { checkDomainStore, domainDir, listTree, makeHome, vpasswdText, type Home, type HomeOptions } from '../helpers/accounts-home.ts';

const HASH6 = '$6$Gold3nSa$tgzfiKEBlmebiYch15GKkrR5Tsfn03Mr7afOGTC7oSs3AYGKt6HY1BMJAgR6ODqjkkMawTHcVFzf7wYuwfII6/';
const ROOT = process.geteuid?.() === 0;

async function homeWithDomain(t: Parameters<typeof makeHome>[0], options: HomeOptions = {}): Promise<Home & { dir: string }> {
  const home = makeHome(t, options);
  await addDomain(home.ctx, { domain: 'example.test', postmaster: { password: { clear: 'pmpassword' } } });
  return { ...home, dir: domainDir(home, 'example.test') };
}

/** The same context over a backend one of whose methods fails. */
function failingAt(ctx: AccountsContext, method: keyof Backend): AccountsContext {
  const backend = new Proxy(ctx.backend, {
    get(target, prop, receiver) {
      if (prop === method) return async () => Promise.reject(new TempError(`injected ${String(method)} failure`));
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { ...ctx, backend };
}

function fileText(path: string): string {
  return readFileSync(path, 'latin1');
}

test('addUser makes the home, Maildir, vpasswd line, cdb and lastauth as C leaves them', async (t) => {
  const h = await homeWithDomain(t);
  const { entry } = await addUser(h.ctx, { domain: 'example.test', user: 'alice', password: { clear: 'alicepw1' } });
  t.is(entry.dir, join(h.dir, 'alice'));
  t.is(entry.quota, 'NOQUOTA');
  t.is(entry.clear, 'alicepw1');
  t.true(verifyPassword('alicepw1', entry.passwd));
  const line = vpasswdText(h.dir).find((l) => l.startsWith('alice:'));
  t.is(line, `alice:${entry.passwd}:1:0:alice:${h.dir}/alice:NOQUOTA:alicepw1`);
  const owner = ROOT ? '89:89' : `${process.getuid?.()}:${process.getgid?.()}`;
  t.deepEqual(
    listTree(join(h.dir, 'alice')),
    ['d700 %:Maildir', 'd700 %:Maildir/cur', 'd700 %:Maildir/new', 'd700 %:Maildir/tmp', 'f600 %:lastauth'].map((s) => s.replace('%:', `${owner} `)),
  );
  t.is(fileText(join(h.dir, 'alice', 'lastauth')), '0.0.0.0');
  t.deepEqual(checkDomainStore(h.dir), ['alice', 'postmaster']);
  t.is(fileText(join(h.dir, '.dir-control')), '2\n0\n3\n0 0 0\n61 61 61\n0 2 2\n0 0 0\n\n');
  t.false(existsSync(join(h.dir, '.dir_control_free.lock')));
});

test('addUser with a quota writes it in the record and a fresh maildirsize at once', async (t) => {
  const h = await homeWithDomain(t);
  await addUser(h.ctx, { domain: 'example.test', user: 'bob', password: { clear: 'bobpw' }, quota: '1000000S' });
  t.is(fileText(join(h.dir, 'bob', 'Maildir', 'maildirsize')), '1000000S\n0 0\n');
  t.is(statSync(join(h.dir, 'bob', 'Maildir', 'maildirsize')).mode & 0o777, 0o600);
  t.true(vpasswdText(h.dir).some((l) => l.startsWith('bob:') && l.endsWith(':1000000S:bobpw')));
});

test("without a quota a new user gets the domain's default quota from the limits", async (t) => {
  const h = await homeWithDomain(t, { limits: 'default_quota: 2000\ndefault_maxmsgcount: 10\n' });
  const { entry } = await addUser(h.ctx, { domain: 'example.test', user: 'carol', password: { clear: 'pw' } });
  t.is(entry.quota, '2000S,10C');
  t.is(fileText(join(h.dir, 'carol', 'Maildir', 'maildirsize')), '2000S,10C\n0 0\n');
});

test('a given hash is stored as it is, with the clear-text field empty', async (t) => {
  const h = await homeWithDomain(t);
  const { entry } = await addUser(h.ctx, { domain: 'example.test', user: 'dave', password: { hash: HASH6 } });
  t.is(entry.passwd, HASH6);
  t.is(entry.clear, '');
  t.true(vpasswdText(h.dir).includes(`dave:${HASH6}:1:0:dave:${h.dir}/dave:NOQUOTA:`));
});

test('without clear passwords the line has seven fields', async (t) => {
  const h = await homeWithDomain(t, { conf: 'clear-passwords = no\n' });
  await addUser(h.ctx, { domain: 'example.test', user: 'erin', password: { clear: 'erinpw' } });
  const line = vpasswdText(h.dir).find((l) => l.startsWith('erin:'))!;
  t.is(line.split(':').length, 7);
  t.false(line.includes('erinpw'));
});

test('an alias domain adds to its real domain', async (t) => {
  const h = await homeWithDomain(t);
  const { addAliasDomain } = await import('../../lib/accounts/domains.ts');
  await addAliasDomain(h.ctx, 'example.test', 'alias.test');
  const { domain, entry } = await addUser(h.ctx, { domain: 'alias.test', user: 'gina', password: { clear: 'ginapw' } });
  t.is(domain.domain, 'example.test');
  t.is(entry.dir, join(h.dir, 'gina'));
});

test('an existing user is refused and nothing in the domain changes', async (t) => {
  const h = await homeWithDomain(t);
  await addUser(h.ctx, { domain: 'example.test', user: 'alice', password: { clear: 'one' } });
  const before = [listTree(h.dir), vpasswdText(h.dir), fileText(join(h.dir, '.dir-control'))];
  const err = await t.throwsAsync(addUser(h.ctx, { domain: 'example.test', user: 'alice', password: { clear: 'two' } }), { instanceOf: VpopmailError });
  t.is(err?.code, VA.USERNAME_EXISTS);
  t.deepEqual([listTree(h.dir), vpasswdText(h.dir), fileText(join(h.dir, '.dir-control'))], before);
});

test('unsafe, overlong and malformed names are refused before anything is touched', async (t) => {
  const h = await homeWithDomain(t);
  const before = [listTree(h.root), vpasswdText(h.dir)];
  for (const user of ['../evil', 'a/b', '.hidden', '..', 'x'.repeat(65), 'bad name', 'a']) {
    await t.throwsAsync(addUser(h.ctx, { domain: 'example.test', user, password: { clear: 'pw' } }), { instanceOf: VpopmailError }, user);
  }
  await t.throwsAsync(addUser(h.ctx, { domain: 'example.test', user: 'ok', password: { clear: 'pw' }, gecos: 'a:b' }), { instanceOf: VpopmailError });
  await t.throwsAsync(addUser(h.ctx, { domain: 'example.test', user: 'ok', password: { clear: 'x'.repeat(129) } }), { instanceOf: VpopmailError });
  await t.throwsAsync(addUser(h.ctx, { domain: 'example.test', user: 'ok', password: { hash: 'a:b' } }), { instanceOf: VpopmailError });
  t.deepEqual([listTree(h.root), vpasswdText(h.dir)], before);
});

test('a password the policy refuses is a PasswordPolicyError and nothing is created', async (t) => {
  const h = await homeWithDomain(t, { policy: 'Policy = eight or more\nLength >= 8\n' });
  const before = listTree(h.root);
  const err = await t.throwsAsync(addUser(h.ctx, { domain: 'example.test', user: 'frank', password: { clear: 'short' } }), { instanceOf: PasswordPolicyError });
  t.is(err?.code, VA.PWSTR_LENGTH);
  t.is(err?.description, 'eight or more');
  t.deepEqual(listTree(h.root), before);
});

test('an unknown domain is VA_DOMAIN_DOES_NOT_EXIST', async (t) => {
  const h = makeHome(t);
  const err = await t.throwsAsync(addUser(h.ctx, { domain: 'nosuch.test', user: 'zed', password: { clear: 'pw' } }), { instanceOf: VpopmailError });
  t.is(err?.code, VA.DOMAIN_DOES_NOT_EXIST);
});

for (const method of ['addUser', 'setLastauth', 'updateDirControl'] as const) {
  test(`a ${method} failure half-way undoes the add: no home, no record, the counter as before`, async (t) => {
    const h = await homeWithDomain(t);
    // The counter is compared as read: C's reader turns "0 2 4" into 0 2 2, so a rewrite may differ in that byte only.
    const before = [listTree(h.dir), vpasswdText(h.dir), readDirControlFile(join(h.dir, '.dir-control'))];
    await t.throwsAsync(addUser(failingAt(h.ctx, method), { domain: 'example.test', user: 'henry', password: { clear: 'pw' } }), { message: /injected/ });
    t.deepEqual([listTree(h.dir), vpasswdText(h.dir), readDirControlFile(join(h.dir, '.dir-control'))], before);
  });
}

test('the bare home of an interrupted add is reused; a home holding mail is not', async (t) => {
  const h = await homeWithDomain(t);
  for (const d of ['new', 'cur', 'tmp']) mkdirSync(join(h.dir, 'ivy', 'Maildir', d), { recursive: true });
  writeFileSync(join(h.dir, 'ivy', 'lastauth'), '0.0.0.0');
  await addUser(h.ctx, { domain: 'example.test', user: 'ivy', password: { clear: 'pw' } });
  t.true(vpasswdText(h.dir).some((l) => l.startsWith('ivy:')));

  for (const d of ['new', 'cur', 'tmp']) mkdirSync(join(h.dir, 'jack', 'Maildir', d), { recursive: true });
  writeFileSync(join(h.dir, 'jack', 'Maildir', 'new', '1.2.host'), 'old mail\n');
  const err = await t.throwsAsync(addUser(h.ctx, { domain: 'example.test', user: 'jack', password: { clear: 'pw' } }), { instanceOf: VpopmailError });
  t.is(err?.code, VA.EXIST_U_DIR);
  t.is(fileText(join(h.dir, 'jack', 'Maildir', 'new', '1.2.host')), 'old mail\n');
  t.false(vpasswdText(h.dir).some((l) => l.startsWith('jack:')));
});

test('user directories are hashed as in the golden big.test run, and a freed bucket is taken first', async (t) => {
  const h = await homeWithDomain(t);
  const dirOf = (user: string) => vpasswdText(h.dir).find((l) => l.startsWith(`${user}:`))!.split(':')[5];
  for (let i = 1; i <= 260; i++) {
    await addUser(h.ctx, { domain: 'example.test', user: `u${String(i).padStart(3, '0')}`, password: { hash: HASH6 } });
  }
  t.is(dirOf('u098'), join(h.dir, 'u098'));
  t.is(dirOf('u099'), join(h.dir, '0', 'u099'));
  t.is(dirOf('u198'), join(h.dir, '0', 'u198'));
  t.is(dirOf('u199'), join(h.dir, '1', 'u199'));
  t.is(dirOf('u260'), join(h.dir, '1', 'u260'));
  // golden step 54's state, byte for byte
  t.is(fileText(join(h.dir, '.dir-control')), '261\n0\n3\n0 0 0\n61 61 61\n0 2 2\n1 0 0\n1\n');
  await deleteUser(h.ctx, 'example.test', 'u150');
  t.is(fileText(join(h.dir, '.dir_control_free')), '0\n');
  t.true(fileText(join(h.dir, '.dir-control')).startsWith('260\n'));
  await addUser(h.ctx, { domain: 'example.test', user: 'u261', password: { hash: HASH6 } });
  t.is(dirOf('u261'), join(h.dir, '0', 'u261'));
  t.is(fileText(join(h.dir, '.dir_control_free')), '');
  t.is(fileText(join(h.dir, '.dir-control')), '261\n0\n3\n0 0 0\n61 61 61\n0 2 2\n1 0 0\n1\n');
  t.is(checkDomainStore(h.dir).length, 261);
});

test('deleteUser removes the record, the home and the own alias file, and frees the bucket', async (t) => {
  const h = await homeWithDomain(t);
  await addUser(h.ctx, { domain: 'example.test', user: 'kim', password: { clear: 'pw' } });
  writeFileSync(join(h.dir, '.qmail-kim'), '&kim@elsewhere.test\n');
  writeFileSync(join(h.dir, '.qmail-kimberly'), '&other@elsewhere.test\n');
  const result = await deleteUser(h.ctx, 'example.test', 'kim');
  t.is(result.home, 'removed');
  t.deepEqual(result.warnings, []);
  t.false(existsSync(join(h.dir, 'kim')));
  t.false(existsSync(join(h.dir, '.qmail-kim')));
  t.true(existsSync(join(h.dir, '.qmail-kimberly')));
  t.deepEqual(checkDomainStore(h.dir), ['postmaster']);
  const err = await t.throwsAsync(deleteUser(h.ctx, 'example.test', 'kim'), { instanceOf: VpopmailError });
  t.is(err?.code, VA.USER_DOES_NOT_EXIST);
});

test("the domain's catch-all cannot be deleted, whether named by path or by address", async (t) => {
  const h = makeHome(t);
  await addDomain(h.ctx, { domain: 'path.test', catchAll: 'postmaster', postmaster: { password: { clear: 'pw' } } });
  const err = await t.throwsAsync(deleteUser(h.ctx, 'path.test', 'postmaster'), { instanceOf: VpopmailError });
  t.is(err?.code, VA.CANNOT_DELETE_CATCHALL);
  await addDomain(h.ctx, { domain: 'catch.test', catchAll: 'lee@catch.test', postmaster: { password: { clear: 'pw' } } });
  await addUser(h.ctx, { domain: 'catch.test', user: 'lee', password: { clear: 'pw' } });
  t.is((await t.throwsAsync(deleteUser(h.ctx, 'catch.test', 'lee'), { instanceOf: VpopmailError }))?.code, VA.CANNOT_DELETE_CATCHALL);
  await t.notThrowsAsync(deleteUser(h.ctx, 'catch.test', 'postmaster'));
});

test('a home outside the domain directory is left alone and reported; a symlinked home loses only the link', async (t) => {
  const h = await homeWithDomain(t);
  const outside = join(h.root, 'outside');
  mkdirSync(join(outside, 'precious'), { recursive: true });
  writeFileSync(join(outside, 'precious', 'file'), 'keep me');
  await addUser(h.ctx, { domain: 'example.test', user: 'mia', password: { clear: 'pw' } });
  await modifyUser(h.ctx, 'example.test', 'mia', { dir: join(outside, 'precious') });
  const result = await deleteUser(h.ctx, 'example.test', 'mia');
  t.is(result.home, 'kept');
  t.is(result.warnings.length, 1);
  t.is(fileText(join(outside, 'precious', 'file')), 'keep me');

  await addUser(h.ctx, { domain: 'example.test', user: 'ned', password: { clear: 'pw' } });
  const { rmSync } = await import('node:fs');
  rmSync(join(h.dir, 'ned'), { recursive: true });
  symlinkSync(join(outside, 'precious'), join(h.dir, 'ned'));
  const r2 = await deleteUser(h.ctx, 'example.test', 'ned');
  t.is(r2.home, 'unlinked-symlink');
  t.is(fileText(join(outside, 'precious', 'file')), 'keep me');
  t.throws(() => readlinkSync(join(h.dir, 'ned')));
});

test('modifyUser adds, removes and clears flags, and refuses a colon in the gecos', async (t) => {
  const h = await homeWithDomain(t);
  await addUser(h.ctx, { domain: 'example.test', user: 'olga', password: { clear: 'pw' } });
  let r = await modifyUser(h.ctx, 'example.test', 'olga', { addFlags: PW_FLAG.NO_POP | PW_FLAG.NO_SMTP });
  t.is(r.entry.gid, PW_FLAG.NO_POP | PW_FLAG.NO_SMTP);
  r = await modifyUser(h.ctx, 'example.test', 'olga', { removeFlags: PW_FLAG.NO_POP });
  t.is(r.entry.gid, PW_FLAG.NO_SMTP);
  r = await modifyUser(h.ctx, 'example.test', 'olga', { clearFlags: true, addFlags: PW_FLAG.NO_IMAP });
  t.is(r.entry.gid, PW_FLAG.NO_IMAP);
  const before = vpasswdText(h.dir);
  const err = await t.throwsAsync(modifyUser(h.ctx, 'example.test', 'olga', { gecos: 'a:b' }), { instanceOf: VpopmailError });
  t.is(err?.code, VA.BAD_CHAR);
  t.deepEqual(vpasswdText(h.dir), before);
  t.is((await t.throwsAsync(modifyUser(h.ctx, 'example.test', 'nobody', { gecos: 'x' }), { instanceOf: VpopmailError }))?.code, VA.USER_DOES_NOT_EXIST);
});

test('a new hash leaves no old clear-text password behind; a new clear password replaces it', async (t) => {
  const h = await homeWithDomain(t);
  await addUser(h.ctx, { domain: 'example.test', user: 'pia', password: { clear: 'oldsecret' } });
  let r = await modifyUser(h.ctx, 'example.test', 'pia', { password: { hash: HASH6 } });
  t.is(r.entry.passwd, HASH6);
  t.is(r.entry.clear, '');
  t.false(readFileSync(join(h.dir, 'vpasswd'), 'latin1').includes('oldsecret'));
  t.false(readFileSync(join(h.dir, 'vpasswd.cdb'), 'latin1').includes('oldsecret'));
  r = await modifyUser(h.ctx, 'example.test', 'pia', { password: { clear: 'newsecret' } });
  t.is(r.entry.clear, 'newsecret');
  t.true(verifyPassword('newsecret', r.entry.passwd));
});

test('setQuota rewrites maildirsize from a recount, and NOQUOTA removes it', async (t) => {
  const h = await homeWithDomain(t);
  await addUser(h.ctx, { domain: 'example.test', user: 'quinn', password: { clear: 'pw' }, quota: '1000S' });
  writeFileSync(join(h.dir, 'quinn', 'Maildir', 'new', '1700000000.1.host,S=300'), 'x'.repeat(300));
  await setQuota(h.ctx, 'example.test', 'quinn', '3000000S,200C');
  t.is(fileText(join(h.dir, 'quinn', 'Maildir', 'maildirsize')), '3000000S,200C\n300 1\n');
  await setQuota(h.ctx, 'example.test', 'quinn', 'NOQUOTA');
  t.false(existsSync(join(h.dir, 'quinn', 'Maildir', 'maildirsize')));
});

test('NO_PASSWD_CHNG stops a change the account makes itself, not an admin change', async (t) => {
  const h = await homeWithDomain(t);
  await addUser(h.ctx, { domain: 'example.test', user: 'rita', password: { clear: 'pw' } });
  await modifyUser(h.ctx, 'example.test', 'rita', { addFlags: PW_FLAG.NO_PASSWD_CHNG });
  await t.throwsAsync(setPassword(h.ctx, 'example.test', 'rita', 'new1', { asUser: true }), { instanceOf: PasswordChangeDisabledError });
  const r = await setPassword(h.ctx, 'example.test', 'rita', 'new2', { asUser: false });
  t.true(verifyPassword('new2', r.entry.passwd));
});

test('the domain limit disable_password_changing also stops the account changing its own password', async (t) => {
  const h = await homeWithDomain(t);
  await addUser(h.ctx, { domain: 'example.test', user: 'sam', password: { clear: 'pw' } });
  writeFileSync(join(h.dir, '.qmailadmin-limits'), 'disable_password_changing\n');
  await t.throwsAsync(setPassword(h.ctx, 'example.test', 'sam', 'new1', { asUser: true }), { instanceOf: PasswordChangeDisabledError });
});

test('setPassword applies the policy; a refusal leaves the record as it was', async (t) => {
  const h = await homeWithDomain(t, { policy: 'Length >= 8\n' });
  await addUser(h.ctx, { domain: 'example.test', user: 'tom', password: { clear: 'longenough' } });
  const before = vpasswdText(h.dir);
  await t.throwsAsync(setPassword(h.ctx, 'example.test', 'tom', 'short'), { instanceOf: PasswordPolicyError });
  t.deepEqual(vpasswdText(h.dir), before);
  await t.notThrowsAsync(setPassword(h.ctx, 'example.test', 'tom', 'short', { checkPolicy: false }));
  t.notDeepEqual(vpasswdText(h.dir), before);
});

test('user names of 33 to 64 characters do not end a domain-wide walk early', async (t) => {
  const h = await homeWithDomain(t);
  const names = [33, 40, 50, 64].map((n) => `${'l'.repeat(n - 2)}${n}`);
  for (const user of [...names, 'zz-last']) await addUser(h.ctx, { domain: 'example.test', user, password: { hash: HASH6 } });
  const seen: string[] = [];
  const changed = await modifyDomainUsers(h.ctx, 'example.test', { quota: '7000000S' }, { sorted: true, onUser: (e) => seen.push(e.name) });
  t.is(changed, names.length + 2);
  t.deepEqual(seen, [...names, 'postmaster', 'zz-last'].sort());
  t.true(vpasswdText(h.dir).every((l) => l.includes(':7000000S:')));
});

test('the NameError of a refused name carries its reason for stderr', async (t) => {
  const h = await homeWithDomain(t);
  const err = await t.throwsAsync(addUser(h.ctx, { domain: 'example.test', user: '../x', password: { clear: 'pw' } }), { instanceOf: NameError });
  t.regex(err!.detail, /may not contain/);
  t.is(err!.message, 'Illegal username');
});
