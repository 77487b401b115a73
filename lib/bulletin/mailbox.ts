// One mailbox's part of a bulletin run: the quota test, a copy written into tmp/ (fsynced by the
// caller, in batches) and linked into new/, or a hard or symbolic link made straight into new/.
import { closeSync, constants as fsc, fchmodSync, lstatSync, openSync, readdirSync, statSync, symlinkSync, unlinkSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { firstLine } from '../exit.ts';
import type { Durable } from '../fs/durable.ts';
import { copyFdToFd, fchownIfRoot, maildirUniqueName, type Owner } from '../maildir/deliver.ts';
import { remakeUserDir } from '../maildir/make.ts';
import { appendMaildirsize, checkMaildirQuota, type MaildirsizeWriteOptions } from '../maildir/maildirsize.ts';
import { formatMaildirQuota, hasQuotaLimits, isQuotaDisabled, parseQuotaLimits } from '../quota.ts';
import type { Bulletin } from './bulletin.ts';

export type BulletinMode = 'copy' | 'hard' | 'symlink';

/** How many taken names one message tries before giving up (deliver.ts allows the same). */
const MAX_NAME_ATTEMPTS = 10;

/** Messages are 0600, as C leaves them (spec/vpopbull.md §6) and as vdelivermail writes them. */
export const MESSAGE_MODE = 0o600;

/** What every mailbox of a run shares. */
export interface MailboxRun {
  readonly bulletin: Bulletin;
  readonly mode: BulletinMode;
  readonly host: string;
  readonly pid: number;
  readonly now: () => number;
  readonly euid: number;
  readonly durable: Durable;
  /** The first-try message name of the current second (see messageName); starts as { sec: -1, name: '' }. */
  readonly names: { sec: number; name: string };
  /** What hard links are made to, when not the bulletin itself (writeLinkSource). */
  readonly linkSource?: string;
}

/** One mailbox, resolved from its vpasswd entry. Strings are byte strings, as vpasswd holds them. */
export interface MailboxTarget {
  /** `<user>@<real domain>`. */
  readonly address: string;
  readonly domainDir: string;
  readonly home: string;
  /** `<home>/Maildir`. */
  readonly maildir: string;
  /** The domain's uid/gid (users/assign): owner of what we create, when we run as root. */
  readonly owner: Owner;
  /** The quota string when it sets a limit, else undefined (no test, maildirsize left alone). */
  readonly quota: string | undefined;
}

/** A mailbox that could not be served, with the line that says so. */
export class MailboxError extends Error {
  override name = 'MailboxError';
  constructor(
    readonly line: string,
    options?: ErrorOptions,
  ) {
    super(line, options);
  }
}

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? firstLine(err);
}

/** C's failure line for a mailbox (spec/vpopbull.md §6), with the reason after it. */
export function copyFailure(target: MailboxTarget, reason: string, cause?: unknown): MailboxError {
  return new MailboxError(`${target.address}: ERROR COPYING TO ${target.home} (${reason})`, cause === undefined ? undefined : { cause });
}

/**
 * The quota that applies to a vpasswd quota field, normalised as vdelivermail does (passwords.md
 * §7.2), or undefined when there is none: `NO…` (vdelivermail skips those) or no limit in it.
 */
export function quotaOf(field: string): string | undefined {
  if (isQuotaDisabled(field)) return undefined;
  let quota: string;
  try {
    quota = formatMaildirQuota(field);
  } catch {
    quota = field; // longer than C accepts: take it as stored
  }
  return hasQuotaLimits(parseQuotaLimits(quota)) ? quota : undefined;
}

export function mailboxTarget(address: string, domainDir: string, dir: string, owner: Owner, quotaField: string): MailboxTarget {
  const home = isAbsolute(dir) ? dir : join(domainDir, dir);
  return { address, domainDir, home, maildir: `${home}/Maildir`, owner, quota: quotaOf(quotaField) };
}

/**
 * vpopbull runs as root, and the domain's owner can plant symbolic links in its homes: a home,
 * bucket, Maildir, new/ or tmp/ that links elsewhere would have root create (and, for copies, chown
 * to the domain) files wherever it points, /etc/cron.d included. So, as root, each directory we are
 * about to write into must be, once every link is followed, a directory of the domain's owner: a link
 * to a directory of its own is harmless (the owner could write there anyway) and keeps Maildirs moved
 * to other disks working, a link anywhere else refuses the mailbox. One stat per directory, where
 * checking every component for links would cost four or more per mailbox. Missing directories are
 * fine: remakeUserDir makes them below the domain, never through a symlink. A link swapped in
 * between this check and the write is not caught: the program itself does not rely on this check
 * but serves each domain as its owner (BulletinContext.switchIds), where the kernel refuses such
 * writes and run.euid is the owner's; this is the guard for callers that stay root. Not root, or a
 * domain owned by root: nothing to guard, the caller can do no more than it could by hand.
 */
