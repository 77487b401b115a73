// The Backend over vpopmail's SQL schema, once for both servers: mysql.ts and pgsql.ts supply the
// driver (connections, error codes, a few dialect spellings) and this file every query. Every value
// is a bound parameter; the only identifiers built from data are per-domain table names, which pass
// domainTableName's whitelist and are quoted.
import type { Config } from '../config.ts';
import { PermError, VA, VpopmailError } from '../exit.ts';
import { listAssignDomains, lookupAssignDomain } from '../store/assign.ts';
import { INITIAL_DIR_CONTROL, type DirControlState } from '../store/dir-control.ts';
import { ipAliasCandidates, type IpAlias } from '../store/ip-map.ts';
import type { Lastauth } from '../store/lastauth.ts';
import { DEFAULT_LIMITS, deleteLimitsFile, domainLimitsPath, packMaillistPerms, readLimitsFile, writeLimitsFile, type DomainLimits } from '../store/limits.ts';
import { isRelayIp, RELAY_RULE } from '../store/open-smtp.ts';
import type { VpasswdEntry } from '../store/vpasswd.ts';
import { prepareEntry, type Backend, type DirControlKey, type LastauthUser, type RelayRebuild, type ValiasLine } from './backend.ts';
import type { DomainInfo } from './cdb.ts';
import { isSameServer, sqlLayoutOf, type SqlLayout, type SqlServer } from './sql-config.ts';
import {
  DIR_CONTROL_COLUMNS,
  LIMITS_FLAG_COLUMNS,
  LIMITS_NUMBER_COLUMNS,
  LIMITS_PERM_COLUMNS,
  MANY_DOMAINS_TABLE,
  domainTableName,
  lastauthUserColumn,
  quoteIdent,
  sharedTableDdl,
  usersTableDdl,
  type SharedTable,
} from './sql-schema.ts';
import {
  DEFAULT_TIMING,
  SqlConstraintError,
  SqlLink,
  SqlListingPool,
  bytesOfText,
  inTransaction,
  intOf,
  textOfBytes,
  type LinkTiming,
  type SqlConnection,
  type SqlDriver,
  type SqlRow,
  type SqlValue,
} from './sql-link.ts';

export interface SqlBackendOptions {
  /** Override the layout settings (tests, vconvert); default from the configuration. */
  readonly layout?: Partial<SqlLayout>;
  /** Domain look-up; default C's vget_assign through users/cdb. */
  readonly resolveDomain?: (domain: string) => DomainInfo | undefined;
  readonly timing?: Partial<LinkTiming>;
}

/** What vconvert needs beyond the Backend interface: counting and an atomic whole-domain replace. */
export interface SqlBackend extends Backend {
  readonly dialect: SqlDriver['dialect'];
  readonly layout: SqlLayout;
  /** How many users the domain has (0 when its table does not exist). */
  countUsers(domain: string): Promise<number>;
  /**
   * Replace every user of the domain with `entries`, in one transaction: readers see the old set
   * until the commit and the new one after it; a failure (or a lost connection) leaves the old set.
   * Hashes are stored as given (no password policy: they are not new passwords). Returns the count.
   */
  replaceUsers(domain: string, entries: AsyncIterable<VpasswdEntry> | Iterable<VpasswdEntry>): Promise<number>;
  /** The server-side id of the update connection, when one is open (outage tests). */
  readonly connectionId: number | undefined;
}

const USER_COLUMNS = ['pw_name', 'pw_passwd', 'pw_uid', 'pw_gid', 'pw_gecos', 'pw_dir', 'pw_shell'] as const;
const CLEAR_COLUMN = 'pw_clear_passwd';
/** Rows per multi-row INSERT when replacing a domain (9 parameters each: far below either server's limit). */
const INSERT_BATCH = 500;

const RELAY_LOCK = 'vpopmail.relay';

function checkMapToken(what: string, value: string): void {
  if (value === '' || /[\s\x00-\x1f\x7f]/.test(value)) throw new PermError(`invalid ${what} for ip_alias_map: ${JSON.stringify(value)}`);
}

