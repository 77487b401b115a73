// qmail control files vpopmail maintains: rcpthosts, morercpthosts (+ .cdb, our qmail-newmrh), virtualdomains, locals.
//
// Same rules as assign: each file is edited under `<file>.lock`, rewritten to a temp file created
// with its final mode 0644 (qmail-smtpd runs as qmaild and must always be able to read rcpthosts),
// fsynced and renamed over the old one. Lines are latin1 strings, so every byte survives.
import { readFileSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeCdbSync } from '../cdb/writer.ts';
import { TempError } from '../exit.ts';
import { DURABLE, fsyncDirSync, replaceFileSync, type Durable } from '../fs/durable.ts';
import { lowerAscii } from './assign.ts';
import { withLock } from './lock.ts';
import { insertSorted, outOfOrderNotice } from './sort-key.ts';

/** Mode of every control file we write (C: VPOPMAIL_QMAIL_MODE, after the fact; ours at creation). */
export const CONTROL_MODE = 0o644;

/** C puts new domains into morercpthosts once rcpthosts has this many lines (blank lines count). */
export const RCPTHOSTS_MAX_LINES = 50;

export type ControlFileName = 'rcpthosts' | 'morercpthosts' | 'virtualdomains' | 'locals';

export interface ControlOptions {
  readonly durable?: Durable;
  readonly lockTimeoutMs?: number;
}

export interface ControlInsertResult {
  /** False when the exact line was already there: the file was left alone. */
  readonly inserted: boolean;
  /** C's NOTICE text when the file was out of order and got re-sorted; the caller prints it to stderr. */
  readonly notice?: string;
}

export function controlPath(qmailHome: string, name: ControlFileName | 'morercpthosts.cdb'): string {
  return join(qmailHome, 'control', name);
}

