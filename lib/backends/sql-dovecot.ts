// Dovecot 2.3 `passdb/userdb { driver = sql }` queries for the vpopmail schema, many-domains layout
// (spec/sql.md §9, pitfalls Q7): what replaces Dovecot's removed vpopmail driver. Dovecot expands
// and escapes the %-variables itself; %Ln/%Ld are lower-cased, as vpopmail stores names.
import type { SqlDialect } from './sql-schema.ts';

export interface DovecotSqlQueries {
  readonly passwordQuery: string;
  readonly userQuery: string;
}

export interface DovecotQueryOptions {
  /** The uid and gid mail files belong to (users/assign; C: 89). */
  readonly uid: number;
  readonly gid: number;
  /** The address webmail connects from (C's compiled-in 127.0.0.1): NO_WEBMAIL applies to it. */
  readonly webmailIp?: string;
}

/**
 * Login name → real domain through `aliasdomains` (an alias-domain login finds the real domain's
 * user); pw_gid flags: NO_POP (2) for pop3, NO_IMAP (8) for imap, NO_WEBMAIL (4) from the webmail
 * address. Quota from pw_shell, both parts (`<bytes>S`, `<count>C`, `<bytes>S,<count>C`, NOQUOTA):
 * the usual SUBSTRING_INDEX(pw_shell,'S',1) reads `1000C` as bytes (D2). Domain-wide limits kept in
 * the `limits` table need a further `LEFT JOIN limits` with COALESCE; files are invisible to SQL.
 */
export function dovecotSqlQueries(dialect: SqlDialect, options: DovecotQueryOptions): DovecotSqlQueries {
  const webmail = options.webmailIp ?? '127.0.0.1';
  const my = dialect === 'mysql';
  const user = my ? "CONCAT(pw_name, '@', pw_domain)" : "pw_name || '@' || pw_domain";
  const bytes = my
    ? "IF(pw_shell REGEXP '^[0-9]+S', SUBSTRING_INDEX(pw_shell, 'S', 1), '0')"
    : "CASE WHEN pw_shell ~ '^[0-9]+S' THEN split_part(pw_shell, 'S', 1) ELSE '0' END";
  const messages = my
    ? "IF(pw_shell REGEXP '[0-9]+C$', SUBSTRING_INDEX(SUBSTRING_INDEX(pw_shell, 'C', 1), ',', -1), '0')"
    : "CASE WHEN pw_shell ~ '[0-9]+C$' THEN substring(pw_shell from '([0-9]+)C$') ELSE '0' END";
  const rule = (col: string) => (my ? `CONCAT('*:bytes=', ${bytes}) AS ${col}, CONCAT('*:messages=', ${messages}) AS ${col}2` : `'*:bytes=' || ${bytes} AS ${col}, '*:messages=' || ${messages} AS ${col}2`);
  const from = "FROM vpopmail LEFT JOIN aliasdomains ON aliasdomains.alias = '%Ld' WHERE pw_name = '%Ln' AND (pw_domain = '%Ld' OR pw_domain = aliasdomains.domain)";
  const flags = `AND NOT (('%s' = 'pop3' AND (pw_gid & 2) <> 0) OR ('%s' = 'imap' AND (pw_gid & 8) <> 0) OR ('%r' = '${webmail}' AND (pw_gid & 4) <> 0))`;
  return {
    passwordQuery: `SELECT ${user} AS user, pw_passwd AS password, pw_dir AS userdb_home, ${options.uid} AS userdb_uid, ${options.gid} AS userdb_gid, ${rule('userdb_quota_rule')} ${from} ${flags}`,
    userQuery: `SELECT pw_dir AS home, ${options.uid} AS uid, ${options.gid} AS gid, ${rule('quota_rule')} ${from}`,
  };
}