export function refuseSymlinkedMaildir(run: MailboxRun, target: MailboxTarget, subdirs: readonly ('new' | 'tmp')[]): void {
  if (run.euid !== 0 || target.owner.uid === 0) return;
  for (const sub of subdirs) {
    const path = `${target.maildir}/${sub}`;
    let st;
    try {
      st = statSync(path, { throwIfNoEntry: false });
    } catch {
      continue; // ENOTDIR, EACCES...: the write itself will fail and say so
    }
    if (st === undefined) continue;
    if (!st.isDirectory() || st.uid !== target.owner.uid) {
      throw copyFailure(target, `${path} is not a directory of the domain's owner (uid ${target.owner.uid}, found uid ${st.uid}): refusing to follow a link out of the domain`);
    }
  }
}

/** vmake_maildir (layout.md §7): recreate what is missing of the home and its Maildir. */
export function remakeMaildir(run: MailboxRun, target: MailboxTarget): void {
  try {
    remakeUserDir(target.domainDir, target.home, { owner: target.owner, euid: run.euid, durable: run.durable });
  } catch (err) {
    throw new MailboxError(`Auto creation of maildir failed for ${target.address} (${firstLine(err)})`, { cause: err });
  }
}

function isMissing(path: string): boolean {
  try {
    lstatSync(path);
    return false;
  } catch (err) {
    return errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR';
  }
}

export function maildirsizeOptions(run: MailboxRun, target: MailboxTarget): MaildirsizeWriteOptions {
  // As the admin tools write it: 0600, owned by the domain (layout.md §2.1).
  return { nowMs: run.now(), pid: run.pid, host: run.host, owner: target.owner, euid: run.euid, mode: 0o600, durable: run.durable };
}

export interface QuotaVerdict {
  readonly isOverQuota: boolean;
  /** `in use <bytes> bytes in <count> messages of <quota>`, for the report. */
  readonly detail: string;
  /** The Maildir whose maildirsize counts (quotaRootOf), for recordDelivery. */
  readonly quotaRoot: string;
}

/**
 * The over-quota test vdelivermail makes (checkMaildirQuota: a maildirsize that says "under" is
 * believed, otherwise the Maildir is counted), for a message of `incomingBytes`. A Maildir that does
 * not exist yet is made first, as delivery would make it.
 */
export function checkQuota(run: MailboxRun, target: MailboxTarget, incomingBytes: number): QuotaVerdict {
  const quota = target.quota!;
  const options = { ...maildirsizeOptions(run, target), incomingBytes };
  let check;
  try {
    check = checkMaildirQuota(target.maildir, quota, options);
  } catch (err) {
    if (!isMissing(`${target.maildir}/new`)) throw copyFailure(target, `quota check: ${firstLine(err)}`, err);
    remakeMaildir(run, target);
    try {
      check = checkMaildirQuota(target.maildir, quota, options);
    } catch (again) {
      throw copyFailure(target, `quota check: ${firstLine(again)}`, again);
    }
  }
  return {
    isOverQuota: check.isOverQuota,
    detail: `in use ${check.usage.bytes} bytes in ${check.usage.count} message${check.usage.count === 1 ? '' : 's'} of ${quota}`,
    quotaRoot: check.quotaRoot,
  };
}

/**
 * Record a delivered message in maildirsize (Maildir++: `<size> 1`); `quotaRoot` from the quota
 * check spares a second look for maildirfolder.
 */
export function recordDelivery(run: MailboxRun, target: MailboxTarget, sizeBytes: number, quotaRoot?: string): void {
  if (target.quota === undefined) return;
  const options = maildirsizeOptions(run, target);
  appendMaildirsize(target.maildir, target.quota, { bytes: sizeBytes, count: 1 }, quotaRoot === undefined ? options : { ...options, quotaRoot });
}

/**
 * The name in new/ (and tmp/): C's `<time>.<pid>.<host>`, without a `,S=` size (C's bulletins carry
 * none, and a reader that wants the size stats the file). seq 0: the name must be unique within one
 * Maildir, and this process puts one message in each; a second one in the same second (a domain
 * named twice) meets EEXIST and takes the next name, `<time>.P<pid>Q1_<n>.<host>`. The first-try
 * name only changes with the second, so it is made once per second, not once per mailbox.
 */
