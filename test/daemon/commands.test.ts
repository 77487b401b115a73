// Every command at each level: the status line a system admin, a domain admin (postmaster of
// example.com) and a plain user (bob@example.com) get, then each command's content and errors.
import test from 'ava';
import { mkdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { world } from './world.ts';

const ERR_INVALID = '-ERR 4.107 Invalid Command';

/** [command, system admin, domain admin, user]. */
const MATRIX: readonly (readonly [string, string, string, string])[] = [
  ['list_domains', '+OK+', ERR_INVALID, ERR_INVALID],
  ['find_domain other.org', '+OK+', ERR_INVALID, ERR_INVALID],
  ['domain_count', '+OK+', ERR_INVALID, ERR_INVALID],
  ['dom_info example.com', '+OK+', ERR_INVALID, ERR_INVALID],
  ['get_limits example.com', '+OK+', '-ERR 9.3401 Not Authorized', ERR_INVALID],
  ['del_limits other.org', '+OK ', ERR_INVALID, ERR_INVALID],
  ['get_domain_size example.com', '+OK+', '+OK+', ERR_INVALID],
  ['get_domain_size other.org', '+OK+', '-ERR 11.3903 Not Authorized for domain', ERR_INVALID],
  ['user_info bob@example.com', '+OK+', '+OK+', ERR_INVALID],
  ['user_info carol@other.org', '+OK+', '-ERR 11.604 Not Authorized for domain', ERR_INVALID],
  ['user_count example.com', '+OK+', '+OK+', ERR_INVALID],
  ['user_count other.org', '+OK+', '-ERR 11.2603 Not Authorized for domain', ERR_INVALID],
  ['list_users example.com', '+OK+', '+OK+', ERR_INVALID],
  ['list_users other.org', '+OK+', '-ERR 11.2703 Not Authorized for domain', ERR_INVALID],
  ['list_lists example.com', '+OK+', '+OK+', ERR_INVALID],
  ['get_lastauth bob@example.com', '+OK+', '+OK+', '-ERR 9.3701 Not Authorized'],
  ['get_user_size bob@example.com', '+OK+', '+OK+', '-ERR 9.3801 Not Authorized'],
  ['get_ip_map 192.0.2.1', '-ERR 0.3003 error', '-ERR 9.3001 Not Authorized', '-ERR 9.3001 Not Authorized'],
  ['show_ip_map', '+OK+', ERR_INVALID, ERR_INVALID],
  ['add_ip_map 192.0.2.1', '-ERR 13.3103 Domain Required', ERR_INVALID, ERR_INVALID],
  ['del_ip_map 192.0.2.1', '-ERR 13.3203 Domain Required', ERR_INVALID, ERR_INVALID],
  ['add_list example.com x', '-ERR 36.4001 Not Implemented yet', '-ERR 36.4001 Not Implemented yet', ERR_INVALID],
  ['del_list example.com x', '-ERR 36.4101 Not Implemented yet', '-ERR 36.4101 Not Implemented yet', ERR_INVALID],
  ['mod_list example.com x', '-ERR 36.4201 Not Implemented yet', '-ERR 36.4201 Not Implemented yet', ERR_INVALID],
  ['list_dir example.com/', '+OK+', '+OK+', '-ERR 26.1512 Unauthorized Directory.'],
  ['list_dir bob@example.com/', '+OK+', '+OK+', '+OK+'],
  ['list_dir carol@other.org/', '+OK+', '-ERR 11.1507 Not Authorized for domain', '-ERR 12.1508 User does not exist'],
  ['read_file /etc/passwd', '-ERR 26.1510 Unauthorized Directory.', '-ERR 26.1511 Unauthorized Directory.', '-ERR 26.1512 Unauthorized Directory.'],
  ['add_domain', '-ERR 13.802 Domain Required', ERR_INVALID, ERR_INVALID],
  ['add_domain x.test', '-ERR 7.803 Password Required', ERR_INVALID, ERR_INVALID],
  ['add_alias_domain example.com', '-ERR 14.1203 Alias Name Required', ERR_INVALID, ERR_INVALID],
  ['del_domain', '-ERR 13.1302 Domain Required', ERR_INVALID, ERR_INVALID],
  ['add_user new@example.com', '-ERR 7.305 Password Required', '-ERR 7.305 Password Required', ERR_INVALID],
  ['add_user new@other.org pw', undefined!, '-ERR 11.304 Not Authorized for domain', ERR_INVALID],
  ['del_user carol@other.org', undefined!, '-ERR 9.404 Not Authorized', ERR_INVALID],
];

for (const [line, sa, qa, user] of MATRIX) {
  test(`${line}: system admin, domain admin and user get their replies`, async (t) => {
    const w = await world(t);
    const levels = [
      ['admin', sa],
      ['postmaster', qa],
      ['bob', user],
    ] as const;
    for (const [who, expected] of levels) {
      if (expected === undefined) continue;
      const c = await w.as(who);
      t.is((await c.command(line)).status, expected, `${who}: ${line}`);
    }
  });
}

test('list_domains lists every assign entry as "<real> <name>", pages by (page-1)*per_page', async (t) => {
  const w = await world(t);
  const c = await w.as('admin');
  t.deepEqual((await c.command('list_domains')).lines, ['example.com alias.example', 'example.com example.com', 'other.org other.org']);
  t.deepEqual((await c.command('list_domains 1 2')).lines, ['example.com alias.example', 'example.com example.com']);
  t.deepEqual((await c.command('list_domains 2 2')).lines, ['other.org other.org']);
  t.deepEqual((await c.command('list_domains 3 2')).lines, []);
  t.deepEqual((await c.command('domain_count')).lines, ['count 3']);
});

test('find_domain gives the page of the entry, or an empty block when it is not there', async (t) => {
  const w = await world(t);
  const c = await w.as('admin');
  t.deepEqual((await c.command('find_domain other.org')).lines, ['page 3']);
  t.deepEqual((await c.command('find_domain other.org 2')).lines, ['page 2']);
  t.deepEqual((await c.command('find_domain example.com 0')).lines, ['page 2']);
  t.deepEqual(await c.command('find_domain nosuch.test'), { status: '+OK+', lines: [] });
  t.is((await c.command('find_domain')).status, '-ERR 13.2402 Domain Required');
});

test('dom_info shows the real domain for an alias, with its aliases', async (t) => {
  const w = await world(t);
  const c = await w.as('admin');
  const expected = ['domain example.com', `path ${w.dirs['example.com']}`, `uid ${process.getuid!()}`, `gid ${process.getgid!()}`, 'alias alias.example'];
  t.deepEqual((await c.command('dom_info example.com')).lines, expected);
  t.deepEqual((await c.command('dom_info alias.example')).lines, expected);
  t.is((await c.command('dom_info nosuch.test')).status, '-ERR 0.1404 Domain does not exist');
  t.is((await c.command('dom_info')).status, '-ERR 13.1402 Domain Required');
});

test('user_info follows the session mode; clear passwords only reach system admins and the account itself', async (t) => {
  const w = await world(t);
  const admin = await w.as('admin', 'login');
  const a = await admin.command('user_info bob@example.com');
  t.is(a.lines[5], 'clear_text_password bob-pw');
  t.is(a.lines.length, 6 + 18);
  const pm = await w.as('postmaster', 'slogin');
  const p = await pm.command('user_info bob@example.com');
  t.is(p.lines[5], 'clear_text_password ');
  t.is(p.lines.at(-1), 'gidflags 0');
  t.is((await pm.command('user_info')).status, '-ERR 6.602 Email Address Required');
  t.is((await pm.command('user_info b(b@example.com')).status, '-ERR 10.603 Invalid Email Address');
  t.is((await pm.command('user_info nobody@example.com')).status, '-ERR 12.605 User does not exist');
  t.is((await pm.command('user_info x@nosuch.test')).status, '-ERR 11.604 Not Authorized for domain');
  t.is((await admin.command('user_info x@nosuch.test')).status, '-ERR 12.605 User does not exist');
  // An alias of the home domain is the home domain (C compares the argument as typed, P4).
  t.is((await pm.command('user_info bob@alias.example')).status, '+OK+');
});

test('list_users gives each user block and an empty line; paging skips without empty lines', async (t) => {
  const w = await world(t);
  const c = await w.as('postmaster');
  const all = await c.command('list_users example.com');
  const names = all.lines.filter((l) => l.startsWith('name ')).map((l) => l.slice(5));
  t.deepEqual(names, ['admin', 'bob', 'bobby', 'postmaster', 'qa', 'qaover']);
  t.is(all.lines.filter((l) => l === '').length, 6);
  const page = await c.command('list_users example.com 2 2');
  t.deepEqual(page.lines, [...page.lines.slice(0, 7), '', ...page.lines.slice(8, 15), '']);
  t.deepEqual(page.lines.filter((l) => l.startsWith('name ')), ['name bobby', 'name postmaster']);
  t.is((await c.command('list_users')).status, '-ERR 6.2702 Email Address Required');
  t.deepEqual((await c.command('user_count example.com')).lines, ['count 6']);
  t.is((await c.command('user_count')).status, '-ERR 13.2602 Domain Required');
});

test('get_lastauth reports time and ip, 0 and 0.0.0.0 before any login', async (t) => {
  const w = await world(t);
  const c = await w.as('postmaster');
  t.deepEqual((await c.command('get_lastauth bob@example.com')).lines, ['time 0', 'ip 0.0.0.0']);
  const home = join(w.dirs['example.com']!, 'bob');
  writeFileSync(join(home, 'lastauth'), '192.0.2.7');
  utimesSync(join(home, 'lastauth'), 1700000000, 1700000000);
  t.deepEqual((await c.command('get_lastauth bob@example.com')).lines, ['time 1700000000', 'ip 192.0.2.7']);
  t.is((await c.command('get_lastauth nobody@example.com')).status, '-ERR 12.3705 User does not exist');
  t.is((await c.command('get_lastauth carol@other.org')).status, '-ERR 11.3704 Not Authorized for domain');
  t.is((await c.command('get_lastauth')).status, '-ERR 6.3702 Email Address Required');
});

test('get_lastauth answers "+OK " alone in builds without auth logging', async (t) => {
  const w = await world(t, 'auth-logging = no\n');
  const c = await w.as('admin');
  t.is((await c.command('get_lastauth bob@example.com')).status, '+OK ');
});

test('get_user_size and get_domain_size count Maildir messages; errors have the documented forms', async (t) => {
  const w = await world(t);
  const maildir = join(w.dirs['example.com']!, 'bob', 'Maildir');
  writeFileSync(join(maildir, 'new', '1700000000.1.host,S=1000'), 'x');
  writeFileSync(join(maildir, 'cur', '1700000001.2.host:2,S'), 'hello');
  const c = await w.as('postmaster');
  t.deepEqual((await c.command('get_user_size bob@example.com')).lines, ['size 1005', 'count 2']);
  t.is((await c.command('get_user_size nobody@example.com')).status, '-ERR 12.3805 User does not exist');
  t.is((await c.command('get_user_size carol@other.org')).status, '-ERR 11.3804 Not Authorized for domain');
  t.is((await c.command('get_user_size')).status, '-ERR 6.3802 Email Address Required');
  t.is((await c.command('get_user_size b(b@x')).status, '-ERR 10.3803 Invalid Email Address');
  const d = await c.command('get_domain_size example.com');
  t.deepEqual(d.lines.slice(3, 6), ['user bob@example.com', 'size 1005', 'count 2']);
  t.deepEqual(d.lines.slice(-3), ['domain example.com', 'size 1005', 'count 2']);
  t.is(d.lines.length, 6 * 3 + 3);
  t.is((await c.command('get_domain_size')).status, '-ERR 13.3902 Domain Required');
});

test('get_domain_size that cannot count a mailbox is one -ERR, never a block without its "."', async (t) => {
  const w = await world(t);
  const maildir = join(w.dirs['example.com']!, 'bob', 'Maildir');
  // A Maildir that is a file: counting it fails.
  const { rmSync } = await import('node:fs');
  rmSync(maildir, { recursive: true });
  writeFileSync(maildir, 'not a directory');
  const c = await w.as('admin');
  t.regex((await c.command('get_domain_size example.com')).status, /^-ERR 0\.3904 /);
  t.is((await c.command('domain_count')).status, '+OK+');
});

test('get_limits sends C keys in order, perm_quota packed and perm_defaultquota twice', async (t) => {
  const w = await world(t);
  writeFileSync(
    join(w.dirs['example.com']!, '.qmailadmin-limits'),
    'maxpopaccounts: 10\nmaxaliases: 5\ndefault_quota: 1048576\ndisable_pop\nperm_maillist: 73\nperm_quota: 2\nperm_defaultquota: 4\n',
  );
  const c = await w.as('admin');
  const r = await c.command('get_limits example.com');
  t.deepEqual(r.lines, [
    'max_popaccounts 10',
    'max_aliases 5',
    'max_forwards -1',
    'max_autoresponders -1',
    'max_mailinglists -1',
    'disk_quota 0',
    'max_msgcount 0',
    'default_quota 1048576',
    'default_maxmsgcount 0',
    'disable_pop 1',
    'disable_imap 0',
    'disable_dialup 0',
    'disable_password_changing 0',
    'disable_webmail 0',
    'disable_external_relay 0',
    'disable_smtp 0',
    'disable_spamassassin 0',
    'delete_spam 0',
    'disable_maildrop 0',
    'perm_account 0',
    'perm_alias 0',
    'perm_forward 0',
    'perm_autoresponder 0',
    'perm_maillist 1',
    `perm_quota ${2 | (1 << 3) | (1 << 6)}`,
    'perm_defaultquota 4',
    'perm_defaultquota 4',
  ]);
  t.is((await c.command('get_limits')).status, '-ERR 13.3402 Domain Required');
  t.is((await c.command('get_limits nosuch.test')).status, '-ERR 34.3403 Could not get limits');
});

test('set_limits: intermediate +OK, key value lines with space, = or :, final +OK; get_limits shows them', async (t) => {
  const w = await world(t);
  const c = await w.as('admin');
  c.send('set_limits other.org');
  t.is(await c.line(), '+OK ');
  for (const l of ['max_popaccounts 20', 'max_aliases=3', 'disable_imap:1', 'perm_maillist_users 5', 'perm_quota 2', '.']) c.send(l);
  t.is(await c.line(), '+OK ');
  const r = await c.command('get_limits other.org');
  t.true(r.lines.includes('max_popaccounts 20'));
  t.true(r.lines.includes('max_aliases 3'));
  t.true(r.lines.includes('disable_imap 1'));
  t.true(r.lines.includes(`perm_quota ${2 | (5 << 3)}`));
  // Written where C's reader takes the list bits from: perm_maillist.
  const { readFileSync } = await import('node:fs');
  t.regex(readFileSync(join(w.dirs['other.org']!, '.qmailadmin-limits'), 'latin1'), /perm_maillist: 40\nperm_quota: 2\n/);
});

test('set_limits with a bad line warns inline as C does and changes nothing (final -ERR 35.3504)', async (t) => {
  const w = await world(t);
  const c = await w.as('admin');
  c.send('set_limits other.org');
  t.is(await c.line(), '+OK ');
  for (const l of ['max_popaccounts 20', 'no_such_key 1', 'max_aliases', 'max_forwards ten', '.']) c.send(l);
  t.is(await c.line(), '  Warning: invalid option');
  t.is(await c.line(), '  Warning: missing value');
  t.is(await c.line(), '  Warning: invalid value');
  t.is(await c.line(), '-ERR 35.3504 Could not set limits');
  t.true((await c.command('get_limits other.org')).lines.includes('max_popaccounts -1'));
  t.is((await c.command('set_limits')).status, '-ERR 13.3502 Domain Required');
  t.is((await c.command('set_limits nosuch.test')).status, '-ERR 34.3505 Could not get limits');
});

test('del_limits removes the domain limits; a domain without them is fine', async (t) => {
  const w = await world(t);
  const path = join(w.dirs['example.com']!, '.qmailadmin-limits');
  writeFileSync(path, 'maxpopaccounts: 1\n');
  const c = await w.as('admin');
  t.is((await c.command('del_limits example.com')).status, '+OK ');
  const { existsSync } = await import('node:fs');
  t.false(existsSync(path));
  t.is((await c.command('del_limits example.com')).status, '+OK ');
  t.is((await c.command('del_limits')).status, '-ERR 13.3602 Domain Required');
});

test('ip map: add, get, show, delete; an unknown domain is 38.3104 Invalid Domain', async (t) => {
  const w = await world(t);
  const c = await w.as('admin');
  t.is((await c.command('add_ip_map 192.0.2.1 example.com')).status, '+OK ');
  t.is((await c.command('add_ip_map 192.0.2.2 other.org')).status, '+OK ');
  t.is((await c.command('add_ip_map 192.0.2.3 nosuch.test')).status, '-ERR 38.3104 Invalid Domain');
  t.deepEqual((await c.command('get_ip_map 192.0.2.1')).lines, ['192.0.2.1 example.com']);
  t.deepEqual((await c.command('show_ip_map')).lines, ['192.0.2.1 example.com', '192.0.2.2 other.org']);
  t.is((await c.command('del_ip_map 192.0.2.1 example.com')).status, '+OK ');
  t.is((await c.command('del_ip_map 192.0.2.1 example.com')).status, '-ERR 0.3204 error');
  t.is((await c.command('get_ip_map')).status, '-ERR 37.3002 IP Required');
  t.is((await c.command('add_ip_map')).status, '-ERR 32.3102 IP Required');
  t.is((await c.command('del_ip_map')).status, '-ERR 37.3202 IP Required');
});

test('ip map commands answer 33 Not Available without ip-alias domains', async (t) => {
  const w = await world(t, 'ip-alias-domains = no\n');
  const c = await w.as('admin');
  t.is((await c.command('show_ip_map')).status, '-ERR 33.3301 Not Available');
  t.is((await c.command('get_ip_map 1.2.3.4')).status, '-ERR 33.3001 Not Available');
});

test('list_lists shows .qmail- files whose first line runs ezmlm-reject, sorted without case', async (t) => {
  const w = await world(t);
  const dom = w.dirs['example.com']!;
  writeFileSync(join(dom, '.qmail-news'), '|/usr/bin/ezmlm-reject /x\n|/usr/bin/ezmlm-send /x\n');
  writeFileSync(join(dom, '.qmail-Alpha'), '|ezmlm-reject\n');
  writeFileSync(join(dom, '.qmail-sales'), '&bob@example.com\n');
  const c = await w.as('postmaster');
  t.deepEqual((await c.command('list_lists example.com')).lines, ['.qmail-Alpha', '.qmail-news']);
  t.deepEqual((await c.command('list_lists example.com 2 1')).lines, ['.qmail-news']);
  t.is((await c.command('list_lists')).status, '-ERR 6.2902 Email Address Required');
  t.is((await c.command('list_lists other.org')).status, '-ERR 11.2903 Not Authorized for domain');
});

test('file commands: mk_dir, write_file, read_file, stat_file, list_dir, rename_file, rm_file, rm_dir', async (t) => {
  const w = await world(t);
  const c = await w.as('postmaster');
  t.is((await c.command('mk_dir example.com/ROBOT/')).status, '+OK ');
  t.is((await c.command('mk_dir example.com/ROBOT/')).status, '-ERR 0.1602 File exists');
  c.send('write_file example.com/ROBOT/message');
  c.send('From: info@example.com');
  c.send('Subject: away');
  c.send('');
  c.send('..');
  c.send('.');
  t.is(await c.line(), '+OK ');
  const { readFileSync, statSync } = await import('node:fs');
  const robot = join(w.dirs['example.com']!, 'ROBOT');
  t.is(readFileSync(join(robot, 'message'), 'latin1'), 'From: info@example.com\nSubject: away\n\n..\n');
  t.is(statSync(join(robot, 'message')).mode & 0o777, 0o600);
  t.is(statSync(robot).mode & 0o777, 0o700);
  c.send('read_file example.com/ROBOT/message');
  t.is(await c.rawLine(), '+OK+\r\n');
  t.is(await c.rawLine(), 'From: info@example.com\n');
  t.is(await c.rawLine(), 'Subject: away\n');
  t.is(await c.rawLine(), '\n');
  t.is(await c.rawLine(), '..\n');
  t.is(await c.rawLine(), '.\r\n');
  c.send('stat_file example.com/ROBOT/message');
  t.is(await c.rawLine(), '+OK+\r\n');
  t.is(await c.rawLine(), `uid: ${process.getuid!()}\n`);
  t.is(await c.rawLine(), '.\r\n');
  t.deepEqual((await c.command('list_dir example.com/ROBOT/')).lines, ['message file']);
  t.is((await c.command('rename_file example.com/ROBOT/message example.com/ROBOT/msg')).status, '+OK ');
  t.deepEqual((await c.command('list_dir example.com/ROBOT')).lines, ['msg file']);
  t.is((await c.command('rm_file example.com/ROBOT/msg')).status, '+OK ');
  t.is((await c.command('rm_file example.com/ROBOT/msg')).status, '-ERR 0.1902 No such file or directory');
  t.is((await c.command('rm_dir example.com/ROBOT')).status, '+OK ');
  t.is((await c.command('read_file example.com/ROBOT/msg')).status, '-ERR 0.2102 No such file or directory');
  for (const [line, status] of [
    ['mk_dir', '-ERR 27.1601 Directory Required.'],
    ['rm_dir', '-ERR 27.1701 Directory Required.'],
    ['list_dir', '-ERR 27.1801 Directory Required.'],
    ['rm_file', '-ERR 30.1901 Filename Required'],
    ['read_file', '-ERR 30.2101 Filename Required'],
    ['stat_file', '-ERR 30.2201 Filename Required'],
    ['rename_file', '-ERR 28.3801 Source File Name Required'],
    ['rename_file example.com/a', '-ERR 29.3801 Destination File Name Required'],
    ['write_file', '-ERR 30.2001 Filename Required'],
  ] as const) {
    t.is((await c.command(line)).status, status, line);
  }
});

test('read_file sends a file without a final newline with an extra CRLF, and a lone "." line as ".."', async (t) => {
  const w = await world(t);
  const dom = w.dirs['example.com']!;
  writeFileSync(join(dom, 'a'), 'one\n.\ntwo');
  writeFileSync(join(dom, 'b'), '.');
  writeFileSync(join(dom, 'empty'), '');
  const c = await w.as('postmaster');
  c.send('read_file example.com/a');
  t.is(await c.rawLine(), '+OK+\r\n');
  t.is(await c.rawLine(), 'one\n');
  t.is(await c.rawLine(), '..\n');
  t.is(await c.rawLine(), 'two\r\n');
  t.is(await c.rawLine(), '.\r\n');
  c.send('read_file example.com/b');
  t.is(await c.rawLine(), '+OK+\r\n');
  t.is(await c.rawLine(), '..\r\n');
  t.is(await c.rawLine(), '.\r\n');
  c.send('read_file example.com/empty');
  t.is(await c.rawLine(), '+OK+\r\n');
  t.is(await c.rawLine(), '.\r\n');
});

test('write_file strips the CR of CRLF clients and replaces the file only when the block is complete', async (t) => {
  const w = await world(t);
  const path = join(w.dirs['example.com']!, '.qmail-sales');
  writeFileSync(path, 'old\n');
  const c = await w.as('postmaster');
  c.write('write_file example.com/.qmail-sales\r\n&bob@example.com\r\n&carol@other.org\r\n.\r\n');
  t.is(await c.line(), '+OK ');
  const { readFileSync } = await import('node:fs');
  t.is(readFileSync(path, 'latin1'), '&bob@example.com\n&carol@other.org\n');
  // A session that dies mid-block leaves the old file whole and no temp file behind.
  c.write('write_file example.com/.qmail-sales\r\nhalf\r\n');
  await new Promise((r) => setTimeout(r, 50));
  c.close();
  await new Promise((r) => setTimeout(r, 100));
  t.is(readFileSync(path, 'latin1'), '&bob@example.com\n&carol@other.org\n');
  const { readdirSync } = await import('node:fs');
  t.deepEqual(readdirSync(w.dirs['example.com']!).filter((n) => n.includes('vpopmaild')), []);
});

test('a refused write_file still consumes its data block: no data line runs as a command', async (t) => {
  const w = await world(t);
  const c = await w.as('bob');
  c.send('write_file /etc/cron.d/evil');
  c.send('quit');
  c.send('.');
  t.is(await c.line(), '-ERR 26.1512 Unauthorized Directory.');
  t.is((await c.command('get_user_size bob@example.com')).status, '-ERR 9.3801 Not Authorized');
});

test('a plain user may not install .qmail files nor touch store files; an expert user may (S6)', async (t) => {
  const w = await world(t);
  const c = await w.as('bob');
  c.send('write_file bob@example.com/.qmail');
  c.send('|/bin/sh -c "cat /etc/shadow"');
  c.send('.');
  t.is(await c.line(), '-ERR 9.2003 Not Authorized');
  c.send('write_file bob@example.com/notes');
  c.send('x');
  c.send('.');
  t.is(await c.line(), '+OK ');
  t.is((await c.command('rename_file bob@example.com/notes bob@example.com/.qmail-x')).status, '-ERR 9.3810 Not Authorized');
  const pm = await w.as('postmaster');
  pm.send('write_file example.com/vpasswd');
  pm.send('postmaster:x:1:65536:x:/x:NOQUOTA');
  pm.send('.');
  t.is(await pm.line(), '-ERR 9.2003 Not Authorized');
  t.is((await pm.command('rm_file example.com/vpasswd.cdb')).status, '-ERR 9.1903 Not Authorized');
  t.is((await pm.command('rm_dir example.com/')).status, '-ERR 26.1703 Unauthorized Directory.');
  // Domain admins keep what qmailadmin lets them do: forwards and autoresponders in their domain.
  pm.send('write_file example.com/.qmail-info');
  pm.send('|/usr/bin/autorespond 1000 3 x y');
  pm.send('.');
  t.is(await pm.line(), '+OK ');
  const expert = await w.as('admin');
  expert.send('mod_user bob@example.com');
  t.is(await expert.line(), '+OK ');
  expert.send('system_expert_privileges 1');
  expert.send('.');
  t.is(await expert.line(), '+OK ');
  const bob = await w.as('bob');
  bob.send('write_file bob@example.com/.qmail');
  bob.send('./Maildir/');
  bob.send('.');
  t.is(await bob.line(), '+OK ');
});

test('list_dir names each entry with its type and never follows a symlink out of the root', async (t) => {
  const w = await world(t);
  const home = join(w.dirs['example.com']!, 'bob');
  mkdirSync(join(home, 'sub'));
  symlinkSync('/etc', join(home, 'etc-link'));
  const c = await w.as('bob');
  const r = await c.command('list_dir bob@example.com/');
  t.deepEqual([...r.lines].sort(), ['Maildir dir', 'etc-link link', 'sub dir']);
  t.is((await c.command('list_dir bob@example.com/etc-link/')).status, '-ERR 26.1512 Unauthorized Directory.');
  t.is((await c.command('list_dir bob@example.com/nosuch/')).status, '-ERR 0.1802 No such file or directory');
});

test('add_domain makes the domain and its postmaster; a second time or a bad name is 0.804', async (t) => {
  const w = await world(t);
  const c = await w.as('admin');
  t.is((await c.command('add_domain new.test Pm-Pass1')).status, '+OK ');
  t.deepEqual((await c.command('find_domain new.test')).lines, ['page 3']);
  const pm = await (await w.as('admin')).command('user_info postmaster@new.test');
  t.true(pm.lines.includes('comment postmaster'));
  t.is((await c.command('add_domain new.test Pm-Pass1')).status, '-ERR 0.804 Domain already exists');
  t.regex((await c.command('add_domain no_dot Pm-Pass1')).status, /^-ERR 0\.804 /);
});

test('add_alias_domain takes the real domain first; del_domain removes an alias or a domain with its aliases', async (t) => {
  const w = await world(t);
  const c = await w.as('admin');
  t.is((await c.command('add_alias_domain other.org other.example')).status, '+OK ');
  t.true((await c.command('dom_info other.org')).lines.includes('alias other.example'));
  t.is((await c.command('add_alias_domain nosuch.test x.test')).status, '-ERR 0.1204 Domain does not exist');
  t.is((await c.command('add_alias_domain alias.example y.test')).status, '-ERR 0.1204 Domain does not exist');
  t.is((await c.command('add_alias_domain example.com other.org')).status, '-ERR 0.1204 Domain already exists');
  t.is((await c.command('del_domain other.example')).status, '+OK ');
  t.deepEqual((await c.command('dom_info other.org')).lines.filter((l) => l.startsWith('alias ')), []);
  t.is((await c.command('del_domain example.com')).status, '+OK ');
  t.deepEqual((await c.command('list_domains')).lines, ['other.org other.org']);
  t.is((await c.command('del_domain nosuch.test')).status, '-ERR 0.1303 Domain does not exist');
});

test('add_user and del_user for a domain admin, with C library errors as 0.305 and 0.405', async (t) => {
  const w = await world(t);
  const c = await w.as('postmaster');
  t.is((await c.command('add_user new@example.com New pass 1')).status, '+OK ');
  const info = await c.command('user_info new@example.com');
  t.true(info.lines.includes('comment new'));
  t.is((await c.command('add_user new@example.com again')).status, '-ERR 0.305 Username exists');
  t.is((await c.command('add_user')).status, '-ERR 6.302 Email Address Required');
  t.is((await c.command('add_user b(b@example.com pw')).status, '-ERR 10.303 Invalid Email Address');
  t.is((await c.command('del_user new@example.com')).status, '+OK ');
  t.is((await c.command('del_user new@example.com')).status, '-ERR 0.405 User does not exist');
  t.is((await c.command('del_user')).status, '-ERR 6.402 Email Address Required');
  const login = await (await import('./harness.ts')).greeted(w.server);
  t.is((await login.command('slogin new@example.com New pass 1')).status, '-ERR 8.206 Invalid Login');
});

test('add_user and a password change obey password_strength.conf; the refusal is C\'s text', async (t) => {
  const w = await world(t);
  writeFileSync(join(w.home.vpopmailHome, 'etc', 'password_strength.conf'), 'Length >= 8\n');
  const c = await w.as('postmaster');
  t.is((await c.command('add_user short@example.com abc')).status, '-ERR 0.305 password requires more characters ');
  c.send('mod_user bob@example.com');
  t.is(await c.line(), '+OK ');
  c.send('clear_text_password abc');
  c.send('.');
  t.is(await c.line(), '-ERR 0.511 password requires more characters ');
});
