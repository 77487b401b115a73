// What both SQL backends share below the queries: the driver seam, one lazily opened connection per
// role with ping-when-idle and reconnect-once (Q2), error classes (outage vs. constraint vs. missing
// table), transactions, and the byte-string <-> text conversion at the database edge.
import { MailError, PermError, TempError } from '../exit.ts';
import { describeServer, type SqlServer } from './sql-config.ts';
import type { SqlDialect } from './sql-schema.ts';

export type SqlValue = string | number | null;
export type SqlRow = Readonly<Record<string, unknown>>;

export interface SqlResult {
  readonly rows: readonly SqlRow[];
  /** Rows matched by UPDATE/DELETE/INSERT (MySQL with FOUND_ROWS, so an unchanged UPDATE counts). */
  readonly affected: number;
}

/** One open connection. SQL texts use `?` placeholders; the PostgreSQL side numbers them. */
export interface SqlConnection {
  run(sql: string, params?: readonly SqlValue[]): Promise<SqlResult>;
  /** The rows of one SELECT, a batch at a time, in constant memory; stopping early is allowed. */
  stream(sql: string, params: readonly SqlValue[]): AsyncIterable<SqlRow>;
  /** False once the driver has seen the connection end or fail. */
  readonly alive: boolean;
  /** Server-side id (MySQL CONNECTION_ID(), PostgreSQL backend pid), for outage tests and logs. */
  readonly serverId: number;
  end(): Promise<void>;
  destroy(): void;
}

/**
 * What an error means for the caller: `connection` (down, refused, timed out, killed: reconnect once,
 * then TempError), `missing-table`/`missing-column`/`missing-database` (schema), `duplicate` and
 * `data` (constraint violations: the value, not the server, is wrong), `retry` (deadlock,
 * serialization failure), `other`.
 */
export type SqlErrorKind = 'connection' | 'missing-table' | 'missing-column' | 'missing-database' | 'duplicate' | 'data' | 'retry' | 'other';

export interface ConnectOptions {
  readonly connectTimeoutMs: number;
  readonly queryTimeoutMs: number;
  /** Connect without selecting the database (to create it). */
  readonly withoutDatabase?: boolean;
}

export interface SqlDriver {
  readonly dialect: SqlDialect;
  connect(server: SqlServer, options: ConnectOptions): Promise<SqlConnection>;
  classify(err: unknown): SqlErrorKind;
  readonly beginSql: string;
  /** Insert or replace a whole row by its primary key. */
  upsertSql(table: string, columns: readonly string[], keys: readonly string[]): string;
  /** Insert a row unless its key exists. */
  insertIfMissingSql(table: string, columns: readonly string[], keys: readonly string[]): string;
  /** ORDER BY expression sorting a text column by its bytes, as vpasswd files sort. */
  byteOrder(column: string): string;
  /** A server-wide advisory lock held by this connection (released by unlock or by disconnecting). */
  lock(c: SqlConnection, name: string, timeoutSec: number): Promise<void>;
  unlock(c: SqlConnection, name: string): Promise<void>;
  /** C's MySQL module creates a missing database on the update connection (sql.md §3). */
  createDatabase?(c: SqlConnection, database: string): Promise<void>;
}

/** A constraint violation: a duplicate key, a value too long for an existing narrower column, ... */
export class SqlConstraintError extends PermError {
  override name = 'SqlConstraintError';
  readonly kind: 'duplicate' | 'data';
  constructor(kind: 'duplicate' | 'data', message: string, options?: ErrorOptions) {
    super(message, options);
    this.kind = kind;
  }
}

export interface LinkTiming {
  readonly connectTimeoutMs: number;
  readonly queryTimeoutMs: number;
  /** Ping a connection that sat idle this long before using it again (servers drop idle ones). */
  readonly idlePingMs: number;
}

export const DEFAULT_TIMING: LinkTiming = Object.freeze({ connectTimeoutMs: 5_000, queryTimeoutMs: 30_000, idlePingMs: 60_000 });

export interface UsePolicy<T> {
  /** A write: a missing database may be created (MySQL) and missing tables through `create`. */
  readonly write?: boolean;
  /** Create what is missing, then run the work once more (C's lazy CREATE TABLE, on that error only). */
  readonly create?: (c: SqlConnection) => Promise<void>;
  /** A missing table means this answer (a read of a table never written). */
  readonly missing?: () => T;
  /** A missing column: return true when the work will not ask for it again (then it is retried). */
  readonly missingColumn?: () => boolean;
  /** False when the work consumes something it cannot replay (a stream): no retry after it started. */
  readonly replayable?: boolean;
}

