import test from 'ava';
import { greeted } from './harness.ts';
import { world } from './world.ts';

const VERBOSE_FLAGS = [
  'no_password_change',
  'no_pop',
  'no_webmail',
  'no_imap',
  'bounce_mail',
  'no_relay',
  'no_dialup',
  'user_flag_0',
  'user_flag_1',
  'user_flag_2',
  'user_flag_3',
  'no_smtp',
  'domain_admin_privileges',
  'override_domain_limits',
  'no_spamassassin',
  'delete_spam',
  'no_maildrop',
  'system_admin_privileges',
];

test('login answers +OK+ with the directory prefix, the user block and 18 verbose flag lines', async (t) => {
  const w = await world(t);
  const c = await greeted(w.server);
  const r = await c.command('login bob@example.com bob-pw');
  t.is(r.status, '+OK+');
  const dom = w.dirs['example.com']!;
  t.deepEqual(r.lines.slice(0, 9), [
    `vpopmail_dir ${w.home.vpopmailHome}`,
    `domain_dir ${dom}`,
    `uid ${process.getuid!()}`,
    `gid ${process.getgid!()}`,
    'name bob',
    'comment bob',
    'quota NOQUOTA',
    `user_dir ${dom}/bob`,
    r.lines[8]!,
  ]);
  t.regex(r.lines[8]!, /^encrypted_password \$6\$/);
  t.is(r.lines[9], 'clear_text_password bob-pw');
  t.deepEqual(r.lines.slice(10), VERBOSE_FLAGS.map((f) => `${f} 0`));
});

test('clogin gives the compact gidflags line; slogin only "+OK "', async (t) => {
  const w = await world(t);
  const c = await greeted(w.server);
  const r = await c.command('clogin admin@example.com admin-pw');
  t.is(r.status, '+OK+');
  t.is(r.lines.at(-1), 'gidflags 65536');
  t.is(r.lines.length, 11);
  const s = await greeted(w.server);
  t.is((await s.command('slogin bob@example.com bob-pw')).status, '+OK ');
});

test('postmaster is a domain admin by name and its session flags show domain_admin_privileges 1', async (t) => {
  const w = await world(t);
  const c = await greeted(w.server);
  const r = await c.command('login postmaster@example.com postmaster-pw');
  t.true(r.lines.includes('domain_admin_privileges 1'));
  const d = await greeted(w.server);
  t.is((await d.command('clogin postmaster@example.com postmaster-pw')).lines.at(-1), 'gidflags 4096');
  // Its stored pw_gid is untouched: a system admin sees 0.
  const a = await w.as('admin');
  t.true((await a.command('user_info postmaster@example.com')).lines.includes('gidflags 0'));
});

test('an unknown user is 8.206 and a wrong password 8.207, both "Invalid Login"', async (t) => {
  const w = await world(t);
  const c = await greeted(w.server);
  t.is((await c.command('login nobody@example.com x')).status, '-ERR 8.206 Invalid Login');
  t.is((await c.command('login bob@example.com wrong')).status, '-ERR 8.207 Invalid Login');
  t.is((await c.command('login bob@nosuch.test x')).status, '-ERR 8.206 Invalid Login');
  const log = w.io.lines.join('');
  t.regex(log, /login failed conn=\d+ user=bob@example.com ip=127.0.0.1 reason=bad-password/);
  t.notRegex(log, /wrong/);
});

test('passwords are the rest of the line: spaces inside and a leading extra space belong to it', async (t) => {
  const w = await world(t);
  const c = await greeted(w.server);
  t.is((await c.command('slogin bob@example.com  bob-pw')).status, '-ERR 8.207 Invalid Login');
  t.is((await c.command('slogin bob@example.com bob-pw')).status, '+OK ');
});

test('addresses are lower-cased, and % or / work as the separator', async (t) => {
  const w = await world(t);
  for (const address of ['BOB@Example.COM', 'bob%example.com', 'bob/example.com']) {
    const c = await greeted(w.server);
    t.is((await c.command(`slogin ${address} bob-pw`)).status, '+OK ', address);
  }
});

test('a login through an alias domain has the real domain as its home domain', async (t) => {
  const w = await world(t);
  const c = await greeted(w.server);
  const r = await c.command('login postmaster@alias.example postmaster-pw');
  t.is(r.lines[1], `domain_dir ${w.dirs['example.com']}`);
  t.is((await c.command('user_count example.com')).status, '+OK+');
});

test('spec §10.3: failed logins, a missing password, then 5.102 without waiting for a fifth line', async (t) => {
  const w = await world(t);
  const c = await greeted(w.server);
  c.send('login bob@example.com wrong1');
  t.is(await c.line(), '-ERR 8.207 Invalid Login');
  c.send('login bob@example.com');
  t.is(await c.line(), '-ERR 7.204 Password Required');
  c.send('login nobody@example.com x');
  t.is(await c.line(), '-ERR 8.206 Invalid Login');
  c.send('login bob@example.com wrong2');
  t.is(await c.line(), '-ERR 8.207 Invalid Login');
  t.is(await c.line(), '-ERR 5.102 Too many invalid login attempts');
  await c.closed();
});

test('four failures in four lines end with the fourth 8.20x and 5.105', async (t) => {
  const w = await world(t);
  const c = await greeted(w.server);
  for (let i = 0; i < 3; i++) t.is((await c.command('login bob@example.com no')).status, '-ERR 8.207 Invalid Login');
  c.send('login bob@example.com no');
  t.is(await c.line(), '-ERR 8.207 Invalid Login');
  t.is(await c.line(), '-ERR 5.105 Too many invalid login attempts');
  await c.closed();
});

test('a good login on the fourth line opens the session', async (t) => {
  const w = await world(t);
  const c = await greeted(w.server);
  for (let i = 0; i < 3; i++) await c.command('login bob@example.com no');
  t.is((await c.command('slogin bob@example.com bob-pw')).status, '+OK ');
  t.is((await c.command('get_user_size bob@example.com')).status, '-ERR 9.3801 Not Authorized');
});

test('after login the login commands and unknown verbs are 4.107', async (t) => {
  const w = await world(t);
  const c = await w.as('bob');
  t.is((await c.command('login admin@example.com admin-pw')).status, '-ERR 4.107 Invalid Command');
  t.is((await c.command('frobnicate')).status, '-ERR 4.107 Invalid Command');
  t.is((await c.command('list_domains')).status, '-ERR 4.107 Invalid Command');
});

test('help lists what the level may use: a user has no Domain or Alias commands', async (t) => {
  const w = await world(t);
  const user = await w.as('bob');
  const u = await user.command('help');
  t.is(u.status, '+OK+');
  t.false(u.lines.includes('Domain'));
  t.false(u.lines.includes('Login'));
  t.true(u.lines.includes('File System'));
  t.true(u.lines.some((l) => l.startsWith('mod_user ')));
  const admin = await w.as('admin');
  const a = await admin.command('help');
  for (const section of ['Utility', 'Domain', 'User', 'Alias', 'File System', 'IP Map', 'Mailing List']) t.true(a.lines.includes(section), section);
  t.true(a.lines.some((l) => l.startsWith('add_domain ')));
});

test('an idle logged-in session gets 3.106', async (t) => {
  const w = await world(t, '', { limits: { idleTimeoutMs: 200 } });
  const c = await w.as('bob');
  t.is(await c.line(), '-ERR 3.106 Read Timeout');
  await c.closed();
});
