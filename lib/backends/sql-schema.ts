// The vpopmail SQL schema (spec/sql.md §4–§5, §8) as we create it: C's tables and column names, so
// existing databases and Dovecot queries keep working, with the D3 widenings (64-character user
// columns, 45-character IP columns, BIGINT times) and perm_maillist wide enough for its 9 bits (D1).
// Existing tables with C's narrower columns are used as they are.
import { PermError } from '../exit.ts';

export type SqlDialect = 'mysql' | 'pgsql';

/** Tables other than the users tables; each is created on the first write that finds it missing, as C does. */
export type SharedTable = 'dir_control' | 'lastauth' | 'relay' | 'ip_alias_map' | 'valias' | 'limits' | 'aliasdomains';

/** many-domains: every domain's users in one table. */
export const MANY_DOMAINS_TABLE = 'vpopmail';

/** MySQL allows 64 characters in a table name, PostgreSQL 63 (it would silently truncate a longer one). */
const MAX_IDENT: Readonly<Record<SqlDialect, number>> = { mysql: 64, pgsql: 63 };

/**
 * One-table-per-domain name (sql.md §4): every `.` and `-` becomes `_`. Only `[a-z0-9_]` passes
 * (S1): anything else, or a name too long for the server, is refused rather than mangled further.
 * Not injective: `a-b.com` and `a.b.com` share `a_b_com` (D4; addDomain checks for that).
 */
export function domainTableName(domain: string, dialect: SqlDialect): string {
  const name = domain.replace(/[.-]/g, '_');
  if (!/^[a-z0-9_]+$/.test(name)) throw new PermError(`domain ${JSON.stringify(domain)} has no valid SQL table name`);
  if (name.length > MAX_IDENT[dialect]) throw new PermError(`domain ${domain} is too long for a table of its own (at most ${MAX_IDENT[dialect]} characters)`);
  return name;
}

/** Quote an identifier that has passed the whitelist; anything else is a programming error. */
export function quoteIdent(name: string, dialect: SqlDialect): string {
  if (!/^[A-Za-z0-9_]{1,64}$/.test(name)) throw new PermError(`refusing SQL identifier ${JSON.stringify(name)}`);
  return dialect === 'mysql' ? `\`${name}\`` : `"${name}"`;
}

/** The lastauth user column: `user` in MySQL, `userid` in PostgreSQL (where `user` is CURRENT_USER: Q5). */
export function lastauthUserColumn(dialect: SqlDialect): string {
  return dialect === 'mysql' ? 'user' : 'userid';
}

/** DDL of a users table: many-domains with pw_domain, else one table for one domain. */
export function usersTableDdl(dialect: SqlDialect, table: string, manyDomains: boolean): string[] {
  const int = dialect === 'mysql' ? 'INT' : 'int4';
  const columns = [
    'pw_name VARCHAR(64) NOT NULL',
    ...(manyDomains ? ['pw_domain VARCHAR(96) NOT NULL'] : []),
    'pw_passwd VARCHAR(128)',
    `pw_uid ${int}`,
    `pw_gid ${int}`,
    'pw_gecos VARCHAR(64)',
    'pw_dir VARCHAR(160)',
    'pw_shell VARCHAR(20)',
    'pw_clear_passwd VARCHAR(128)',
    manyDomains ? 'PRIMARY KEY (pw_name, pw_domain)' : 'PRIMARY KEY (pw_name)',
  ];
  return [`CREATE TABLE IF NOT EXISTS ${quoteIdent(table, dialect)} (${columns.join(', ')})`];
}

const DIR_CONTROL_INTS = [
  'cur_users',
  'level_cur',
  'level_max',
  'level_start0',
  'level_start1',
  'level_start2',
  'level_end0',
  'level_end1',
  'level_end2',
  'level_mod0',
  'level_mod1',
  'level_mod2',
  'level_index0',
  'level_index1',
  'level_index2',
] as const;

export const DIR_CONTROL_COLUMNS = [...DIR_CONTROL_INTS, 'the_dir'] as const;