/** The first line of a driver error: its code and message, never parameters (drivers do not put them there). */
export function reasonOf(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown; errors?: unknown };
  let message = typeof e.message === 'string' ? e.message : String(err);
  if (message === '' && Array.isArray(e.errors) && e.errors.length > 0) message = reasonOf(e.errors[0]);
  const nl = message.indexOf('\n');
  if (nl >= 0) message = message.slice(0, nl);
  const code = typeof e.code === 'string' ? e.code : undefined;
  return code !== undefined && !message.includes(code) ? `${code}: ${message}` : message;
}

/** One role's connection (update or read): opened on first use, reused, replaced when it died. */
export class SqlLink {
  #conn: SqlConnection | undefined;
  #tail: Promise<unknown> = Promise.resolve();
  #lastUsedMs = 0;
  #closed = false;

  constructor(
    readonly driver: SqlDriver,
    readonly server: SqlServer,
    readonly timing: LinkTiming,
    readonly now: () => number = Date.now,
  ) {}

  /** The server-side id of the current connection, if one is open (tests kill it). */
  get serverId(): number | undefined {
    return this.#conn?.alive === true ? this.#conn.serverId : undefined;
  }

  /** Run `work` alone on this link: calls queue, so a transaction never interleaves with another. */
  use<T>(work: (c: SqlConnection) => Promise<T>, policy: UsePolicy<T> = {}): Promise<T> {
    const run = this.#tail.then(() => this.#attempt(work, policy));
    this.#tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  async #attempt<T>(work: (c: SqlConnection) => Promise<T>, policy: UsePolicy<T>): Promise<T> {
    let reconnects = 0;
    let retries = 0;
    let create = false;
    let created = false;
    let started = false;
    for (;;) {
      let c: SqlConnection;
      try {
        c = await this.#connection(policy.write === true);
      } catch (err) {
        if (err instanceof MailError) throw err;
        if (this.driver.classify(err) === 'connection' && reconnects++ < 1) continue;
        throw this.#failure(err, 'connect to');
      }
      try {
        if (create) {
          create = false;
          created = true;
          await policy.create!(c);
        }
        started = true;
        const result = await work(c);
        this.#lastUsedMs = this.now();
        return result;
      } catch (err) {
        if (err instanceof MailError) throw err;
        const kind = this.driver.classify(err);
        const replayable = policy.replayable !== false || !started;
        if (kind === 'connection') {
          this.#drop();
          if (replayable && reconnects++ < 1) continue;
          throw this.#failure(err, 'use');
        }
        if (kind === 'retry' && replayable && retries++ < 3) continue;
        if (kind === 'missing-table') {
          if (policy.missing !== undefined) return policy.missing();
          if (policy.create !== undefined && !created && replayable) {
            create = true;
            continue;
          }
        }
        if (kind === 'missing-column' && policy.missingColumn !== undefined && replayable && policy.missingColumn()) continue;
        throw this.#failure(err, 'use');
      }
    }
  }

  async #connection(write: boolean): Promise<SqlConnection> {
    if (this.#closed) throw new TempError('SQL backend used after close');
    const open = this.#conn;
    if (open !== undefined && open.alive) {
      if (this.now() - this.#lastUsedMs < this.timing.idlePingMs) return open;
      try {
        await open.run('SELECT 1');
        return open;
      } catch {
        this.#drop();
      }
    } else if (open !== undefined) this.#drop();
    this.#conn = await this.#connect(write);
    this.#lastUsedMs = this.now();
    return this.#conn;
  }

  async #connect(write: boolean): Promise<SqlConnection> {
    const options = { connectTimeoutMs: this.timing.connectTimeoutMs, queryTimeoutMs: this.timing.queryTimeoutMs };
    try {
      return await this.driver.connect(this.server, options);
    } catch (err) {
      if (!(write && this.driver.createDatabase !== undefined && this.driver.classify(err) === 'missing-database')) throw err;
    }
    const bare = await this.driver.connect(this.server, { ...options, withoutDatabase: true });
    try {
      await this.driver.createDatabase!(bare, this.server.database);
    } finally {
      await bare.end().catch(() => bare.destroy());
    }
    return this.driver.connect(this.server, options);
  }

  #drop(): void {
    const c = this.#conn;
    this.#conn = undefined;
    c?.destroy();
  }

  #failure(err: unknown, what: string): MailError {
    const kind = this.driver.classify(err);
    const where = describeServer(this.server);
    if (kind === 'duplicate' || kind === 'data') return new SqlConstraintError(kind, `SQL ${where}: ${reasonOf(err)}`, { cause: err });
    return new TempError(`unable to ${what} SQL server ${where}: ${reasonOf(err)}`, { cause: err });
  }

  /** Close politely (vchkpw does this before exec); later use is an error. */
  async close(): Promise<void> {
    await this.#tail;
    this.#closed = true;
    const c = this.#conn;
    this.#conn = undefined;
    if (c !== undefined && c.alive) await c.end().catch(() => c.destroy());
    else c?.destroy();
  }
}