/** A control file's text, undefined if it does not exist; other read errors are TempError. */
function readControlText(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TempError(`unable to read ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err });
  }
}

/** Lines of a control file without their LF; a last line without LF counts (fgets sees it too). */
export function splitControlLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

export function joinControlLines(lines: readonly string[]): string {
  return lines.map((line) => `${line}\n`).join('');
}

/** The lines of a control file; a missing file has none. */
export function readControlLines(path: string): string[] {
  const text = readControlText(path);
  return text === undefined ? [] : splitControlLines(text);
}

function lockOptions(options: ControlOptions): { timeoutMs?: number } {
  return options.lockTimeoutMs === undefined ? {} : { timeoutMs: options.lockTimeoutMs };
}

function writeControl(path: string, lines: readonly string[], options: ControlOptions): void {
  replaceFileSync(path, Buffer.from(joinControlLines(lines), 'latin1'), { mode: CONTROL_MODE, durable: options.durable ?? DURABLE });
}

/** Insert `line` in C's sort order (a missing file is created); holds `<path>.lock`. */
export function insertControlLine(path: string, line: string, options: ControlOptions = {}): ControlInsertResult {
  if (line.includes('\n')) throw new TempError(`refusing to add a line holding a newline to ${path}`);
  return withLock(`${path}.lock`, () => insertUnlocked(path, line, options), lockOptions(options));
}

function insertUnlocked(path: string, line: string, options: ControlOptions): ControlInsertResult {
  const sorted = insertSorted(readControlLines(path), line, 'control');
  if (!sorted.inserted) return { inserted: false };
  writeControl(path, sorted.lines, options);
  return sorted.resorted ? { inserted: true, notice: outOfOrderNotice(path) } : { inserted: true };
}

/**
 * Remove every line exactly equal to one of `lines`; returns how many went. A missing file stays
 * missing (C creates it empty: for locals that turns "me is local" into "nothing is local"), and a
 * file with nothing to remove is not rewritten. Holds `<path>.lock`.
 */
export function removeControlLines(path: string, lines: readonly string[], options: ControlOptions = {}): number {
  return withLock(`${path}.lock`, () => removeUnlocked(path, lines, options).removed, lockOptions(options));
}

function removeUnlocked(path: string, lines: readonly string[], options: ControlOptions): { removed: number; left: number } {
  const text = readControlText(path);
  if (text === undefined) return { removed: 0, left: 0 };
  const drop = new Set(lines);
  const current = splitControlLines(text);
  const kept = current.filter((line) => !drop.has(line));
  if (kept.length !== current.length) writeControl(path, kept, options);
  return { removed: current.length - kept.length, left: kept.length };
}

// --- morercpthosts.cdb -----------------------------------------------------------------------------

/**
 * morercpthosts.cdb records by qmail-newmrh's rules: each line lower-cased, trailing spaces, tabs
 * and LFs cut, empty lines and lines starting with `#` skipped; key = the line, data empty.
 */
export function compileMoreRcptHosts(text: string): [Buffer, Buffer][] {
  const records: [Buffer, Buffer][] = [];
  if (text === '') return records;
  for (const raw of text.split('\n')) {
    const line = lowerAscii(raw).replace(/[ \t\n]+$/, '');
    if (line !== '' && !line.startsWith('#')) records.push([Buffer.from(line, 'latin1'), Buffer.alloc(0)]);
  }
  return records;
}

function rebuildMoreRcptHostsUnlocked(qmailHome: string, options: ControlOptions): void {
  const text = readControlText(controlPath(qmailHome, 'morercpthosts'));
  if (text === undefined) throw new TempError(`unable to compile ${controlPath(qmailHome, 'morercpthosts')}: it does not exist`);
  writeCdbSync(controlPath(qmailHome, 'morercpthosts.cdb'), compileMoreRcptHosts(text), {
    mode: CONTROL_MODE,
    durable: options.durable ?? DURABLE,
  });
}

/** Our qmail-newmrh: compile control/morercpthosts into morercpthosts.cdb (0644) under morercpthosts.lock. */
export function rebuildMoreRcptHostsCdb(qmailHome: string, options: ControlOptions = {}): void {
  withLock(`${controlPath(qmailHome, 'morercpthosts')}.lock`, () => rebuildMoreRcptHostsUnlocked(qmailHome, options), lockOptions(options));
}

// --- the domain operations ---------------------------------------------------------------------------

export interface AddRcptHostOptions extends ControlOptions {
  /** Compile morercpthosts.cdb after adding to morercpthosts (C skips it under vadddomain -O). Default true. */
  readonly compileMoreRcptHosts?: boolean;
}

export interface AddRcptHostResult extends ControlInsertResult {
  /** The file the domain went to (or was already in). */
  readonly file: 'rcpthosts' | 'morercpthosts';
}

function countLines(text: string | undefined): number {
  return text === undefined ? 0 : splitControlLines(text).length;
}

/**
 * Accept mail for `domain`: insert it sorted into rcpthosts while that has fewer than 50 lines,
 * else into morercpthosts and compile morercpthosts.cdb. A domain already in either file is not
 * added again (C would add a second line). rcpthosts.lock is held throughout, morercpthosts.lock
 * inside it.
 */
export function addRcptHost(qmailHome: string, domain: string, options: AddRcptHostOptions = {}): AddRcptHostResult {
  const rcpthosts = controlPath(qmailHome, 'rcpthosts');
  const more = controlPath(qmailHome, 'morercpthosts');
  return withLock(
    `${rcpthosts}.lock`,
    (): AddRcptHostResult => {
      const text = readControlText(rcpthosts);
      if (text !== undefined && splitControlLines(text).includes(domain)) return { file: 'rcpthosts', inserted: false };
      const inMore = readControlLines(more).includes(domain);
      if (!inMore && countLines(text) < RCPTHOSTS_MAX_LINES) return { file: 'rcpthosts', ...insertUnlocked(rcpthosts, domain, options) };
      return withLock(
        `${more}.lock`,
        () => {
          const result = insertUnlocked(more, domain, options);
          // Compiled even when the domain was there already: a retry after a crash between the
          // text and the cdb brings the cdb up to date.
          if (options.compileMoreRcptHosts !== false) rebuildMoreRcptHostsUnlocked(qmailHome, options);
          return { file: 'morercpthosts' as const, ...result };
        },
        lockOptions(options),
      );
    },
    lockOptions(options),
  );
}

export interface RemoveRcptHostsResult {
  readonly rcpthosts: number;
  readonly morercpthosts: number;
}

/**
 * Stop accepting mail for `domains`: their exact lines leave rcpthosts, and those not found there
 * leave morercpthosts (C only looks there when rcpthosts had none of them). When morercpthosts
 * ends up empty it is removed with its cdb, else the cdb is compiled again.
 */
export function removeRcptHosts(qmailHome: string, domains: readonly string[], options: ControlOptions = {}): RemoveRcptHostsResult {
  const rcpthosts = controlPath(qmailHome, 'rcpthosts');
  const more = controlPath(qmailHome, 'morercpthosts');
  return withLock(
    `${rcpthosts}.lock`,
    () => {
      const inRcpthosts = new Set(readControlLines(rcpthosts));
      const rest = domains.filter((domain) => !inRcpthosts.has(domain));
      const fromRcpthosts = rest.length === domains.length ? 0 : removeUnlocked(rcpthosts, domains, options).removed;
      if (rest.length === 0) return { rcpthosts: fromRcpthosts, morercpthosts: 0 };
      const fromMore = withLock(`${more}.lock`, () => removeFromMoreUnlocked(qmailHome, rest, options), lockOptions(options));
      return { rcpthosts: fromRcpthosts, morercpthosts: fromMore };
    },
    lockOptions(options),
  );
}

function removeFromMoreUnlocked(qmailHome: string, domains: readonly string[], options: ControlOptions): number {
  const more = controlPath(qmailHome, 'morercpthosts');
  const { removed, left } = removeUnlocked(more, domains, options);
  if (removed === 0) return 0;
  if (left > 0) {
    rebuildMoreRcptHostsUnlocked(qmailHome, options);
    return removed;
  }
  // Empty now: the (already durable) empty file first, then the cdb qmail-smtpd reads, then the
  // file itself, so a crash at any point never leaves a cdb accepting what the text no longer lists.
  const cdb = controlPath(qmailHome, 'morercpthosts.cdb');
  unlinkIfThere(cdb);
  unlinkIfThere(more);
  fsyncDirSync(dirname(more), options.durable ?? DURABLE);
  return removed;
}

function unlinkIfThere(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new TempError(`unable to remove ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err });
    }
  }
}

/** Route mail for `domain` to the virtual user prefix of the same name: line `<domain>:<domain>`. */
export function addVirtualDomain(qmailHome: string, domain: string, options: ControlOptions = {}): ControlInsertResult {
  return insertControlLine(controlPath(qmailHome, 'virtualdomains'), `${domain}:${domain}`, options);
}

/** Remove the `<domain>:<domain>` lines of `domains`; returns how many went. */
export function removeVirtualDomains(qmailHome: string, domains: readonly string[], options: ControlOptions = {}): number {
  return removeControlLines(
    controlPath(qmailHome, 'virtualdomains'),
    domains.map((domain) => `${domain}:${domain}`),
    options,
  );
}

/**
 * Make sure `domains` are not local: remove their lines from locals. A missing locals is left
 * missing (qmail then takes `me` as the local domain); C would create it empty.
 */
export function removeLocals(qmailHome: string, domains: readonly string[], options: ControlOptions = {}): number {
  return removeControlLines(controlPath(qmailHome, 'locals'), domains, options);
}
