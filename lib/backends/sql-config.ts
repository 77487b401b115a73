// Connection settings of the SQL backends in C vpopmail's file formats (spec/sql.md §2, §8):
// `~vpopmail/etc/vpopmail.mysql` (read line, optional update line) and `~vpopmail/etc/vpopmail.pgsql`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.ts';
import { TempError } from '../exit.ts';

export const MYSQL_CONFIG_FILE = 'vpopmail.mysql';
export const PGSQL_CONFIG_FILE = 'vpopmail.pgsql';

/** One server line. The password never leaves this object except to the driver (see describeServer). */
export interface SqlServer {
  /** TCP host name or address; unused when socketPath is set. */
  readonly host: string;
  /** TCP port; 0 = the driver's default (3306, 5432). */
  readonly port: number;
  /** Unix socket: MySQL's `/path` in the port field, PostgreSQL's `/dir` as the host. */
  readonly socketPath?: string | undefined;
  readonly user: string;
  readonly password: string;
  readonly database: string;
}

export interface MysqlServers {
  /** Line 1: C's default build uses it for listings (vauth_getall) only. */
  readonly read: SqlServer;
  /** Line 2, or line 1 again when there is none: every look-up and every write. */
  readonly update: SqlServer;
}

/** The file's malformed: names the file and the line (never the line's text: it holds a password). */
export class SqlConfigError extends TempError {
  override name = 'SqlConfigError';
}

/** host:port/database as user, for messages; no password, ever. */
export function describeServer(server: SqlServer): string {
  const where = server.socketPath ?? `${server.host}:${server.port === 0 ? 'default' : server.port}`;
  return `${server.user === '' ? '' : `${server.user}@`}${where}/${server.database}`;
}

/** Data lines with their 1-based numbers: C skips lines starting with `#` and empty lines only. */
function dataLines(text: string): { text: string; number: number }[] {
  const out: { text: string; number: number }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    if (line === '' || line.startsWith('#')) continue;
    out.push({ text: line, number: i + 1 });
  }
  return out;
}

/** Split on every `|` (C collapses empty fields, so an empty password shifted the database: Q1). */
function fields(line: { text: string; number: number }, path: string): [string, string, string, string, string] {
  const parts = line.text.split('|');
  if (parts.length !== 5) {
    throw new SqlConfigError(`${path} line ${line.number}: expected host|port|user|password|database, found ${parts.length} field${parts.length === 1 ? '' : 's'}`);
  }
  return parts as [string, string, string, string, string];
}

function parsePort(text: string, path: string, number: number): number {
  if (text === '') return 0;
  if (!/^[0-9]{1,5}$/.test(text) || Number(text) > 65535) throw new SqlConfigError(`${path} line ${number}: port must be a number from 0 to 65535 or a socket path`);
  return Number(text);
}

function parseMysqlLine(line: { text: string; number: number }, path: string): SqlServer {
  const [host, port, user, password, database] = fields(line, path);
  if (database === '') throw new SqlConfigError(`${path} line ${line.number}: the database field is empty`);
  // libmysqlclient: a port field starting with `/` is the socket path, and the port is 0.
  if (port.startsWith('/')) return { host: host === '' ? 'localhost' : host, port: 0, socketPath: port, user, password, database };
  return { host: host === '' ? 'localhost' : host, port: parsePort(port, path, line.number), user, password, database };
}

/** vpopmail.mysql: line 1 is the read server, line 2 (optional) the update server; more lines are ignored, as C does. */
export function parseMysqlConfig(text: string, path: string = MYSQL_CONFIG_FILE): MysqlServers {
  const lines = dataLines(text);
  if (lines.length === 0) throw new SqlConfigError(`${path}: no host|port|user|password|database line`);
  const read = parseMysqlLine(lines[0]!, path);
  const update = lines.length > 1 ? parseMysqlLine(lines[1]!, path) : read;
  return { read, update };
}

/**
 * vpopmail.pgsql: one line; empty fields take C's defaults (host localhost, user postgres, database
 * vpopmail). Port 0 or empty means 5432: C passes `port=0`, which current libpq refuses (Q5). A host
 * starting with `/` is a socket directory, as libpq reads it.
 */
export function parsePgsqlConfig(text: string, path: string = PGSQL_CONFIG_FILE): SqlServer {
  const lines = dataLines(text);
  if (lines.length === 0) throw new SqlConfigError(`${path}: no host|port|user|password|database line`);
  const line = lines[0]!;
  const [host, port, user, password, database] = fields(line, path);
  const portNumber = parsePort(port, path, line.number);
  const server = {
    host: host === '' ? 'localhost' : host,
    port: portNumber === 0 ? 5432 : portNumber,
    user: user === '' ? 'postgres' : user,
    password,
    database: database === '' ? 'vpopmail' : database,
  };
  return host.startsWith('/') ? { ...server, socketPath: host } : server;
}

function readConfigFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new SqlConfigError(`unable to read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}

export function readMysqlConfig(config: Pick<Config, 'etcDir'>): MysqlServers {
  const path = join(config.etcDir, MYSQL_CONFIG_FILE);
  return parseMysqlConfig(readConfigFile(path), path);
}

export function readPgsqlConfig(config: Pick<Config, 'etcDir'>): SqlServer {
  const path = join(config.etcDir, PGSQL_CONFIG_FILE);
  return parsePgsqlConfig(readConfigFile(path), path);
}

/** Same server, user and database: one connection can serve both roles. */
export function isSameServer(a: SqlServer, b: SqlServer): boolean {
  return a.host === b.host && a.port === b.port && a.socketPath === b.socketPath && a.user === b.user && a.password === b.password && a.database === b.database;
}

/**
 * The schema choices C fixes at configure time. They are settings here; until lib/config.ts carries
 * them (`many-domains`, `sql-limits` in vpopmail.conf) the defaults are C's: many-domains on,
 * limits in `.qmailadmin-limits` files (--enable-mysql-limits off).
 */
export interface SqlLayout {
  /** --enable-many-domains: one `vpopmail` table with pw_domain; off: one table per domain. */
  readonly manyDomains: boolean;
  /** --enable-mysql-limits: domain limits in the `limits` table instead of files. */
  readonly limitsInTable: boolean;
}

export function sqlLayoutOf(config: { readonly manyDomains: boolean; readonly sqlLimits: boolean }, override: Partial<SqlLayout> = {}): SqlLayout {
  return {
    manyDomains: override.manyDomains ?? config.manyDomains,
    limitsInTable: override.limitsInTable ?? config.sqlLimits,
  };
}