/** Listing connections (C's separate getall connection): one kept idle, more opened while it is busy. */
export class SqlListingPool {
  #idle: SqlConnection | undefined;
  #open = new Set<SqlConnection>();
  #closed = false;

  constructor(
    readonly driver: SqlDriver,
    readonly server: SqlServer,
    readonly timing: LinkTiming,
  ) {}

  async #take(): Promise<SqlConnection> {
    if (this.#closed) throw new TempError('SQL backend used after close');
    const idle = this.#idle;
    this.#idle = undefined;
    if (idle !== undefined && idle.alive) return idle;
    idle?.destroy();
    let lastErr: unknown;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const c = await this.driver.connect(this.server, { connectTimeoutMs: this.timing.connectTimeoutMs, queryTimeoutMs: this.timing.queryTimeoutMs });
        this.#open.add(c);
        return c;
      } catch (err) {
        lastErr = err;
        if (this.driver.classify(err) !== 'connection') break;
      }
    }
    throw new TempError(`unable to connect to SQL server ${describeServer(this.server)}: ${reasonOf(lastErr)}`, { cause: lastErr });
  }

  #give(c: SqlConnection, healthy: boolean): void {
    if (healthy && c.alive && this.#idle === undefined && !this.#closed) {
      this.#idle = c;
      return;
    }
    this.#open.delete(c);
    if (c.alive) void c.end().catch(() => c.destroy());
    else c.destroy();
  }

  /**
   * Stream a SELECT. A connection lost before the first row is retried once on a fresh one; after
   * rows were given out it is a TempError (the caller has half a listing). A missing table is empty.
   */
  async *stream(sql: string, params: readonly SqlValue[]): AsyncGenerator<SqlRow> {
    for (let attempt = 0; ; attempt++) {
      const c = await this.#take();
      let yielded = false;
      let healthy = false;
      try {
        for await (const row of c.stream(sql, params)) {
          yielded = true;
          yield row;
        }
        healthy = true;
        return;
      } catch (err) {
        if (err instanceof MailError) throw err;
        const kind = this.driver.classify(err);
        if (kind === 'missing-table') {
          healthy = true;
          return;
        }
        if (kind === 'connection' && !yielded && attempt === 0) continue;
        const where = describeServer(this.server);
        if (kind === 'duplicate' || kind === 'data') throw new SqlConstraintError(kind, `SQL ${where}: ${reasonOf(err)}`, { cause: err });
        throw new TempError(`unable to list from SQL server ${where}: ${reasonOf(err)}`, { cause: err });
      } finally {
        this.#give(c, healthy || c.alive);
      }
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#idle = undefined;
    const all = [...this.#open];
    this.#open.clear();
    await Promise.all(all.map((c) => (c.alive ? c.end().catch(() => c.destroy()) : c.destroy())));
  }
}

/** BEGIN … COMMIT, or ROLLBACK and rethrow. A lost connection rolls back on the server by itself. */
export async function inTransaction<T>(driver: SqlDriver, c: SqlConnection, work: () => Promise<T>): Promise<T> {
  await c.run(driver.beginSql);
  let result: T;
  try {
    result = await work();
  } catch (err) {
    try {
      if (c.alive) await c.run('ROLLBACK');
    } catch {
      // the first error is the one to report
    }
    throw err;
  }
  await c.run('COMMIT');
  return result;
}

// --- byte strings at the edge ---------------------------------------------------------------------

const ASCII = /^[\x00-\x7f]*$/;
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/**
 * Our records are byte strings (one char per byte, as vpasswd holds them); the databases hold text.
 * Bytes that are valid UTF-8 go in as that text and come back as the same bytes. Other bytes (a
 * legacy Latin-1 gecos) go in as Latin-1 characters and come back UTF-8 encoded (COMPATIBILITY.md).
 */
export function textOfBytes(bytes: string): string {
  if (ASCII.test(bytes)) return bytes;
  try {
    return utf8Strict.decode(Buffer.from(bytes, 'latin1'));
  } catch {
    return bytes;
  }
}

export function bytesOfText(text: unknown): string {
  if (text === null || text === undefined) return '';
  const s = typeof text === 'string' ? text : Buffer.isBuffer(text) ? text.toString('utf8') : String(text);
  return ASCII.test(s) ? s : Buffer.from(s, 'utf8').toString('latin1');
}

/** An integer column that may come back as a string (BIGINT) or NULL. */
export function intOf(value: unknown, fallback = 0): number {
  if (value === null || value === undefined) return fallback;
  const n = typeof value === 'number' ? value : Number(value);
  return Number.isFinite(n) ? n : fallback;
}
