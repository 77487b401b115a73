// Domains: add (vadddomain), alias (vaddaliasdomain), delete (vdeldomain), describe (vdominfo), in
// C's order of effects (layout.md §5.1–5.3), validated first, locked throughout, undone on failure.
import { basename, dirname, isAbsolute, join } from 'node:path';
import type { DirControlKey } from '../backends/backend.ts';
import { VA, VpopmailError, firstLine } from '../exit.ts';
import {
  addAssignDomain,
  formatAssignLine,
  listAssignDomains,
  removeAssignDomains,
  removeAssignLines,
  type AssignEntry,
} from '../store/assign.ts';
import {
  addRcptHost,
  addVirtualDomain,
  controlPath,
  insertControlLine,
  removeLocals,
  removeRcptHosts,
  removeVirtualDomains,
} from '../store/control-files.ts';
import { allocateBucket, isBucketName, releaseBucket } from '../store/dir-control.ts';
import type { VpasswdEntry } from '../store/vpasswd.ts';
import { storeOptions, type AccountsContext } from './context.ts';
import { ensureDomainsDir, isBareDomainDir, isRealDir, makeDirsBelow } from './dirs.ts';
import { findDomain, isAlias, requireDomain, type DomainRef } from './lookup.ts';
import { checkDomainName, checkNewDomainName } from './names.ts';
import { DOMAINS_LOCK, withOperationLocks } from './op-lock.ts';
import { DEFAULT_CATCH_ALL_ACTION, catchAllAction, formatQmailDefault, writeQmailDefault } from './qmail-default.ts';
import { signalQmailSend } from './qmail-send.ts';
import { removeTreeBelow } from './remove-tree.ts';
import { UndoLog, withUndoNotes } from './undo.ts';
import { MAX_DIR_LENGTH, prepareAddUser, type PasswordInput } from './users.ts';

function hup(ctx: AccountsContext): void {
  try {
    (ctx.hupQmailSend ?? signalQmailSend)();
  } catch {
    // qmail-send re-reads its files on its own schedule too; C ignores this as well
  }
}

// --- add ---------------------------------------------------------------------------------------------

export interface PostmasterRequest {
  readonly password: PasswordInput;
  /** Default `Postmaster` (vadddomain). */
  readonly gecos?: string;
  /** A stored quota string; default the domain's default quota. */
  readonly quota?: string;
  readonly checkPolicy?: boolean;
}

export interface AddDomainRequest {
  /** Lower case. */
  readonly domain: string;
  /** Owner of the domain's files (default vpopmail's). */
  readonly uid?: number;
  readonly gid?: number;
  /** `<base>/domains/...` is where the domain goes (default ~vpopmail). */
  readonly baseDir?: string;
  /** vadddomain -e: unmatched mail forwarded to an address, or delivered to a mailbox of the domain. */
  readonly catchAll?: string;
  /** vadddomain -O: no HUP to qmail-send and no morercpthosts.cdb rebuild (bulk adds). */
  readonly optimize?: boolean;
  readonly postmaster: PostmasterRequest;
}

export interface AddDomainResult {
  readonly domain: DomainRef;
  readonly postmaster: VpasswdEntry;
  /** C's `NOTICE: Out of order entries found ...` texts for stderr. */
  readonly notices: readonly string[];
}

/** vadddomain failed; `stage` says whether the domain or its postmaster could not be made. Either way nothing is left. */
export class AddDomainError extends VpopmailError {
  override name = 'AddDomainError';
  readonly stage: 'domain' | 'postmaster';
  constructor(stage: 'domain' | 'postmaster', cause: unknown) {
    const code = cause instanceof VpopmailError ? cause.code : VA.ILLEGAL_USERNAME;
    super(code, firstLine(cause), { cause });
    this.stage = stage;
  }
}

/**
 * The domain bucket counter of a domains directory. C keys it by the owning uid and keeps it under
 * that uid's home (layout.md §4); we keep it in the domains directory the domain is made in, so a
 * domain added with `-i <uid>` never writes into some other account's home.
 */
