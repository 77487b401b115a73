// `~vpopmail/etc/open-smtp` (layout.md §11): the roaming-relay list, one
// `<ip>:allow,RELAYCLIENT="",RBLSMTPD=""<TAB><unix-time>` line per client, and its locked updates.
// Turning it into tcp.smtp.cdb (tcprules) is the caller's, run through `whileLocked`.
import { readFileSync, readSync, constants as fsc } from 'node:fs';
import { ipVersion } from '../ip.ts';
import { join } from 'node:path';
import { PermError, TempError } from '../exit.ts';
import { DURABLE, replaceFileSync, withPlainFile, type Durable } from '../fs/durable.ts';
import { withLock } from './lock.ts';

export const OPEN_SMTP_FILE = 'open-smtp';
export const OPEN_SMTP_LOCK_FILE = 'open-smtp.lock';
/** The tcprules rule every roaming line carries. */
export const RELAY_RULE = ':allow,RELAYCLIENT="",RBLSMTPD=""';

export interface OpenSmtpEntry {
  /** Kept whole, IPv6 included; how an IPv6 line is spelled for tcprules is decided by the rebuild. */
  readonly ip: string;
  readonly timeSec: number;
}

/**
 * An address we will write: IPv4 or IPv6 text and nothing else. An empty or odd value would make a
 * line that tcprules reads as the catch-all rule, an open relay for everybody (pitfall 11).
 */
export function isRelayIp(ip: string): boolean {
  return /^[0-9A-Fa-f.:]+$/.test(ip) && ipVersion(ip) !== 0;
}

export function formatOpenSmtpLine(entry: OpenSmtpEntry): string {
  return `${entry.ip}${RELAY_RULE}\t${entry.timeSec}`;
}

/**
 * The IP a line is about. C takes the text before the first `:`, which cuts IPv6 addresses short; we
 * take the text before the relay rule when the line has it, else C's answer.
 */
export function ipOfOpenSmtpLine(line: string): string {
  const rule = line.indexOf(RELAY_RULE);
  if (rule >= 0) return line.slice(0, rule);
  const colon = line.indexOf(':');
  return colon < 0 ? line : line.slice(0, colon);
}

/** The time after the TAB as C reads it (atol: leading digits, garbage is 0); undefined without a TAB. */
function timeOfLine(line: string): number | undefined {
  const tab = line.indexOf('\t');
  if (tab < 0) return undefined;
  const m = /^[ \t]*([+-]?[0-9]+)/.exec(line.slice(tab + 1));
  return m === null ? 0 : Number(m[1]);
}

/** A line in our format; undefined for anything else (hand-written rules, damage). */
export function parseOpenSmtpLine(line: string): OpenSmtpEntry | undefined {
  const m = /^(.+?)(:allow,RELAYCLIENT="",RBLSMTPD="")\t([0-9]+)$/.exec(line);
  if (m === null) return undefined;
  return { ip: m[1]!, timeSec: Number(m[3]) };
}

/** What the tcprules input gets from a line: the text up to its first TAB (layout.md §11.3). */
export function ruleOfOpenSmtpLine(line: string): string {
  const tab = line.indexOf('\t');
  return tab < 0 ? line : line.slice(0, tab);
}

function sysCode(err: unknown): string {
  return String((err as NodeJS.ErrnoException).code ?? err);
}

export function openSmtpPath(etcDir: string): string {
  return join(etcDir, OPEN_SMTP_FILE);
}

/** The file's lines without LFs; [] when it does not exist. */
export function readOpenSmtpLines(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new TempError(`unable to read ${path}: ${sysCode(err)}`, { cause: err });
  }
  return linesOf(text);
}

/** The lines of a file's text, without their LFs (a last line without one counts). */
function linesOf(text: string): string[] {
  const lines = text.split('\n');
  if (text.endsWith('\n') || text === '') lines.pop();
  return lines;
}

/** The entries in our format, in file order. */
export function readOpenSmtp(path: string): OpenSmtpEntry[] {
  const out: OpenSmtpEntry[] = [];
  for (const line of readOpenSmtpLines(path)) {
    const entry = parseOpenSmtpLine(line);
    if (entry !== undefined) out.push(entry);
  }
  return out;
}

export interface OpenSmtpOptions {
  readonly durable?: Durable;
  readonly lockTimeoutMs?: number;
  /** Mode of the rewritten file; default 0644 (what vchkpw leaves). */
  readonly mode?: number;
  /** chowned to this when running as root (clearopensmtp: VPOPMAILUID:VPOPMAILGID; vchkpw leaves root). */
  readonly owner?: { readonly uid: number; readonly gid: number };
}

function replaceLines(path: string, lines: readonly string[], options: OpenSmtpOptions): void {
  try {
    // `open-smtp.tmp.<pid>`, vchkpw's own temp name; we hold the lock, so it cannot clash.
    replaceFileSync(path, Buffer.from(lines.map((l) => `${l}\n`).join(''), 'latin1'), {
      mode: options.mode ?? 0o644,
      durable: options.durable ?? DURABLE,
      ...(options.owner === undefined ? {} : { owner: options.owner }),
    });
  } catch (err) {
    throw new TempError(`unable to write ${path}: ${sysCode(err)}`, { cause: err });
  }
}

function lockOf(etcDir: string, options: OpenSmtpOptions): [string, { timeoutMs?: number }] {
  return [join(etcDir, OPEN_SMTP_LOCK_FILE), options.lockTimeoutMs === undefined ? {} : { timeoutMs: options.lockTimeoutMs }];
}

