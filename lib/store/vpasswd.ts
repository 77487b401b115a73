// <dom>/vpasswd and <dom>/vpasswd.cdb: the line format, look-ups, listing, and locked crash-safe rewrites.
//
// Strings here are byte strings (latin1: one char per byte), so any bytes a C tool wrote round-trip
// exactly. Callers holding text from argv or a socket convert it first (`Buffer.from(s).toString('latin1')`).
//
// The pair invariant (COMPATIBILITY.md, "vpasswd and vpasswd.cdb"). Every change runs under
// `<dom>/.vpasswd.lock` and goes:
//   1. write vpasswd.tmp and vpasswd.cdb.tmp (the cdb of exactly that text), fsync both;
//   2. rename vpasswd.cdb.tmp -> vpasswd.cdb.new, fsync the directory;   ("the new cdb is whole")
//   3. rename vpasswd.tmp -> vpasswd, fsync the directory;                ("commit")
//   4. rename vpasswd.cdb.new -> vpasswd.cdb, fsync the directory.
// So at every instant each of vpasswd and vpasswd.cdb is a whole file holding the old or the new state,
// and the cdb never runs ahead of vpasswd: the pair is (old, old), (new, old) or (new, new). (new, old)
// exists only while vpasswd.cdb.new exists and vpasswd.tmp does not, and whoever sees that completes
// step 4 (roll forward): every locked operation first, and every look-up (one stat) before it reads.
// vpasswd.tmp present means the commit never happened: its temp files are discarded (roll back).
import { closeSync, fchownSync, fchmodSync, openSync, readSync, statSync, constants as fsc } from 'node:fs';
import { join } from 'node:path';
import { CdbReader, cdbGetSync, CdbFormatError } from '../cdb/reader.ts';
import { CdbWriter } from '../cdb/writer.ts';
import { PermError, TempError, VA, VpopmailError } from '../exit.ts';
import { DURABLE, fsyncDirSync, unlinkQuiet, type Durable } from '../fs/durable.ts';
import { acquireLock, type Lock } from './lock.ts';

export const VPASSWD_FILE = 'vpasswd';
export const VPASSWD_CDB_FILE = 'vpasswd.cdb';
export const VPASSWD_LOCK_FILE = '.vpasswd.lock';
/** Our temp names: fixed, because only the holder of the lock writes them, and distinct from C's. */
const VPASSWD_TMP = 'vpasswd.tmp';
const CDB_TMP = 'vpasswd.cdb.tmp';
const CDB_NEW = 'vpasswd.cdb.new';

/** One vpasswd line (passwords.md §1). The same shape is every backend's user record. */
export interface VpasswdEntry {
  /** pw_name: the user name, the cdb key. */
  readonly name: string;
  /** pw_passwd: crypt(3) hash, possibly `{SCHEME}`-prefixed, or empty. */
  readonly passwd: string;
  /** pw_uid: 1 normally, 2 for "APOP" accounts; not a Unix uid. */
  readonly uid: number;
  /** pw_gid: the account's own flag bits (passwords.md §6). */
  readonly gid: number;
  /** pw_gecos: real name or comment. */
  readonly gecos: string;
  /** pw_dir: the user's home, no trailing slash. */
  readonly dir: string;
  /** pw_shell: the quota string (NOQUOTA, 123S, 10C, 123S,10C or empty). */
  readonly quota: string;
  /** pw_clear_passwd: the 8th field; undefined when the line has only 7 fields. */
  readonly clear?: string | undefined;
}

/** A vpasswd line that cannot be parsed; the message names file and line, never the line's content. */
export class VpasswdFormatError extends TempError {
  override name = 'VpasswdFormatError';
  constructor(
    readonly file: string,
    readonly line: number,
    reason: string,
  ) {
    super(`${file} line ${line}: ${reason}`);
  }
}

