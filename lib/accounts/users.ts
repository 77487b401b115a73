// Mailboxes: add (vadduser), delete (vdeluser), modify (vmoduser, vpasswd, vsetuserquota), in
// C's order of checks and effects, with everything validated before anything is touched, the
// domain's operation lock held throughout, and a failure half-way undone.
import { existsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { userFlags, type Backend } from '../backends/backend.ts';
import { hashPassword } from '../crypt/index.ts';
import { PermError, VA, VpopmailError, firstLine } from '../exit.ts';
import { fsyncDirSync } from '../fs/durable.ts';
import { makeUserDir } from '../maildir/make.ts';
import { recalculateMaildirsize, removeMaildirsize } from '../maildir/maildirsize.ts';
import { NOQUOTA, QUOTA_MAX_LENGTH, defaultUserQuota } from '../quota.ts';
import {
  allocateBucket,
  bucketOfUserDir,
  countBackfill,
  DIR_CONTROL_FREE_FILE,
  recordFreeBucket,
  releaseBucket,
  takeFreeBucket,
} from '../store/dir-control.ts';
import { NEVER_LOGGED_IN_IP } from '../store/lastauth.ts';
import { PW_FLAG, resolveLimits } from '../store/limits.ts';
import type { VpasswdEntry } from '../store/vpasswd.ts';
import { storeOptions, toByteString, type AccountsContext } from './context.ts';
import { isBareUserDir } from './dirs.ts';
import { ownerOf, requireDomain, type DomainRef } from './lookup.ts';
import { checkGecos, checkNewUserName } from './names.ts';
import { withOperationLocks } from './op-lock.ts';
import { checkPasswordPolicy, loadPasswordPolicy } from './password-policy.ts';
import { isCatchAllAccount, readQmailDefaultLine } from './qmail-default.ts';
import { removeTreeBelow, type RemoveOutcome } from './remove-tree.ts';
import { UndoLog, withUndoNotes } from './undo.ts';

/** C refuses clear passwords longer than this ("password too long (max=128)"). */
export const MAX_PASSWORD_LENGTH = 128;
/** C's limit on pw_dir. */
export const MAX_DIR_LENGTH = 160;

/** How a new or changed password arrives: clear text to hash, or a hash to store as it is. */
export type PasswordInput = { readonly clear: string } | { readonly hash: string };

export interface AddUserRequest {
  /** The domain as given: an alias domain adds to its real domain, as in C. */
  readonly domain: string;
  /** Lower case. */
  readonly user: string;
  readonly password: PasswordInput;
  /** Default: the user name (C). */
  readonly gecos?: string;
  /** A stored quota string (already normalised); default the domain's default quota (limits). */
  readonly quota?: string;
  /** Apply password_strength.conf to a clear password (default true; C always does). */
  readonly checkPolicy?: boolean;
}

export interface AddUserResult {
  readonly domain: DomainRef;
  readonly entry: VpasswdEntry;
}

/** A password ready to store: pw_passwd and the clear field the build keeps. */
export interface PreparedPassword {
  readonly passwd: string;
  readonly clear: string | undefined;
}

function checkPasswordLength(clear: string): void {
  if (Buffer.byteLength(clear) > MAX_PASSWORD_LENGTH) throw new VpopmailError(VA.PASSWD_TOO_LONG);
}

/** A hash given by the caller (-e): one field of a vpasswd line, at most 128 bytes. */
function checkGivenHash(hash: string): void {
  // eslint-disable-next-line no-control-regex
  if (hash.includes(':') || /[\x00-\x1f\x7f]/.test(hash)) throw new VpopmailError(VA.BAD_CHAR, 'bad character (a hash holds no ":" or control characters)');
  if (Buffer.byteLength(hash) > MAX_PASSWORD_LENGTH) throw new VpopmailError(VA.PASSWD_TOO_LONG);
}

/**
 * Hash (and policy-check) a password before any lock is taken: SHA-512 crypt costs milliseconds,
 * and fifty adders should not queue behind each other's hashing. An empty clear password stores an
 * empty hash, as C does (the shipped policy refuses it).
 */
function preparePassword(ctx: AccountsContext, input: PasswordInput, checkPolicy: boolean): PreparedPassword {
  if ('hash' in input) {
    checkGivenHash(input.hash);
    // C keeps no clear text for a given hash: the field is emptied.
    return { passwd: toByteString(input.hash), clear: ctx.config.clearPasswords ? '' : undefined };
  }
  checkPasswordLength(input.clear);
  if (checkPolicy) {
    const refusal = checkPasswordPolicy(loadPasswordPolicy(ctx.config.etcDir), input.clear);
    if (refusal !== undefined) throw refusal;
  }
  const passwd = input.clear === '' ? '' : hashPassword(input.clear, ctx.config.hashScheme);
  return { passwd, clear: ctx.config.clearPasswords ? toByteString(input.clear) : undefined };
}

function checkQuotaString(quota: string): void {
  if (Buffer.byteLength(quota) > QUOTA_MAX_LENGTH) throw new VpopmailError(VA.QUOTA_TOO_LONG);
  // eslint-disable-next-line no-control-regex
  if (quota.includes(':') || /[\x00-\x1f\x7f]/.test(quota)) throw new VpopmailError(VA.BAD_CHAR, 'bad character in the quota');
}

/** The user-bucket counter's key (the real domain). */
function dirControlKey(domain: DomainRef): { domain: string } {
  return { domain: domain.domain };
}

/** The record's pw_uid: `1` in vpasswd (passwords.md §1), 0 in the SQL column. */
export function pwUidFor(backend: Backend): number {
  return backend.name === 'cdb' ? 1 : 0;
}

/** The quota of a new user when none is given: the domain's default_quota / default_maxmsgcount. */
export async function defaultQuotaOf(ctx: AccountsContext, domain: DomainRef): Promise<string> {
  const { limits } = resolveLimits(await ctx.backend.getLimits(domain.domain), ctx.config.etcDir);
  return defaultUserQuota({ defaultQuota: limits.defaultQuotaBytes, defaultMaxMsgCount: limits.defaultMaxMsgCount });
}

export function maildirsizeOptions(ctx: AccountsContext, domain: DomainRef) {
  // C's tools run under umask 077, so their maildirsize is 0600, owned by the domain after a quota change.
  return { nowMs: ctx.now(), pid: process.pid, host: ctx.host, owner: ownerOf(domain), mode: 0o600, durable: ctx.durable };
}

/**
 * After a quota is stored (spec/tools.md §0.4): maildirsize goes, and unless the quota is NOQUOTA
 * it is counted again and written at once. A home without a Maildir (never used, a SQL import) has
 * nothing to count.
 */
export function rebuildMaildirsize(ctx: AccountsContext, domain: DomainRef, entry: VpasswdEntry): void {
  if (entry.dir === '') return;
  const maildir = join(entry.dir, 'Maildir');
  if (!existsSync(join(maildir, 'tmp'))) return;
  removeMaildirsize(maildir);
  if (entry.quota === NOQUOTA) return;
  recalculateMaildirsize(maildir, entry.quota, maildirsizeOptions(ctx, domain));
}

interface Bucket {
  readonly bucket: string;
  /** Put the allocation back (on rollback). */
  readonly release: () => Promise<void>;
}

/** Where the new user's directory goes: a freed bucket first (backfill), else the next allocation. */
async function allocateUserBucket(ctx: AccountsContext, domain: DomainRef): Promise<Bucket> {
  if (!ctx.config.usersBigDir) return { bucket: '', release: async () => {} };
  const key = dirControlKey(domain);
  // Only a domain that has had a user deleted has the file; C does not lock for the others either.
  const free = existsSync(join(domain.dir, DIR_CONTROL_FREE_FILE)) ? takeFreeBucket(domain.dir, storeOptions(ctx)) : undefined;
  if (free !== undefined) {
    await ctx.backend.updateDirControl(key, (state) => ({ state: countBackfill(state), result: undefined }));
    return {
      bucket: free,
      release: async () => {
        recordFreeBucket(domain.dir, free, storeOptions(ctx));
        await ctx.backend.updateDirControl(key, (state) => ({ state: releaseBucket(state), result: undefined }));
      },
    };
  }
  const bucket = await ctx.backend.updateDirControl(key, (state) => {
    const a = allocateBucket(state);
    return { state: a.state, result: a.bucket };
  });
  return {
    bucket,
    release: async () => {
      await ctx.backend.updateDirControl(key, (state) => ({ state: releaseBucket(state), result: undefined }));
    },
  };
}

/** The new user's home: made fresh, or the bare leftover of an interrupted add, reused. */
function makeHome(ctx: AccountsContext, domain: DomainRef, home: string): void {
  const options = { owner: ownerOf(domain), durable: ctx.durable };
  try {
    makeUserDir(domain.dir, home, options);
  } catch (err) {
    if (!(err instanceof VpopmailError && err.code === VA.EXIST_U_DIR) || !isBareUserDir(home)) throw err;
    // No vpasswd line has this home (we hold the lock and looked), and it holds no mail: what a
    // vadduser killed before its vpasswd line was written leaves. Start again from nothing.
    removeTreeBelow(domain.dir, home, ctx.durable);
    makeUserDir(domain.dir, home, options);
  }
}

/** A new user checked and hashed, ready to add (vaddusers keeps these on disk between its passes). */
export interface PreparedUser {
  readonly user: string;
  readonly password: PreparedPassword;
  readonly gecos: string;
  readonly quota: string | undefined;
}

function prepareUser(ctx: AccountsContext, req: AddUserRequest): PreparedUser {
  checkNewUserName(req.user, { hashedDirs: ctx.config.usersBigDir });
  const gecos = req.gecos === undefined || req.gecos === '' ? req.user : req.gecos;
  checkGecos(gecos);
  if (req.quota !== undefined) checkQuotaString(req.quota);
  const password = preparePassword(ctx, req.password, req.checkPolicy ?? true);
  return { user: req.user, password, gecos: toByteString(gecos), quota: req.quota };
}

/**
 * The add itself, with the domain's lock held by the caller. Order as C's vadduser: not existing,
 * bucket, home (0700 dirs, owned by the domain), the record (with its final quota and password:
 * C sets -q and -e afterwards, pitfall T7), maildirsize, the lastauth creation note.
 */
async function addUserLocked(ctx: AccountsContext, domain: DomainRef, prepared: PreparedUser): Promise<VpasswdEntry> {
  const { backend, config } = ctx;
  if ((await backend.getUser(domain.domain, prepared.user)) !== undefined) throw new VpopmailError(VA.USERNAME_EXISTS);
  const quota = prepared.quota ?? (await defaultQuotaOf(ctx, domain));
  const undo = new UndoLog();
  try {
    const bucket = await allocateUserBucket(ctx, domain);
    undo.push('the directory allocation', bucket.release);
    const home = bucket.bucket === '' ? join(domain.dir, prepared.user) : join(domain.dir, bucket.bucket, prepared.user);
    if (home.length > MAX_DIR_LENGTH) throw new VpopmailError(VA.DIR_TOO_LONG);
    makeHome(ctx, domain, home);
    undo.push(`the directory ${home}`, () => removeTreeBelow(domain.dir, home, ctx.durable));
    const entry: VpasswdEntry = {
      name: prepared.user,
      passwd: prepared.password.passwd,
      uid: pwUidFor(backend),
      gid: 0,
      gecos: prepared.gecos,
      dir: home,
      quota,
      clear: prepared.password.clear,
    };
    await backend.addUser(domain.domain, entry);
    undo.push(`the account ${prepared.user}@${domain.domain}`, () => backend.delUser(domain.domain, prepared.user));
    if (quota !== NOQUOTA) recalculateMaildirsize(join(home, 'Maildir'), quota, maildirsizeOptions(ctx, domain));
    if (config.authLogging) await backend.setLastauth(domain.domain, entry, NEVER_LOGGED_IN_IP, Math.floor(ctx.now() / 1000));
    return (await backend.getUser(domain.domain, prepared.user)) ?? entry;
  } catch (err) {
    throw withUndoNotes(err, await undo.run());
  }
}

/**
 * vadduser: a new mailbox in `req.domain` (an alias adds to its real domain). Errors are
 * VpopmailErrors with C's codes: VA_USERNAME_EXISTS, VA_DOMAIN_DOES_NOT_EXIST, VA_ILLEGAL_USERNAME
 * (NameError, with the reason), VA_BAD_CHAR (`:` in the gecos), VA_*_TOO_LONG, VA_PWSTR_*
 * (PasswordPolicyError). Nothing is left behind by a failure.
 */
export async function addUser(ctx: AccountsContext, req: AddUserRequest): Promise<AddUserResult> {
  const prepared = prepareUser(ctx, req);
  const first = requireDomain(ctx, req.domain);
  return withOperationLocks(ctx, [first.domain], async () => {
    const domain = requireDomain(ctx, req.domain); // it may have gone while we waited
    return { domain, entry: await addUserLocked(ctx, domain, prepared) };
  });
}

/** For vadddomain's postmaster: checks done early, the add run inside the domain's own operation. */
export interface PreparedAdd {
  readonly prepared: PreparedUser;
  run(domain: DomainRef): Promise<VpasswdEntry>;
}

/** Validate and hash now; add later, with the caller holding the domain's lock. */
export function prepareAddUser(ctx: AccountsContext, req: Omit<AddUserRequest, 'domain'>): PreparedAdd {
  const prepared = prepareUser(ctx, { ...req, domain: '' });
  return { prepared, run: (domain) => addUserLocked(ctx, domain, prepared) };
}

/** The add of a user prepared earlier, with the caller holding the domain's lock (vaddusers on a backend without a bulk path). */
export function addPreparedUser(ctx: AccountsContext, domain: DomainRef, prepared: PreparedUser): Promise<VpasswdEntry> {
  return addUserLocked(ctx, domain, prepared);
}

// --- delete ----------------------------------------------------------------------------------------

export interface DeleteUserResult {
  readonly domain: DomainRef;
  readonly entry: VpasswdEntry;
  /** What happened to the home directory. */
  readonly home: RemoveOutcome | 'kept';
  /** The user's own `.qmail-<user>` alias file, when there was one and it was removed. */
  readonly removedAlias?: string;
  /** Steps after the record was deleted that failed; the account is gone all the same. */
  readonly warnings: readonly string[];
}

/** `.qmail-<name>` with dots as colons (qmail's convention). */
function dotQmailPath(domainDir: string, name: string): string {
  return join(domainDir, `.qmail-${name.replaceAll('.', ':')}`);
}

/**
 * vdeluser: remove the record (SQL: with its lastauth row), then the rest as C does: the bucket
 * goes to .dir_control_free, the counter down by one (only while directories are hashed: C also
 * counts down without hashing and wraps, pitfall D5), and the home directory, which must lie inside
 * the domain directory (a pw_dir elsewhere is left alone and reported, pitfall S9). The user's own
 * alias file `.qmail-<user>`, which would keep taking the dead account's mail, goes too (D8).
 * Refuses the domain's catch-all (VA_CANNOT_DELETE_CATCHALL).
 */
export async function deleteUser(ctx: AccountsContext, domainName: string, user: string): Promise<DeleteUserResult> {
  const first = requireDomain(ctx, domainName);
  return withOperationLocks(ctx, [first.domain], async () => {
    const domain = requireDomain(ctx, domainName);
    const { backend } = ctx;
    const entry = await backend.getUser(domain.domain, user);
    if (entry === undefined) throw new VpopmailError(VA.USER_DOES_NOT_EXIST);
    if (isCatchAllAccount(readQmailDefaultLine(domain.dir), domain.dir, user, domain.domain)) {
      throw new VpopmailError(VA.CANNOT_DELETE_CATCHALL);
    }
    await backend.delUser(domain.domain, user);
    const warnings: string[] = [];
    const attempt = async (what: string, fn: () => unknown): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        warnings.push(`${what}: ${firstLine(err)}`);
      }
    };
    let removedAlias: string | undefined;
    await attempt('alias not removed', () => {
      const path = dotQmailPath(domain.dir, user);
      try {
        unlinkSync(path);
        removedAlias = path;
        fsyncDirSync(domain.dir, ctx.durable);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    });
    if (ctx.config.valias && backend.hasValiasTable) await attempt('alias not removed', () => backend.delValias(domain.domain, user));
    if (ctx.config.usersBigDir) {
      const bucket = bucketOfUserDir(domain.dir, entry.dir, user);
      if (bucket !== undefined && bucket !== '') await attempt('bucket not recorded as free', () => recordFreeBucket(domain.dir, bucket, storeOptions(ctx)));
      await attempt('directory count not updated', () =>
        backend.updateDirControl(dirControlKey(domain), (state) => ({ state: releaseBucket(state), result: undefined })),
      );
    }
    let home: RemoveOutcome | 'kept' = 'kept';
    if (entry.dir !== '') {
      try {
        home = removeTreeBelow(domain.dir, entry.dir, ctx.durable);
      } catch (err) {
        warnings.push(`home directory ${entry.dir} not removed: ${firstLine(err)}`);
      }
    }
    return { domain, entry, home, warnings, ...(removedAlias === undefined ? {} : { removedAlias }) };
  });
}

