// The SQL backends on the real servers, beyond the shared contract: outages (wrong port, refused,
// hung server, connections killed by the server), the D4 table-name collision, databases made by C
// with its narrower columns, and values that string-built SQL gets wrong.
import test from 'ava';
import { createServer, type Server } from 'node:net';
import type { VpasswdEntry } from '../../lib/backends/backend.ts';
import { openMysqlBackend } from '../../lib/backends/mysql.ts';
import { openPgsqlBackend } from '../../lib/backends/pgsql.ts';
import type { SqlBackend } from '../../lib/backends/sql-backend.ts';
import type { SqlServer } from '../../lib/backends/sql-config.ts';
import { DEFAULT_TIMING, SqlConstraintError, SqlLink } from '../../lib/backends/sql-link.ts';
import type { SqlDialect } from '../../lib/backends/sql-schema.ts';
import { PermError, TempError, VA, VpopmailError } from '../../lib/exit.ts';
import { TEST_TIMING, adminConnect, createTestDatabase, driverOf, makeSqlHome, openSqlBackend } from '../helpers/sql-db.ts';

const DIALECTS: readonly SqlDialect[] = ['mysql', 'pgsql'];
const SERVER_NAME: Record<SqlDialect, string> = { mysql: 'MariaDB', pgsql: 'PostgreSQL' };

function user(name: string, over: Partial<VpasswdEntry> = {}): VpasswdEntry {
  return { name, passwd: '$6$salt$hash', uid: 1, gid: 0, gecos: name, dir: `/home/vpopmail/domains/example.test/${name}`, quota: 'NOQUOTA', clear: '', ...over };
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Kill a connection from the server side, as an operator or a crashing proxy would. */
async function killConnection(dialect: SqlDialect, id: number): Promise<void> {
  const admin = await adminConnect(dialect);
  try {
    if (dialect === 'mysql') await admin.run(`KILL ${Number(id)}`);
    else await admin.run('SELECT pg_terminate_backend(?)', [id]);
  } finally {
    await admin.end();
  }
}

async function setup(t: import('ava').ExecutionContext, dialect: SqlDialect, layout: { manyDomains?: boolean } = {}) {
  const server = await createTestDatabase(t, dialect);
  const home = makeSqlHome(t, { [dialect]: server }, { valias: true });
  home.addDomain('example.test', ['alias.test']);
  const backend = openSqlBackend(dialect, home.config, layout);
  t.teardown(() => backend.close());
  await backend.addDomain('example.test');
  return { server, home, backend };
}

/** A TCP port that accepts and then says nothing: a hung server. */
async function silentServer(t: import('ava').ExecutionContext): Promise<number> {
  const sockets = new Set<import('node:net').Socket>();
  const srv: Server = createServer((s) => sockets.add(s));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    srv.close();
  });
  return (srv.address() as import('node:net').AddressInfo).port;
}

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as import('node:net').AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

function backendAt(dialect: SqlDialect, config: import('../../lib/config.ts').Config, server: SqlServer, connectTimeoutMs = TEST_TIMING.connectTimeoutMs): SqlBackend {
  const timing = { timing: { connectTimeoutMs } };
  return dialect === 'mysql' ? openMysqlBackend(config, { servers: { read: server, update: server }, ...timing }) : openPgsqlBackend(config, { server, ...timing });
}

