// Alias commands (spec §7.5) and the session of §10.4, on builds that keep aliases in the valias
// table (valias = yes, a SQL backend): the machine's MariaDB and PostgreSQL, one database per test.
// With .qmail-<alias> files (every cdb build) the alias commands wait for lib/accounts and say so.
import test from 'ava';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../../lib/backends/backend.ts';
import type { Config } from '../../lib/config.ts';
import { createTestDatabase, makeSqlHome, openSqlBackend } from '../helpers/sql-db.ts';
import { daemonContext, greeted, serve, type TempHome } from './harness.ts';
import { sha512Crypt } from './fixtures.ts';
import { world } from './world.ts';

const DIALECTS = ['mysql', 'pgsql'] as const;

interface SqlWorld {
  readonly config: Config;
  readonly backend: Backend;
  readonly server: Awaited<ReturnType<typeof serve>>;
  readonly dirs: Record<string, string>;
}

/** example.org (postmaster, bob) and sys.invalid (admin, a system admin) in a fresh SQL database. */
async function sqlWorld(t: import('ava').ExecutionContext, dialect: (typeof DIALECTS)[number]): Promise<SqlWorld> {
  const db = await createTestDatabase(t, dialect);
  const home = makeSqlHome(t, { [dialect]: db }, { valias: true, backend: dialect });
  const backend = openSqlBackend(dialect, home.config);
  t.teardown(() => backend.close());
  const dirs: Record<string, string> = {};
  for (const domain of ['example.org', 'sys.invalid', 'other.org']) {
    dirs[domain] = home.addDomain(domain);
    await backend.addDomain(domain);
  }
  const people: [string, string, number][] = [
    ['sys.invalid', 'admin', 0x10000],
    ['example.org', 'postmaster', 0],
    ['example.org', 'bob', 0],
    ['other.org', 'carol', 0],
  ];
  for (const [domain, user, gid] of people) {
    await backend.addUser(domain, { name: user, passwd: sha512Crypt(`${user}-pw`), uid: 0, gid, gecos: user, dir: join(dirs[domain]!, user), quota: 'NOQUOTA', clear: '' });
  }
  const fakeHome: TempHome = { root: home.root, vpopmailHome: home.config.vpopmailHome, qmailHome: home.config.qmailHome, config: home.config };
  const server = await serve(t, daemonContext(fakeHome, { backend, limiter: false }));
  return { config: home.config, backend, server, dirs };
}

async function as(w: SqlWorld, address: string) {
  const c = await greeted(w.server);
  const status = (await c.command(`slogin ${address} ${address.split('@')[0]}-pw`)).status;
  if (status !== '+OK ') throw new Error(`login as ${address}: ${status}`);
  return c;
}

for (const dialect of DIALECTS) {
  test(`${dialect}: add_alias, list_alias in both forms, remove_alias (exact line), delete_alias`, async (t) => {
    const w = await sqlWorld(t, dialect);
    const c = await as(w, 'postmaster@example.org');
    t.is((await c.command('add_alias sales@example.org bob@example.org')).status, '+OK ');
    t.is((await c.command('add_alias sales@example.org bob@example.org.evil')).status, '+OK ');
    t.is((await c.command('add_alias info@example.org |/usr/bin/autorespond')).status, '+OK ');
    t.deepEqual((await c.command('list_alias example.org')).lines, [
      'info@example.org |/usr/bin/autorespond',
      'sales@example.org bob@example.org',
      'sales@example.org bob@example.org.evil',
    ]);
    t.deepEqual((await c.command('list_alias sales@example.org')).lines, ['sales@example.org bob@example.org', 'sales@example.org bob@example.org.evil']);
    // C's file backend removes every line that starts with the text (D12); we remove the equal line.
    t.is((await c.command('remove_alias sales@example.org bob@example.org')).status, '+OK ');
    t.deepEqual((await c.command('list_alias sales@example.org')).lines, ['sales@example.org bob@example.org.evil']);
    t.is((await c.command('remove_alias sales@example.org nobody@x')).status, '-ERR 18.1007 Alias Removal Failed (no such line)');
    t.is((await c.command('delete_alias sales@example.org')).status, '+OK ');
    t.is((await c.command('delete_alias sales@example.org')).status, '-ERR 19.1106 Alias Deletion Failed (no such alias)');
    // An alias without lines is `+OK+` and `.` (C sends a bare `.`, P2).
    t.deepEqual(await c.command('list_alias sales@example.org'), { status: '+OK+', lines: [] });
  });

  test(`${dialect}: alias commands check the level and the domain`, async (t) => {
    const w = await sqlWorld(t, dialect);
    const pm = await as(w, 'postmaster@example.org');
    for (const [line, status] of [
      ['add_alias', '-ERR 14.902 Alias Name Required'],
      ['add_alias nodomain', '-ERR 15.903 Invalid Alias Name Supplied'],
      ['add_alias x@other.org a@b.c', '-ERR 11.904 Not Authorized for domain'],
      ['add_alias x@example.org', '-ERR 16.906 Alias Line Required'],
      ['remove_alias', '-ERR 14.1002 Alias Name Required'],
      ['remove_alias x@example.org', '-ERR 16.1006 Alias Line Required'],
      ['delete_alias x@other.org', '-ERR 11.1104 Not Authorized for domain'],
      ['list_alias', '-ERR 13.2802 Domain Required'],
      ['list_alias other.org', '-ERR 11.2804 Not Authorized for domain'],
      ['list_alias x@nosuch.test', '-ERR 11.2804 Not Authorized for domain'],
    ] as const) {
      t.is((await pm.command(line)).status, status, line);
    }
    const admin = await as(w, 'admin@sys.invalid');
    t.is((await admin.command('add_alias x@other.org a@b.c')).status, '+OK ');
    t.is((await admin.command('add_alias x@nosuch.test a@b.c')).status, '-ERR 9.905 Not Authorized');
    t.is((await admin.command('list_alias nosuch.test')).status, '-ERR 9.2805 Not Authorized');
    const bob = await as(w, 'bob@example.org');
    t.is((await bob.command('add_alias x@example.org a@b.c')).status, '-ERR 4.107 Invalid Command');
    t.is((await bob.command('list_alias example.org')).status, '-ERR 4.107 Invalid Command');
  });
}