// --- modify ------------------------------------------------------------------------------------------

export interface UserChange {
  /** pw_gecos; `:` and control characters are refused (C's vmoduser -c accepts `:`, pitfall D9). */
  readonly gecos?: string;
  /** A stored quota string (normalised by the caller); maildirsize is rebuilt. */
  readonly quota?: string;
  /** A new password: clear text is hashed and kept as clear text (clear-passwords builds); a hash is stored as given and the old clear text is emptied (C keeps it, D9). */
  readonly password?: PasswordInput;
  /** pw_dir (files are not moved). */
  readonly dir?: string;
  /** pw_gid = 0 before the bits below are applied (vmoduser -x). */
  readonly clearFlags?: boolean;
  readonly addFlags?: number;
  readonly removeFlags?: number;
}

export interface ModifyOptions {
  /** Apply password_strength.conf to a clear password (vpasswd, vchangepw; not vmoduser -C). */
  readonly checkPolicy?: boolean;
  /**
   * The account's owner is changing its own password (vchangepw, a user's vpopmaild session): a
   * NO_PASSWD_CHNG account is refused with PasswordChangeDisabledError. Admin tools pass false: C's
   * vpasswd refuses even root, with the misleading "Illegal username" (pitfall T5).
   */
  readonly asUser?: boolean;
}