/** limits columns (sql.md §5.8) in C's order, after `domain`. */
export const LIMITS_NUMBER_COLUMNS = [
  'maxpopaccounts',
  'maxaliases',
  'maxforwards',
  'maxautoresponders',
  'maxmailinglists',
  'diskquota',
  'maxmsgcount',
  'defaultquota',
  'defaultmaxmsgcount',
] as const;
export const LIMITS_FLAG_COLUMNS = [
  'disable_pop',
  'disable_imap',
  'disable_dialup',
  'disable_passwordchanging',
  'disable_webmail',
  'disable_relay',
  'disable_smtp',
  'disable_spamassassin',
  'delete_spam',
  'disable_maildrop',
] as const;
export const LIMITS_PERM_COLUMNS = ['perm_account', 'perm_alias', 'perm_forward', 'perm_autoresponder', 'perm_maillist', 'perm_quota', 'perm_defaultquota'] as const;

/** DDL of a shared table; PostgreSQL's valias needs a second statement for its index. */
export function sharedTableDdl(dialect: SqlDialect, table: SharedTable): string[] {
  const my = dialect === 'mysql';
  const int = my ? 'INT' : 'int4';
  const create = (body: string) => `CREATE TABLE IF NOT EXISTS ${table} (${body})`;
  switch (table) {
    case 'dir_control':
      return [create(['domain VARCHAR(96) NOT NULL PRIMARY KEY', ...DIR_CONTROL_INTS.map((c) => `${c} ${int}`), 'the_dir VARCHAR(160)'].join(', '))];
    case 'lastauth':
      return [create(`${lastauthUserColumn(dialect)} VARCHAR(64) NOT NULL, domain VARCHAR(96) NOT NULL, remote_ip VARCHAR(45) NOT NULL, timestamp BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (${lastauthUserColumn(dialect)}, domain)`)];
    case 'relay':
      return [create('ip_addr VARCHAR(45) NOT NULL PRIMARY KEY, timestamp BIGINT NOT NULL DEFAULT 0')];
    case 'ip_alias_map':
      return [create('ip_addr VARCHAR(45) NOT NULL PRIMARY KEY, domain VARCHAR(96)')];
    case 'valias':
      // Never a unique key on (alias, domain): an alias has several lines (Q6).
      return my
        ? [create('id INT AUTO_INCREMENT PRIMARY KEY, alias VARCHAR(64) NOT NULL, domain VARCHAR(96) NOT NULL, valias_line TEXT NOT NULL, INDEX (alias, domain)')]
        : [create('id BIGSERIAL PRIMARY KEY, alias VARCHAR(64) NOT NULL, domain VARCHAR(96) NOT NULL, valias_line TEXT NOT NULL'), 'CREATE INDEX IF NOT EXISTS valias_idx ON valias (alias, domain)'];
    case 'limits': {
      const small = my ? 'TINYINT(1)' : 'SMALLINT';
      const big = my ? 'BIGINT UNSIGNED' : 'BIGINT';
      const cols = [
        'domain VARCHAR(96) NOT NULL PRIMARY KEY',
        ...LIMITS_NUMBER_COLUMNS.slice(0, 5).map((c) => `${c} ${int} NOT NULL DEFAULT -1`),
        ...LIMITS_NUMBER_COLUMNS.slice(5).map((c) => `${c} ${big} NOT NULL DEFAULT 0`),
        ...LIMITS_FLAG_COLUMNS.map((c) => `${c} ${small} NOT NULL DEFAULT 0`),
        // perm_maillist packs three 3-bit masks (up to 511): C's TINYINT(4) overflows (D1).
        ...LIMITS_PERM_COLUMNS.map((c) => `${c} SMALLINT NOT NULL DEFAULT 0`),
      ];
      return [create(cols.join(', '))];
    }
    case 'aliasdomains':
      return [create('alias VARCHAR(100) NOT NULL PRIMARY KEY, domain VARCHAR(100) NOT NULL')];
  }
}

export const SHARED_TABLES: readonly SharedTable[] = ['dir_control', 'lastauth', 'relay', 'ip_alias_map', 'valias', 'limits', 'aliasdomains'];
