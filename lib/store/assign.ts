// QMAILDIR/users/assign and users/cdb: vpopmail's domain lines, sorted edits, our qmail-newu, domain lookup.
//
// Files are handled as latin1 strings, so every byte of a hand-written line survives a rewrite.
// Every edit holds users/assign.lock, checks that the new assign compiles, replaces assign (0644,
// fsync, rename) and then users/cdb (0644, same way). A crash between the two renames leaves the new
// assign with the old users/cdb, the state an admin has between editing assign and running
// qmail-newu; the next edit (or rebuildUsersCdb) compiles assign again. users/cdb is never newer
// than assign.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CdbReader } from '../cdb/reader.ts';
import { writeCdbSync } from '../cdb/writer.ts';
import { TempError, VA, VpopmailError } from '../exit.ts';
import { DURABLE, replaceFileSync, type Durable } from '../fs/durable.ts';
import { withLock } from './lock.ts';
import { insertSorted, outOfOrderNotice } from './sort-key.ts';

/** Mode of assign and users/cdb (C's VPOPMAIL_QMAIL_MODE; qmail-newu's 0644). */
export const ASSIGN_MODE = 0o644;

export interface AssignOptions {
  readonly durable?: Durable;
  /** How long to wait for users/assign.lock. */
  readonly lockTimeoutMs?: number;
}

/** A vpopmail domain line, `+<name>-:<domain>:<uid>:<gid>:<dir>:-::`. */
export interface AssignEntry {
  /** The name mail is routed for: the domain itself, or an alias of it. */
  readonly name: string;
  /** The real domain (qmail-local's $USER). */
  readonly domain: string;
  readonly uid: number;
  readonly gid: number;
  /** Absolute domain directory, no trailing slash. */
  readonly dir: string;
}

/** What vget_assign answers for a name: the real domain and where and as whom its mail goes. */
export interface AssignLookup {
  readonly domain: string;
  readonly uid: number;
  readonly gid: number;
  readonly dir: string;
}

/** users/assign split at qmail's terminator: the lines qmail reads, and the `.` line with what follows. */
export interface AssignText {
  /** Lines before the first line starting with `.`, without their LF. */
  readonly lines: readonly string[];
  /** The terminating line and anything after it, verbatim (qmail ignores it; we keep it). */
  readonly trailer: string;
}

/** assign does not compile: what qmail-newu calls "bad format", with the line and the reason. */
export class AssignFormatError extends TempError {
  override name = 'AssignFormatError';
  readonly line: number;
  constructor(path: string, line: number, why: string) {
    super(`bad format in ${path} line ${line}: ${why}; users/cdb left as it was`);
    this.line = line;
  }
}

export function assignPath(qmailHome: string): string {
  return join(qmailHome, 'users', 'assign');
}

export function usersCdbPath(qmailHome: string): string {
  return join(qmailHome, 'users', 'cdb');
}

/** ASCII-only lower case, as C's tolower and qmail's case_lowerb do it. */
export function lowerAscii(text: string): string {
  // Most names are lower case already: no regular expression to compile and run for them.
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return text.replace(/[A-Z]+/g, (s) => s.toLowerCase());
  }
  return text;
}

export function formatAssignLine(entry: AssignEntry): string {
  return `+${entry.name}-:${entry.domain}:${entry.uid}:${entry.gid}:${entry.dir}:-::`;
}

const DECIMAL = /^\d{1,10}$/;

/**
 * A vpopmail domain line back into its parts; undefined for any other line (`=` users, hand-written
 * `+` prefixes, lines of another shape). Follows C's get_domain_entries: a `+` line whose name ends
 * in `-` and holds a `.`, with real domain, uid, gid and dir fields; uid and gid must be decimal
 * (C would atoi garbage into 0, root).
 */
