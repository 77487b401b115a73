// Real databases for the SQL tests: the machine's MariaDB (127.0.0.1:3306, root, no password) and
// PostgreSQL (127.0.0.1:5432, postgres, trust). Every fixture gets its own uniquely named database,
// `vpopts_<pid>_<random>`, dropped in t.teardown whatever the test did; databases left by a test
// process that died are swept on first use. Also the contract-test factories for both servers.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { MYSQL_DRIVER, openMysqlBackend } from '../../lib/backends/mysql.ts';
import { PGSQL_DRIVER, openPgsqlBackend } from '../../lib/backends/pgsql.ts';
import type { SqlBackend } from '../../lib/backends/sql-backend.ts';
import type { SqlLayout, SqlServer } from '../../lib/backends/sql-config.ts';
import type { SqlConnection, SqlDriver } from '../../lib/backends/sql-link.ts';
import type { SqlDialect } from '../../lib/backends/sql-schema.ts';
import { loadConfig, type Config } from '../../lib/config.ts';
import { addAssignDomain } from '../../lib/store/assign.ts';
import type { BackendFactory, BackendFixture, FixtureOptions } from './backend-fixtures.ts';
import { tempDir } from './cdb-tools.ts';

export const MARIADB_ADMIN: SqlServer = { host: '127.0.0.1', port: 3306, user: 'root', password: '', database: 'mysql' };
export const PGSQL_ADMIN: SqlServer = { host: '127.0.0.1', port: 5432, user: 'postgres', password: '', database: 'postgres' };

const TIMEOUTS = { connectTimeoutMs: 20_000, queryTimeoutMs: 120_000 };
/** Backends under test wait longer than production's connect timeout: the test machine is busy. */
export const TEST_TIMING = { connectTimeoutMs: 20_000, queryTimeoutMs: 120_000 };

/**
 * At most this many test databases at once per test process: ava runs a file's tests together, and
 * each fixture holds two or three connections (PostgreSQL's default limit is 100 for everybody).
 */
const MAX_DATABASES = 5;
let inUse = 0;
const waiting: (() => void)[] = [];
async function takeSlot(): Promise<() => void> {
  if (inUse >= MAX_DATABASES) await new Promise<void>((r) => waiting.push(r));
  inUse++;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    inUse--;
    waiting.shift()?.();
  };
}

export function driverOf(dialect: SqlDialect): SqlDriver {
  return dialect === 'mysql' ? MYSQL_DRIVER : PGSQL_DRIVER;
}

export function adminServer(dialect: SqlDialect): SqlServer {
  return dialect === 'mysql' ? MARIADB_ADMIN : PGSQL_ADMIN;
}

