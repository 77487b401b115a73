import test from 'ava';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { greeted } from './harness.ts';
import { NET_VPOPMAILD_FLAGS } from './fixtures.ts';
import { world, type ServedWorld } from './world.ts';

async function modUser(c: Awaited<ReturnType<ServedWorld['as']>>, address: string, lines: readonly string[]): Promise<[string, string]> {
  c.send(`mod_user ${address}`);
  const first = await c.line();
  for (const l of lines) c.send(l);
  c.send('.');
  return [first, await c.line()];
}

async function stored(w: ServedWorld, domain: string, user: string) {
  const entry = await w.backend.getUser(domain, user);
  if (entry === undefined) throw new Error(`${user}@${domain} is gone`);
  return entry;
}

test('spec §10.1: the Roundcube password change, with a password holding spaces', async (t) => {
  const w = await world(t);
  const c = await greeted(w.server);
  c.send('slogin bob@example.com bob-pw');
  t.is(await c.line(), '+OK ');
  c.send('mod_user bob@example.com');
  t.is(await c.line(), '+OK ');
  c.send('clear_text_password New Pass 2');
  c.send('.');
  t.is(await c.line(), '+OK ');
  c.send('quit');
  t.is(await c.line(), '+OK ');
  await c.closed();
  const entry = await stored(w, 'example.com', 'bob');
  t.regex(entry.passwd, /^\$6\$/);
  t.is(entry.clear, 'New Pass 2');
  const again = await greeted(w.server);
  t.is((await again.command('slogin bob@example.com New Pass 2')).status, '+OK ');
  t.is((await again.command('quit')).status, '+OK ');
  const old = await greeted(w.server);
  t.is((await old.command('slogin bob@example.com bob-pw')).status, '-ERR 8.207 Invalid Login');
});