export function parseAssignLine(line: string): AssignEntry | undefined {
  if (!line.startsWith('+')) return undefined;
  const fields = line.slice(1).split(':');
  if (fields.length < 5) return undefined;
  const [prefix, domain, uid, gid, dir] = fields as [string, string, string, string, string];
  if (prefix.length < 2 || !prefix.endsWith('-') || !prefix.includes('.')) return undefined;
  if (domain === '' || dir === '' || !DECIMAL.test(uid) || !DECIMAL.test(gid)) return undefined;
  return { name: prefix.slice(0, -1), domain, uid: Number(uid), gid: Number(gid), dir };
}

/** Split assign text; a missing terminator is supplied (as C's rewrite does), a missing last LF added. */
export function parseAssignText(text: string): AssignText {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const end = lines.findIndex((line) => line.startsWith('.'));
  if (end < 0) return { lines, trailer: '.\n' };
  return { lines: lines.slice(0, end), trailer: text.slice(offsetOfLine(text, end)) };
}

function offsetOfLine(text: string, index: number): number {
  let pos = 0;
  for (let i = 0; i < index; i++) pos = text.indexOf('\n', pos) + 1;
  return pos;
}

export function formatAssignText(assign: AssignText): string {
  const body = assign.lines.map((line) => `${line}\n`).join('');
  return body + (assign.trailer.endsWith('\n') ? assign.trailer : `${assign.trailer}\n`);
}

// --- qmail-newu ------------------------------------------------------------------------------

/**
 * users/cdb records for assign text, by qmail 1.03's qmail-newu rules: reading stops at the first
 * line starting with `.`; a `+` line is keyed `!` + the lower-cased prefix, an `=` (or any other) line
 * `!` + the lower-cased name + NUL; the data is the next six fields with each `:` turned into NUL,
 * up to the sixth; last comes the empty key holding the last character of every `+` prefix, each once.
 * Like qmail-newu, anything malformed refuses the whole file (AssignFormatError).
 */
export function compileUsersCdb(text: string, path = 'users/assign'): [Buffer, Buffer][] {
  const records: [Buffer, Buffer][] = [];
  let wildchars = '';
  let pos = 0;
  for (let lineNo = 1; ; lineNo++) {
    const nl = text.indexOf('\n', pos);
    const line = nl < 0 ? text.slice(pos) : text.slice(pos, nl);
    if (line.startsWith('.')) break;
    if (nl < 0) throw new AssignFormatError(path, lineNo, pos >= text.length ? 'no terminating "." line' : 'last line has no newline');
    pos = nl + 1;
    if (line.includes('\0')) throw new AssignFormatError(path, lineNo, 'NUL byte');
    const colon = line.indexOf(':');
    if (colon < 0) throw new AssignFormatError(path, lineNo, 'no ":"');
    if (colon === 0) throw new AssignFormatError(path, lineNo, 'line starts with ":"');
    let key: string;
    if (line[0] === '+') {
      key = lowerAscii(`!${line.slice(1, colon)}`);
      const last = line[colon - 1]!;
      if (colon >= 2 && !wildchars.includes(last)) wildchars += last;
    } else {
      key = lowerAscii(`!${line.slice(1, colon)}\0`);
    }
    const fields = line.slice(colon + 1).split(':');
    if (fields.length < 7) throw new AssignFormatError(path, lineNo, `${fields.length - 1} ":" after the name, 6 needed`);
    records.push([Buffer.from(key, 'latin1'), Buffer.from(fields.slice(0, 6).join('\0'), 'latin1')]);
  }
  records.push([Buffer.alloc(0), Buffer.from(wildchars, 'latin1')]);
  return records;
}

// --- reading -----------------------------------------------------------------------------------