/** Larger than any open-smtp we refresh in place (about 50 bytes a client: 20,000 clients). */
const REFRESH_IN_PLACE_MAX_BYTES = 1 << 20;

/**
 * A login from an IP the file already holds, once and in our format, with a time of as many digits
 * as `timeSec`: the new time is written over the old one, in place (`refreshed`). Otherwise the file
 * must be rewritten, and `lines` are what it holds: it is not a plain file of ours (another owner,
 * writable by group or others, set-id bits, more than one name), has no LF at its end, holds the IP
 * not at all or twice, or the time has another length. Undefined when it was not read: missing, a
 * symlink or no plain file, or too big. Not fsynced: a crash can at most bring back the earlier
 * time, which only makes clearopensmtp expire the entry sooner, and digits written over digits
 * leave a whole line however much of them reached the disk. Measured, this is 0.2 ms against 1.0 ms
 * for a rewrite (temp file, fsync, rename, fsync of etc/).
 */
function refreshInPlace(path: string, ip: string, timeSec: number, durable: Durable): { refreshed: boolean; lines: string[] } | undefined {
  return withPlainFile(path, fsc.O_RDWR, (fd, st) => {
    if (st.size > REFRESH_IN_PLACE_MAX_BYTES) return undefined;
    const buf = Buffer.alloc(st.size);
    if (readSync(fd, buf, 0, st.size, 0) !== st.size) return undefined;
    const text = buf.toString('latin1');
    const lines = linesOf(text);
    const rewrite = { refreshed: false, lines };
    if (st.nlink !== 1 || (st.mode & 0o7022) !== 0 || st.uid !== (process.geteuid?.() ?? st.uid)) return rewrite;
    if (!text.endsWith('\n')) return rewrite;
    let at = -1;
    let end = 0; // offset of the LF that ends line `at`
    for (let i = 0, offset = 0; i < lines.length; offset += lines[i]!.length + 1, i++) {
      if (ipOfOpenSmtpLine(lines[i]!) !== ip) continue;
      if (at >= 0) return rewrite;
      at = i;
      end = offset + lines[i]!.length;
    }
    if (at < 0 || parseOpenSmtpLine(lines[at]!)?.ip !== ip) return rewrite;
    const digits = String(timeSec);
    const old = lines[at]!.slice(lines[at]!.lastIndexOf('\t') + 1);
    if (!Number.isSafeInteger(timeSec) || timeSec < 0 || old.length !== digits.length) return rewrite;
    durable.write(fd, Buffer.from(digits, 'latin1'), end - digits.length);
    return { refreshed: true, lines: lines.with(at, formatOpenSmtpLine({ ip, timeSec })) };
  });
}

/**
 * vchkpw after a good POP/IMAP login: under open-smtp.lock, drop the lines of this IP, append it with
 * `timeSec`, replace the file; or, for an IP already there, refresh its time in place (refreshInPlace;
 * its line then keeps its place, where C moves it to the end). Returns whether the IP was new (C
 * rebuilds tcp.smtp.cdb only then); `whileLocked` runs before the lock is released, with the new
 * lines, so the rebuild sees this state.
 */
export function touchOpenSmtp(
  etcDir: string,
  ip: string,
  timeSec: number,
  options: OpenSmtpOptions & { readonly whileLocked?: (isNew: boolean, lines: readonly string[]) => void } = {},
): boolean {
  if (!isRelayIp(ip)) throw new PermError(`not an IP address for open-smtp: ${JSON.stringify(ip)}`);
  const path = openSmtpPath(etcDir);
  const [lockPath, lockOptions] = lockOf(etcDir, options);
  return withLock(
    lockPath,
    () => {
      const read = refreshInPlace(path, ip, timeSec, options.durable ?? DURABLE);
      if (read?.refreshed === true) {
        options.whileLocked?.(false, read.lines);
        return false;
      }
      const old = read?.lines ?? readOpenSmtpLines(path);
      const kept = old.filter((line) => ipOfOpenSmtpLine(line) !== ip);
      const isNew = kept.length === old.length;
      kept.push(formatOpenSmtpLine({ ip, timeSec }));
      replaceLines(path, kept, options);
      options.whileLocked?.(isNew, kept);
      return isNew;
    },
    lockOptions,
  );
}

/**
 * clearopensmtp: keep the lines whose time + maxAgeSec is later than now (lines without a TAB go, as
 * in C), under the same lock vchkpw takes; C takes none and uses a fixed temp name (pitfall 12).
 * Returns how many lines went. The file is rewritten, and `whileLocked` run, even when none did,
 * because clearopensmtp always rebuilds.
 */
export function expireOpenSmtp(
  etcDir: string,
  nowSec: number,
  maxAgeSec: number,
  options: OpenSmtpOptions & { readonly whileLocked?: (lines: readonly string[]) => void } = {},
): number {
  const path = openSmtpPath(etcDir);
  const [lockPath, lockOptions] = lockOf(etcDir, options);
  return withLock(
    lockPath,
    () => {
      const old = readOpenSmtpLines(path);
      const kept = old.filter((line) => {
        const t = timeOfLine(line);
        return t !== undefined && t + maxAgeSec > nowSec;
      });
      if (old.length > 0 || kept.length > 0) replaceLines(path, kept, options);
      options.whileLocked?.(kept);
      return old.length - kept.length;
    },
    lockOptions,
  );
}
