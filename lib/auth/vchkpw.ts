// vchkpw's decision: who is logging in, to what, and whether they may (spec/vchkpw.md §4–§5).
// The side effects of a good login (lastauth, roaming relay) happen here too, before privileges drop.
import { existsSync } from 'node:fs';
import { accountsContext } from '../accounts/context.ts';
import { defaultDomainOf } from '../accounts/default-domain.ts';
import { hasDomainChars, hasUserChars, isSafeUserName, splitAddress } from '../address.ts';
import type { AgentIo } from '../cli/agent.ts';
import type { Config } from '../config.ts';
import { hashPassword, verifyApop, verifyCramMd5, verifyPassword } from '../crypt/index.ts';
import { TempError, VCHKPW_EXIT, firstLine } from '../exit.ts';
import { logEvent, type LogFields } from '../log.ts';
import { rebuildTcpRules } from '../relay/tcprules.ts';
import { lookupAssignDomain, usersCdbPath, type AssignResolver } from '../store/assign.ts';
import { PW_FLAG, userFlags, type Backend, type VpasswdEntry } from '../backends/backend.ts';
import type { CheckpasswordInput } from './checkpassword.ts';
import { upgradeHashAfterLogin } from './hash-upgrade.ts';
import type { Connection } from './connection.ts';

/** A $6$ hash of nothing anyone types: unknown users pay the same crypt as known ones (timing). */
const DUMMY_HASH = '$6$vpopmailtsdummy$iPkWQihdUEuQfgOeUdxcvqaQzr5CrPjzEHGuoQufpUf9hqldRx6IQfQwYh3mYIepOfydIhSAwpFqnkq1soByh/';

export interface LoginAccount {
  readonly user: string;
  /** The real domain (alias domains resolved). */
  readonly domain: string;
  readonly entry: VpasswdEntry;
  /** The domain's owner from users/assign: the session runs as these ids. */
  readonly uid: number;
  readonly gid: number;
  /** The domain directory (users/assign): a recreated home must stay below it. */
  readonly domainDir: string;
  /** The login as received, lower-cased (VPOPUSER). */
  readonly login: string;
  readonly auth: 'PLAIN' | 'CRAM-MD5' | 'APOP';
}

export type Decision =
  | { readonly kind: 'refuse'; readonly code: number }
  | { readonly kind: 'accept'; readonly account: LoginAccount };

export interface AuthenticateDeps {
  readonly config: Config;
  readonly backend: Backend;
  readonly env: NodeJS.ProcessEnv;
  readonly io: AgentIo;
  readonly nowSec: number;
  /** users/cdb by domain name; default lookupAssignDomain. The agent passes the one its backend uses. */
  readonly resolveDomain?: AssignResolver;
}

function log(deps: AuthenticateDeps, conn: Connection, outcome: string, fields: LogFields = {}): void {
  logEvent(deps.io, conn.logName, outcome, { ip: conn.remoteIp, service: conn.service, ...fields });
}

/**
 * Decide a login. Never throws for the client's mistakes (those are refusals with C's codes); an
 * unreadable store or a database outage throws TempError, which the agent turns into 111.
 */