/** The account may not change its own password (NO_PASSWD_CHNG in its effective flags). */
export class PasswordChangeDisabledError extends VpopmailError {
  override name = 'PasswordChangeDisabledError';
  constructor() {
    super(VA.ILLEGAL_USERNAME, 'password changes are disabled for this account');
  }
}

interface PreparedChange {
  readonly change: UserChange;
  readonly password?: PreparedPassword;
  readonly gecos?: string;
  readonly dir?: string;
}

function prepareChange(ctx: AccountsContext, change: UserChange, options: ModifyOptions): PreparedChange {
  let gecos: string | undefined;
  if (change.gecos !== undefined) {
    checkGecos(change.gecos);
    gecos = toByteString(change.gecos);
  }
  if (change.quota !== undefined) checkQuotaString(change.quota);
  let dir: string | undefined;
  if (change.dir !== undefined) {
    // eslint-disable-next-line no-control-regex
    if (!change.dir.startsWith('/') || change.dir.includes(':') || /[\x00-\x1f\x7f]/.test(change.dir)) {
      throw new PermError(`invalid directory ${JSON.stringify(change.dir)}: expected an absolute path without ":"`);
    }
    dir = toByteString(change.dir.replace(/(.)\/+$/, '$1'));
    if (dir.length > MAX_DIR_LENGTH) throw new VpopmailError(VA.DIR_TOO_LONG);
  }
  const password = change.password === undefined ? undefined : preparePassword(ctx, change.password, options.checkPolicy ?? false);
  return {
    change,
    ...(password === undefined ? {} : { password }),
    ...(gecos === undefined ? {} : { gecos }),
    ...(dir === undefined ? {} : { dir }),
  };
}