test('§10.4: a domain admin writes an autoresponder, makes its directory, adds and lists a forward', async (t) => {
  const w = await sqlWorld(t, 'mysql');
  const dom = w.dirs['example.org']!;
  const c = await greeted(w.server);
  c.send('login postmaster@example.org postmaster-pw');
  t.is(await c.line(), '+OK+');
  t.is(await c.line(), `vpopmail_dir ${w.config.vpopmailHome}`);
  t.is(await c.line(), `domain_dir ${dom}`);
  t.is(await c.line(), 'uid 89');
  t.is(await c.line(), 'gid 89');
  t.is(await c.line(), 'name postmaster');
  const block = await c.block();
  t.true(block.includes('domain_admin_privileges 1'));
  c.send('write_file example.org/.qmail-info');
  c.send(`|/usr/bin/autorespond 1000 3 ${dom}/INFO/message ${dom}/INFO`);
  c.send('.');
  t.is(await c.line(), '+OK ');
  c.send('mk_dir example.org/INFO/');
  t.is(await c.line(), '+OK ');
  c.send('add_alias sales@example.org bob@example.org');
  t.is(await c.line(), '+OK ');
  c.send('list_alias example.org');
  t.is(await c.line(), '+OK+');
  t.is(await c.line(), 'sales@example.org bob@example.org');
  t.is(await c.line(), '.');
  c.send('read_file /etc/passwd');
  t.is(await c.line(), '-ERR 26.1511 Unauthorized Directory.');
  c.send('list_domains');
  t.is(await c.line(), '-ERR 4.107 Invalid Command');
  c.send('quit');
  t.is(await c.line(), '+OK ');
  await c.closed();
  t.is(readFileSync(join(dom, '.qmail-info'), 'latin1'), `|/usr/bin/autorespond 1000 3 ${dom}/INFO/message ${dom}/INFO\n`);
  t.true(statSync(join(dom, 'INFO')).isDirectory());
});

test('with aliases in .qmail-<alias> files (cdb) the alias commands edit the files valias edits', async (t) => {
  const w = await world(t);
  const c = await w.as('postmaster');
  const dom = w.dirs['example.com'];
  t.is((await c.command('add_alias sales@example.com bob@example.com')).status, '+OK ');
  t.is((await c.command('add_alias sales@example.com &carol@example.net')).status, '+OK ');
  t.is(readFileSync(join(dom, '.qmail-sales'), 'latin1'), 'bob@example.com\n&carol@example.net\n');
  t.is(statSync(join(dom, '.qmail-sales')).mode & 0o777, 0o600);
  const listed = await c.command('list_alias example.com');
  t.is(listed.status, '+OK+');
  t.true(listed.lines.includes('sales@example.com bob@example.com'));
  t.is((await c.command('remove_alias sales@example.com bob@example.com')).status, '+OK ');
  t.is(readFileSync(join(dom, '.qmail-sales'), 'latin1'), '&carol@example.net\n');
  t.is((await c.command('delete_alias sales@example.com')).status, '+OK ');
  t.throws(() => statSync(join(dom, '.qmail-sales')), { code: 'ENOENT' });
});