function domainsCounterKey(uid: number, gid: number, domainsDir: string): DirControlKey {
  return { uid, gid, domainsDir };
}

/**
 * vadddomain plus its postmaster, as one operation: the name checked, the postmaster's password
 * hashed and policy-checked before anything is touched; then C's steps (domains dir, bucket,
 * directory and .qmail-default with its final catch-all, users/assign + users/cdb, rcpthosts or
 * morercpthosts, virtualdomains, locals, backend, postmaster with its final quota); on any failure
 * every step done is undone (C exits 0 after removing the domain again, pitfall T1).
 */
export async function addDomain(ctx: AccountsContext, req: AddDomainRequest): Promise<AddDomainResult> {
  const { config, backend } = ctx;
  const domain = req.domain.toLowerCase();
  checkNewDomainName(domain);
  const uid = req.uid ?? config.vpopmailUid;
  const gid = req.gid ?? config.vpopmailGid;
  for (const [what, id] of [['uid', uid], ['gid', gid]] as const) {
    if (!Number.isInteger(id) || id < 0 || id > 0xfffffffe) throw new VpopmailError(VA.BAD_UID, `invalid ${what} ${id}`);
  }
  const base = (req.baseDir ?? config.vpopmailHome).replace(/(.)\/+$/, '$1');
  if (!isAbsolute(base)) throw new VpopmailError(VA.BAD_V_DIR, `${base} is not an absolute path`);
  const domainsDir = join(base, 'domains');
  if (req.catchAll !== undefined) catchAllAction(req.catchAll, join(domainsDir, domain)); // refuse a bad one now
  const postmaster = prepareAddUser(ctx, {
    user: 'postmaster',
    password: req.postmaster.password,
    gecos: req.postmaster.gecos ?? 'Postmaster',
    ...(req.postmaster.quota === undefined ? {} : { quota: req.postmaster.quota }),
    ...(req.postmaster.checkPolicy === undefined ? {} : { checkPolicy: req.postmaster.checkPolicy }),
  });
  if (findDomain(ctx, domain) !== undefined) throw new VpopmailError(VA.DOMAIN_ALREADY_EXISTS);

  return withOperationLocks(ctx, [DOMAINS_LOCK, domain], async () => {
    if (findDomain(ctx, domain) !== undefined) throw new VpopmailError(VA.DOMAIN_ALREADY_EXISTS);
    const owner = { uid, gid };
    const notices: string[] = [];
    const steps = new UndoLog();
    const qmail = config.qmailHome;
    const opts = storeOptions(ctx);
    let stage: 'domain' | 'postmaster' = 'domain';
    try {
      if (ensureDomainsDir(base, domainsDir, owner, ctx.durable)) {
        steps.push(`the directory ${domainsDir}`, () => removeTreeBelow(base, domainsDir, ctx.durable));
      }
      const counter = domainsCounterKey(uid, gid, domainsDir);
      const bucket = await backend.updateDirControl(counter, (state) => {
        const a = allocateBucket(state);
        return { state: a.state, result: a.bucket };
      });
      steps.push('the domain directory allocation', () =>
        backend.updateDirControl(counter, (state) => ({ state: releaseBucket(state), result: undefined })),
      );
      const sub = bucket === '' ? domain : `${bucket}/${domain}`;
      if (base.length + 'domains'.length + sub.length > MAX_DIR_LENGTH) throw new VpopmailError(VA.DIR_TOO_LONG);
      const dir = join(domainsDir, sub);
      if (isRealDir(dir, VA.COULD_NOT_MAKE_DOMAIN_DIR) && !isBareDomainDir(dir)) {
        // Not in users/assign but there, with users: a domain deleted by hand, or someone's data.
        throw new VpopmailError(VA.COULD_NOT_MAKE_DOMAIN_DIR, `Could not make domain dir: ${dir} already exists`);
      }
      const made = makeDirsBelow(domainsDir, dir, owner, VA.COULD_NOT_MAKE_DOMAIN_DIR, ctx.durable);
      for (const path of made) steps.push(`the directory ${path}`, () => removeTreeBelow(domainsDir, path, ctx.durable));
      const action = req.catchAll === undefined ? DEFAULT_CATCH_ALL_ACTION : catchAllAction(req.catchAll, dir);
      writeQmailDefault(dir, formatQmailDefault(config.binDir, action), { durable: ctx.durable, owner });

      const entry: AssignEntry = { name: domain, domain, uid, gid, dir };
      const assigned = addAssignDomain(qmail, entry, opts);
      if (assigned.notice !== undefined) notices.push(assigned.notice);
      if (assigned.inserted) steps.push('the users/assign line', () => removeAssignLines(qmail, [formatAssignLine(entry)], opts));
      await addControlLines(ctx, domain, req.optimize === true, steps, notices);
      await backend.addDomain(domain);
      steps.push('the backend domain', () => backend.delDomain(domain));

      const ref: DomainRef = { name: domain, domain, uid, gid, dir };
      stage = 'postmaster';
      const pm = await postmaster.run(ref);
      if (req.optimize !== true) hup(ctx);
      return { domain: ref, postmaster: pm, notices };
    } catch (err) {
      const undoFailures = await steps.run();
      throw new AddDomainError(stage, withUndoNotes(err, undoFailures));
    }
  });
}