test('a plain user may change its comment and spam preferences, not its service flags, hash or admin bits', async (t) => {
  const w = await world(t);
  const c = await w.as('bob');
  t.deepEqual(await modUser(c, 'bob@example.com', ['comment Bob Smith', 'no_spamassassin 1', 'delete_spam=1']), ['+OK ', '+OK ']);
  const e = await stored(w, 'example.com', 'bob');
  t.is(e.gecos, 'Bob Smith');
  t.is(e.gid, 0x4000 | 0x8000);
  for (const line of ['no_pop 1', 'encrypted_password $1$abc$def', 'user_flag_2 1', 'system_admin_privileges 1', 'domain_admin_privileges 1', 'quota 1M', 'clear_all_flags']) {
    const [, final] = await modUser(c, 'bob@example.com', ['comment changed', line]);
    t.regex(final, /^-ERR 9\.508 Not Authorized \(/, line);
  }
  const after = await stored(w, 'example.com', 'bob');
  t.deepEqual(after, e, 'a refused block changes nothing, not even its allowed fields');
});

test('Net_Vpopmaild sends every flag with its current value: no change is no refusal', async (t) => {
  const w = await world(t);
  const c = await w.as('bob');
  const flags = NET_VPOPMAILD_FLAGS;
  t.deepEqual(await modUser(c, 'bob@example.com', ['quota NOQUOTA', 'comment Robert', ...flags.map((f) => `${f} 0`)]), ['+OK ', '+OK ']);
  t.is((await stored(w, 'example.com', 'bob')).gecos, 'Robert');
});

test('domain admins set domain_admin_privileges and the user flags; service flags need override, admin bits a system admin', async (t) => {
  const w = await world(t);
  const pm = await w.as('postmaster');
  t.deepEqual(await modUser(pm, 'bob@example.com', ['domain_admin_privileges 1', 'user_flag_3 1', 'no_maildrop 1']), ['+OK ', '+OK ']);
  t.is((await stored(w, 'example.com', 'bob')).gid, 0x1000 | 0x400 | 0x40000);
  t.is((await modUser(pm, 'bob@example.com', ['no_pop 1']))[1], '-ERR 9.508 Not Authorized (no_pop)');
  t.is((await modUser(pm, 'bob@example.com', ['system_admin_privileges 1']))[1], '-ERR 9.508 Not Authorized (system_admin_privileges)');
  const over = await w.as('qaover');
  t.deepEqual(await modUser(over, 'bob@example.com', ['no_pop 1', 'quota 10M']), ['+OK ', '+OK ']);
  const e = await stored(w, 'example.com', 'bob');
  t.is(e.gid & 0x02, 0x02);
  t.is(e.quota, '10485760S');
  t.is(readFileSync(join(e.dir, 'Maildir', 'maildirsize'), 'latin1'), '10485760S\n0 0\n');
  t.is((await modUser(over, 'bob@example.com', ['override_domain_limits 1']))[1], '-ERR 9.508 Not Authorized (override_domain_limits)');
});

test('a system admin may do everything: clear_all_flags then flags, admin bits, a hash, NOQUOTA', async (t) => {
  const w = await world(t);
  const a = await w.as('admin');
  t.deepEqual(await modUser(a, 'carol@other.org', ['no_pop 1', 'quota 5M']), ['+OK ', '+OK ']);
  t.deepEqual(await modUser(a, 'carol@other.org', ['clear_all_flags 1', 'no_imap 1', 'system_expert_privileges 1', 'quota NOQUOTA']), ['+OK ', '+OK ']);
  let e = await stored(w, 'other.org', 'carol');
  t.is(e.gid, 0x08 | 0x20000);
  t.is(e.quota, 'NOQUOTA');
  t.false(existsSync(join(e.dir, 'Maildir', 'maildirsize')));
  t.deepEqual(await modUser(a, 'carol@other.org', ['encrypted_password $1$saltsalt$abcdefghijklmnopqrstuv']), ['+OK ', '+OK ']);
  e = await stored(w, 'other.org', 'carol');
  t.is(e.passwd, '$1$saltsalt$abcdefghijklmnopqrstuv');
  t.is(e.clear, '', 'a stored clear password no longer matching the hash goes (D9)');
});

test('unknown options, lines without a value and bad flag values are refused as a whole: -ERR 4.509', async (t) => {
  const w = await world(t);
  const a = await w.as('admin');
  for (const line of ['frobnicate 1', 'no_pop 2', 'no_pop', 'comment a:b', 'quota 123456789012345678901']) {
    const [first, final] = await modUser(a, 'bob@example.com', ['comment fine', line]);
    t.is(first, '+OK ');
    t.regex(final, /^-ERR 4\.509 Invalid Command \(/, line);
  }
  t.is((await stored(w, 'example.com', 'bob')).gecos, 'bob');
});

test('mod_user of an unknown or foreign account answers at once and swallows the block, CRLF or LF', async (t) => {
  const w = await world(t);
  const pm = await w.as('postmaster');
  pm.write('mod_user nobody@example.com\r\nclear_text_password x\r\n.\r\n');
  t.is(await pm.line(), '-ERR 12.505 User does not exist');
  t.is((await pm.command('user_count example.com')).status, '+OK+');
  pm.write('mod_user carol@other.org\nclear_text_password x\n.\n');
  t.is(await pm.line(), '-ERR 11.503 Not Authorized for domain');
  t.is((await pm.command('user_count example.com')).status, '+OK+');
  const bob = await w.as('bob');
  bob.write('mod_user bobby@example.com\r\ncomment x\r\n.\r\n');
  t.is(await bob.line(), '-ERR 11.504 Not Authorized for domain');
  t.is((await bob.command('get_user_size bob@example.com')).status, '-ERR 9.3801 Not Authorized');
  bob.write('mod_user\r\n.\r\n');
  t.is(await bob.line(), '-ERR 6.501 Email Address Required');
  bob.write('mod_user b(b@example.com\r\n.\r\n');
  t.is(await bob.line(), '-ERR 10.502 Invalid Email Address');
  t.is((await bob.command('quit')).status, '+OK ');
});

test('NO_PASSWD_CHNG stops a user changing its own password, with an explicit final -ERR (P1, T5)', async (t) => {
  const w = await world(t);
  const a = await w.as('admin');
  await modUser(a, 'bob@example.com', ['no_password_change 1']);
  const bob = await w.as('bob');
  t.deepEqual(await modUser(bob, 'bob@example.com', ['clear_text_password Another1']), ['+OK ', '-ERR 9.510 Not Authorized (password change disabled)']);
  // An admin changing the account's password is not the user changing its own.
  t.deepEqual(await modUser(a, 'bob@example.com', ['clear_text_password Another1']), ['+OK ', '+OK ']);
  t.is((await stored(w, 'example.com', 'bob')).clear, 'Another1');
});

test('disable_password_changing in the domain limits counts as NO_PASSWD_CHNG', async (t) => {
  const w = await world(t);
  writeFileSync(join(w.dirs['other.org']!, '.qmailadmin-limits'), 'disable_password_changing\n');
  const carol = await w.as('carol');
  t.is((await modUser(carol, 'carol@other.org', ['clear_text_password x2']))[1], '-ERR 9.510 Not Authorized (password change disabled)');
});

test('the spam_vpopmaild plugin: changes sent with quit and no reading are applied', async (t) => {
  const w = await world(t);
  const c = await greeted(w.server);
  c.write('slogin bob@example.com bob-pw\r\nmod_user bob@example.com\r\nno_spamassassin 1\r\ndelete_spam 1\r\n.\r\nquit\r\n');
  c.close();
  for (let i = 0; i < 200 && (await stored(w, 'example.com', 'bob')).gid === 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.is((await stored(w, 'example.com', 'bob')).gid, 0x4000 | 0x8000);
});
