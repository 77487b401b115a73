// The PostgreSQL backend: node-postgres (`pg`, pure JavaScript) under the shared SQL backend. C's
// PostgreSQL module is taken as a list of column names only (Q5): here every value is a parameter,
// failed statements roll their transaction back, and lost connections are reopened once.
import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Config } from '../config.ts';
import { TempError } from '../exit.ts';
import { createSqlBackend, type SqlBackend, type SqlBackendOptions } from './sql-backend.ts';
import { readPgsqlConfig, type SqlServer } from './sql-config.ts';
import type { ConnectOptions, SqlConnection, SqlDriver, SqlErrorKind, SqlResult, SqlRow, SqlValue } from './sql-link.ts';

const NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOENT']);
/** admin_shutdown (pg_terminate_backend), crash_shutdown, cannot_connect_now, too_many_connections. */
const CONNECTION_STATES = new Set(['57P01', '57P02', '57P03', '53300']);
const LOST = /Connection terminated|not queryable|Query read timeout|timeout exceeded when trying to connect|read ECONNRESET/i;

function classify(err: unknown): SqlErrorKind {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  if (e === undefined || e === null) return 'other';
  const code = typeof e.code === 'string' ? e.code : undefined;
  if (code !== undefined) {
    if (NET_CODES.has(code) || CONNECTION_STATES.has(code) || code.startsWith('08')) return 'connection';
    if (code === '42P01') return 'missing-table';
    if (code === '42703') return 'missing-column';
    if (code === '3D000') return 'missing-database';
    if (code === '23505') return 'duplicate';
    if (code.startsWith('23') || code.startsWith('22')) return 'data';
    if (code === '40P01' || code === '40001') return 'retry';
  }
  if (typeof e.message === 'string' && LOST.test(e.message)) return 'connection';
  return 'other';
}

/** `?` placeholders to `$1, $2, …`: our statements have no `?` anywhere else. */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

const CURSOR_BATCH = 500;

async function connect(server: SqlServer, options: ConnectOptions): Promise<SqlConnection> {
  const client = new pg.Client({
    host: server.socketPath ?? server.host,
    port: server.port,
    user: server.user,
    password: server.password,
    database: options.withoutDatabase === true ? 'postgres' : server.database,
    connectionTimeoutMillis: options.connectTimeoutMs,
    query_timeout: options.queryTimeoutMs,
    application_name: 'vpopmail',
  });
  let alive = true;
  // An idle client whose server went away emits 'error'; without a listener that would kill the process.
  client.on('error', () => {
    alive = false;
  });
  client.on('end', () => {
    alive = false;
  });
  try {
    await client.connect();
  } catch (err) {
    alive = false;
    void client.end().catch(() => undefined);
    throw err;
  }
  const run = async (sql: string, params: readonly SqlValue[] = []): Promise<SqlResult> => {
    try {
      // Statements with values are named, so the server parses and plans each text once per
      // connection (a 500-row INSERT costs 75 ms to plan and 14 ms to run again).
      const text = numbered(sql);
      const name = params.length === 0 ? undefined : `v${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
      const r = await client.query({ text, values: params as SqlValue[], ...(name === undefined ? {} : { name }) });
      return { rows: r.rows as SqlRow[], affected: r.rowCount ?? 0 };
    } catch (err) {
      if (classify(err) === 'connection') alive = false;
      throw err;
    }
  };
  return {
    run,
    async *stream(sql, params) {
      // A cursor in a read-only transaction: one snapshot, CURSOR_BATCH rows in memory at a time.
      await run('BEGIN READ ONLY');
      let open = true;
      try {
        await run(`DECLARE vpopmail_list NO SCROLL CURSOR FOR ${sql}`, params);
        for (;;) {
          const batch = await run(`FETCH ${CURSOR_BATCH} FROM vpopmail_list`);
          for (const row of batch.rows) yield row;
          if (batch.rows.length < CURSOR_BATCH) break;
        }
        await run('CLOSE vpopmail_list');
        await run('COMMIT');
        open = false;
      } finally {
        if (open && alive) await run('ROLLBACK').catch(() => undefined);
      }
    },
    get alive() {
      return alive;
    },
    serverId: (client as unknown as { processID?: number }).processID ?? 0,
    async end() {
      alive = false;
      await client.end();
    },
    destroy() {
      alive = false;
      void client.end().catch(() => undefined);
    },
  };
}

export const PGSQL_DRIVER: SqlDriver = {
  dialect: 'pgsql',
  connect,
  classify,
  beginSql: 'BEGIN',
  upsertSql: (table, columns, keys) => {
    const rest = columns.filter((c) => !keys.includes(c));
    const action = rest.length === 0 ? 'DO NOTHING' : `DO UPDATE SET ${rest.map((c) => `${c} = EXCLUDED.${c}`).join(', ')}`;
    return `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')}) ON CONFLICT (${keys.join(', ')}) ${action}`;
  },
  insertIfMissingSql: (table, columns, keys) =>
    `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')}) ON CONFLICT (${keys.join(', ')}) DO NOTHING`,
  byteOrder: (column) => `${column} COLLATE "C"`,
  async lock(c, name, timeoutSec) {
    // pg_try_advisory_lock in a loop would spin; a lock_timeout bounds the blocking form instead.
    await c.run(`SET lock_timeout = '${Math.max(1, Math.trunc(timeoutSec))}s'`);
    try {
      await c.run('SELECT pg_advisory_lock(hashtext(?))', [name]);
    } catch (err) {
      if ((err as { code?: unknown }).code === '55P03') throw new TempError(`timed out waiting for SQL lock ${name}`);
      throw err;
    } finally {
      if (c.alive) await c.run('SET lock_timeout = 0');
    }
  },
  async unlock(c, name) {
    await c.run('SELECT pg_advisory_unlock(hashtext(?))', [name]);
  },
};

export interface PgsqlBackendOptions extends SqlBackendOptions {
  /** Instead of `~vpopmail/etc/vpopmail.pgsql` (tests, vconvert). */
  readonly server?: SqlServer;
}

/** Open the backend: reads vpopmail.pgsql now, connects on first use. One server serves every role. */
export function openPgsqlBackend(config: Config, options: PgsqlBackendOptions = {}): SqlBackend {
  const server = options.server ?? readPgsqlConfig(config);
  return createSqlBackend(config, PGSQL_DRIVER, { update: server, read: server }, options);
}