/** assign's text, undefined if it does not exist; other read errors are TempError. */
function readAssignText(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TempError(`unable to read ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err });
  }
}

/**
 * C's vget_assign: lower-case the name and look up `!<name>-` in users/cdb. Undefined when the
 * name is not there, or users/cdb does not exist yet (no domain was ever added: C says the same);
 * a cdb that cannot be read or is damaged is a TempError, never "no such domain". Aliases resolve
 * to their real domain. vpopmail reads only users/cdb, never assign, so edits count once compiled.
 */
export function lookupAssignDomain(qmailHome: string, name: string): AssignLookup | undefined {
  const path = usersCdbPath(qmailHome);
  let db: CdbReader;
  try {
    db = CdbReader.open(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TempError(`unable to read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  let data: Uint8Array | undefined;
  try {
    data = db.get(Buffer.from(`!${lowerAscii(name)}-`, 'latin1'));
  } catch (err) {
    throw new TempError(`unable to read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  } finally {
    db.close();
  }
  if (data === undefined) return undefined;
  const fields = Buffer.from(data).toString('latin1').split('\0');
  const [domain, uid, gid, dir] = fields;
  if (fields.length < 4 || !DECIMAL.test(uid!) || !DECIMAL.test(gid!)) {
    throw new TempError(`unable to use ${path} entry for ${name}: expected domain, uid, gid and dir`);
  }
  return { domain: domain!, uid: Number(uid), gid: Number(gid), dir: dir! };
}

/** A users/cdb look-up by domain name, as lookupAssignDomain answers it. */
export type AssignResolver = (name: string) => AssignLookup | undefined;

/**
 * lookupAssignDomain that keeps each answer, for a program that runs once and never changes
 * users/cdb (one login, one delivery, one query): its steps ask for the same domain several times
 * (the login's domain, then the user store, the limits, lastauth), and each would open and read the
 * cdb again. A failure is not kept: it is thrown each time.
 */
export function rememberingAssignLookup(qmailHome: string): AssignResolver {
  const known = new Map<string, AssignLookup | undefined>();
  return (name) => {
    const key = lowerAscii(name);
    if (known.has(key)) return known.get(key);
    const found = lookupAssignDomain(qmailHome, key);
    known.set(key, found);
    return found;
  };
}

/**
 * The vpopmail domain lines of assign in file order (C's get_domain_entries), optionally only those
 * whose real domain is `realDomain` (a domain and its aliases; resolve an alias with
 * lookupAssignDomain first, as C does). Only the lines qmail reads count (before the `.` line).
 * A missing or unreadable assign is VA_CANNOT_READ_ASSIGN, as in C.
 */
export function listAssignDomains(qmailHome: string, realDomain?: string): AssignEntry[] {
  const path = assignPath(qmailHome);
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
  } catch (err) {
    throw new VpopmailError(VA.CANNOT_READ_ASSIGN, undefined, { cause: err });
  }
  const out: AssignEntry[] = [];
  for (const line of parseAssignText(text).lines) {
    const entry = parseAssignLine(line);
    if (entry !== undefined && (realDomain === undefined || entry.domain === realDomain)) out.push(entry);
  }
  return out;
}

// --- editing -------------------------------------------------------------------------------------

export interface AssignInsertResult {
  /** False when the exact line was already in assign (users/cdb is rebuilt all the same). */
  readonly inserted: boolean;
  /** C's NOTICE text when out-of-order lines made us re-sort the file; the caller prints it to stderr. */
  readonly notice?: string;
}

/**
 * Apply `edit` to assign under users/assign.lock, then compile and write users/cdb. `edit` gets the
 * current lines (assign missing: none, as C creates it holding `.`) and returns the new ones, or
 * undefined for "assign unchanged" (users/cdb is still rebuilt, which also heals a crash between the
 * two renames; with no assign at all nothing is created). The new text must compile before anything
 * is written.
 */
function editAssign(qmailHome: string, options: AssignOptions, edit: (lines: readonly string[]) => string[] | undefined): void {
  const path = assignPath(qmailHome);
  const durable = options.durable ?? DURABLE;
  withLock(
    `${path}.lock`,
    () => {
      const old = readAssignText(path);
      const parsed = parseAssignText(old ?? '.\n');
      const lines = edit(parsed.lines);
      if (lines === undefined && old === undefined) return; // nothing to change, and no assign to compile
      const text = lines === undefined && old !== undefined ? old : formatAssignText({ lines: lines ?? parsed.lines, trailer: parsed.trailer });
      const records = compileUsersCdb(text, path);
      if (text !== old) replaceFileSync(path, Buffer.from(text, 'latin1'), { mode: ASSIGN_MODE, durable });
      writeCdbSync(usersCdbPath(qmailHome), records, { mode: ASSIGN_MODE, durable });
    },
    options.lockTimeoutMs === undefined ? {} : { timeoutMs: options.lockTimeoutMs },
  );
}

/** Insert a line (normally formatAssignLine(...)) in C's sort order and rebuild users/cdb. */
export function insertAssignLine(qmailHome: string, line: string, options: AssignOptions = {}): AssignInsertResult {
  if (line.includes('\n')) throw new TempError(`refusing to add an assign line holding a newline: ${JSON.stringify(line)}`);
  let result: AssignInsertResult = { inserted: false };
  editAssign(qmailHome, options, (lines) => {
    const sorted = insertSorted(lines, line, 'assign');
    result = sorted.resorted ? { inserted: sorted.inserted, notice: outOfOrderNotice(assignPath(qmailHome)) } : { inserted: sorted.inserted };
    return sorted.inserted ? sorted.lines : undefined;
  });
  return result;
}

/** Add a domain line for `entry` (see insertAssignLine). */
export function addAssignDomain(qmailHome: string, entry: AssignEntry, options: AssignOptions = {}): AssignInsertResult {
  return insertAssignLine(qmailHome, formatAssignLine(entry), options);
}

/**
 * Remove every line exactly equal to one of `lines` (C's del_domain_assign, which builds the line
 * from the stored uid, gid and dir); returns how many went. users/cdb is rebuilt either way.
 */
export function removeAssignLines(qmailHome: string, lines: readonly string[], options: AssignOptions = {}): number {
  const drop = new Set(lines);
  let removed = 0;
  editAssign(qmailHome, options, (current) => {
    const kept = current.filter((line) => !drop.has(line));
    removed = current.length - kept.length;
    return removed === 0 ? undefined : kept;
  });
  return removed;
}

/**
 * Remove the lines routing each name (`+<name>-:` ...), whatever their other fields: a hand-edited
 * domain line goes too, where C's exact match leaves it behind. Returns the removed lines.
 */
export function removeAssignDomains(qmailHome: string, names: readonly string[], options: AssignOptions = {}): string[] {
  const prefixes = names.map((name) => `+${lowerAscii(name)}-:`);
  const removed: string[] = [];
  editAssign(qmailHome, options, (current) => {
    const kept: string[] = [];
    for (const line of current) {
      if (prefixes.some((prefix) => lowerAscii(line.slice(0, prefix.length)) === prefix)) removed.push(line);
      else kept.push(line);
    }
    return removed.length === 0 ? undefined : kept;
  });
  return removed;
}

/**
 * Our qmail-newu: compile assign into users/cdb under users/assign.lock. A malformed assign is an
 * AssignFormatError and the old users/cdb stays; a missing assign is a TempError.
 */
export function rebuildUsersCdb(qmailHome: string, options: AssignOptions = {}): void {
  const path = assignPath(qmailHome);
  withLock(
    `${path}.lock`,
    () => {
      const text = readAssignText(path);
      if (text === undefined) throw new TempError(`unable to compile ${path}: it does not exist`);
      writeCdbSync(usersCdbPath(qmailHome), compileUsersCdb(text, path), { mode: ASSIGN_MODE, durable: options.durable ?? DURABLE });
    },
    options.lockTimeoutMs === undefined ? {} : { timeoutMs: options.lockTimeoutMs },
  );
}