function applyChange(entry: VpasswdEntry, p: PreparedChange): VpasswdEntry {
  let gid = p.change.clearFlags === true ? 0 : entry.gid;
  gid = (gid | (p.change.addFlags ?? 0)) & ~(p.change.removeFlags ?? 0);
  return {
    ...entry,
    gid,
    ...(p.gecos === undefined ? {} : { gecos: p.gecos }),
    ...(p.change.quota === undefined ? {} : { quota: p.change.quota }),
    ...(p.dir === undefined ? {} : { dir: p.dir }),
    ...(p.password === undefined ? {} : { passwd: p.password.passwd, clear: p.password.clear }),
  };
}

async function modifyLocked(
  ctx: AccountsContext,
  domain: DomainRef,
  entry: VpasswdEntry,
  prepared: PreparedChange,
  options: ModifyOptions,
): Promise<VpasswdEntry> {
  if (options.asUser === true && prepared.password !== undefined) {
    const flags = await userFlags(ctx.backend, ctx.config, domain.domain, entry);
    if ((flags & PW_FLAG.NO_PASSWD_CHNG) !== 0) throw new PasswordChangeDisabledError();
  }
  const updated = applyChange(entry, prepared);
  await ctx.backend.setUser(domain.domain, updated);
  if (prepared.change.quota !== undefined) rebuildMaildirsize(ctx, domain, updated);
  return updated;
}

