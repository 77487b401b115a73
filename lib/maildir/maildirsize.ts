// Maildir++ quota: the maildirsize cache (read, append, recount, rewrite) and the over-quota test
// (vdelivermail.md §9). The file is a cache of the Maildir: missing, damaged or too big means recount.
import {
  closeSync,
  constants as fsc,
  fchmodSync,
  fstatSync,
  lstatSync,
  openSync,
  readSync,
  readdirSync,
  type Dirent,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { TempError } from '../exit.ts';
import { DURABLE, unlinkQuiet, type Durable } from '../fs/durable.ts';
import { hasQuotaLimits, isOverQuota, parseQuotaLimits, quotaPercent, type QuotaUsage } from '../quota.ts';
import { effectiveUid, fchownIfRoot, fsyncDir, maildirHost, type Owner } from './deliver.ts';

export const MAILDIRSIZE = 'maildirsize';

/** A maildirsize this big or bigger is recounted (Maildir++; C and Dovecot read 5120 bytes at most). */
export const MAILDIRSIZE_MAX_BYTES = 5120;

/** Over quota according to a file older than this: recount before refusing mail (Maildir++). */
export const MAILDIRSIZE_STALE_SEC = 15 * 60;

/** Recounts of a Maildir that keeps changing underneath before we take the last count as it is. */
const RECOUNT_TRIES = 3;

/** maildirsize as read: the quota line and the sum of the `<bytes> <count>` lines after it. */
export interface Maildirsize extends QuotaUsage {
  /** The first line, without its LF (e.g. `10485760S,1000C`). */
  readonly quota: string;
  /** How many `<bytes> <count>` lines follow the quota line. */
  readonly lines: number;
  readonly sizeBytes: number;
  readonly mtimeMs: number;
}

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err);
}

/**
 * The directory whose maildirsize counts for `maildir`: a Maildir++ folder (it holds a
 * `maildirfolder` file) shares its parent's quota.
 */
export function quotaRootOf(maildir: string): string {
  try {
    lstatSync(join(maildir, 'maildirfolder'));
    return dirname(maildir.replace(/\/+$/, ''));
  } catch {
    return maildir;
  }
}

// `%lld %d` as Dovecot scans it: leading blanks, optional signs, trailing text ignored.
const DATA_LINE = /^[ \t]*([+-]?\d+)[ \t\n\v\f\r]+([+-]?\d+)/;

/**
 * Parse maildirsize text the way Dovecot does (so both programs agree on when to recount):
 * a last line without LF is ignored (a write in progress), a NUL byte, a missing quota line,
 * no data line, a data line that is not two integers, or a negative total make the file damaged
 * (undefined). C adds 0 for a bad line instead; recounting is the safer reading of a broken cache.
 */
export function parseMaildirsize(text: string): Omit<Maildirsize, 'sizeBytes' | 'mtimeMs'> | undefined {
  if (text.includes('\0')) return undefined;
  const end = text.lastIndexOf('\n');
  if (end < 0) return undefined;
  const lines = text.slice(0, end).split('\n');
  const quota = lines[0]!;
  if (lines.length < 2) return undefined;
  let bytes = 0;
  let count = 0;
  for (let i = 1; i < lines.length; i++) {
    const m = DATA_LINE.exec(lines[i]!);
    if (m === null) return undefined;
    bytes += Number(m[1]);
    count += Number(m[2]);
  }
  if (bytes < 0 || count < 0) return undefined;
  return { quota, bytes, count, lines: lines.length - 1 };
}

/**
 * Read `<maildir>/maildirsize` without following a symlink (O_NOFOLLOW, then the opened file must
 * be the regular file at the path: same device and inode). Undefined means "recount": missing,
 * a symlink or not a regular file, unreadable, ≥ 5120 bytes, or damaged (parseMaildirsize).
 * Never deletes anything: unlike C, an old file is not thrown away on every read (pitfall 9);
 * age only matters when the file says "over quota" (checkMaildirQuota).
 */