function messageName(run: MailboxRun, attempt: number): string {
  const nowMs = run.now();
  if (attempt > 0) return maildirUniqueName({ nowMs, pid: run.pid, host: run.host, seq: 0, attempt });
  const sec = Math.floor(nowMs / 1000);
  if (run.names.sec === sec) return run.names.name;
  run.names.sec = sec;
  run.names.name = maildirUniqueName({ nowMs, pid: run.pid, host: run.host, seq: 0 });
  return run.names.name;
}

/**
 * A hard link the system refuses, so the caller copies instead: EXDEV (another file system), EMLINK
 * (the file has the most links allowed), EPERM (links to another user's file are protected, Linux's
 * fs.protected_hardlinks, or the file system has no hard links).
 */
export type LinkFallback = 'EXDEV' | 'EMLINK' | 'EPERM';

export type LinkResult = { readonly path: string } | { readonly fallback: LinkFallback };

/**
 * Hard-link or symlink the bulletin into `new/` under a fresh name; a taken name means the next one
 * (never replace a message). A missing Maildir is made and the link tried again. A hard link that
 * the system refuses (LinkFallback) is reported back for a copy.
 */
export function linkBulletin(run: MailboxRun, target: MailboxTarget): LinkResult {
  let remade = false;
  for (let attempt = 0; attempt < MAX_NAME_ATTEMPTS; ) {
    const path = `${target.maildir}/new/${messageName(run, attempt)}`;
    try {
      if (run.mode === 'symlink') symlinkSync(run.bulletin.path, path);
      else run.durable.link(run.linkSource ?? run.bulletin.path, path);
      return { path };
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'EEXIST') {
        attempt++;
        continue;
      }
      if (run.mode === 'hard' && (code === 'EXDEV' || code === 'EMLINK' || code === 'EPERM')) return { fallback: code };
      if ((code === 'ENOENT' || code === 'ENOTDIR') && !remade && isMissing(`${target.maildir}/new`)) {
        remakeMaildir(run, target);
        remade = true;
        continue;
      }
      throw copyFailure(target, `${run.mode === 'symlink' ? 'symlink' : 'link'}: ${code}`, err);
    }
  }
  throw copyFailure(target, `no free message name after ${MAX_NAME_ATTEMPTS} tries`);
}

/** The bulletin's bytes into `fd`: from memory when it was small enough to keep, else from its file. */
function writeBulletinBytes(run: MailboxRun, fd: number, toPath: string): void {
  if (run.bulletin.bytes !== undefined) run.durable.write(fd, run.bulletin.bytes);
  else copyFdToFd({ fd: run.bulletin.fd, offset: 0 }, fd, { durable: run.durable, toPath });
}

/** The name every copy linked to starts with (writeLinkSource). */
const LINK_SOURCE_PREFIX = '.vpopbull-';

/**
 * A copy linked to older than this is a killed run's leftover: Maildir readers take the same age
 * for files left in tmp/, and no run links to one copy for that long.
 */
export const STALE_LINK_SOURCE_MS = 36 * 3600 * 1000;

/**
 * Remove the names of copies linked to that a killed run left in `domainDir` (regular files named
 * `.vpopbull-…` whose mtime is older than STALE_LINK_SOURCE_MS); their messages keep the data.
 * Best effort: a directory that cannot be read, or a name that cannot be removed, is left for the
 * next run.
 */
export function removeStaleLinkSources(domainDir: string, nowMs: number): void {
  let names: string[];
  try {
    names = readdirSync(domainDir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(LINK_SOURCE_PREFIX)) continue;
    const path = `${domainDir}/${name}`;
    try {
      const st = lstatSync(path);
      if (!st.isFile() || nowMs - st.mtimeMs < STALE_LINK_SOURCE_MS) continue;
      unlinkSync(path);
    } catch {
      // gone already, or not ours to remove
    }
  }
}

/**
 * Working as a domain's owner, hard links need a file that owner may link to (the kernel's
 * fs.protected_hardlinks refuses links to another user's file, the bulletin is usually root's): the
 * bulletin copied once into the domain directory, owned by the owner, 0600 as messages are, fsynced
 * before any message links to it. The caller removes the name once the domain is done; the
 * messages keep the file. Throws on failure (the caller then links the bulletin itself).
 */
