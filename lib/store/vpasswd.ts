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
import { CdbTooLargeError } from '../cdb/writer.ts';
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

/** `-?(0|[1-9][0-9]*)` and not `-0`: the canonical decimal form, checked by char codes (no regex per field). */
function isCanonicalDecimal(text: string): boolean {
  const len = text.length;
  const start = len > 0 && text.charCodeAt(0) === 45 ? 1 : 0; // '-'
  if (start === len) return false;
  if (text.charCodeAt(start) === 48) return len === start + 1 && start === 0; // '0' alone, never '-0' or '01'
  for (let i = start; i < len; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** C prints uid and gid with %d: a canonical decimal int is the only form that round-trips. */
function parseDecimalField(text: string, field: string, where: LineOrigin): number {
  if (!isCanonicalDecimal(text)) throw new VpasswdFormatError(where.file, where.line, `${field} field is not a decimal number`);
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
  // The six separators of the seven fields, then the seventh (the clear field's), if any.
  const c1 = line.indexOf(':');
  const c2 = c1 < 0 ? -1 : line.indexOf(':', c1 + 1);
  const c3 = c2 < 0 ? -1 : line.indexOf(':', c2 + 1);
  const c4 = c3 < 0 ? -1 : line.indexOf(':', c3 + 1);
  const c5 = c4 < 0 ? -1 : line.indexOf(':', c4 + 1);
  const c6 = c5 < 0 ? -1 : line.indexOf(':', c5 + 1);
  if (c6 < 0) {
    const found = [c1, c2, c3, c4, c5].filter((c) => c >= 0).length + 1;
    throw new VpasswdFormatError(where.file, where.line, `expected 7 or 8 fields, found ${found}`);
  }
  const c7 = line.indexOf(':', c6 + 1);
  if (line.includes('\n')) throw new VpasswdFormatError(where.file, where.line, 'line holds a newline');
  if (c1 === 0) throw new VpasswdFormatError(where.file, where.line, 'empty user name');
  return {
    name: line.slice(0, c1),
    passwd: line.slice(c1 + 1, c2),
    uid: parseDecimalField(line.slice(c2 + 1, c3), 'uid', where),
    gid: parseDecimalField(line.slice(c3 + 1, c4), 'gid', where),
    gecos: line.slice(c4 + 1, c5),
    dir: line.slice(c5 + 1, c6),
    quota: c7 < 0 ? line.slice(c6 + 1) : line.slice(c6 + 1, c7),
    clear: c7 < 0 ? undefined : line.slice(c7 + 1),
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
  // Each chunk is decoded once, as latin1 (one char per byte, so char offsets are byte offsets),
  // and its lines are slices of that string: a native call per chunk, not per line.
  let carry = '';
  let number = 0;
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, chunk, 0, READ_CHUNK, null);
    } catch (err) {
      throw new TempError(`unable to read ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err });
    }
    if (n === 0) break;
    const data = carry + chunk.toString('latin1', 0, n);
    let from = 0;
    for (;;) {
      const nl = data.indexOf('\n', from);
      if (nl < 0) break;
      number++;
      if (nl - from > MAX_LINE_BYTES) throw new VpasswdFormatError(file, number, 'line longer than 64 KiB');
      yield { text: data.slice(from, nl), number };
      from = nl + 1;
    }
    carry = data.slice(from);
    if (carry.length > MAX_LINE_BYTES) throw new VpasswdFormatError(file, number + 1, 'line longer than 64 KiB');
  }
  if (carry.length > 0) yield { text: carry, number: number + 1 };
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
//
// A change reads vpasswd once, as bytes, and writes vpasswd.tmp and vpasswd.cdb.tmp from the same
// bytes. The lines it keeps are copied in runs, and their cdb records are framed straight from the
// read buffer: no string is made of a kept line and no entry is parsed. What is still looked at in
// every line is what the strict-parsing promise needs (seven fields, a name, uid and gid decimal
// ints, at most 64 KiB) and the name's cdb hash, which both the records and the name matching use.
// A change costs the copy of the file and O(1) work per line; everything else is proportional to it.

/** Bytes read per call; a line (at most MAX_LINE_BYTES) always fits beside a chunk's carry. */
const SCAN_CHUNK = 256 * 1024;
const WRITE_BUFFER_BYTES = 64 * 1024;

/** djb's cdb hash of buf[start, end) (lib/cdb/reader.ts's cdbHash, without making a subarray). */
function hashRange(buf: Uint8Array, start: number, end: number): number {
  let h = 5381;
  for (let i = start; i < end; i++) h = (Math.imul(h, 33) ^ buf[i]!) >>> 0;
  return h;
}

/** parseDecimalField's rule on bytes: a canonical decimal int32 (`-0` and leading zeros refused). */
function isDecimalInt32(buf: Uint8Array, start: number, end: number): boolean {
  let i = start;
  const negative = buf[i] === 45;
  if (negative) i++;
  if (i >= end || end - i > 10) return false;
  if (buf[i] === 48) return end - i === 1 && !negative;
  let n = 0;
  for (; i < end; i++) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) return false;
    n = n * 10 + d;
  }
  return negative ? n <= 2 ** 31 : n <= INT32_MAX;
}

/**
 * The offset of the first `:` of the line buf[start, end) after checking it as parseVpasswdLine
 * does. A line that fails is handed to parseVpasswdLine, so the error is the same one, naming the
 * same file and line.
 */
function checkLineBytes(buf: Buffer, start: number, end: number, file: string, line: number): number {
  const colon = buf.indexOf(58, start);
  if (colon > start && colon < end) {
    const c2 = buf.indexOf(58, colon + 1);
    const c3 = c2 < 0 || c2 >= end ? -1 : buf.indexOf(58, c2 + 1);
    const c4 = c3 < 0 || c3 >= end ? -1 : buf.indexOf(58, c3 + 1);
    const c5 = c4 < 0 || c4 >= end ? -1 : buf.indexOf(58, c4 + 1);
    const c6 = c5 < 0 || c5 >= end ? -1 : buf.indexOf(58, c5 + 1);
    if (c6 >= 0 && c6 < end && isDecimalInt32(buf, c2 + 1, c3) && isDecimalInt32(buf, c3 + 1, c4)) return colon;
  }
  parseVpasswdLine(buf.toString('latin1', start, end), { file, line });
  throw new VpasswdFormatError(file, line, 'malformed line');
}

/** One line of the old vpasswd: offsets into the scan buffer, valid only during the callback. */
interface OldLine {
  buf: Buffer;
  start: number;
  /** The first `:`: the name is buf[start, colon). */
  colon: number;
  /** The LF. */
  end: number;
  /** cdbHash of the name. */
  hash: number;
  number: number;
}

/**
 * Call `onLine` for every line of the open vpasswd, checked and hashed; `onChunk` runs after the
 * last line of each chunk, before the buffer is reused. A last line without LF is given one.
 */
function scanVpasswdLines(fd: number, path: string, onLine: (line: OldLine) => void, onChunk: () => void): void {
  const buf = Buffer.allocUnsafe(SCAN_CHUNK);
  const line: OldLine = { buf, start: 0, colon: 0, end: 0, hash: 0, number: 0 };
  let have = 0;
  let eof = false;
  while (!eof) {
    let n: number;
    try {
      n = readSync(fd, buf, have, buf.length - have, null);
    } catch (err) {
      throw new TempError(`unable to read ${path}: ${sysMessage(err)}`, { cause: err });
    }
    let size = have + n;
    if (n === 0) {
      eof = true;
      if (size === 0) break;
      if (buf[size - 1] !== 10) buf[size++] = 10; // room: a carry is at most MAX_LINE_BYTES
    }
    // Search only what this read filled: the rest of the buffer holds an older chunk.
    const data = size === buf.length ? buf : buf.subarray(0, size);
    line.buf = data;
    let from = 0;
    for (;;) {
      const nl = data.indexOf(10, from);
      if (nl < 0) break;
      line.number++;
      if (nl - from > MAX_LINE_BYTES) throw new VpasswdFormatError(path, line.number, 'line longer than 64 KiB');
      line.start = from;
      line.end = nl;
      line.colon = checkLineBytes(data, from, nl, path, line.number);
      line.hash = hashRange(data, from, line.colon);
      onLine(line);
      from = nl + 1;
    }
    onChunk();
    have = size - from;
    if (have > MAX_LINE_BYTES) throw new VpasswdFormatError(path, line.number + 1, 'line longer than 64 KiB');
    if (have > 0) buf.copyWithin(0, from, size);
  }
}

/** Sequential writes through a 64 KiB buffer; large ranges go to the file directly. */
class ByteSink {
  private readonly buf = Buffer.allocUnsafe(WRITE_BUFFER_BYTES);
  private len = 0;
  constructor(
    private readonly fd: number,
    private readonly durable: Durable,
  ) {}
  copy(src: Buffer, start: number, end: number): void {
    const n = end - start;
    if (this.len + n > WRITE_BUFFER_BYTES) this.flush();
    if (n >= WRITE_BUFFER_BYTES) this.durable.write(this.fd, src.subarray(start, end));
    else this.len += src.copy(this.buf, this.len, start, end);
  }
  flush(): void {
    if (this.len === 0) return;
    this.durable.write(this.fd, this.buf.subarray(0, this.len));
    this.len = 0;
  }
}

const TABLE_BATCH_BYTES = 16 * 1024 * 1024;
const CDB_MAX_FILE_BYTES = 0xffff_ffff;

/**
 * vpasswd.cdb as lib/cdb/writer.ts's CdbWriter writes it (records in line order from offset 2048,
 * 256 linear-probing tables, then the header), fed with byte ranges of vpasswd lines instead of
 * key and data arrays: the record `klen dlen key data` of a line `key:data` (passwords.md §2.1) is
 * framed from the read buffer without an intermediate copy, and the tables go out as Uint32Arrays on
 * little-endian hosts. The bytes are CdbWriter's (and so tinycdb's and cdbmake's) for the same
 * records. Its own class because CdbWriter's per-record calls (two subarrays, three copies, DataView
 * stores) cost several times the rest of a line's work on Bun, measured on 10,000-line rewrites.
 */
class VpasswdCdbWriter {
  // Plain properties, read into locals in the loops: on Bun, `#private` fields cost a look-up per
  // access in the interpreter tiers a one-shot process mostly runs in (the tables of 100,000
  // records took 150 ms that way).
  private readonly buf = Buffer.allocUnsafe(WRITE_BUFFER_BYTES);
  private len = 0;
  /** File offset of buf[0]. */
  private bufPos = 2048;
  /** File offset of the next record. */
  private pos = 2048;
  /** [2i] = hash, [2i+1] = position of record i. */
  private slots = new Uint32Array(256);
  private count = 0;

  constructor(
    private readonly fd: number,
    private readonly durable: Durable,
  ) {}

  /** The record of the line src[start, end) whose first `:` is at `colon`, its key hashed to `hash`. */
  add(src: Buffer, start: number, colon: number, end: number, hash: number): void {
    const klen = colon - start;
    const dlen = end - colon - 1;
    const size = 8 + klen + dlen;
    const pos = this.pos;
    let count = this.count;
    if (pos + size + 16 * (count + 1) > CDB_MAX_FILE_BYTES) {
      throw new CdbTooLargeError(`cdb would exceed 4 GiB at record ${count + 1}: cdb positions are 32-bit`);
    }
    let slots = this.slots;
    if (2 * count === slots.length) {
      const grown = new Uint32Array(slots.length * 2);
      grown.set(slots);
      this.slots = slots = grown;
    }
    slots[2 * count] = hash;
    slots[2 * count + 1] = pos;
    this.count = ++count;
    this.pos = pos + size;
    if (this.len + size > WRITE_BUFFER_BYTES) this.flush();
    if (size > WRITE_BUFFER_BYTES) {
      const head = Buffer.allocUnsafe(8);
      head.writeUInt32LE(klen, 0);
      head.writeUInt32LE(dlen, 4);
      this.write(Buffer.concat([head, src.subarray(start, colon), src.subarray(colon + 1, end)]));
      return;
    }
    const b = this.buf;
    const p = this.len;
    b[p] = klen;
    b[p + 1] = klen >>> 8;
    b[p + 2] = klen >>> 16;
    b[p + 3] = klen >>> 24;
    b[p + 4] = dlen;
    b[p + 5] = dlen >>> 8;
    b[p + 6] = dlen >>> 16;
    b[p + 7] = dlen >>> 24;
    src.copy(b, p + 8, start, colon);
    src.copy(b, p + 8 + klen, colon + 1, end);
    this.len = p + size;
  }

  /** The tables, then the header at offset 0. Does not fsync or close. */
  finish(): void {
    const slots = this.slots;
    const count = this.count;
    const counts = new Uint32Array(256);
    for (let i = 0; i < count; i++) counts[slots[2 * i]! & 255]!++;
    const header = Buffer.alloc(2048);
    let tablePos = this.pos;
    for (let t = 0; t < 256; t++) {
      header.writeUInt32LE(tablePos, 8 * t);
      header.writeUInt32LE(2 * counts[t]!, 8 * t + 4);
      tablePos += 16 * counts[t]!;
    }
    const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
    this.flush();
    // Tables a group at a time, as CdbWriter does, so memory stays near TABLE_BATCH_BYTES.
    for (let first = 0; first < 256; ) {
      let last = first;
      let bytes = 16 * counts[first]!;
      while (last + 1 < 256 && bytes + 16 * counts[last + 1]! <= TABLE_BATCH_BYTES) bytes += 16 * counts[++last]!;
      const offsets = new Uint32Array(last - first + 2);
      for (let t = first; t <= last; t++) offsets[t - first + 1] = offsets[t - first]! + 4 * counts[t]!;
      const tables = new Uint32Array(offsets[last - first + 1]!);
      for (let i = 0; i < count; i++) {
        const hash = slots[2 * i]!;
        const t = hash & 255;
        if (t < first || t > last) continue;
        const base = offsets[t - first]!;
        const slotCount = 2 * counts[t]!;
        let slot = (hash >>> 8) % slotCount;
        // Positions are >= 2048, so 0 marks a free slot; a table is at most half full.
        while (tables[base + 2 * slot + 1] !== 0) slot = slot + 1 === slotCount ? 0 : slot + 1;
        tables[base + 2 * slot] = hash;
        tables[base + 2 * slot + 1] = slots[2 * i + 1]!;
      }
      const out = Buffer.from(tables.buffer, tables.byteOffset, tables.byteLength);
      if (!littleEndian) out.swap32();
      if (out.length > 0) this.write(out);
      first = last + 1;
    }
    this.durable.write(this.fd, header, 0);
  }

  private write(bytes: Uint8Array): void {
    this.durable.write(this.fd, bytes, this.bufPos);
    this.bufPos += bytes.length;
  }

  private flush(): void {
    if (this.len === 0) return;
    this.write(this.buf.subarray(0, this.len));
    this.len = 0;
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

/** What a rewrite does to the old lines: keep or drop each one, and put new lines in between. */
interface LineEdit {
  /** False: the old file is not read at all (a replacement of everything). */
  readonly readsOld: boolean;
  /** Each old line in file order; `emit` writes a new line before it. True keeps the line. */
  visit(line: OldLine, emit: (text: string) => void): boolean;
  /** After the last old line. */
  end(emit: (text: string) => void): void;
  changed(): boolean;
}

/** Is the old line's name `name` (given as bytes and cdb hash)? */
function isNameOf(line: OldLine, name: Buffer, hash: number): boolean {
  return line.hash === hash && line.colon - line.start === name.length && line.buf.compare(name, 0, name.length, line.start, line.colon) === 0;
}

/**
 * Stream vpasswd through `edit` into vpasswd.tmp and its cdb into vpasswd.cdb.tmp at once, then
 * commit in the order of the invariant. Runs under the lock; leaves nothing behind when it throws
 * or when nothing changed.
 */
function rewriteLocked(domainDir: string, edit: LineEdit, durable: Durable, owner: VpasswdWriteOptions['owner']): boolean {
  const path = join(domainDir, VPASSWD_FILE);
  const vtmp = join(domainDir, VPASSWD_TMP);
  const ctmp = join(domainDir, CDB_TMP);
  const cnew = join(domainDir, CDB_NEW);
  const src = edit.readsOld ? openIfExists(path) : undefined;
  if (src === undefined) assertDomainDir(domainDir);
  let vfd: number | undefined;
  let cfd: number | undefined;
  let committed = false;
  try {
    vfd = createTemp(vtmp, owner);
    cfd = createTemp(ctmp, owner);
    const sink = new ByteSink(vfd, durable);
    const cdb = new VpasswdCdbWriter(cfd, durable);
    // Kept lines of the current chunk not yet copied: [runStart, runEnd), LFs included.
    let current: Buffer | undefined;
    let runStart = 0;
    let runEnd = 0;
    const flushRun = () => {
      if (runEnd > runStart) sink.copy(current!, runStart, runEnd);
      runStart = runEnd;
    };
    const emit = (text: string) => {
      flushRun();
      const bytes = Buffer.from(`${text}\n`, 'latin1');
      const colon = bytes.indexOf(58);
      if (colon <= 0) throw new PermError('vpasswd line without a user name');
      sink.copy(bytes, 0, bytes.length);
      cdb.add(bytes, 0, colon, bytes.length - 1, hashRange(bytes, 0, colon));
    };
    if (src !== undefined) {
      scanVpasswdLines(
        src,
        path,
        (line) => {
          if (line.buf !== current) {
            current = line.buf;
            runStart = runEnd = line.start;
          }
          const keep = edit.visit(line, emit);
          if (!keep) {
            flushRun();
            runStart = runEnd = line.end + 1;
            return;
          }
          if (runEnd !== line.start) {
            flushRun();
            runStart = line.start;
          }
          runEnd = line.end + 1;
          cdb.add(line.buf, line.start, line.colon, line.end, line.hash);
        },
        () => {
          flushRun();
          current = undefined;
        },
      );
    }
    edit.end(emit);
    if (!edit.changed()) return false;
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
    // Not fsynced on purpose: if this rename is lost in a crash, vpasswd.cdb.new is still there and
    // the next look-up or change finishes it (roll forward), so the change is durable already.
    durable.rename(cnew, join(domainDir, VPASSWD_CDB_FILE));
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
  const name = Buffer.from(entry.name, 'latin1');
  const hash = hashRange(name, 0, name.length);
  let inserted = false;
  withDomainLock(domainDir, options, (durable) =>
    rewriteLocked(
      domainDir,
      {
        readsOld: true,
        visit(line, emit) {
          if (isNameOf(line, name, hash)) throw new VpopmailError(VA.USERNAME_EXISTS);
          // buf.compare(target, ...) > 0: the old name sorts after the new one.
          if (!inserted && line.buf.compare(name, 0, name.length, line.start, line.colon) > 0) {
            emit(newLine);
            inserted = true;
          }
          return true;
        },
        end(emit) {
          if (!inserted) emit(newLine);
        },
        changed: () => true,
      },
      durable,
      options.owner,
    ),
  );
}

export interface AddVpasswdEntriesOptions extends VpasswdWriteOptions {
  /**
   * Is `name` (a byte string) one of the entries being added? Asked only where the old file is out
   * of order, where the merge alone cannot see every clash. Default: a set of the names added so far.
   */
  readonly isNewName?: (name: string) => boolean;
}

/**
 * Add many users in one rewrite, with the result adding them one by one (addVpasswdEntry, in any
 * order) would give: each new line before the first old line whose name is greater, new lines that
 * meet in one place sorted. `entries` must come sorted by name (byte order) without repeats, and is
 * read once, as the merge needs it, so it can stream from disk. A name that exists already is
 * VA_USERNAME_EXISTS (naming it) and nothing is written. Returns how many were added.
 */
export function addVpasswdEntries(domainDir: string, entries: Iterable<VpasswdEntry>, options: AddVpasswdEntriesOptions = {}): number {
  const iterator = entries[Symbol.iterator]();
  const seen = options.isNewName === undefined ? new Set<string>() : undefined;
  const isNewName = options.isNewName ?? ((name: string) => seen!.has(name));
  let head: { readonly line: string; readonly name: Buffer } | undefined;
  let previous: string | undefined;
  const advance = () => {
    const next = iterator.next();
    if (next.done === true) {
      head = undefined;
      return;
    }
    const entry = next.value;
    if (previous !== undefined && entry.name <= previous) throw new PermError(`vpasswd entries to add are not sorted: ${entry.name} after ${previous}`);
    previous = entry.name;
    seen?.add(entry.name);
    head = { line: formatVpasswdLine(entry), name: Buffer.from(entry.name, 'latin1') };
  };
  const exists = (name: string) => new VpopmailError(VA.USERNAME_EXISTS, `user ${name} already exists`);
  let added = 0;
  // The greatest new name written so far; an old line not above it is out of order, and may equal it
  // or another new name written before it.
  let highest: Buffer | undefined;
  const write = (emit: (text: string) => void) => {
    emit(head!.line);
    highest = head!.name;
    added++;
    advance();
  };
  advance();
  withDomainLock(domainDir, options, (durable) =>
    rewriteLocked(
      domainDir,
      {
        readsOld: true,
        visit(line, emit) {
          while (head !== undefined && line.buf.compare(head.name, 0, head.name.length, line.start, line.colon) > 0) write(emit);
          if (head !== undefined && line.buf.compare(head.name, 0, head.name.length, line.start, line.colon) === 0) {
            throw exists(head.name.toString('latin1'));
          }
          if (highest !== undefined && line.buf.compare(highest, 0, highest.length, line.start, line.colon) <= 0) {
            const name = line.buf.toString('latin1', line.start, line.colon);
            if (isNewName(name)) throw exists(name);
          }
          return true;
        },
        end(emit) {
          while (head !== undefined) write(emit);
        },
        changed: () => added > 0,
      },
      durable,
      options.owner,
    ),
  );
  return added;
}

/** Delete every line of `name` (C drops all duplicates too). False when there was none; nothing is written then. */
export function deleteVpasswdEntry(domainDir: string, name: string, options: VpasswdWriteOptions = {}): boolean {
  const bytes = Buffer.from(name, 'latin1');
  const hash = hashRange(bytes, 0, bytes.length);
  let found = false;
  return withDomainLock(domainDir, options, (durable) =>
    rewriteLocked(
      domainDir,
      {
        readsOld: true,
        visit(line) {
          if (!isNameOf(line, bytes, hash)) return true;
          found = true;
          return false;
        },
        end() {},
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
  const bytes = Buffer.from(entry.name, 'latin1');
  const hash = hashRange(bytes, 0, bytes.length);
  let found = false;
  return withDomainLock(domainDir, options, (durable) =>
    rewriteLocked(
      domainDir,
      {
        readsOld: true,
        visit(line, emit) {
          if (!isNameOf(line, bytes, hash)) return true;
          found = true;
          emit(newLine);
          return false;
        },
        end() {},
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
        readsOld: false,
        visit: () => true,
        end(emit) {
          for (const entry of entries) {
            count++;
            emit(formatVpasswdLine(entry));
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
    const cdb = new VpasswdCdbWriter(cfd, durable);
    if (src !== undefined) scanVpasswdLines(src, path, (line) => cdb.add(line.buf, line.start, line.colon, line.end, line.hash), () => {});
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