export interface LineOrigin {
  readonly file: string;
  readonly line: number;
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/** C prints uid and gid with %d: a canonical decimal int is the only form that round-trips. */
function parseDecimalField(text: string, field: string, where: LineOrigin): number {
  if (!/^-?(0|[1-9][0-9]*)$/.test(text) || text === '-0') {
    throw new VpasswdFormatError(where.file, where.line, `${field} field is not a decimal number`);
  }
  const n = Number(text);
  if (n < INT32_MIN || n > INT32_MAX) throw new VpasswdFormatError(where.file, where.line, `${field} field is out of range`);
  return n;
}

/**
 * Parse one vpasswd line (without its LF): `name:passwd:uid:gid:gecos:dir:quota[:clear]`, where the
 * clear field is everything after the 7th `:` (it may hold `:` itself). Strict where C guesses: fewer
 * than 7 fields, an empty name or a uid/gid that is not a decimal int is an error naming the line.
 */
export function parseVpasswdLine(line: string, where: LineOrigin = { file: VPASSWD_FILE, line: 1 }): VpasswdEntry {
  const fields: string[] = [];
  let start = 0;
  for (let i = 0; i < 7; i++) {
    const colon = line.indexOf(':', start);
    if (colon < 0) {
      if (i < 6) throw new VpasswdFormatError(where.file, where.line, `expected 7 or 8 fields, found ${i + 1}`);
      fields.push(line.slice(start));
      start = -1;
      break;
    }
    fields.push(line.slice(start, colon));
    start = colon + 1;
  }
  if (line.includes('\n')) throw new VpasswdFormatError(where.file, where.line, 'line holds a newline');
  const [name, passwd, uid, gid, gecos, dir, quota] = fields as [string, string, string, string, string, string, string];
  if (name === '') throw new VpasswdFormatError(where.file, where.line, 'empty user name');
  return {
    name,
    passwd,
    uid: parseDecimalField(uid, 'uid', where),
    gid: parseDecimalField(gid, 'gid', where),
    gecos,
    dir,
    quota,
    clear: start < 0 ? undefined : line.slice(start),
  };
}

/** Refuse what would corrupt the file: a `:` or LF inside a field, a uid/gid that is not an int. */
export function checkVpasswdFields(entry: VpasswdEntry): void {
  const who = /^[\x21-\x7e]{1,64}$/.test(entry.name) ? ` of ${entry.name}` : '';
  if (entry.name === '') throw new PermError('vpasswd entry has an empty user name');
  const plain: readonly (readonly [string, string])[] = [
    ['name', entry.name],
    ['passwd', entry.passwd],
    ['gecos', entry.gecos],
    ['dir', entry.dir],
    ['quota', entry.quota],
  ];
  for (const [field, value] of plain) {
    if (value.includes(':') || value.includes('\n')) throw new PermError(`vpasswd field ${field}${who} contains ':' or a newline`);
  }
  if (entry.clear !== undefined && entry.clear.includes('\n')) throw new PermError(`vpasswd field clear${who} contains a newline`);
  for (const [field, value] of [['uid', entry.uid], ['gid', entry.gid]] as const) {
    if (!Number.isInteger(value) || value < INT32_MIN || value > INT32_MAX) throw new PermError(`vpasswd field ${field}${who} is not an int`);
  }
}

/**
 * The length limits C checks before writing a user (spec/tools.md §0.2), as VpopmailErrors with the
 * VA codes the tools print. Lengths are in bytes (our strings are byte strings).
 */
export function checkVpasswdLengths(entry: VpasswdEntry): void {
  if (entry.name.length > 64) throw new VpopmailError(VA.USER_NAME_TOO_LONG);
  if (entry.passwd.length > 128) throw new VpopmailError(VA.PASSWD_TOO_LONG);
  if (entry.gecos.length > 64) throw new VpopmailError(VA.GECOS_TOO_LONG);
  if (entry.dir.length > 160) throw new VpopmailError(VA.DIR_TOO_LONG);
  if (entry.quota.length > 20) throw new VpopmailError(VA.QUOTA_TOO_LONG);
  if (entry.clear !== undefined && entry.clear.length > 128) throw new VpopmailError(VA.CLEAR_PASSWD_TOO_LONG);
}

/** Format one line without its LF: 8 fields when `clear` is set (even empty), else 7. */
export function formatVpasswdLine(entry: VpasswdEntry): string {
  checkVpasswdFields(entry);
  const base = `${entry.name}:${entry.passwd}:${entry.uid}:${entry.gid}:${entry.gecos}:${entry.dir}:${entry.quota}`;
  return entry.clear === undefined ? base : `${base}:${entry.clear}`;
}

/** cdb record of a line (passwords.md §2.1): key = text before the first `:`, data = the rest. */
function cdbRecordOf(line: string): [Uint8Array, Uint8Array] {
  const colon = line.indexOf(':');
  return [Buffer.from(line.slice(0, colon), 'latin1'), Buffer.from(line.slice(colon + 1), 'latin1')];
}

// --- streaming lines ----------------------------------------------------------------------------

const READ_CHUNK = 64 * 1024;
/** Real lines are a few hundred bytes; a longer one is damage, not data, and must not eat memory. */
const MAX_LINE_BYTES = 64 * 1024;

export interface FileLine {
  /** The line without its LF, as a byte string. */
  readonly text: string;
  /** 1-based. */
  readonly number: number;
}

/** Lines of an open file, read in 64 KiB chunks; a last line without LF is still a line. */
export function* readLinesSync(fd: number, file: string): Generator<FileLine> {
  const chunk = Buffer.allocUnsafe(READ_CHUNK);
  let carry = Buffer.alloc(0);
  let number = 0;
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, chunk, 0, READ_CHUNK, null);
    } catch (err) {
      throw new TempError(`unable to read ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err });
    }
    if (n === 0) break;
    const data = carry.length === 0 ? chunk.subarray(0, n) : Buffer.concat([carry, chunk.subarray(0, n)]);
    let from = 0;
    for (;;) {
      const nl = data.indexOf(10, from);
      if (nl < 0) break;
      number++;
      if (nl - from > MAX_LINE_BYTES) throw new VpasswdFormatError(file, number, 'line longer than 64 KiB');
      yield { text: data.toString('latin1', from, nl), number };
      from = nl + 1;
    }
    // Copy the tail: `chunk` is reused by the next read.
    carry = Buffer.from(data.subarray(from));
    if (carry.length > MAX_LINE_BYTES) throw new VpasswdFormatError(file, number + 1, 'line longer than 64 KiB');
  }
  if (carry.length > 0) yield { text: carry.toString('latin1'), number: number + 1 };
}

/** Open for reading; undefined when the file does not exist, TempError when it cannot be opened. */
function openIfExists(path: string): number | undefined {
  try {
    return openSync(path, fsc.O_RDONLY);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TempError(`unable to open ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err });
  }
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new TempError(`unable to stat ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err });
  }
}

/** vpasswd ENOENT means "no users yet" only if the domain directory itself is there. */
function assertDomainDir(domainDir: string): void {
  if (!exists(domainDir)) throw new TempError(`domain directory ${domainDir} is missing`);
}

/** Every entry of vpasswd in file order (vauth_getall); nothing when the file does not exist. */
export function* iterateVpasswd(domainDir: string): Generator<VpasswdEntry> {
  const path = join(domainDir, VPASSWD_FILE);
  const fd = openIfExists(path);
  if (fd === undefined) {
    assertDomainDir(domainDir);
    return;
  }
  try {
    for (const line of readLinesSync(fd, path)) yield parseVpasswdLine(line.text, { file: path, line: line.number });
  } finally {
    closeSync(fd);
  }
}

// --- options -------------------------------------------------------------------------------------

export interface VpasswdWriteOptions {
  readonly durable?: Durable;
  /** The domain's uid/gid from users/assign: files and the lock file are chowned to it when we run as root. */
  readonly owner?: { readonly uid: number; readonly gid: number };
  /** How long to wait for `.vpasswd.lock` (default: lock.ts's, C's 20 s). */
  readonly lockTimeoutMs?: number;
}

export interface VpasswdLookupOptions {
  /**
   * What to do when vpasswd.cdb does not exist: `scan` reads the flat file (our default; C has no
   * such fallback), `rebuild` builds the cdb under the lock and looks again (C's vauth_getpw).
   */
  readonly missingCdb?: 'scan' | 'rebuild';
  /** Used by `rebuild` and by the roll-forward of an interrupted change. */
  readonly write?: VpasswdWriteOptions;
}

function isRoot(): boolean {
  return process.geteuid?.() === 0;
}

function lockDomain(domainDir: string, options: VpasswdWriteOptions): Lock {
  return acquireLock(join(domainDir, VPASSWD_LOCK_FILE), {
    ...(options.lockTimeoutMs === undefined ? {} : { timeoutMs: options.lockTimeoutMs }),
    ...(options.owner === undefined ? {} : { owner: options.owner }),
  });
}

function sysMessage(err: unknown): string {
  return String((err as NodeJS.ErrnoException).code ?? (err as Error).message ?? err);
}

// --- recovery ------------------------------------------------------------------------------------

export type RecoveryOutcome = 'clean' | 'rolled-back' | 'rolled-forward';

/**
 * Finish or undo a change a crashed writer left behind (the invariant at the top of this file).
 * The caller holds `.vpasswd.lock`.
 */
function recoverLocked(domainDir: string, durable: Durable): RecoveryOutcome {
  const vtmp = join(domainDir, VPASSWD_TMP);
  const ctmp = join(domainDir, CDB_TMP);
  const cnew = join(domainDir, CDB_NEW);
  if (exists(vtmp)) {
    // No commit happened: vpasswd and vpasswd.cdb are both the old state.
    unlinkQuiet(vtmp);
    unlinkQuiet(ctmp);
    unlinkQuiet(cnew);
    return 'rolled-back';
  }
  if (exists(cnew)) {
    // vpasswd is new, vpasswd.cdb old; vpasswd.cdb.new is whole (fsynced before the commit).
    unlinkQuiet(ctmp);
    durable.rename(cnew, join(domainDir, VPASSWD_CDB_FILE));
    fsyncDirSync(domainDir, durable);
    return 'rolled-forward';
  }
  if (exists(ctmp)) {
    unlinkQuiet(ctmp); // a cdb build that never finished
    return 'rolled-back';
  }
  return 'clean';
}

/** Take the lock and repair what a crashed writer left (vmkpasswd runs this first too). */
export function recoverVpasswd(domainDir: string, options: VpasswdWriteOptions = {}): RecoveryOutcome {
  const lock = lockDomain(domainDir, options);
  try {
    return recoverLocked(domainDir, options.durable ?? DURABLE);
  } finally {
    lock.release();
  }
}

/** A look-up's cheap check for an interrupted change: one stat, and the lock only when needed. */
function rollForwardIfNeeded(domainDir: string, options: VpasswdWriteOptions): void {
  if (!exists(join(domainDir, CDB_NEW))) return;
  if (exists(join(domainDir, VPASSWD_TMP))) return; // a writer is mid-change; its cdb is not committed
  try {
    recoverVpasswd(domainDir, { ...options, lockTimeoutMs: options.lockTimeoutMs ?? 2_000 });
  } catch {
    // Not ours to repair (no write access, or the lock is busy): the old cdb is still whole.
  }
}

// --- writing -------------------------------------------------------------------------------------

/** Buffers latin1 text into 64 KiB writes through a Durable. */
class LineSink {
  readonly #buf = Buffer.allocUnsafe(READ_CHUNK);
  #len = 0;
  constructor(
    readonly fd: number,
    readonly durable: Durable,
  ) {}
  line(text: string): void {
    const bytes = Buffer.byteLength(text, 'latin1') + 1;
    if (this.#len + bytes > this.#buf.length) this.flush();
    if (bytes > this.#buf.length) {
      this.durable.write(this.fd, Buffer.from(`${text}\n`, 'latin1'));
      return;
    }
    this.#len += this.#buf.write(text, this.#len, 'latin1');
    this.#buf[this.#len++] = 10;
  }
  flush(): void {
    if (this.#len === 0) return;
    this.durable.write(this.fd, this.#buf.subarray(0, this.#len));
    this.#len = 0;
  }
}

function createTemp(path: string, owner: VpasswdWriteOptions['owner']): number {
  unlinkQuiet(path);
  let fd: number;
  try {
    fd = openSync(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600);
  } catch (err) {
    throw new TempError(`unable to create ${path}: ${sysMessage(err)}`, { cause: err });
  }
  try {
    fchmodSync(fd, 0o600); // whatever the umask
    if (owner !== undefined && isRoot()) fchownSync(fd, owner.uid, owner.gid);
  } catch (err) {
    closeSync(fd);
    throw new TempError(`unable to set owner of ${path}: ${sysMessage(err)}`, { cause: err });
  }
  return fd;
}

/** What a rewrite produces: the output lines (no LF), and whether anything changed. */
interface Rewrite {
  lines(input: Iterable<ParsedLine>): Iterable<string>;
  changed(): boolean;
}

interface ParsedLine {
  readonly entry: VpasswdEntry;
  readonly text: string;
}

function* parsedLines(fd: number | undefined, path: string): Generator<ParsedLine> {
  if (fd === undefined) return;
  for (const line of readLinesSync(fd, path)) {
    yield { entry: parseVpasswdLine(line.text, { file: path, line: line.number }), text: line.text };
  }
}

/**
 * Stream vpasswd through `rewrite` into vpasswd.tmp and its cdb into vpasswd.cdb.tmp at once, then
 * commit in the order of the invariant. Runs under the lock; leaves nothing behind when it throws
 * or when nothing changed.
 */
function rewriteLocked(domainDir: string, rewrite: Rewrite, durable: Durable, owner: VpasswdWriteOptions['owner']): boolean {
  const path = join(domainDir, VPASSWD_FILE);
  const vtmp = join(domainDir, VPASSWD_TMP);
  const ctmp = join(domainDir, CDB_TMP);
  const cnew = join(domainDir, CDB_NEW);
  const src = openIfExists(path);
  if (src === undefined) assertDomainDir(domainDir);
  let vfd: number | undefined;
  let cfd: number | undefined;
  let committed = false;
  try {
    vfd = createTemp(vtmp, owner);
    cfd = createTemp(ctmp, owner);
    const sink = new LineSink(vfd, durable);
    const cdb = new CdbWriter(cfd, durable);
    for (const line of rewrite.lines(parsedLines(src, path))) {
      sink.line(line);
      const [key, data] = cdbRecordOf(line);
      cdb.put(key, data);
    }
    if (!rewrite.changed()) return false;
    sink.flush();
    cdb.finish();
    durable.fsync(vfd);
    durable.fsync(cfd);
    closeSync(vfd);
    vfd = undefined;
    closeSync(cfd);
    cfd = undefined;
    durable.rename(ctmp, cnew);
    fsyncDirSync(domainDir, durable);
    durable.rename(vtmp, path);
    committed = true;
    fsyncDirSync(domainDir, durable);
    durable.rename(cnew, join(domainDir, VPASSWD_CDB_FILE));
    fsyncDirSync(domainDir, durable);
    return true;
  } catch (err) {
    if (committed) {
      // vpasswd is the new state; vpasswd.cdb.new is whole and the next look-up or change renames it.
      throw new TempError(`unable to finish replacing ${join(domainDir, VPASSWD_CDB_FILE)}: ${sysMessage(err)}`, { cause: err });
    }
    throw err instanceof TempError || err instanceof PermError || err instanceof VpopmailError
      ? err
      : new TempError(`unable to rewrite ${path}: ${sysMessage(err)}`, { cause: err });
  } finally {
    if (src !== undefined) closeSync(src);
    if (vfd !== undefined) closeSync(vfd);
    if (cfd !== undefined) closeSync(cfd);
    if (!committed) {
      unlinkQuiet(vtmp);
      unlinkQuiet(ctmp);
      unlinkQuiet(cnew);
    }
  }
}

function withDomainLock<T>(domainDir: string, options: VpasswdWriteOptions, fn: (durable: Durable) => T): T {
  const durable = options.durable ?? DURABLE;
  const lock = lockDomain(domainDir, options);
  try {
    recoverLocked(domainDir, durable);
    return fn(durable);
  } finally {
    lock.release();
  }
}

/**
 * Add a user: the new line goes before the first line whose name is byte-wise greater (else at the
 * end), as C inserts, so a sorted file stays sorted. Refuses an existing name with VA_USERNAME_EXISTS,
 * checked under the lock (C checks before locking, so two adders could both succeed).
 */
export function addVpasswdEntry(domainDir: string, entry: VpasswdEntry, options: VpasswdWriteOptions = {}): void {
  const newLine = formatVpasswdLine(entry);
  withDomainLock(domainDir, options, (durable) =>
    rewriteLocked(
      domainDir,
      {
        *lines(input) {
          let inserted = false;
          for (const { entry: old, text } of input) {
            if (old.name === entry.name) throw new VpopmailError(VA.USERNAME_EXISTS);
            if (!inserted && old.name > entry.name) {
              yield newLine;
              inserted = true;
            }
            yield text;
          }
          if (!inserted) yield newLine;
        },
        changed: () => true,
      },
      durable,
      options.owner,
    ),
  );
}

/** Delete every line of `name` (C drops all duplicates too). False when there was none; nothing is written then. */
export function deleteVpasswdEntry(domainDir: string, name: string, options: VpasswdWriteOptions = {}): boolean {
  let found = false;
  return withDomainLock(domainDir, options, (durable) =>
    rewriteLocked(
      domainDir,
      {
        *lines(input) {
          for (const { entry, text } of input) {
            if (entry.name === name) found = true;
            else yield text;
          }
        },
        changed: () => found,
      },
      durable,
      options.owner,
    ),
  );
}

/** Replace every line of `entry.name` with the formatted entry. False when there was none; nothing is written then. */
export function modifyVpasswdEntry(domainDir: string, entry: VpasswdEntry, options: VpasswdWriteOptions = {}): boolean {
  const newLine = formatVpasswdLine(entry);
  let found = false;
  return withDomainLock(domainDir, options, (durable) =>
    rewriteLocked(
      domainDir,
      {
        *lines(input) {
          for (const { entry: old, text } of input) {
            if (old.name === entry.name) {
              found = true;
              yield newLine;
            } else yield text;
          }
        },
        changed: () => found,
      },
      durable,
      options.owner,
    ),
  );
}

/**
 * Replace the whole of vpasswd and vpasswd.cdb with `entries`, streamed, under the lock and in the
 * commit order of every other change (vconvert importing a domain). Returns how many were written.
 */
export function replaceVpasswdEntries(domainDir: string, entries: Iterable<VpasswdEntry>, options: VpasswdWriteOptions = {}): number {
  let count = 0;
  withDomainLock(domainDir, options, (durable) =>
    rewriteLocked(
      domainDir,
      {
        *lines() {
          for (const entry of entries) {
            count++;
            yield formatVpasswdLine(entry);
          }
        },
        changed: () => true,
      },
      durable,
      options.owner,
    ),
  );
  return count;
}

/** Build vpasswd.cdb from vpasswd, streaming, under the lock held by the caller. */
function rebuildCdbLocked(domainDir: string, durable: Durable, owner: VpasswdWriteOptions['owner']): void {
  const path = join(domainDir, VPASSWD_FILE);
  const ctmp = join(domainDir, CDB_TMP);
  const src = openIfExists(path);
  if (src === undefined) assertDomainDir(domainDir);
  let cfd: number | undefined;
  let renamed = false;
  try {
    cfd = createTemp(ctmp, owner);
    const cdb = new CdbWriter(cfd, durable);
    for (const { text } of parsedLines(src, path)) {
      const [key, data] = cdbRecordOf(text);
      cdb.put(key, data);
    }
    cdb.finish();
    durable.fsync(cfd);
    closeSync(cfd);
    cfd = undefined;
    durable.rename(ctmp, join(domainDir, VPASSWD_CDB_FILE));
    renamed = true;
    fsyncDirSync(domainDir, durable);
  } catch (err) {
    throw err instanceof TempError ? err : new TempError(`unable to rebuild ${join(domainDir, VPASSWD_CDB_FILE)}: ${sysMessage(err)}`, { cause: err });
  } finally {
    if (src !== undefined) closeSync(src);
    if (cfd !== undefined) closeSync(cfd);
    if (!renamed) unlinkQuiet(ctmp);
  }
}

/** vmkpasswd: rebuild vpasswd.cdb from vpasswd under the lock (C's cdb.tmp step, made crash-safe). */
export function rebuildVpasswdCdb(domainDir: string, options: VpasswdWriteOptions = {}): void {
  withDomainLock(domainDir, options, (durable) => rebuildCdbLocked(domainDir, durable, options.owner));
}

// --- looking up ----------------------------------------------------------------------------------

function scanVpasswd(domainDir: string, name: string): VpasswdEntry | undefined {
  const path = join(domainDir, VPASSWD_FILE);
  const fd = openIfExists(path);
  if (fd === undefined) {
    assertDomainDir(domainDir);
    return undefined;
  }
  try {
    for (const line of readLinesSync(fd, path)) {
      const colon = line.text.indexOf(':');
      if (colon >= 0 && line.text.slice(0, colon) !== name) continue;
      const entry = parseVpasswdLine(line.text, { file: path, line: line.number });
      if (entry.name === name) return entry;
    }
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** cdb look-up: the entry, undefined for no such key, 'missing' when there is no vpasswd.cdb. */
function cdbLookup(domainDir: string, name: string): VpasswdEntry | undefined | 'missing' {
  const path = join(domainDir, VPASSWD_CDB_FILE);
  let data: Uint8Array | undefined;
  try {
    data = cdbGetSync(path, Buffer.from(name, 'latin1'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    if (err instanceof CdbFormatError) throw new TempError(`unable to read ${path}: ${err.message}`, { cause: err });
    throw new TempError(`unable to read ${path}: ${sysMessage(err)}`, { cause: err });
  }
  if (data === undefined) return undefined;
  return parseVpasswdLine(`${name}:${Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1')}`, {
    file: path,
    line: 1,
  });
}