export interface ModifyUserResult {
  readonly domain: DomainRef;
  readonly before: VpasswdEntry;
  readonly entry: VpasswdEntry;
}

/**
 * Change one account (vauth_setpw after reading it): VA_USER_DOES_NOT_EXIST when there is none.
 * The read and the write happen under the domain's lock, so concurrent changes never undo each other.
 */
export async function modifyUser(ctx: AccountsContext, domainName: string, user: string, change: UserChange, options: ModifyOptions = {}): Promise<ModifyUserResult> {
  const prepared = prepareChange(ctx, change, options);
  const first = requireDomain(ctx, domainName);
  return withOperationLocks(ctx, [first.domain], async () => {
    const domain = requireDomain(ctx, domainName);
    const before = await ctx.backend.getUser(domain.domain, user);
    if (before === undefined) throw new VpopmailError(VA.USER_DOES_NOT_EXIST);
    return { domain, before, entry: await modifyLocked(ctx, domain, before, prepared, options) };
  });
}

export interface ModifyDomainOptions extends ModifyOptions {
  /** Visit users sorted by name (vsetuserquota) instead of store order (vmoduser). */
  readonly sorted?: boolean;
  /** Called after each user is changed. */
  readonly onUser?: (entry: VpasswdEntry) => void;
}