for (const dialect of DIALECTS) {
  const name = SERVER_NAME[dialect];

  test(`${name}: a refused connection is a TempError naming the server, after one retry`, async (t) => {
    const home = makeSqlHome(t, {});
    home.addDomain('example.test');
    const port = await closedPort();
    const backend = backendAt(dialect, home.config, { host: '127.0.0.1', port, user: 'vpopmail', password: 'hunter2', database: 'vpopmail' });
    t.teardown(() => backend.close());
    const err = await t.throwsAsync(backend.getUser('example.test', 'alice'), { instanceOf: TempError });
    t.regex(err!.message, new RegExp(`^unable to connect to SQL server vpopmail@127\\.0\\.0\\.1:${port}/vpopmail: .*ECONNREFUSED`));
    t.false(err!.message.includes('hunter2'));
    await t.throwsAsync(backend.addUser('example.test', user('alice')), { instanceOf: TempError });
  });

  test(`${name}: a server that accepts and never answers is a TempError once the connect timeout passes`, async (t) => {
    const home = makeSqlHome(t, {});
    home.addDomain('example.test');
    const port = await silentServer(t);
    const backend = backendAt(dialect, home.config, { host: '127.0.0.1', port, user: 'vpopmail', password: '', database: 'vpopmail' }, 300);
    t.teardown(() => backend.close());
    await t.throwsAsync(backend.getUser('example.test', 'alice'), { instanceOf: TempError, message: /^unable to connect to SQL server / });
  });

  // PostgreSQL here trusts loopback (any password passes), so only MariaDB can refuse one.
  if (dialect === 'mysql') test(`${name}: a wrong password is a TempError that does not repeat it`, async (t) => {
    const server = await createTestDatabase(t, dialect);
    const home = makeSqlHome(t, {});
    home.addDomain('example.test');
    // A role that exists and wants a password, so the server refuses the wrong one.
    const role = `vpopts_role_${process.pid}`;
    const admin = await adminConnect(dialect);
    try {
      if (dialect === 'mysql') {
        await admin.run(`CREATE USER IF NOT EXISTS '${role}'@'%' IDENTIFIED BY 'right-one'`);
      } else {
        await admin.run(`DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${role}') THEN CREATE ROLE ${role} LOGIN PASSWORD 'right-one'; END IF; END $$`);
      }
    } finally {
      await admin.end();
    }
    t.teardown(async () => {
      const a = await adminConnect(dialect);
      try {
        await a.run(dialect === 'mysql' ? `DROP USER IF EXISTS '${role}'@'%'` : `DROP ROLE IF EXISTS ${role}`);
      } finally {
        await a.end();
      }
    });
    const backend = backendAt(dialect, home.config, { ...server, user: role, password: 'hunter2-wrong' });
    t.teardown(() => backend.close());
    const err = await t.throwsAsync(backend.getUser('example.test', 'alice'), { instanceOf: TempError });
    t.false(err!.message.includes('hunter2'));
    t.regex(err!.message, /Access denied/);
  });

  test(`${name}: a connection killed by the server between calls is replaced, and the call succeeds`, async (t) => {
    const { backend } = await setup(t, dialect);
    await backend.addUser('example.test', user('alice'));
    const first = backend.connectionId!;
    t.true(first > 0);
    await killConnection(dialect, first);
    t.is((await backend.getUser('example.test', 'alice'))?.name, 'alice');
    t.not(backend.connectionId, first);
    await killConnection(dialect, backend.connectionId!);
    await backend.addUser('example.test', user('bob'));
    t.deepEqual((await collect(backend.listUsers('example.test'))).map((e) => e.name), ['alice', 'bob']);
  });

  test(`${name}: a connection that dies again on the retry is a TempError, after exactly two tries`, async (t) => {
    const server = await createTestDatabase(t, dialect);
    const link = new SqlLink(driverOf(dialect), server, { ...DEFAULT_TIMING, ...TEST_TIMING });
    t.teardown(() => link.close());
    let tries = 0;
    const err = await t.throwsAsync(
      link.use(async (c) => {
        tries++;
        await killConnection(dialect, c.serverId);
        await c.run('SELECT 1');
      }),
      { instanceOf: TempError },
    );
    t.is(tries, 2);
    t.regex(err!.message, /^unable to use SQL server root@127\.0\.0\.1|^unable to use SQL server postgres@127\.0\.0\.1/);
    t.is(await link.use(async (c) => (await c.run('SELECT 1 AS one')).rows.length), 1);
  });

  test(`${name}: a domain replace whose connection is killed half-way leaves the old users, whole`, async (t) => {
    const { backend } = await setup(t, dialect);
    for (const n of ['old1', 'old2', 'old3']) await backend.addUser('example.test', user(n));
    async function* source(): AsyncGenerator<VpasswdEntry> {
      for (let i = 0; i < 2_000; i++) {
        if (i === 1_200) await killConnection(dialect, backend.connectionId!);
        yield user(`new${String(i).padStart(4, '0')}`);
      }
    }
    await t.throwsAsync(backend.replaceUsers('example.test', source()), { instanceOf: TempError });
    t.deepEqual((await collect(backend.listUsers('example.test'))).map((e) => e.name), ['old1', 'old2', 'old3']);
    t.is(await backend.countUsers('example.test'), 3);
    // Re-running is the remedy, and it is idempotent.
    const fresh = Array.from({ length: 1_500 }, (_, i) => user(`new${String(i).padStart(4, '0')}`));
    t.is(await backend.replaceUsers('example.test', fresh), 1_500);
    t.is(await backend.replaceUsers('example.test', fresh), 1_500);
    t.is(await backend.countUsers('example.test'), 1_500);
  });

  test(`${name}: table per domain refuses a domain whose table another domain already uses (D4)`, async (t) => {
    const server = await createTestDatabase(t, dialect);
    const home = makeSqlHome(t, { [dialect]: server });
    home.addDomain('a-b.test');
    const backend = openSqlBackend(dialect, home.config, { manyDomains: false });
    t.teardown(() => backend.close());
    await backend.addDomain('a-b.test');
    await backend.addUser('a-b.test', user('alice'));
    home.addDomain('a.b.test');
    await t.throwsAsync(backend.addDomain('a.b.test'), { instanceOf: PermError, message: 'domain a.b.test would share SQL table a_b_test with domain a-b.test; refusing' });
    await t.throwsAsync(backend.delDomain('a.b.test'), { instanceOf: PermError });
    t.is((await backend.getUser('a-b.test', 'alice'))?.name, 'alice');
  });

  test(`${name}: quotes, backslashes and SQL in values are stored as they are`, async (t) => {
    const { backend } = await setup(t, dialect);
    const nasty = user('o.brien', { gecos: `O'Brien \\" ); DROP TABLE vpopmail; --`, passwd: "\\'\\\\", clear: `a'b"c\\d` });
    await backend.addUser('example.test', nasty);
    t.deepEqual(await backend.getUser('example.test', 'o.brien'), nasty);
    t.is(await backend.getUser('example.test', "o.brien' OR '1'='1"), undefined);
    await backend.addValiasLine('example.test', 'info', "|/bin/echo '; DELETE FROM valias; --");
    t.deepEqual(await backend.getValias('example.test', 'info'), ["|/bin/echo '; DELETE FROM valias; --"]);
  });

  test(`${name}: UTF-8 bytes round-trip; legacy Latin-1 bytes come back as their UTF-8 spelling`, async (t) => {
    const { backend } = await setup(t, dialect);
    const utf8 = Buffer.from('Jürgen Müller', 'utf8').toString('latin1');
    await backend.addUser('example.test', user('juergen', { gecos: utf8 }));
    t.is((await backend.getUser('example.test', 'juergen'))?.gecos, utf8);
    await backend.addUser('example.test', user('legacy', { gecos: 'J\xfcrgen' }));
    t.is((await backend.getUser('example.test', 'legacy'))?.gecos, Buffer.from('Jürgen', 'utf8').toString('latin1'));
  });

  test(`${name}: a 64-character user and an IPv6 client fit the tables we create (D3)`, async (t) => {
    const { backend } = await setup(t, dialect);
    const long = user('u'.repeat(64));
    await backend.addUser('example.test', long);
    await backend.setLastauth('example.test', long, 'ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255', 1_700_000_000);
    t.deepEqual(await backend.getLastauth('example.test', long), { ip: 'ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255', timeSec: 1_700_000_000 });
    t.true(await backend.openRelay('2001:db8:1234:5678:9abc:def0:1234:5678', 1));
    await backend.addIpMap('2001:db8::25', 'example.test');
    t.is(await backend.getIpMap('2001:db8::25'), 'example.test');
    t.is(await backend.getIpMap('::ffff:192.0.2.9'), undefined);
    await backend.addIpMap('192.0.2.9', 'example.test');
    t.is(await backend.getIpMap('::ffff:192.0.2.9'), 'example.test');
  });

  test(`${name}: reads of tables never written are misses and create nothing`, async (t) => {
    const server = await createTestDatabase(t, dialect);
    const home = makeSqlHome(t, { [dialect]: server }, { valias: true });
    home.addDomain('example.test');
    const backend = openSqlBackend(dialect, home.config, { limitsInTable: true });
    t.teardown(() => backend.close());
    t.is(await backend.getUser('example.test', 'alice'), undefined);
    t.is(await backend.getLastauth('example.test', { name: 'alice', dir: '' }), undefined);
    t.deepEqual(await backend.relayRules(), []);
    t.is(await backend.getIpMap('192.0.2.1'), undefined);
    t.is(await backend.getLimits('example.test'), undefined);
    t.is(await backend.getValias('example.test', 'info'), undefined);
    t.deepEqual(await collect(backend.listUsers('example.test')), []);
    const admin = await adminConnect(dialect, server.database);
    try {
      const r = await admin.run(
        dialect === 'mysql' ? 'SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?' : "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'public' AND table_catalog = ?",
        [server.database],
      );
      t.is(Number(r.rows[0]!.n), 0);
    } finally {
      await admin.end();
    }
    // The first write creates what it needs, as C does.
    await backend.setLastauth('example.test', { name: 'alice', dir: '' }, '192.0.2.1', 5);
    t.deepEqual(await backend.getLastauth('example.test', { name: 'alice', dir: '' }), { ip: '192.0.2.1', timeSec: 5 });
  });

  test(`${name}: a database made by C, with its narrower columns and no clear-password column, keeps working`, async (t) => {
    const server = await createTestDatabase(t, dialect);
    const admin = await adminConnect(dialect, server.database);
    try {
      // C 5.6's DDL for a build without --enable-clear-passwd (sql.md §5, §8), with one row in it.
      await admin.run(
        'CREATE TABLE vpopmail (pw_name VARCHAR(64) NOT NULL, pw_domain VARCHAR(96) NOT NULL, pw_passwd VARCHAR(128), pw_uid INT, pw_gid INT, pw_gecos VARCHAR(64), pw_dir VARCHAR(160), pw_shell VARCHAR(20), PRIMARY KEY (pw_name, pw_domain))',
      );
      await admin.run("INSERT INTO vpopmail VALUES ('carol', 'example.test', '$1$x$y', 0, 8, 'Carol', '/home/vpopmail/domains/example.test/carol', '5242880S')");
      await admin.run(
        dialect === 'mysql'
          ? 'CREATE TABLE relay (ip_addr VARCHAR(18) NOT NULL PRIMARY KEY, timestamp CHAR(12))'
          : 'CREATE TABLE relay (ip_addr VARCHAR(18) NOT NULL PRIMARY KEY, timestamp BIGINT DEFAULT 0 NOT NULL)',
      );
      await admin.run(
        dialect === 'mysql'
          ? 'CREATE TABLE lastauth (user VARCHAR(32) NOT NULL, domain VARCHAR(96) NOT NULL, remote_ip VARCHAR(39) NOT NULL, timestamp INT NOT NULL DEFAULT 0, PRIMARY KEY (user, domain))'
          : 'CREATE TABLE lastauth (userid VARCHAR(32) NOT NULL, domain VARCHAR(96) NOT NULL, remote_ip VARCHAR(18) NOT NULL, timestamp BIGINT DEFAULT 0 NOT NULL, PRIMARY KEY (userid, domain))',
      );
      if (dialect === 'pgsql') await admin.run('CREATE TABLE valias (alias VARCHAR(32) NOT NULL, domain VARCHAR(96) NOT NULL, valias_line VARCHAR(160) NOT NULL)');
    } finally {
      await admin.end();
    }
    const home = makeSqlHome(t, { [dialect]: server }, { valias: true });
    home.addDomain('example.test');
    const backend = openSqlBackend(dialect, home.config);
    t.teardown(() => backend.close());
    const carol = await backend.getUser('example.test', 'carol');
    t.like(carol, { name: 'carol', passwd: '$1$x$y', gid: 8, quota: '5242880S', clear: '' });
    await backend.addUser('example.test', user('dave', { clear: 'not stored' }));
    t.is((await backend.getUser('example.test', 'dave'))?.clear, '');
    await backend.setUser('example.test', { ...carol!, gecos: 'Carol C' });
    t.is((await backend.getUser('example.test', 'carol'))?.gecos, 'Carol C');
    t.deepEqual((await collect(backend.listUsers('example.test'))).map((e) => e.name), ['carol', 'dave']);
    t.true(await backend.openRelay('192.0.2.1', 100));
    // An IPv6 address does not fit C's 18 characters: a constraint error, not an outage.
    const err = await t.throwsAsync(backend.openRelay('2001:db8:1234:5678::1', 100), { instanceOf: SqlConstraintError });
    t.is(err!.kind, 'data');
    t.is(err!.exitCode, 100);
    await t.throwsAsync(backend.setLastauth('example.test', user('x'.repeat(40)), '192.0.2.1', 1), { instanceOf: SqlConstraintError });
    if (dialect === 'pgsql') {
      await backend.addValiasLine('example.test', 'info', 'one@example.test');
      await backend.addValiasLine('example.test', 'info', 'two@example.test');
      t.deepEqual(await backend.getValias('example.test', 'info'), ['one@example.test', 'two@example.test']);
      t.true(await backend.delValiasLine('example.test', 'info', 'one@example.test'));
      t.deepEqual(await collect(backend.listValias('example.test')), [{ alias: 'info', line: 'two@example.test' }]);
    }
  });

  test(`${name}: a valias line is removed only on an exact match (D12)`, async (t) => {
    const { backend } = await setup(t, dialect);
    await backend.addValiasLine('example.test', 'info', '&Bob@example.test');
    await backend.addValiasLine('example.test', 'info', '  &bob@example.test.evil');
    t.deepEqual(await backend.getValias('example.test', 'info'), ['&Bob@example.test', '&bob@example.test.evil']);
    t.false(await backend.delValiasLine('example.test', 'info', '&bob@example.test'));
    t.false(await backend.delValiasLine('example.test', 'info', '&Bob@example.test '));
    t.true(await backend.delValiasLine('example.test', 'info', '&Bob@example.test'));
    t.deepEqual(await backend.getValias('example.test', 'info'), ['&bob@example.test.evil']);
  });

  test(`${name}: deleting a domain removes its users and rows and leaves other domains alone`, async (t) => {
    for (const manyDomains of [true, false]) {
      const { backend, home } = await setup(t, dialect, { manyDomains });
      home.addDomain('other.test');
      await backend.addDomain('other.test');
      await backend.addUser('example.test', user('alice'));
      await backend.addUser('other.test', user('alice'));
      await backend.setLastauth('example.test', user('alice'), '192.0.2.1', 1);
      await backend.addValiasLine('example.test', 'info', 'x@y');
      await backend.setDirControl({ domain: 'example.test' }, { curUsers: 1, levelCur: 0, levelMax: 3, levelStart: [0, 0, 0], levelEnd: [61, 61, 61], levelMod: [0, 2, 4], levelIndex: [0, 0, 0], theDir: '' });
      await backend.delDomain('example.test');
      t.is(await backend.getUser('example.test', 'alice'), undefined);
      t.is(await backend.getLastauth('example.test', user('alice')), undefined);
      t.is(await backend.getValias('example.test', 'info'), undefined);
      t.is(await backend.getDirControl({ domain: 'example.test' }), undefined);
      t.is((await backend.getUser('other.test', 'alice'))?.name, 'alice');
    }
  });

  test(`${name}: many concurrent callers share one connection without interleaving transactions`, async (t) => {
    const { backend } = await setup(t, dialect);
    const key = { domain: 'example.test' };
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        i % 2 === 0
          ? backend.updateDirControl(key, (s) => ({ state: { ...s, curUsers: s.curUsers + 1 }, result: undefined }))
          : backend.addUser('example.test', user(`c${String(i).padStart(2, '0')}`)),
      ),
    );
    t.is((await backend.getDirControl(key))?.curUsers, 20);
    t.is(await backend.countUsers('example.test'), 20);
  });

  test(`${name}: vpopmail's own errors stay VpopmailErrors, outages stay TempErrors`, async (t) => {
    const { backend } = await setup(t, dialect);
    await t.throwsAsync(backend.setUser('example.test', user('ghost')), { instanceOf: VpopmailError, message: 'User does not exist' });
    const err = await t.throwsAsync<VpopmailError>(backend.delUser('example.test', 'ghost'));
    t.is(err!.code, VA.USER_DOES_NOT_EXIST);
    await backend.close();
    await t.throwsAsync(backend.getUser('example.test', 'alice'), { instanceOf: TempError, message: 'SQL backend used after close' });
  });
}
