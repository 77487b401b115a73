// State for vpopmaild tests, made through the store and backend layers (real files, no mocks).
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../../lib/backends/backend.ts';
import { addAssignDomain, formatAssignLine, insertAssignLine } from '../../lib/store/assign.ts';
import type { VpasswdEntry } from '../../lib/store/vpasswd.ts';
import type { DaemonContext, HandlerContext, LoginState, OutputMode } from '../../lib/daemon/context.ts';
import { LEVEL } from '../../lib/daemon/context.ts';
import type { TempHome } from './harness.ts';

export const UID = process.getuid?.() ?? 89;
export const GID = process.getgid?.() ?? 89;

/** A real domain: its directory, the assign line and users/cdb. Returns the directory. */
export function makeDomain(home: TempHome, domain: string): string {
  const dir = join(home.config.domainsDir, domain);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  addAssignDomain(home.qmailHome, { name: domain, domain, uid: UID, gid: GID, dir });
  return dir;
}

/** An alias domain of `real` (assign line only, as vaddaliasdomain writes it). */
export function makeAliasDomain(home: TempHome, alias: string, real: string): void {
  insertAssignLine(home.qmailHome, formatAssignLine({ name: alias, domain: real, uid: UID, gid: GID, dir: join(home.config.domainsDir, real) }));
}

export interface AccountSpec {
  readonly passwd?: string;
  readonly gid?: number;
  readonly quota?: string;
  readonly clear?: string;
  readonly gecos?: string;
}

/** An account with its home and Maildir. */
export async function makeAccount(home: TempHome, backend: Backend, domain: string, user: string, spec: AccountSpec = {}): Promise<VpasswdEntry> {
  const dir = join(home.config.domainsDir, domain, user);
  for (const d of ['new', 'cur', 'tmp']) mkdirSync(join(dir, 'Maildir', d), { recursive: true, mode: 0o700 });
  const entry: VpasswdEntry = {
    name: user,
    passwd: spec.passwd ?? '$6$notset$x',
    uid: 1,
    gid: spec.gid ?? 0,
    gecos: spec.gecos ?? user,
    dir,
    quota: spec.quota ?? 'NOQUOTA',
    clear: spec.clear ?? '',
  };
  await backend.addUser(domain, entry);
  return entry;
}

/**
 * A handler context for calling lib/daemon functions directly with a given login (path resolution
 * tests). Data blocks and intermediate replies are not available through it.
 */
export function handlerContext(daemon: DaemonContext, login: LoginState | undefined): HandlerContext {
  const unavailable = () => {
    throw new Error('not available in a direct handler context');
  };
  return {
    daemon,
    conn: 'test',
    remoteIp: '127.0.0.1',
    localIp: '127.0.0.1',
    login,
    setLogin: unavailable,
    noteLoginFailure: unavailable,
    send: unavailable,
    sendRaw: unavailable,
    readBlock: unavailable,
    log: () => undefined,
  };
}

/** The login state a session has after logging in as this account. */
export function loginAs(home: TempHome, domain: string, entry: VpasswdEntry, mode: OutputMode = 'verbose'): LoginState {
  let level: LoginState['level'] = LEVEL.user;
  if ((entry.gid & 0x10000) !== 0) level = LEVEL.systemAdmin;
  else if ((entry.gid & 0x1000) !== 0 || entry.name === 'postmaster') level = LEVEL.domainAdmin;
  return {
    level,
    mode,
    user: entry.name,
    domain,
    domainDir: join(home.config.domainsDir, domain),
    domainUid: UID,
    domainGid: GID,
    homeDir: entry.dir,
    gid: level === LEVEL.domainAdmin ? entry.gid | 0x1000 : entry.gid,
  };
}

/** A SHA-512 crypt hash made by a real peer, openssl passwd -6 (its salt is random). */
export function sha512Crypt(password: string): string {
  return execFileSync('openssl', ['passwd', '-6', '-stdin'], { input: `${password}\n`, encoding: 'latin1' }).trim();
}

export interface World {
  readonly home: TempHome;
  readonly backend: Backend;
  readonly daemon: DaemonContext;
  readonly dirs: Readonly<Record<string, string>>;
}

/** Who logs in as what in the standard world, and the passwords (all `<name>-pw`). */
export const PEOPLE = {
  admin: 'admin@example.com', // SA_ADMIN
  postmaster: 'postmaster@example.com', // domain admin by name
  qa: 'qa@example.com', // QA_ADMIN
  qaover: 'qaover@example.com', // QA_ADMIN | V_OVERRIDE
  bob: 'bob@example.com',
  bobby: 'bobby@example.com',
  carol: 'carol@other.org',
  opm: 'postmaster@other.org',
} as const;

export function passwordOf(address: string): string {
  return `${address.split('@')[0]}-pw`;
}

/** The 19 flag names Net_Vpopmaild's modUser sends, in its order, each with 0 or 1. */
export const NET_VPOPMAILD_FLAGS = [
  'no_password_change', 'no_pop', 'no_webmail', 'no_imap', 'no_smtp', 'bounce_mail', 'no_relay', 'no_dialup',
  'user_flag_0', 'user_flag_1', 'user_flag_2', 'user_flag_3', 'system_admin_privileges', 'system_expert_privileges',
  'domain_admin_privileges', 'override_domain_limits', 'no_spamassassin', 'no_maildrop', 'delete_spam',
] as const;