/** rcpthosts (or morercpthosts), virtualdomains, locals for a new name, each undoable. */
async function addControlLines(ctx: AccountsContext, name: string, optimize: boolean, steps: UndoLog, notices: string[]): Promise<void> {
  const qmail = ctx.config.qmailHome;
  const opts = storeOptions(ctx);
  const rcpt = addRcptHost(qmail, name, { ...opts, compileMoreRcptHosts: !optimize });
  if (rcpt.notice !== undefined) notices.push(rcpt.notice);
  if (rcpt.inserted) steps.push(`the ${rcpt.file} line`, () => removeRcptHosts(qmail, [name], opts));
  const virt = addVirtualDomain(qmail, name, opts);
  if (virt.notice !== undefined) notices.push(virt.notice);
  if (virt.inserted) steps.push('the virtualdomains line', () => removeVirtualDomains(qmail, [name], opts));
  if (removeLocals(qmail, [name], opts) > 0) {
    steps.push('the locals line', () => insertControlLine(controlPath(qmail, 'locals'), name, opts));
  }
}

// --- alias -------------------------------------------------------------------------------------------

export interface AddAliasDomainResult {
  readonly alias: string;
  readonly domain: DomainRef;
  readonly notices: readonly string[];
}

/** vaddaliasdomain's refusals, with C's texts (stdout, exit 255). */
export class AliasDomainError extends VpopmailError {
  override name = 'AliasDomainError';
  constructor(message: string) {
    super(VA.ILLEGAL_USERNAME, message);
  }
}

/**
 * vaddaliasdomain: of two names exactly one must be a domain already; the other becomes an alias of
 * its real domain (either order, as C). The alias must be a valid new domain name (C checks only its
 * characters). Assign line with the real domain's owner and directory, rcpthosts, virtualdomains,
 * locals, the backend's alias table; undone on failure (C ignores failures here).
 */