export function writeLinkSource(run: MailboxRun, domainDir: string, serial = 0): string {
  const path = `${domainDir}/${LINK_SOURCE_PREFIX}${messageName(run, 0)}${serial === 0 ? '' : `-${serial}`}`;
  const fd = openSync(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, MESSAGE_MODE);
  try {
    fchmodSync(fd, MESSAGE_MODE); // whatever the umask: every message linked to it has this mode
    writeBulletinBytes(run, fd, path);
    run.durable.fsync(fd);
  } catch (err) {
    closeQuiet(fd);
    unlinkQuiet(path);
    throw err;
  }
  try {
    closeSync(fd);
  } catch (err) {
    unlinkQuiet(path);
    throw err;
  }
  return path;
}

/** A copy written to tmp/ and still open: fsync it, then commitCopy. */
export interface PendingCopy {
  readonly fd: number;
  readonly tmpPath: string;
  readonly sizeBytes: number;
}

function closeQuiet(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already failing: the first error is the one reported
  }
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // never made, or already gone
  }
}

/**
 * Write `headers` and the bulletin into a new file in `tmp/` (O_EXCL, no symlink followed), mode
 * 0600 whatever the umask, owned by the domain when we are root. The file is left open for the
 * caller's fsync; any failure removes it. A missing Maildir is made first.
 */
export function writeCopy(run: MailboxRun, target: MailboxTarget, headers: Uint8Array | undefined): PendingCopy {
  const bulletin = run.bulletin;
  if (run.mode !== 'copy') refuseSymlinkedMaildir(run, target, ['tmp']); // a fallback copy: tmp/ was not checked yet
  const sizeBytes = (headers?.length ?? 0) + bulletin.sizeBytes;
  let remade = false;
  let fd = -1;
  let tmpPath = '';
  for (let attempt = 0; fd < 0; ) {
    if (attempt >= MAX_NAME_ATTEMPTS) throw copyFailure(target, `no free name in tmp/ after ${MAX_NAME_ATTEMPTS} tries`);
    tmpPath = `${target.maildir}/tmp/${messageName(run, attempt)}`;
    try {
      fd = openSync(tmpPath, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, MESSAGE_MODE);
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'EEXIST') {
        attempt++;
        continue;
      }
      if ((code === 'ENOENT' || code === 'ENOTDIR') && !remade) {
        remakeMaildir(run, target);
        remade = true;
        continue;
      }
      throw copyFailure(target, `open ${tmpPath}: ${code}`, err);
    }
  }
  try {
    fchmodSync(fd, MESSAGE_MODE);
    fchownIfRoot(fd, tmpPath, target.owner, run.euid);
    if (headers !== undefined && headers.length > 0) run.durable.write(fd, headers);
    writeBulletinBytes(run, fd, tmpPath);
  } catch (err) {
    closeQuiet(fd);
    unlinkQuiet(tmpPath);
    throw copyFailure(target, `write ${tmpPath}: ${errnoOf(err)}`, err);
  }
  return { fd, tmpPath, sizeBytes };
}

/**
 * After the fsync: close (a late write error shows here on NFS), link the tmp file into `new/` under
 * a fresh name (a taken name means the next one: link never overwrites), remove the tmp name.
 * Returns the message's path in new/. On failure nothing is left in new/ and the tmp file goes.
 */
export function commitCopy(run: MailboxRun, target: MailboxTarget, pending: PendingCopy): string {
  try {
    closeSync(pending.fd);
  } catch (err) {
    unlinkQuiet(pending.tmpPath);
    throw copyFailure(target, `close ${pending.tmpPath}: ${errnoOf(err)}`, err);
  }
  let remade = false;
  for (let attempt = 0; attempt < MAX_NAME_ATTEMPTS; ) {
    const path = `${target.maildir}/new/${messageName(run, attempt)}`;
    try {
      run.durable.link(pending.tmpPath, path);
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'EEXIST') {
        attempt++;
        continue;
      }
      if ((code === 'ENOENT' || code === 'ENOTDIR') && !remade && isMissing(`${target.maildir}/new`)) {
        try {
          remakeMaildir(run, target);
        } catch (e) {
          unlinkQuiet(pending.tmpPath);
          throw e;
        }
        remade = true;
        continue;
      }
      unlinkQuiet(pending.tmpPath);
      throw copyFailure(target, `link ${pending.tmpPath} ${path}: ${code}`, err);
    }
    unlinkQuiet(pending.tmpPath); // the message is in new/; a leftover in tmp/ is harmless
    return path;
  }
  unlinkQuiet(pending.tmpPath);
  throw copyFailure(target, `no free message name after ${MAX_NAME_ATTEMPTS} tries`);
}

/** A copy whose fsync failed: close and remove it. */
export function abandonCopy(pending: PendingCopy): void {
  closeQuiet(pending.fd);
  unlinkQuiet(pending.tmpPath);
}