/**
 * The same change for every user of a domain (vmoduser domain, vsetuserquota domain), stopping at
 * the first error; returns how many were changed. A password given here is hashed once per user,
 * each with its own salt.
 */
export async function modifyDomainUsers(ctx: AccountsContext, domainName: string, change: UserChange, options: ModifyDomainOptions = {}): Promise<number> {
  prepareChange(ctx, { ...change, password: undefined }, options); // refuse bad input before locking
  const first = requireDomain(ctx, domainName);
  return withOperationLocks(ctx, [first.domain], async () => {
    const domain = requireDomain(ctx, domainName);
    const names: string[] = [];
    for await (const entry of ctx.backend.listUsers(domain.domain)) names.push(entry.name);
    if (options.sorted === true) names.sort();
    let changed = 0;
    for (const name of names) {
      const entry = await ctx.backend.getUser(domain.domain, name);
      if (entry === undefined) continue;
      const updated = await modifyLocked(ctx, domain, entry, prepareChange(ctx, change, options), options);
      changed++;
      options.onUser?.(updated);
    }
    return changed;
  });
}

/** vpasswd / vchangepw: a new clear password, policy-checked; `asUser` honours NO_PASSWD_CHNG. */
export async function setPassword(
  ctx: AccountsContext,
  domainName: string,
  user: string,
  password: string,
  options: { readonly asUser?: boolean; readonly checkPolicy?: boolean } = {},
): Promise<ModifyUserResult> {
  return modifyUser(ctx, domainName, user, { password: { clear: password } }, { checkPolicy: options.checkPolicy ?? true, asUser: options.asUser ?? false });
}

/** vsetuserquota / vmoduser -q for one user: store the quota and rebuild maildirsize. */
export async function setQuota(ctx: AccountsContext, domainName: string, user: string, quota: string): Promise<ModifyUserResult> {
  return modifyUser(ctx, domainName, user, { quota });
}