export function createSqlBackend(
  config: Config,
  driver: SqlDriver,
  servers: { readonly update: SqlServer; readonly read: SqlServer },
  options: SqlBackendOptions = {},
): SqlBackend {
  const dialect = driver.dialect;
  const layout = sqlLayoutOf(config, options.layout);
  const timing: LinkTiming = { ...DEFAULT_TIMING, ...options.timing };
  const resolve = options.resolveDomain ?? ((domain: string) => lookupAssignDomain(config.qmailHome, domain));
  const link = new SqlLink(driver, servers.update, timing);
  // C's default build lists from line 1 (its separate getall connection): same when both lines agree.
  const listing = new SqlListingPool(driver, isSameServer(servers.read, servers.update) ? servers.update : servers.read, timing);
  /** Users tables seen without pw_clear_passwd (a database from a build without clear passwords). */
  const noClearColumn = new Set<string>();
  let valiasHasId = true;
  const laUser = lastauthUserColumn(dialect);
  const q = (name: string) => quoteIdent(name, dialect);

  const realDomain = (domain: string): DomainInfo | undefined => resolve(domain);
  const domainOrThrow = (domain: string): DomainInfo => {
    const info = resolve(domain);
    if (info === undefined) throw new VpopmailError(VA.DOMAIN_DOES_NOT_EXIST);
    return info;
  };
  /** The real domain for global-table rows keyed by domain: through assign when it knows the name. */
  const keyDomain = (domain: string): string => resolve(domain)?.domain ?? domain;

  // --- users tables ---------------------------------------------------------------------------
  interface UsersTable {
    readonly ident: string;
    readonly name: string;
    /** `AND pw_domain = ?` and its parameter, or nothing (one table per domain). */
    readonly where: string;
    readonly params: readonly SqlValue[];
  }
  const usersTable = (domain: string): UsersTable => {
    if (layout.manyDomains) return { ident: q(MANY_DOMAINS_TABLE), name: MANY_DOMAINS_TABLE, where: ' AND pw_domain = ?', params: [textOfBytes(domain)] };
    const name = domainTableName(domain, dialect);
    return { ident: q(name), name, where: '', params: [] };
  };
  const createUsersTable = (t: UsersTable) => async (c: SqlConnection) => {
    for (const ddl of usersTableDdl(dialect, t.name, layout.manyDomains)) await c.run(ddl);
  };
  const hasClear = (t: UsersTable) => !noClearColumn.has(t.name);
  const columnsOf = (t: UsersTable) => (hasClear(t) ? [...USER_COLUMNS, CLEAR_COLUMN] : [...USER_COLUMNS]);
  const forgetClear = (t: UsersTable) => () => {
    if (!hasClear(t)) return false;
    noClearColumn.add(t.name);
    return true;
  };
  const entryOf = (row: SqlRow): VpasswdEntry => ({
    name: bytesOfText(row.pw_name),
    passwd: bytesOfText(row.pw_passwd),
    uid: intOf(row.pw_uid),
    gid: intOf(row.pw_gid),
    gecos: bytesOfText(row.pw_gecos),
    dir: bytesOfText(row.pw_dir),
    quota: bytesOfText(row.pw_shell),
    clear: config.clearPasswords ? bytesOfText(row[CLEAR_COLUMN]) : undefined,
  });
  /** Values in USER_COLUMNS order (+ clear): with clear passwords off the column is emptied, never kept stale. */
  const valuesOf = (t: UsersTable, e: VpasswdEntry): SqlValue[] => {
    const values: SqlValue[] = [textOfBytes(e.name), textOfBytes(e.passwd), e.uid, e.gid, textOfBytes(e.gecos), textOfBytes(e.dir), textOfBytes(e.quota)];
    if (hasClear(t)) values.push(textOfBytes(e.clear ?? ''));
    return values;
  };
  const insertUsersSql = (t: UsersTable, rows: number): string => {
    const cols = [...columnsOf(t)];
    if (layout.manyDomains) cols.splice(1, 0, 'pw_domain');
    const one = `(${cols.map(() => '?').join(', ')})`;
    return `INSERT INTO ${t.ident} (${cols.join(', ')}) VALUES ${Array.from({ length: rows }, () => one).join(', ')}`;
  };
  const insertUsersParams = (t: UsersTable, e: VpasswdEntry): SqlValue[] => {
    const values = valuesOf(t, e);
    if (layout.manyDomains) values.splice(1, 0, t.params[0]!);
    return values;
  };

  // --- shared tables -------------------------------------------------------------------------
  const createShared =
    (...tables: SharedTable[]) =>
    async (c: SqlConnection) => {
      for (const table of tables) for (const ddl of sharedTableDdl(dialect, table)) await c.run(ddl);
    };
  const write = <T>(tables: SharedTable[], work: (c: SqlConnection) => Promise<T>) => link.use(work, { write: true, create: createShared(...tables) });
  const read = <T>(missing: () => T, work: (c: SqlConnection) => Promise<T>) => link.use(work, { missing });
  /** Statements whose table may be missing without that meaning anything (a delete of nothing). */
  const quietly = (sql: string, params: readonly SqlValue[]) => link.use((c) => c.run(sql, params).then(() => undefined), { write: true, missing: () => undefined });

  // --- dir_control -----------------------------------------------------------------------------
  const dirControlRow = (key: DirControlKey, mustExist: boolean): string | undefined => {
    if ('domain' in key) {
      const info = mustExist ? domainOrThrow(key.domain) : realDomain(key.domain);
      return info?.domain;
    }
    return `dom_${key.uid}`;
  };
  const dirControlValues = (row: string, s: DirControlState): SqlValue[] => [
    textOfBytes(row),
    s.curUsers,
    s.levelCur,
    s.levelMax,
    ...s.levelStart,
    ...s.levelEnd,
    ...s.levelMod,
    ...s.levelIndex,
    textOfBytes(s.theDir),
  ];
  const dirControlOf = (r: SqlRow): DirControlState => ({
    curUsers: intOf(r.cur_users),
    levelCur: intOf(r.level_cur),
    levelMax: intOf(r.level_max),
    levelStart: [intOf(r.level_start0), intOf(r.level_start1), intOf(r.level_start2)],
    levelEnd: [intOf(r.level_end0), intOf(r.level_end1), intOf(r.level_end2)],
    levelMod: [intOf(r.level_mod0), intOf(r.level_mod1), intOf(r.level_mod2)],
    levelIndex: [intOf(r.level_index0), intOf(r.level_index1), intOf(r.level_index2)],
    theDir: bytesOfText(r.the_dir),
  });
  const dirControlSelect = `SELECT ${DIR_CONTROL_COLUMNS.join(', ')} FROM dir_control WHERE domain = ?`;
  const dirControlUpsert = driver.upsertSql('dir_control', ['domain', ...DIR_CONTROL_COLUMNS], ['domain']);

  // --- limits ----------------------------------------------------------------------------------
  const limitsColumns = [...LIMITS_NUMBER_COLUMNS, ...LIMITS_FLAG_COLUMNS, ...LIMITS_PERM_COLUMNS];
  const limitsValues = (domain: string, l: DomainLimits): SqlValue[] => [
    textOfBytes(domain),
    l.maxPopAccounts,
    l.maxAliases,
    l.maxForwards,
    l.maxAutoresponders,
    l.maxMailinglists,
    l.diskQuotaMb,
    l.maxMsgCount,
    l.defaultQuotaBytes,
    l.defaultMaxMsgCount,
    ...[l.disablePop, l.disableImap, l.disableDialup, l.disablePasswordChanging, l.disableWebmail, l.disableExternalRelay, l.disableSmtp, l.disableSpamassassin, l.deleteSpam, l.disableMaildrop].map((b) => (b ? 1 : 0)),
    l.permAccount & 7,
    l.permAlias & 7,
    l.permForward & 7,
    l.permAutoresponder & 7,
    packMaillistPerms(l),
    l.permQuota & 7,
    l.permDefaultQuota & 7,
  ];
  // Read by column name: C reads them shifted by one (sql.md §6, D1).
  const limitsOf = (r: SqlRow): DomainLimits => {
    const maillist = intOf(r.perm_maillist);
    const flag = (c: string) => intOf(r[c]) !== 0;
    return {
      ...DEFAULT_LIMITS,
      maxPopAccounts: intOf(r.maxpopaccounts, -1),
      maxAliases: intOf(r.maxaliases, -1),
      maxForwards: intOf(r.maxforwards, -1),
      maxAutoresponders: intOf(r.maxautoresponders, -1),
      maxMailinglists: intOf(r.maxmailinglists, -1),
      diskQuotaMb: intOf(r.diskquota),
      maxMsgCount: intOf(r.maxmsgcount),
      defaultQuotaBytes: intOf(r.defaultquota),
      defaultMaxMsgCount: intOf(r.defaultmaxmsgcount),
      disablePop: flag('disable_pop'),
      disableImap: flag('disable_imap'),
      disableDialup: flag('disable_dialup'),
      disablePasswordChanging: flag('disable_passwordchanging'),
      disableWebmail: flag('disable_webmail'),
      disableExternalRelay: flag('disable_relay'),
      disableSmtp: flag('disable_smtp'),
      disableSpamassassin: flag('disable_spamassassin'),
      deleteSpam: flag('delete_spam'),
      disableMaildrop: flag('disable_maildrop'),
      permAccount: intOf(r.perm_account) & 7,
      permAlias: intOf(r.perm_alias) & 7,
      permForward: intOf(r.perm_forward) & 7,
      permAutoresponder: intOf(r.perm_autoresponder) & 7,
      permMaillist: maillist & 7,
      permMaillistUsers: (maillist >> 3) & 7,
      permMaillistModerators: (maillist >> 6) & 7,
      permQuota: intOf(r.perm_quota) & 7,
      permDefaultQuota: intOf(r.perm_defaultquota) & 7,
    };
  };

  const relayRulesOn = async (c: SqlConnection): Promise<string[]> => {
    const r = await c.run(`SELECT ip_addr FROM relay ORDER BY ${driver.byteOrder('ip_addr')}`);
    return r.rows.map((row) => `${bytesOfText(row.ip_addr)}${RELAY_RULE}`);
  };
  const withRelayLock = <T>(work: (c: SqlConnection) => Promise<T>) =>
    write(['relay'], async (c) => {
      await driver.lock(c, RELAY_LOCK, 20);
      try {
        return await work(c);
      } finally {
        if (c.alive) await driver.unlock(c, RELAY_LOCK);
      }
    });

  /** D4: refuse a per-domain table that another real domain in users/assign already maps to. */
  const checkTableCollision = (domain: string, table: string): void => {
    let entries;
    try {
      entries = listAssignDomains(config.qmailHome);
    } catch (err) {
      if (err instanceof VpopmailError && err.code === VA.CANNOT_READ_ASSIGN && (err.cause as NodeJS.ErrnoException)?.code === 'ENOENT') return;
      throw err;
    }
    for (const e of entries) {
      if (e.name !== e.domain || e.domain === domain) continue;
      let other: string;
      try {
        other = domainTableName(e.domain, dialect);
      } catch {
        continue;
      }
      if (other === table) throw new PermError(`domain ${domain} would share SQL table ${table} with domain ${e.domain}; refusing`);
    }
  };

  const backend: SqlBackend = {
    name: dialect,
    dialect,
    layout,
    hasValiasTable: config.valias,

    get connectionId() {
      return link.serverId;
    },

    async addDomain(domain) {
      if (layout.manyDomains) {
        await link.use(createUsersTable(usersTable(domain)), { write: true });
      } else {
        const t = usersTable(domain);
        checkTableCollision(domain, t.name);
        await link.use(createUsersTable(t), { write: true });
      }
      // C keeps aliasdomains in MySQL only; we keep it in both, for Dovecot's alias-domain join.
      await link.use(createShared('aliasdomains'), { write: true });
    },

    async delDomain(domain) {
      if (layout.manyDomains) {
        await quietly(`DELETE FROM ${q(MANY_DOMAINS_TABLE)} WHERE pw_domain = ?`, [textOfBytes(domain)]);
      } else {
        const t = usersTable(domain);
        checkTableCollision(domain, t.name);
        await link.use((c) => c.run(`DROP TABLE IF EXISTS ${t.ident}`).then(() => undefined), { write: true });
      }
      const d = [textOfBytes(domain)];
      await quietly('DELETE FROM valias WHERE domain = ?', d);
      await quietly('DELETE FROM lastauth WHERE domain = ?', d);
      if (layout.limitsInTable) await quietly('DELETE FROM limits WHERE domain = ?', d);
      await quietly('DELETE FROM dir_control WHERE domain = ?', d);
      await quietly('DELETE FROM aliasdomains WHERE domain = ?', d);
    },

    async addAliasDomain(alias, real) {
      await write(['aliasdomains'], (c) => c.run(driver.upsertSql('aliasdomains', ['alias', 'domain'], ['alias']), [textOfBytes(alias), textOfBytes(real)]));
    },

    async delAliasDomain(alias) {
      await quietly('DELETE FROM aliasdomains WHERE alias = ?', [textOfBytes(alias)]);
    },

    async getUser(domain, user) {
      const info = realDomain(domain);
      if (info === undefined || user === '') return undefined;
      const t = usersTable(info.domain);
      return link.use(
        async (c) => {
          const r = await c.run(`SELECT ${columnsOf(t).join(', ')} FROM ${t.ident} WHERE pw_name = ?${t.where}`, [textOfBytes(user), ...t.params]);
          const row = r.rows[0];
          // MySQL's case-insensitive collations match `Alice` for `alice`: only the exact name counts.
          return row === undefined || bytesOfText(row.pw_name) !== user ? undefined : entryOf(row);
        },
        { missing: () => undefined, missingColumn: forgetClear(t) },
      );
    },

    async addUser(domain, entry) {
      const info = domainOrThrow(domain);
      const prepared = prepareEntry(entry, config);
      const t = usersTable(info.domain);
      try {
        await link.use((c) => c.run(insertUsersSql(t, 1), insertUsersParams(t, prepared)), { write: true, create: createUsersTable(t), missingColumn: forgetClear(t) });
      } catch (err) {
        if (err instanceof SqlConstraintError && err.kind === 'duplicate') throw new VpopmailError(VA.USERNAME_EXISTS);
        throw err;
      }
    },

    async setUser(domain, entry) {
      const info = domainOrThrow(domain);
      const prepared = prepareEntry(entry, config);
      const t = usersTable(info.domain);
      const affected = await link.use(
        async (c) => {
          const sets = columnsOf(t).slice(1).map((col) => `${col} = ?`);
          const values = valuesOf(t, prepared);
          const r = await c.run(`UPDATE ${t.ident} SET ${sets.join(', ')} WHERE pw_name = ?${t.where}`, [...values.slice(1), values[0]!, ...t.params]);
          return r.affected;
        },
        { write: true, missing: () => 0, missingColumn: forgetClear(t) },
      );
      if (affected === 0) throw new VpopmailError(VA.USER_DOES_NOT_EXIST);
    },

    async delUser(domain, user) {
      const info = domainOrThrow(domain);
      const t = usersTable(info.domain);
      const affected = await link.use(async (c) => (await c.run(`DELETE FROM ${t.ident} WHERE pw_name = ?${t.where}`, [textOfBytes(user), ...t.params])).affected, {
        write: true,
        missing: () => 0,
      });
      if (affected === 0) throw new VpopmailError(VA.USER_DOES_NOT_EXIST);
      await quietly(`DELETE FROM lastauth WHERE ${laUser} = ? AND domain = ?`, [textOfBytes(user), textOfBytes(info.domain)]);
    },

    async *listUsers(domain): AsyncGenerator<VpasswdEntry> {
      const info = domainOrThrow(domain);
      const t = usersTable(info.domain);
      const where = layout.manyDomains ? ' WHERE pw_domain = ?' : '';
      for (let attempt = 0; ; attempt++) {
        try {
          const cols = columnsOf(t);
          for await (const row of listing.stream(`SELECT ${cols.join(', ')} FROM ${t.ident}${where} ORDER BY ${driver.byteOrder('pw_name')}`, t.params)) yield entryOf(row);
          return;
        } catch (err) {
          // A table without pw_clear_passwd fails before the first row: list again without it.
          if (attempt === 0 && hasClear(t) && driver.classify((err as Error).cause) === 'missing-column') {
            noClearColumn.add(t.name);
            continue;
          }
          throw err;
        }
      }
    },

    async countUsers(domain) {
      const info = domainOrThrow(domain);
      const t = usersTable(info.domain);
      const where = layout.manyDomains ? ' WHERE pw_domain = ?' : '';
      return read(
        () => 0,
        async (c) => intOf((await c.run(`SELECT COUNT(*) AS n FROM ${t.ident}${where}`, t.params)).rows[0]?.n),
      );
    },

    async replaceUsers(domain, entries) {
      const info = domainOrThrow(domain);
      const t = usersTable(info.domain);
      if (!layout.manyDomains) checkTableCollision(info.domain, t.name);
      await link.use(createUsersTable(t), { write: true });
      return link.use(
        (c) =>
          inTransaction(driver, c, async () => {
            await c.run(`DELETE FROM ${t.ident}${layout.manyDomains ? ' WHERE pw_domain = ?' : ''}`, t.params);
            let batch: SqlValue[] = [];
            let rows = 0;
            let total = 0;
            const flush = async () => {
              if (rows === 0) return;
              await c.run(insertUsersSql(t, rows), batch);
              batch = [];
              rows = 0;
            };
            for await (const entry of entries) {
              batch.push(...insertUsersParams(t, prepareEntry(entry, config)));
              rows++;
              total++;
              if (rows === INSERT_BATCH) await flush();
            }
            await flush();
            return total;
          }),
        { write: true, replayable: false },
      );
    },

    async setLastauth(domain, user: LastauthUser, ip, timeSec) {
      await write(['lastauth'], (c) =>
        c.run(driver.upsertSql('lastauth', [laUser, 'domain', 'remote_ip', 'timestamp'], [laUser, 'domain']), [textOfBytes(user.name), textOfBytes(keyDomain(domain)), textOfBytes(ip), timeSec]),
      );
    },

    async getLastauth(domain, user: LastauthUser): Promise<Lastauth | undefined> {
      return read(
        () => undefined,
        async (c) => {
          const r = await c.run(`SELECT remote_ip, timestamp FROM lastauth WHERE ${laUser} = ? AND domain = ?`, [textOfBytes(user.name), textOfBytes(keyDomain(domain))]);
          const row = r.rows[0];
          return row === undefined ? undefined : { ip: bytesOfText(row.remote_ip), timeSec: intOf(row.timestamp) };
        },
      );
    },

    async openRelay(ip, timeSec, rebuild) {
      if (!isRelayIp(ip)) throw new PermError(`refusing relay entry for ${JSON.stringify(ip)}: not an IP address`);
      return withRelayLock(async (c) => {
        const isNew = await inTransaction(driver, c, async () => {
          const found = await c.run('SELECT ip_addr FROM relay WHERE ip_addr = ?', [ip]);
          await c.run(driver.upsertSql('relay', ['ip_addr', 'timestamp'], ['ip_addr']), [ip, timeSec]);
          return found.rows.length === 0;
        });
        if (rebuild !== undefined) rebuild(isNew, await relayRulesOn(c));
        return isNew;
      });
    },

    async expireRelay(nowSec, maxAgeSec, rebuild?: RelayRebuild) {
      return withRelayLock(async (c) => {
        const r = await c.run('DELETE FROM relay WHERE timestamp <= ?', [nowSec - maxAgeSec]);
        if (rebuild !== undefined) rebuild(await relayRulesOn(c));
        return r.affected;
      });
    },

    async relayRules() {
      return read(() => [], relayRulesOn);
    },

    async getIpMap(ip) {
      if (ip === '') return undefined;
      const candidates = ipAliasCandidates(ip);
      return read(
        () => undefined,
        async (c) => {
          const r = await c.run(`SELECT ip_addr, domain FROM ip_alias_map WHERE ip_addr IN (${candidates.map(() => '?').join(', ')})`, candidates.map(textOfBytes));
          for (const cand of candidates) {
            const row = r.rows.find((x) => bytesOfText(x.ip_addr) === cand);
            if (row !== undefined) return bytesOfText(row.domain);
          }
          return undefined;
        },
      );
    },

    async addIpMap(ip, domain) {
      checkMapToken('IP', ip);
      checkMapToken('domain', domain);
      await write(['ip_alias_map'], (c) => c.run(driver.upsertSql('ip_alias_map', ['ip_addr', 'domain'], ['ip_addr']), [textOfBytes(ip), textOfBytes(domain)]));
    },

    async delIpMap(ip, domain) {
      checkMapToken('IP', ip);
      checkMapToken('domain', domain);
      return link.use(async (c) => (await c.run('DELETE FROM ip_alias_map WHERE ip_addr = ? AND domain = ?', [textOfBytes(ip), textOfBytes(domain)])).affected > 0, {
        write: true,
        missing: () => false,
      });
    },

    async *listIpMap(): AsyncGenerator<IpAlias> {
      for await (const row of listing.stream(`SELECT ip_addr, domain FROM ip_alias_map ORDER BY ${driver.byteOrder('ip_addr')}`, [])) {
        yield { ip: bytesOfText(row.ip_addr), domain: bytesOfText(row.domain) };
      }
    },

    async getLimits(domain) {
      const info = realDomain(domain);
      if (info === undefined) return undefined;
      if (!layout.limitsInTable) return readLimitsFile(domainLimitsPath(info.dir));
      return read(
        () => undefined,
        async (c) => {
          const row = (await c.run(`SELECT ${limitsColumns.join(', ')} FROM limits WHERE domain = ?`, [textOfBytes(info.domain)])).rows[0];
          return row === undefined ? undefined : limitsOf(row);
        },
      );
    },

    async setLimits(domain, limits) {
      const info = domainOrThrow(domain);
      if (!layout.limitsInTable) {
        writeLimitsFile(domainLimitsPath(info.dir), limits, { owner: { uid: info.uid, gid: info.gid } });
        return;
      }
      await write(['limits'], (c) => c.run(driver.upsertSql('limits', ['domain', ...limitsColumns], ['domain']), limitsValues(info.domain, limits)));
    },

    async delLimits(domain) {
      const info = realDomain(domain);
      if (info === undefined) return;
      if (!layout.limitsInTable) deleteLimitsFile(domainLimitsPath(info.dir));
      else await quietly('DELETE FROM limits WHERE domain = ?', [textOfBytes(info.domain)]);
    },

    async getDirControl(key) {
      const row = dirControlRow(key, false);
      if (row === undefined) return undefined;
      return read(
        () => undefined,
        async (c) => {
          const r = (await c.run(dirControlSelect, [textOfBytes(row)])).rows[0];
          return r === undefined ? undefined : dirControlOf(r);
        },
      );
    },

    async setDirControl(key, state) {
      const row = dirControlRow(key, true)!;
      await write(['dir_control'], (c) => c.run(dirControlUpsert, dirControlValues(row, state)));
    },

    async delDirControl(key) {
      const row = dirControlRow(key, false);
      if (row !== undefined) await quietly('DELETE FROM dir_control WHERE domain = ?', [textOfBytes(row)]);
    },

    async updateDirControl(key, update) {
      const row = dirControlRow(key, true)!;
      // The missing row is inserted first so that FOR UPDATE has a row to lock: concurrent updaters
      // (other processes) queue on it instead of both reading "none" (C takes no lock at all).
      return write(['dir_control'], (c) =>
        inTransaction(driver, c, async () => {
          await c.run(driver.insertIfMissingSql('dir_control', ['domain', ...DIR_CONTROL_COLUMNS], ['domain']), dirControlValues(row, INITIAL_DIR_CONTROL));
          const current = (await c.run(`${dirControlSelect} FOR UPDATE`, [textOfBytes(row)])).rows[0];
          const { state, result } = update(current === undefined ? INITIAL_DIR_CONTROL : dirControlOf(current));
          await c.run(dirControlUpsert, dirControlValues(row, state));
          return result;
        }),
      );
    },

    async getValias(domain, alias) {
      const d = keyDomain(domain);
      return link.use(
        async (c) => {
          const r = await c.run(`SELECT valias_line FROM valias WHERE alias = ? AND domain = ?${valiasHasId ? ' ORDER BY id' : ''}`, [textOfBytes(alias), textOfBytes(d)]);
          return r.rows.length === 0 ? undefined : r.rows.map((x) => bytesOfText(x.valias_line));
        },
        { missing: () => undefined, missingColumn: () => (valiasHasId ? ((valiasHasId = false), true) : false) },
      );
    },

    async *listValias(domain): AsyncGenerator<ValiasLine> {
      const d = keyDomain(domain);
      for (let attempt = 0; ; attempt++) {
        try {
          const order = `${driver.byteOrder('alias')}${valiasHasId ? ', id' : ''}`;
          for await (const row of listing.stream(`SELECT alias, valias_line FROM valias WHERE domain = ? ORDER BY ${order}`, [textOfBytes(d)])) {
            yield { alias: bytesOfText(row.alias), line: bytesOfText(row.valias_line) };
          }
          return;
        } catch (err) {
          if (attempt === 0 && valiasHasId && driver.classify((err as Error).cause) === 'missing-column') {
            valiasHasId = false;
            continue;
          }
          throw err;
        }
      }
    },

    async addValiasLine(domain, alias, line) {
      // C strips leading spaces of the line before storing it.
      const stored = line.replace(/^ +/, '');
      if (stored === '' || stored.includes('\n')) throw new PermError('invalid valias line: empty or holding a newline');
      await write(['valias'], (c) => c.run('INSERT INTO valias (alias, domain, valias_line) VALUES (?, ?, ?)', [textOfBytes(alias), textOfBytes(keyDomain(domain)), textOfBytes(stored)]));
    },

    async delValiasLine(domain, alias, line) {
      const d = keyDomain(domain);
      // Exact match (D12). MySQL compares text case- and trailing-space-insensitively, so the rows
      // are compared here and deleted by id; a legacy table without id falls back to the server's `=`.
      return link.use(
        async (c) => {
          if (!valiasHasId) return (await c.run('DELETE FROM valias WHERE alias = ? AND domain = ? AND valias_line = ?', [textOfBytes(alias), textOfBytes(d), textOfBytes(line)])).affected > 0;
          const r = await c.run('SELECT id, valias_line FROM valias WHERE alias = ? AND domain = ?', [textOfBytes(alias), textOfBytes(d)]);
          const ids = r.rows.filter((x) => bytesOfText(x.valias_line) === line).map((x) => intOf(x.id));
          if (ids.length === 0) return false;
          await c.run(`DELETE FROM valias WHERE id IN (${ids.map(() => '?').join(', ')})`, ids);
          return true;
        },
        { write: true, missing: () => false, missingColumn: () => (valiasHasId ? ((valiasHasId = false), true) : false) },
      );
    },

    async delValias(domain, alias) {
      return link.use(async (c) => (await c.run('DELETE FROM valias WHERE alias = ? AND domain = ?', [textOfBytes(alias), textOfBytes(keyDomain(domain))])).affected > 0, {
        write: true,
        missing: () => false,
      });
    },

    async close() {
      await Promise.all([link.close(), listing.close()]);
    },
  };
  return backend;
}
