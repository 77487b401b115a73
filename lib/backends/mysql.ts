// The MariaDB/MySQL backend: mysql2 (pure JavaScript) under the shared SQL backend. Every statement
// with values goes through the binary protocol (server-side prepared statements), so values are
// never spliced into SQL text, whatever sql_mode (NO_BACKSLASH_ESCAPES, ANSI_QUOTES) says (S1).
import { existsSync } from 'node:fs';
import mysql from 'mysql2';
import type { Config } from '../config.ts';
import { TempError } from '../exit.ts';
import { createSqlBackend, type SqlBackend, type SqlBackendOptions } from './sql-backend.ts';
import { readMysqlConfig, type MysqlServers, type SqlServer } from './sql-config.ts';
import { quoteIdent } from './sql-schema.ts';
import type { ConnectOptions, SqlConnection, SqlDriver, SqlErrorKind, SqlResult, SqlRow, SqlValue } from './sql-link.ts';

/** Where libmysqlclient looks for the server's socket when told `localhost` and port 0 (Debian, then the upstream default). */
const DEFAULT_SOCKETS = ['/run/mysqld/mysqld.sock', '/var/run/mysqld/mysqld.sock', '/tmp/mysql.sock'];

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOENT', // a socket path that is not there (server not running)
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'PROTOCOL_ENQUEUE_AFTER_QUIT',
  'ER_SERVER_SHUTDOWN',
  'ER_CON_COUNT_ERROR',
  'ER_QUERY_INTERRUPTED',
]);

// Server error numbers (MariaDB and MySQL agree on these).
const ER_NO_SUCH_TABLE = 1146;
const ER_BAD_FIELD = 1054;
const ER_BAD_DB = 1049;
const ER_DUP_ENTRY = 1062;
const ER_CONNECTION_KILLED = 1927; // MariaDB: KILL of this connection
const DATA_ERRORS = new Set([1048, 1136, 1264, 1265, 1292, 1364, 1366, 1406, 1451, 1452, 3819, 4025]);
const RETRY_ERRORS = new Set([1205, 1213]);

function classify(err: unknown): SqlErrorKind {
  const e = err as { code?: unknown; errno?: unknown; fatal?: unknown; message?: unknown } | undefined;
  if (e === undefined || e === null) return 'other';
  const errno = typeof e.errno === 'number' ? e.errno : undefined;
  const code = typeof e.code === 'string' ? e.code : undefined;
  if (errno === ER_NO_SUCH_TABLE) return 'missing-table';
  if (errno === ER_BAD_FIELD) return 'missing-column';
  if (errno === ER_BAD_DB) return 'missing-database';
  if (errno === ER_DUP_ENTRY) return 'duplicate';
  if (errno !== undefined && DATA_ERRORS.has(errno)) return 'data';
  if (errno !== undefined && RETRY_ERRORS.has(errno)) return 'retry';
  if (errno === ER_CONNECTION_KILLED || errno === 2006 || errno === 2013) return 'connection';
  if (code !== undefined && CONNECTION_CODES.has(code)) return 'connection';
  if (e.fatal === true) return 'connection';
  if (typeof e.message === 'string' && /closed state|connection lost|read ECONNRESET/i.test(e.message)) return 'connection';
  return 'other';
}

type RawConnection = mysql.Connection;

function socketOf(server: SqlServer): string | undefined {
  if (server.socketPath !== undefined) return server.socketPath;
  if (server.host === 'localhost' && server.port === 0) return DEFAULT_SOCKETS.find((p) => existsSync(p));
  return undefined;
}

