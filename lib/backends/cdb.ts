// The cdb ("file") backend: users in <dom>/vpasswd + vpasswd.cdb, lastauth in the user's home,
// relay in ~vpopmail/etc/open-smtp, the ip map in ~vpopmail/etc/ip_alias_map, limits in
// <dom>/.qmailadmin-limits and the allocator state in .dir-control files. Sync work inside async methods.
import { join } from 'node:path';
import type { Config } from '../config.ts';
import { PermError, VA, VpopmailError } from '../exit.ts';
import { durableFor, type Durable } from '../fs/durable.ts';
import { lookupAssignDomain } from '../store/assign.ts';
import {
  INITIAL_DIR_CONTROL,
  deleteDirControlFile,
  dirControlPath,
  readDirControlFile,
  writeDirControlFile,
  type DirControlState,
} from '../store/dir-control.ts';
import { addIpAlias, deleteIpAlias, ipAliasMapPath, lookupIpAlias, readIpAliasMap, type IpAlias } from '../store/ip-map.ts';
import { readLastauth, writeLastauth, type Lastauth } from '../store/lastauth.ts';
import { deleteLimitsFile, domainLimitsPath, readLimitsFile, writeLimitsFile, type DomainLimits } from '../store/limits.ts';
import { withLock } from '../store/lock.ts';
import { expireOpenSmtp, openSmtpPath, readOpenSmtpLines, ruleOfOpenSmtpLine, touchOpenSmtp } from '../store/open-smtp.ts';
import {
  VPASSWD_LOCK_FILE,
  addVpasswdEntry,
  deleteVpasswdEntry,
  iterateVpasswd,
  modifyVpasswdEntry,
  readVpasswdEntry,
  type VpasswdEntry,
} from '../store/vpasswd.ts';
import { prepareEntry, type Backend, type DirControlKey, type LastauthUser, type RelayRebuild, type ValiasLine } from './backend.ts';

/** A domain as users/assign gives it: the real domain, its owner and its directory. */
export interface DomainInfo {
  readonly domain: string;
  readonly uid: number;
  readonly gid: number;
  readonly dir: string;
}

export interface CdbBackendOptions {
  /** Default: durableFor(config) (the crash-test fault switch). */
  readonly durable?: Durable;
  /** Domain look-up; default C's vget_assign through users/cdb (lib/store/assign.ts). */
  readonly resolveDomain?: (domain: string) => DomainInfo | undefined;
  /** What a look-up does without vpasswd.cdb: read vpasswd (default) or rebuild it first, as C. */
  readonly missingCdb?: 'scan' | 'rebuild';
  readonly lockTimeoutMs?: number;
}

function noValias(): never {
  throw new PermError('the cdb backend has no valias table: aliases are .qmail-<alias> files');
}