export async function authenticate(input: CheckpasswordInput, conn: Connection, deps: AuthenticateDeps): Promise<Decision> {
  const { config, backend } = deps;
  const refuse = (code: number): Decision => ({ kind: 'refuse', code });
  const login = input.login.toLowerCase();
  if (login === '') {
    log(deps, conn, 'null user name given', { reason: 'null user' });
    return refuse(VCHKPW_EXIT.nullUser);
  }
  const parts = splitAddress(login);
  const user = parts.user;
  if (input.secret === '') {
    log(deps, conn, 'null password given', { user, domain: parts.domain, reason: 'null password' });
    return refuse(VCHKPW_EXIT.nullPassword);
  }
  if (!hasUserChars(user) || !hasDomainChars(parts.domain)) {
    log(deps, conn, 'login refused', { reason: 'invalid user/domain characters', len: login.length });
    return refuse(VCHKPW_EXIT.badChars);
  }
  // The client's bytes, exactly: fd 3 was read as latin1, one char per byte.
  const secret = Buffer.from(input.secret, 'latin1');
  const domainGiven = parts.domain === '' ? await defaultDomainOf(config, backend, deps.env) : parts.domain;
  const notFound = (): Decision => {
    verifyPassword(secret, DUMMY_HASH); // the same work as a wrong password, so timing hides who exists
    log(deps, conn, 'login failed', { user, domain: domainGiven, reason: 'no such user' });
    return refuse(VCHKPW_EXIT.badLogin);
  };
  // `../x`, `.hidden`, `a/b`: C looks these up (and `/` can walk out of the domain); no account has such a name.
  if (!isSafeUserName(user) || domainGiven === '') return notFound();
  const assign = deps.resolveDomain === undefined ? lookupAssignDomain(config.qmailHome, domainGiven) : deps.resolveDomain(domainGiven);
  // No users/cdb at all is a broken install, not a wrong password: "try later" (doubt is 111).
  if (assign === undefined && !existsSync(usersCdbPath(config.qmailHome))) throw new TempError(`unable to read ${usersCdbPath(config.qmailHome)}: ENOENT`);
  if (assign === undefined) return notFound();
  const domain = assign.domain;
  const entry = await backend.getUser(domain, user);
  if (entry === undefined) return notFound();

  let auth: LoginAccount['auth'] = 'PLAIN';
  const clear = config.clearPasswords ? (entry.clear ?? '') : '';
  if (clear !== '' && conn.service === 'smtp' && verifyCramMd5(Buffer.from(clear, 'latin1'), Buffer.from(input.challenge, 'latin1'), input.secret)) auth = 'CRAM-MD5';
  else if (clear !== '' && conn.service === 'pop' && verifyApop(Buffer.from(clear, 'latin1'), Buffer.from(input.challenge, 'latin1'), input.secret)) auth = 'APOP';

  let current = entry;
  if (current.passwd === '') {
    if (!config.learnPasswords) {
      log(deps, conn, 'login failed', { user, domain, reason: 'user has no password' });
      return refuse(VCHKPW_EXIT.noStoredPassword);
    }
    current = { ...current, passwd: hashPassword(secret, config.hashScheme), ...(config.clearPasswords ? { clear: input.secret } : {}) };
    await backend.setUser(domain, current);
    log(deps, conn, 'password learned', { user, domain });
  }
  if (auth === 'PLAIN' && !verifyPassword(secret, current.passwd)) {
    log(deps, conn, 'login failed', { user, domain, reason: 'password' });
    return refuse(VCHKPW_EXIT.badLogin);
  }
  if (auth === 'PLAIN' && config.learnPasswords && config.clearPasswords && (current.clear ?? '') === '') {
    current = { ...current, clear: input.secret };
    await backend.setUser(domain, current);
  }

  const flags = await userFlags(backend, config, domain, current);
  const denied =
    (conn.service === 'pop' && flags & PW_FLAG.NO_POP) ||
    (conn.service === 'smtp' && flags & PW_FLAG.NO_SMTP) ||
    (conn.service === 'webmail' && flags & PW_FLAG.NO_WEBMAIL) ||
    (conn.service === 'imap' && flags & PW_FLAG.NO_IMAP);
  if (denied) {
    log(deps, conn, `${conn.service} access denied`, { user, domain });
    return refuse(VCHKPW_EXIT.denied);
  }

  if (auth === 'PLAIN' && config.upgradeHashOnLogin) {
    await ignoreFailure(deps, conn, 'hash upgrade failed', { user, domain }, async () => {
      // hash-upgrade.ts: only weaker kinds, never a DES hash from a longer typed password, and never
      // over a password changed since we read the record
      const r = await upgradeHashAfterLogin(accountsContext(config, backend, ''), domain, current, secret);
      if (r.outcome === 'upgraded') log(deps, conn, 'password hash upgraded', { user, domain });
    });
  }
  if (config.logLevel === 'y' || config.logLevel === 'v') log(deps, conn, 'login success', { user, domain, auth });

  if (config.authLogging) {
    await ignoreFailure(deps, conn, 'lastauth not written', { user, domain }, () => backend.setLastauth(domain, current, conn.remoteIp, deps.nowSec));
  }
  if (config.roamingUsers && conn.service !== 'smtp' && !(flags & PW_FLAG.NO_RELAY) && conn.remoteIp !== '') {
    await ignoreFailure(deps, conn, 'relay not opened', { user, domain }, async () => {
      await backend.openRelay(conn.remoteIp, deps.nowSec, (isNew, rules) => {
        if (!isNew || !config.rebuildTcpserverFile) return;
        const r = rebuildTcpRules(config, rules);
        if (!r.ok) log(deps, conn, 'relay rules not rebuilt', { reason: r.warning });
      });
    });
  }
  return { kind: 'accept', account: { user, domain, entry: current, uid: assign.uid, gid: assign.gid, domainDir: assign.dir, login, auth } };
}

/** C ignores lastauth and relay failures; so do we, but we say so in the log. */
async function ignoreFailure(deps: AuthenticateDeps, conn: Connection, outcome: string, fields: LogFields, fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    log(deps, conn, outcome, { ...fields, reason: firstLine(err) });
  }
}