/** A connection as the administrator, to the given database (default: the admin database). */
export async function adminConnect(dialect: SqlDialect, database?: string): Promise<SqlConnection> {
  const server = adminServer(dialect);
  return driverOf(dialect).connect(database === undefined ? server : { ...server, database }, TIMEOUTS);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const swept = new Set<SqlDialect>();

async function dropDatabase(c: SqlConnection, dialect: SqlDialect, name: string): Promise<void> {
  if (!/^vpopts_[0-9]+_[0-9a-f]+$/.test(name)) throw new Error(`refusing to drop ${name}`);
  await c.run(dialect === 'mysql' ? `DROP DATABASE IF EXISTS \`${name}\`` : `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
}

/** Drop test databases whose creating process is gone (a run killed before its teardown). */
async function sweep(c: SqlConnection, dialect: SqlDialect): Promise<void> {
  if (swept.has(dialect)) return;
  swept.add(dialect);
  const r = await c.run(dialect === 'mysql' ? "SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'vpopts\\_%'" : "SELECT datname AS name FROM pg_database WHERE datname LIKE 'vpopts\\_%'");
  for (const row of r.rows) {
    const name = String(row.name);
    const m = /^vpopts_([0-9]+)_[0-9a-f]+$/.exec(name);
    if (m !== null && !isRunning(Number(m[1]))) await dropDatabase(c, dialect, name).catch(() => undefined);
  }
}

/** Create `vpopts_<pid>_<random>` on the server; dropped when the test ends, pass or fail. */
export async function createTestDatabase(t: ExecutionContext, dialect: SqlDialect): Promise<SqlServer> {
  const name = `vpopts_${process.pid}_${randomBytes(5).toString('hex')}`;
  const release = await takeSlot();
  t.teardown(release); // registered first, so it runs after the drop below
  const c = await adminConnect(dialect);
  try {
    await sweep(c, dialect);
    await c.run(dialect === 'mysql' ? `CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4` : `CREATE DATABASE "${name}" TEMPLATE template0 ENCODING 'UTF8'`);
  } finally {
    await c.end();
  }
  t.teardown(async () => {
    const admin = await adminConnect(dialect);
    try {
      await dropDatabase(admin, dialect, name);
    } finally {
      await admin.end();
    }
  });
  return { ...adminServer(dialect), database: name };
}

/** The C-format connection file for a server (`host|port|user|password|database`). */
export function connectionFileLine(server: SqlServer): string {
  return `${server.host}|${server.port}|${server.user}|${server.password}|${server.database}\n`;
}

export interface SqlHome {
  readonly config: Config;
  readonly server: SqlServer;
  readonly root: string;
  /** A real domain in users/assign, with its directory. */
  addDomain(domain: string, aliases?: readonly string[]): string;
}

export interface SqlHomeOptions {
  readonly clearPasswords?: boolean;
  readonly valias?: boolean;
  readonly backend?: Config['backend'];
}

/**
 * A private ~vpopmail and /var/qmail whose etc/vpopmail.mysql and etc/vpopmail.pgsql point at the
 * given databases (either may be absent).
 */
export function makeSqlHome(t: ExecutionContext, servers: { mysql?: SqlServer; pgsql?: SqlServer }, options: SqlHomeOptions = {}): Omit<SqlHome, 'server'> {
  const root = tempDir(t);
  const vpopmailHome = join(root, 'vpopmail');
  const qmailHome = join(root, 'qmail');
  mkdirSync(join(vpopmailHome, 'etc'), { recursive: true });
  mkdirSync(join(vpopmailHome, 'domains'), { recursive: true });
  mkdirSync(join(qmailHome, 'users'), { recursive: true });
  if (servers.mysql !== undefined) writeFileSync(join(vpopmailHome, 'etc', 'vpopmail.mysql'), `# test database\n${connectionFileLine(servers.mysql)}`, { mode: 0o640 });
  if (servers.pgsql !== undefined) writeFileSync(join(vpopmailHome, 'etc', 'vpopmail.pgsql'), connectionFileLine(servers.pgsql), { mode: 0o640 });
  const loaded = loadConfig({ VPOPMAIL_HOME: vpopmailHome, QMAIL_HOME: qmailHome });
  const config: Config = Object.freeze({
    ...loaded,
    clearPasswords: options.clearPasswords ?? loaded.clearPasswords,
    valias: options.valias ?? loaded.valias,
    backend: options.backend ?? loaded.backend,
  });
  return {
    config,
    root,
    addDomain(domain, aliases = []) {
      const dir = join(config.domainsDir, domain);
      mkdirSync(dir, { recursive: true });
      addAssignDomain(qmailHome, { name: domain, domain, uid: 89, gid: 89, dir });
      for (const alias of aliases) addAssignDomain(qmailHome, { name: alias, domain, uid: 89, gid: 89, dir });
      return dir;
    },
  };
}

export function openSqlBackend(dialect: SqlDialect, config: Config, layout: Partial<SqlLayout> = {}): SqlBackend {
  return dialect === 'mysql' ? openMysqlBackend(config, { layout, timing: TEST_TIMING }) : openPgsqlBackend(config, { layout, timing: TEST_TIMING });
}

function sqlFactory(name: string, dialect: SqlDialect, layout: SqlLayout): BackendFactory {
  return {
    name,
    async make(t: ExecutionContext, options: FixtureOptions = {}): Promise<BackendFixture> {
      const server = await createTestDatabase(t, dialect);
      const home = makeSqlHome(t, { [dialect]: server }, { valias: true, backend: dialect, ...(options.clearPasswords === undefined ? {} : { clearPasswords: options.clearPasswords }) });
      const domain = 'example.test';
      const alias = 'alias.test';
      const dir = home.addDomain(domain, [alias]);
      const backend = openSqlBackend(dialect, home.config, layout);
      t.teardown(() => backend.close());
      await backend.addDomain(domain);
      return {
        backend,
        config: home.config,
        domain,
        alias,
        home(user) {
          const h = join(dir, user);
          mkdirSync(h, { recursive: true });
          return h;
        },
      };
    },
  };
}

/** The contract runs over these besides cdb: each layout once, each server once per layout. */
export const SQL_FACTORIES: readonly BackendFactory[] = [
  sqlFactory('mariadb', 'mysql', { manyDomains: true, limitsInTable: true }),
  sqlFactory('pgsql', 'pgsql', { manyDomains: true, limitsInTable: true }),
  sqlFactory('mariadb/table-per-domain', 'mysql', { manyDomains: false, limitsInTable: false }),
  sqlFactory('pgsql/table-per-domain', 'pgsql', { manyDomains: false, limitsInTable: false }),
];