/**
 * vauth_getpw for the cdb store: the entry of `name` from vpasswd.cdb, undefined when there is none.
 * An unreadable or damaged cdb throws TempError, never "no such user". Without a cdb, `scan` reads
 * vpasswd (default) and `rebuild` rebuilds the cdb under the lock first, as C does.
 */
export function readVpasswdEntry(domainDir: string, name: string, options: VpasswdLookupOptions = {}): VpasswdEntry | undefined {
  if (name === '' || name.includes(':') || name.includes('\n')) return undefined;
  const write = options.write ?? {};
  rollForwardIfNeeded(domainDir, write);
  const found = cdbLookup(domainDir, name);
  if (found !== 'missing') return found;
  if ((options.missingCdb ?? 'scan') === 'scan') return scanVpasswd(domainDir, name);
  withDomainLock(domainDir, write, (durable) => {
    if (!exists(join(domainDir, VPASSWD_CDB_FILE))) rebuildCdbLocked(domainDir, durable, write.owner);
  });
  const again = cdbLookup(domainDir, name);
  return again === 'missing' ? undefined : again;
}

/** Every record of vpasswd.cdb as parsed entries, in file order (for checks and tests). */
export function* iterateVpasswdCdb(domainDir: string): Generator<VpasswdEntry> {
  const path = join(domainDir, VPASSWD_CDB_FILE);
  const db = CdbReader.open(path);
  try {
    let n = 0;
    for (const [key, data] of db.entries()) {
      n++;
      yield parseVpasswdLine(`${Buffer.from(key).toString('latin1')}:${Buffer.from(data).toString('latin1')}`, { file: path, line: n });
    }
  } finally {
    db.close();
  }
}