export async function addAliasDomain(ctx: AccountsContext, first: string, second: string): Promise<AddAliasDomainResult> {
  const a = first.toLowerCase();
  const b = second.toLowerCase();
  checkDomainName(a);
  checkDomainName(b);
  if (a === b) throw new AliasDomainError('real domain and alias domain are the same!');
  const pick = () => {
    const ra = findDomain(ctx, a);
    const rb = findDomain(ctx, b);
    if (ra !== undefined && rb !== undefined) throw new AliasDomainError('Both domains already exist, unable to create alias.');
    if (ra === undefined && rb === undefined) throw new AliasDomainError(`Neither '${a}' or '${b}'  exist, unable to create alias.`);
    return ra !== undefined ? { real: ra, alias: b } : { real: rb!, alias: a };
  };
  const chosen = pick();
  checkNewDomainName(chosen.alias);
  return withOperationLocks(ctx, [DOMAINS_LOCK, chosen.real.domain, chosen.alias], async () => {
    const { real, alias } = pick();
    const qmail = ctx.config.qmailHome;
    const opts = storeOptions(ctx);
    const steps = new UndoLog();
    const notices: string[] = [];
    try {
      const entry: AssignEntry = { name: alias, domain: real.domain, uid: real.uid, gid: real.gid, dir: real.dir };
      const assigned = addAssignDomain(qmail, entry, opts);
      if (assigned.notice !== undefined) notices.push(assigned.notice);
      if (assigned.inserted) steps.push('the users/assign line', () => removeAssignLines(qmail, [formatAssignLine(entry)], opts));
      await addControlLines(ctx, alias, false, steps, notices);
      await ctx.backend.addAliasDomain(alias, real.domain);
      hup(ctx);
      return { alias, domain: { ...real, name: real.domain }, notices };
    } catch (err) {
      throw withUndoNotes(err, await steps.run());
    }
  });
}

// --- delete ------------------------------------------------------------------------------------------

/** vdeldomain without -f on a domain that has aliases: nothing was deleted. */
export class AliasesExistError extends VpopmailError {
  override name = 'AliasesExistError';
  readonly aliases: readonly string[];
  constructor(aliases: readonly string[]) {
    super(VA.ILLEGAL_USERNAME, `alias domains exist: ${aliases.join(' ')}`);
    this.aliases = aliases;
  }
}

export interface DeleteDomainResult {
  readonly domain: DomainRef;
  /** 'alias': only the alias was removed; 'domain': the domain and `aliases` with it. */
  readonly kind: 'alias' | 'domain';
  readonly aliases: readonly string[];
  /** Steps that failed (C prints `Warning: …` for these and carries on); the rest was done. */
  readonly warnings: readonly string[];
}

/** The domains directory a domain directory sits in: `<base>/domains[/<bucket>]/<domain>`. */
function domainsDirOf(dir: string, domain: string): string | undefined {
  if (basename(dir) !== domain) return undefined;
  let up = dirname(dir);
  for (let i = 0; i < 4; i++) {
    if (basename(up) === 'domains') return up;
    if (!isBucketName(basename(up)) || basename(up) === '') return undefined;
    up = dirname(up);
  }
  return undefined;
}

/**
 * vdeldomain: an alias loses only its own lines; a real domain goes with every alias, but only with
 * `force` when it has any (AliasesExistError otherwise). The name is lower-cased first (C compares
 * the argument as typed and so deletes `EXAMPLE.com` with its aliases without -f, pitfall T3).
 * Order: the backend's data, limits and counter while users/cdb still finds the domain; then mail
 * stops being routed (rcpthosts, virtualdomains, users/assign by name, not by exact line); then the
 * directory, which must sit in a domains directory; then the domain counter. Failed steps are
 * reported in `warnings` and the rest is still done, as C does.
 */