export function readMaildirsize(maildir: string): Maildirsize | undefined {
  const path = join(maildir, MAILDIRSIZE);
  let fd: number;
  try {
    fd = openSync(path, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
  } catch {
    return undefined; // missing, a symlink (ELOOP) or unreadable: all mean recount
  }
  try {
    const st = fstatSync(fd);
    const at = lstatSync(path);
    if (!st.isFile() || st.dev !== at.dev || st.ino !== at.ino) return undefined;
    if (st.size >= MAILDIRSIZE_MAX_BYTES) return undefined;
    const buf = Buffer.alloc(MAILDIRSIZE_MAX_BYTES);
    let got = 0;
    for (;;) {
      const n = readSync(fd, buf, got, buf.length - got, null);
      if (n === 0) break;
      got += n;
      if (got >= buf.length) return undefined; // grew past the limit while we read
    }
    const parsed = parseMaildirsize(buf.toString('latin1', 0, got));
    return parsed === undefined ? undefined : { ...parsed, sizeBytes: got, mtimeMs: st.mtimeMs };
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** The result of counting a Maildir's messages. */
export interface MaildirCount extends QuotaUsage {
  /** Latest mtime of the new/ and cur/ directories counted. */
  readonly latestMtimeMs: number;
  /** The directories counted, to check afterwards whether any changed. */
  readonly dirs: readonly string[];
}

/** The size a message name carries (`,S=<n>` before the `:` info part), or undefined. */
export function sizeFromMaildirName(name: string): number | undefined {
  const colon = name.indexOf(':');
  const base = colon < 0 ? name : name.slice(0, colon);
  const at = base.lastIndexOf(',S=');
  if (at < 0) return undefined;
  const m = /^(\d+)(?:,|$)/.exec(base.slice(at + 3));
  return m === null ? undefined : Number(m[1]);
}

/** Is the message marked for deletion (`T` among the `:2,` flags)? */
function isTrashed(name: string): boolean {
  const info = name.indexOf(':2,');
  return info >= 0 && name.indexOf('T', info + 3) >= 0;
}

function dirMtimeMs(dir: string): number | undefined {
  try {
    const st = lstatSync(dir);
    return st.isDirectory() ? st.mtimeMs : undefined;
  } catch (err) {
    const code = errnoOf(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new TempError(`stat(${dir}) failed: ${code}`, { cause: err });
  }
}

function quotaDirsOf(root: string): string[] {
  const dirs = [join(root, 'new'), join(root, 'cur')];
  let entries: Dirent[];
  try {
    entries = readdirSync(root, { withFileTypes: true });
  } catch (err) {
    throw new TempError(`opendir(${root}) failed: ${errnoOf(err)}`, { cause: err });
  }
  for (const e of entries) {
    // Folders are `.Name` directories; Trash does not count (C), and a symlinked folder is not followed.
    if (e.name[0] !== '.' || e.name === '.Trash' || !e.isDirectory()) continue;
    dirs.push(join(root, e.name, 'new'), join(root, e.name, 'cur'));
  }
  return dirs;
}

/**
 * Count the messages of a Maildir as vpopmail's recount does: new/ and cur/ of the Maildir and of
 * every `.Folder` except `.Trash`; names starting with `.` and messages flagged `T` are skipped;
 * a message's size is its `,S=` value, else its lstat size. A message that vanishes while we count
 * (moved to cur/, expunged) is skipped; any other failure to look is a TempError.
 */
export function countMaildir(maildir: string): MaildirCount {
  const root = quotaRootOf(maildir);
  let bytes = 0;
  let count = 0;
  let latestMtimeMs = 0;
  const dirs = quotaDirsOf(root);
  const counted: string[] = [];
  for (const dir of dirs) {
    const mtime = dirMtimeMs(dir); // before reading: a later change shows as a newer mtime
    if (mtime === undefined) continue;
    counted.push(dir);
    if (mtime > latestMtimeMs) latestMtimeMs = mtime;
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT') continue;
      throw new TempError(`opendir(${dir}) failed: ${code}`, { cause: err });
    }
    for (const e of entries) {
      if (e.name[0] === '.' || e.isDirectory() || isTrashed(e.name)) continue;
      let size = sizeFromMaildirName(e.name);
      if (size === undefined) {
        try {
          size = lstatSync(join(dir, e.name)).size;
        } catch (err) {
          const code = errnoOf(err);
          if (code === 'ENOENT') continue;
          throw new TempError(`stat(${join(dir, e.name)}) failed: ${code}`, { cause: err });
        }
      }
      bytes += size;
      count++;
    }
  }
  return { bytes, count, latestMtimeMs, dirs: counted };
}

/** Has any counted directory changed since the count (C's and Dovecot's "try again" test)? */
function hasChangedSince(count: MaildirCount): boolean {
  let latest = 0;
  for (const dir of count.dirs) {
    const mtime = dirMtimeMs(dir);
    if (mtime !== undefined && mtime > latest) latest = mtime;
  }
  return latest !== count.latestMtimeMs;
}

export interface MaildirsizeWriteOptions {
  readonly nowMs: number;
  readonly pid: number;
  /** The machine's host name, unprocessed; it goes into the temp file name. */
  readonly host: string;
  /**
   * Owner of a file we create, applied only when running as root. C: VPOPMAILUID:VPOPMAILGID from
   * the quota code, the domain uid/gid after a quota change (layout.md §2.1).
   */
  readonly owner?: Owner;
  /** Effective uid; default the process's. */
  readonly euid?: number;
  /**
   * Mode of a file we create, set exactly (no umask). Default 0644, what C's delivery produced in
   * the golden run (0644 & ~umask); C's tools run under umask 077 and produce 0600.
   */
  readonly mode?: number;
  readonly durable?: Durable;
}

function formatLine(usage: QuotaUsage): string {
  return `${Math.trunc(usage.bytes)} ${Math.trunc(usage.count)}\n`;
}

/**
 * Replace `<maildir>/maildirsize` with the quota line and one `<bytes> <count>` line: written to
 * `tmp/<time>.<pid>_NeWmAiLdIrSiZe.<host>` (C's name), chowned, fsynced, renamed over the old file
 * (a symlink there is replaced, not followed), then the Maildir is fsynced.
 */
export function writeMaildirsize(maildir: string, quota: string, usage: QuotaUsage, options: MaildirsizeWriteOptions): void {
  writeMaildirsizeAt(quotaRootOf(maildir), quota, usage, options);
}

/** writeMaildirsize into the quota root `root` itself. */
function writeMaildirsizeAt(root: string, quota: string, usage: QuotaUsage, options: MaildirsizeWriteOptions): void {
  writeMaildirsizeLines(root, `${quota}\n${formatLine(usage)}`, options);
}

function writeMaildirsizeLines(root: string, text: string, options: MaildirsizeWriteOptions): void {
  const durable = options.durable ?? DURABLE;
  const mode = options.mode ?? 0o644;
  const path = join(root, MAILDIRSIZE);
  const sec = Math.floor(options.nowMs / 1000);
  const tmp = join(root, 'tmp', `${sec}.${options.pid}_NeWmAiLdIrSiZe.${maildirHost(options.host)}`);
  unlinkQuiet(tmp); // a leftover of a crashed run with our pid in the same second
  let fd: number;
  try {
    fd = openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, mode);
  } catch (err) {
    throw new TempError(`open(${tmp}) failed: ${errnoOf(err)}`, { cause: err });
  }
  let step = 'fchmod';
  try {
    try {
      fchmodSync(fd, mode);
      fchownIfRoot(fd, tmp, options.owner, options.euid ?? effectiveUid());
      step = 'write';
      durable.write(fd, Buffer.from(text, 'latin1'));
      step = 'fsync';
      durable.fsync(fd);
    } finally {
      closeSync(fd);
    }
    step = 'rename';
    durable.rename(tmp, path);
  } catch (err) {
    unlinkQuiet(tmp);
    if (err instanceof TempError) throw err;
    throw new TempError(`${step}(${step === 'rename' ? `${tmp}, ${path}` : tmp}) failed: ${errnoOf(err)}`, { cause: err });
  }
  fsyncDir(root, durable);
}

/**
 * Add one `<bytes> <count>` line (a delivery: `<final file size> 1`) with a single O_APPEND write,
 * which concurrent writers cannot interleave (the Maildir++ design: no lock). When the file is
 * missing (or is not a regular file) it is created via writeMaildirsize with `quota` and this line,
 * as C does; the totals are then low until the next recount. Returns what it did.
 */
export function appendMaildirsize(
  maildir: string,
  quota: string,
  delta: QuotaUsage,
  options: MaildirsizeWriteOptions & QuotaRootOption,
): 'appended' | 'created' {
  const root = options.quotaRoot ?? quotaRootOf(maildir);
  const path = join(root, MAILDIRSIZE);
  const durable = options.durable ?? DURABLE;
  let fd: number | undefined;
  try {
    fd = openSync(path, fsc.O_WRONLY | fsc.O_APPEND | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
  } catch (err) {
    const code = errnoOf(err);
    if (code !== 'ENOENT' && code !== 'ELOOP') throw new TempError(`open(${path}) failed: ${code}`, { cause: err });
  }
  if (fd !== undefined) {
    try {
      if (fstatSync(fd).isFile()) {
        try {
          durable.write(fd, Buffer.from(formatLine(delta), 'latin1'));
        } catch (err) {
          throw new TempError(`write(${path}) failed: ${errnoOf(err)}`, { cause: err });
        }
        return 'appended';
      }
    } finally {
      closeSync(fd);
    }
  }
  writeMaildirsizeLines(root, `${quota}\n${formatLine(delta)}`, options);
  return 'created';
}

/** Remove maildirsize (a quota change does this before rebuilding it). A missing file is fine. */
export function removeMaildirsize(maildir: string): void {
  unlinkQuiet(join(quotaRootOf(maildir), MAILDIRSIZE));
}

export interface Recount extends QuotaUsage {
  /** False when the Maildir kept changing during every try: the count is a best guess. */
  readonly isStable: boolean;
}

/**
 * Recount the Maildir (countMaildir) and rewrite maildirsize with `quota` and the result. A Maildir
 * that changed while it was counted is counted again, up to three times; the last count is written
 * either way (C writes its one count without retrying).
 */
export function recalculateMaildirsize(maildir: string, quota: string, options: MaildirsizeWriteOptions): Recount {
  return recount(maildir, quotaRootOf(maildir), quota, options);
}

/** recalculateMaildirsize with the quota root already known: count `maildir`, write at `root`. */
function recount(maildir: string, root: string, quota: string, options: MaildirsizeWriteOptions): Recount {
  let count = countMaildir(maildir);
  let isStable = !hasChangedSince(count);
  for (let i = 1; i < RECOUNT_TRIES && !isStable; i++) {
    count = countMaildir(maildir);
    isStable = !hasChangedSince(count);
  }
  writeMaildirsizeAt(root, quota, count, options);
  return { bytes: count.bytes, count: count.count, isStable };
}

/**
 * The quota root (quotaRootOf) of the Maildir, when the caller has already looked it up: a
 * delivery checks the quota and appends to maildirsize, and looks for `maildirfolder` once.
 */
export interface QuotaRootOption {
  readonly quotaRoot?: string;
}

export interface QuotaCheckOptions extends MaildirsizeWriteOptions, QuotaRootOption {
  /** Size of the incoming message (vdelivermail: the size of fd 0, without the prepended headers). */
  readonly incomingBytes: number;
  /** Messages arriving (default 1; 0 to just ask for usage). */
  readonly incomingCount?: number;
}

export interface QuotaCheck {
  readonly isOverQuota: boolean;
  /** Usage before the incoming message. */
  readonly usage: QuotaUsage;
  /** quotaPercent of that usage (vdelivermail warns at ≥ 90). */
  readonly percent: number;
  /** True when the Maildir was counted and maildirsize rewritten. */
  readonly recounted: boolean;
  /** The Maildir whose maildirsize was used (quotaRootOf). */
  readonly quotaRoot: string;
  /**
   * maildirsize's quota line after the check, when the check read a sound file or wrote one;
   * undefined when it does not know (no file, or one it could not use, and no recount).
   */
  readonly quotaLine: string | undefined;
}

/**
 * The over-quota test for one incoming message (vdelivermail.md §9.3) with the Maildir++ rule for
 * trusting the cache: a readable maildirsize whose quota line matches `quota` is believed when it
 * says "not over", however old (C instead deletes any file older than 15 minutes on every read and
 * recounts idle mailboxes at each delivery, pitfall 9); when it says "over" it is believed only if
 * it holds a single data line and is at most 15 minutes old, as C and Dovecot do. Otherwise the
 * Maildir is recounted and maildirsize rewritten (recalculateMaildirsize); a Maildir that changed
 * during the recount gives "not over", C's "try again" answer. A quota without limits (`NOQUOTA`,
 * empty) is never over and touches nothing.
 */
export function checkMaildirQuota(maildir: string, quota: string, options: QuotaCheckOptions): QuotaCheck {
  const limits = parseQuotaLimits(quota);
  const incomingCount = options.incomingCount ?? 1;
  const root = options.quotaRoot ?? quotaRootOf(maildir);
  const file = readMaildirsize(root);
  const known = { quotaRoot: root, quotaLine: file?.quota };
  if (!hasQuotaLimits(limits)) {
    const usage = file === undefined ? { bytes: 0, count: 0 } : { bytes: file.bytes, count: file.count };
    return { isOverQuota: false, usage, percent: 0, recounted: false, ...known };
  }
  // A quota line that differs from the account's quota (a hand-edited vpasswd) is rewritten by the
  // recount, so Dovecot, which takes its limits from this line, enforces the same quota as we do.
  if (file !== undefined && file.quota === quota) {
    const usage = { bytes: file.bytes, count: file.count };
    const percent = quotaPercent(limits, usage);
    if (!isOverQuota(limits, usage, options.incomingBytes, incomingCount)) {
      return { isOverQuota: false, usage, percent, recounted: false, ...known };
    }
    const isFresh = Math.floor(file.mtimeMs / 1000) >= Math.floor(options.nowMs / 1000) - MAILDIRSIZE_STALE_SEC;
    if (file.lines === 1 && isFresh) return { isOverQuota: true, usage, percent, recounted: false, ...known };
  }
  const counted = recount(root, root, quota, options);
  const usage = { bytes: counted.bytes, count: counted.count };
  const percent = quotaPercent(limits, usage);
  const isOver = counted.isStable && isOverQuota(limits, usage, options.incomingBytes, incomingCount);
  return { isOverQuota: isOver, usage, percent, recounted: true, quotaRoot: root, quotaLine: quota };
}