function connect(server: SqlServer, options: ConnectOptions): Promise<SqlConnection> {
  const socketPath = socketOf(server);
  const raw: RawConnection = mysql.createConnection({
    ...(socketPath === undefined ? { host: server.host === 'localhost' ? '127.0.0.1' : server.host, port: server.port === 0 ? 3306 : server.port } : { socketPath }),
    user: server.user,
    password: server.password,
    ...(options.withoutDatabase === true ? {} : { database: server.database }),
    connectTimeout: options.connectTimeoutMs,
    charset: 'utf8mb4_general_ci',
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
    multipleStatements: false,
    // Prepared statements are cached per connection; a vpopmaild lives long, so bound the cache.
    maxPreparedStatements: 256,
  });
  let alive = true;
  let opened = false;
  return new Promise<SqlConnection>((resolve, reject) => {
    raw.on('error', (err) => {
      alive = false;
      if (!opened) reject(err);
    });
    raw.on('end', () => {
      alive = false;
    });
    raw.once('connect', () => {
      opened = true;
      resolve(wrap());
    });
  });

  function wrap(): SqlConnection {
    const run = (sql: string, params: readonly SqlValue[] = []): Promise<SqlResult> =>
      new Promise((resolve, reject) => {
        let settled = false;
        // Our own timer, unref'd: mysql2's query timer outlives a connection the server killed and
        // holds the process open until it fires.
        const timer = setTimeout(() => {
          if (settled) return;
          settled = true;
          alive = false;
          raw.destroy();
          reject(Object.assign(new Error(`query timed out after ${options.queryTimeoutMs} ms`), { code: 'PROTOCOL_SEQUENCE_TIMEOUT' }));
        }, options.queryTimeoutMs);
        timer.unref();
        const done = (err: unknown, result: unknown) => {
          clearTimeout(timer);
          if (settled) return;
          settled = true;
          if (err !== null && err !== undefined) {
            if (classify(err) === 'connection') alive = false;
            reject(err);
            return;
          }
          if (Array.isArray(result)) resolve({ rows: result as SqlRow[], affected: 0 });
          else resolve({ rows: [], affected: Number((result as { affectedRows?: number }).affectedRows ?? 0) });
        };
        // Statements without values (DDL, BEGIN, COMMIT) go as text; everything with values is bound.
        if (params.length === 0) raw.query(sql, done);
        else raw.execute(sql, params as SqlValue[], done);
      });

    return {
      run,
      async *stream(sql, params) {
        const command = params.length === 0 ? raw.query(sql) : raw.execute(sql, params as SqlValue[]);
        const rows = (command as unknown as { stream(o: { highWaterMark: number }): AsyncIterable<SqlRow> }).stream({ highWaterMark: 256 });
        try {
          for await (const row of rows) yield row;
        } catch (err) {
          if (classify(err) === 'connection') alive = false;
          throw err;
        }
      },
      get alive() {
        return alive;
      },
      serverId: raw.threadId ?? 0,
      end: () =>
        new Promise<void>((resolve) => {
          alive = false;
          raw.end(() => resolve());
        }),
      destroy() {
        alive = false;
        raw.destroy();
      },
    };
  }
}

export const MYSQL_DRIVER: SqlDriver = {
  dialect: 'mysql',
  connect,
  classify,
  beginSql: 'START TRANSACTION',
  // REPLACE is what C issues for these tables (sql.md §6); each has only its primary key as a unique key.
  upsertSql: (table, columns) => `REPLACE INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
  insertIfMissingSql: (table, columns) => `INSERT IGNORE INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
  byteOrder: (column) => `CAST(${column} AS BINARY)`,
  async lock(c, name, timeoutSec) {
    const r = await c.run('SELECT GET_LOCK(?, ?) AS got', [name, timeoutSec]);
    if (Number(r.rows[0]?.got) !== 1) throw new TempError(`timed out waiting for SQL lock ${name}`);
  },
  async unlock(c, name) {
    await c.run('SELECT RELEASE_LOCK(?) AS released', [name]);
  },
  async createDatabase(c, database) {
    await c.run(`CREATE DATABASE IF NOT EXISTS ${quoteIdent(database, 'mysql')}`);
  },
};

export interface MysqlBackendOptions extends SqlBackendOptions {
  /** Instead of `~vpopmail/etc/vpopmail.mysql` (tests, vconvert). */
  readonly servers?: MysqlServers;
}

/** Open the backend: reads vpopmail.mysql now, connects on first use. */
export function openMysqlBackend(config: Config, options: MysqlBackendOptions = {}): SqlBackend {
  const servers = options.servers ?? readMysqlConfig(config);
  return createSqlBackend(config, MYSQL_DRIVER, servers, options);
}