export async function deleteDomain(ctx: AccountsContext, name: string, options: { readonly force?: boolean } = {}): Promise<DeleteDomainResult> {
  const first = requireDomain(ctx, name);
  return withOperationLocks(ctx, [DOMAINS_LOCK, first.domain], async () => {
    const ref = requireDomain(ctx, name);
    const qmail = ctx.config.qmailHome;
    const opts = storeOptions(ctx);
    const { backend } = ctx;
    const warnings: string[] = [];
    const attempt = async (what: string, fn: () => unknown): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        warnings.push(`${what}: ${firstLine(err)}`);
      }
    };
    if (isAlias(ref)) {
      await attempt('rcpthosts not updated', () => removeRcptHosts(qmail, [ref.name], opts));
      await attempt('virtualdomains not updated', () => removeVirtualDomains(qmail, [ref.name], opts));
      await attempt('users/assign not updated', () => removeAssignDomains(qmail, [ref.name], opts));
      await attempt('backend alias not removed', () => backend.delAliasDomain(ref.name));
      hup(ctx);
      return { domain: ref, kind: 'alias', aliases: [], warnings };
    }
    const aliases = listAssignDomains(qmail, ref.domain)
      .map((e) => e.name)
      .filter((n) => n !== ref.domain);
    if (aliases.length > 0 && options.force !== true) throw new AliasesExistError(aliases);
    const names = [ref.domain, ...aliases];

    await attempt('backend data not removed', () => backend.delDomain(ref.domain));
    await attempt('limits not removed', () => backend.delLimits(ref.domain));
    await attempt('directory counter not removed', () => backend.delDirControl({ domain: ref.domain }));
    await attempt('rcpthosts not updated', () => removeRcptHosts(qmail, names, opts));
    await attempt('virtualdomains not updated', () => removeVirtualDomains(qmail, names, opts));
    await attempt('users/assign not updated', () => {
      removeAssignDomains(qmail, names, opts);
    });
    for (const alias of aliases) await attempt(`backend alias ${alias} not removed`, () => backend.delAliasDomain(alias));
    const domainsDir = domainsDirOf(ref.dir, ref.domain);
    if (domainsDir === undefined) {
      warnings.push(`directory ${ref.dir} not removed: it is not <base>/domains/[bucket/]${ref.domain}`);
    } else {
      let removed = false;
      await attempt(`directory ${ref.dir} not removed`, () => {
        removeTreeBelow(domainsDir, ref.dir, ctx.durable);
        removed = true;
      });
      if (removed) {
        const counter = domainsCounterKey(ref.uid, ref.gid, domainsDir);
        await attempt('domain directory count not updated', () =>
          backend.updateDirControl(counter, (state) => ({ state: releaseBucket(state), result: undefined })),
        );
      }
    }
    hup(ctx);
    return { domain: ref, kind: 'domain', aliases, warnings };
  });
}

// --- describe ----------------------------------------------------------------------------------------

export interface DomainDescription {
  /** The assign entry's name (an alias, or the domain). */
  readonly name: string;
  readonly domain: string;
  readonly uid: number;
  readonly gid: number;
  readonly dir: string;
  /** The real domain's allocation counter (C's "users"), not a count of accounts (pitfall D5). */
  readonly users: number;
}

async function usersCounter(ctx: AccountsContext, domain: string): Promise<number> {
  try {
    return (await ctx.backend.getDirControl({ domain }))?.curUsers ?? 0;
  } catch (err) {
    if (err instanceof VpopmailError && err.code === VA.DOMAIN_DOES_NOT_EXIST) return 0;
    throw err;
  }
}

/**
 * Every domain line of users/assign, in file order (C's vdominfo without argument). Read-only: C
 * writes each domain's counter back here, making a listing a write (pitfall D5). A missing or
 * unreadable assign is VA_CANNOT_READ_ASSIGN.
 */
export async function listDomains(ctx: AccountsContext): Promise<DomainDescription[]> {
  const out: DomainDescription[] = [];
  for (const e of listAssignDomains(ctx.config.qmailHome)) {
    out.push({ name: e.name, domain: e.domain, uid: e.uid, gid: e.gid, dir: e.dir, users: await usersCounter(ctx, e.domain) });
  }
  return out;
}

export interface DomainDetails {
  /** The real domain, even when an alias was asked for. */
  readonly domain: DomainDescription;
  /** Its alias domains in assign order. */
  readonly aliases: readonly string[];
}

/** vdominfo <domain>: the real domain and its aliases; undefined when the name is not routed. */
export async function describeDomain(ctx: AccountsContext, name: string): Promise<DomainDetails | undefined> {
  const ref = findDomain(ctx, name);
  if (ref === undefined) return undefined;
  const aliases = listAssignDomains(ctx.config.qmailHome, ref.domain)
    .map((e) => e.name)
    .filter((n) => n !== ref.domain);
  const users = await usersCounter(ctx, ref.domain);
  return { domain: { name: ref.domain, domain: ref.domain, uid: ref.uid, gid: ref.gid, dir: ref.dir, users }, aliases };
}