export function createCdbBackend(config: Config, options: CdbBackendOptions = {}): Backend {
  const durable = options.durable ?? durableFor(config);
  const resolve = options.resolveDomain ?? ((domain: string) => lookupAssignDomain(config.qmailHome, domain));
  const lockTimeout = options.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: options.lockTimeoutMs };

  const domainOrThrow = (domain: string): DomainInfo => {
    const info = resolve(domain);
    if (info === undefined) throw new VpopmailError(VA.DOMAIN_DOES_NOT_EXIST);
    return info;
  };
  const writeOptions = (info: DomainInfo) => ({ durable, owner: { uid: info.uid, gid: info.gid }, ...lockTimeout });
  const owner = (info: DomainInfo) => ({ uid: info.uid, gid: info.gid });

  /** The file of a dir-control key and who owns it. */
  const dirControlTarget = (key: DirControlKey): { path: string; owner: { uid: number; gid: number }; lockDir?: string } => {
    if ('domain' in key) {
      const info = domainOrThrow(key.domain);
      return { path: dirControlPath(info.dir), owner: owner(info), lockDir: info.dir };
    }
    return { path: dirControlPath(key.domainsDir), owner: { uid: key.uid, gid: key.gid } };
  };

  const etc = config.etcDir;
  const rulesOf = (lines: readonly string[]) => lines.map(ruleOfOpenSmtpLine);

  return {
    name: 'cdb',
    hasValiasTable: false,

    async addDomain() {},
    async delDomain() {},
    async addAliasDomain() {},
    async delAliasDomain() {},

    async getUser(domain, user) {
      const info = resolve(domain);
      if (info === undefined) return undefined;
      return readVpasswdEntry(info.dir, user, { missingCdb: options.missingCdb ?? 'scan', write: writeOptions(info) });
    },

    async addUser(domain, entry) {
      const info = domainOrThrow(domain);
      addVpasswdEntry(info.dir, prepareEntry(entry, config), writeOptions(info));
    },

    async setUser(domain, entry) {
      const info = domainOrThrow(domain);
      if (!modifyVpasswdEntry(info.dir, prepareEntry(entry, config), writeOptions(info))) {
        throw new VpopmailError(VA.USER_DOES_NOT_EXIST);
      }
    },

    async delUser(domain, user) {
      const info = domainOrThrow(domain);
      if (!deleteVpasswdEntry(info.dir, user, writeOptions(info))) throw new VpopmailError(VA.USER_DOES_NOT_EXIST);
    },

    async *listUsers(domain): AsyncGenerator<VpasswdEntry> {
      const info = domainOrThrow(domain);
      yield* iterateVpasswd(info.dir);
    },

    async setLastauth(domain, user: LastauthUser, ip, timeSec) {
      const info = resolve(domain);
      writeLastauth(user.dir, ip, timeSec, info === undefined ? { durable } : { durable, owner: owner(info) });
    },

    async getLastauth(_domain, user: LastauthUser): Promise<Lastauth | undefined> {
      return readLastauth(user.dir);
    },

    async openRelay(ip, timeSec, rebuild) {
      return touchOpenSmtp(etc, ip, timeSec, {
        durable,
        ...lockTimeout,
        ...(rebuild === undefined ? {} : { whileLocked: (isNew: boolean, lines: readonly string[]) => rebuild(isNew, rulesOf(lines)) }),
      });
    },

    async expireRelay(nowSec, maxAgeSec, rebuild?: RelayRebuild) {
      return expireOpenSmtp(etc, nowSec, maxAgeSec, {
        durable,
        owner: { uid: config.vpopmailUid, gid: config.vpopmailGid }, // clearopensmtp gives it to vpopmail, as C
        ...lockTimeout,
        ...(rebuild === undefined ? {} : { whileLocked: (lines: readonly string[]) => rebuild(rulesOf(lines)) }),
      });
    },

    async relayRules() {
      return rulesOf(readOpenSmtpLines(openSmtpPath(etc)));
    },

    async getIpMap(ip) {
      return lookupIpAlias(ipAliasMapPath(etc), ip);
    },
    async addIpMap(ip, domain) {
      addIpAlias(ipAliasMapPath(etc), ip, domain, { durable });
    },
    async delIpMap(ip, domain) {
      return deleteIpAlias(ipAliasMapPath(etc), ip, domain, { durable });
    },
    async *listIpMap(): AsyncGenerator<IpAlias> {
      yield* readIpAliasMap(ipAliasMapPath(etc));
    },

    async getLimits(domain): Promise<DomainLimits | undefined> {
      const info = resolve(domain);
      return info === undefined ? undefined : readLimitsFile(domainLimitsPath(info.dir));
    },
    async setLimits(domain, limits) {
      const info = domainOrThrow(domain);
      writeLimitsFile(domainLimitsPath(info.dir), limits, { durable, owner: owner(info) });
    },
    async delLimits(domain) {
      const info = resolve(domain);
      if (info !== undefined) deleteLimitsFile(domainLimitsPath(info.dir));
    },

    async getDirControl(key) {
      return readDirControlFile(dirControlTarget(key).path);
    },
    async setDirControl(key, state) {
      const target = dirControlTarget(key);
      writeDirControlFile(target.path, state, { durable, owner: target.owner });
    },
    async delDirControl(key) {
      if ('domain' in key) {
        const info = resolve(key.domain);
        if (info === undefined) return;
      }
      deleteDirControlFile(dirControlTarget(key).path);
    },
    async updateDirControl<T>(key: DirControlKey, update: (state: DirControlState) => { readonly state: DirControlState; readonly result: T }) {
      const target = dirControlTarget(key);
      const step = (): T => {
        const { state, result } = update(readDirControlFile(target.path) ?? INITIAL_DIR_CONTROL);
        writeDirControlFile(target.path, state, { durable, owner: target.owner });
        return result;
      };
      // A domain's counter is updated under .vpasswd.lock, which every user change holds anyway, so
      // concurrent adds cannot lose an increment (C takes no lock). The domains counter has no lock
      // file of its own in C's tree, and we add none.
      if (target.lockDir === undefined) return step();
      return withLock(join(target.lockDir, VPASSWD_LOCK_FILE), step, {
        owner: target.owner,
        ...(options.lockTimeoutMs === undefined ? {} : { timeoutMs: options.lockTimeoutMs }),
      });
    },

    async getValias(): Promise<string[] | undefined> {
      noValias();
    },
    // eslint-disable-next-line require-yield
    async *listValias(): AsyncGenerator<ValiasLine> {
      noValias();
    },
    async addValiasLine() {
      noValias();
    },
    async delValiasLine(): Promise<boolean> {
      noValias();
    },
    async delValias(): Promise<boolean> {
      noValias();
    },

    async close() {},
  };
}
