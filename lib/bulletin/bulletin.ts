// The bulletin file of vpopbull: opened and stat'ed once, its header section scanned for a Date
// line, held in memory when small, and the To:/Date: lines that copy mode puts in front of it.
import { closeSync, constants as fsc, fstatSync, openSync, readSync } from 'node:fs';
import { resolve } from 'node:path';
import { MailError, TempError } from '../exit.ts';

/** Bulletins up to this size are read once and written from memory; larger ones are streamed per copy. */
export const BULLETIN_MEMORY_MAX_BYTES = 1024 * 1024;

/** vpopbull's start-up refusals (spec/vpopbull.md §2, §8): one line on stderr, exit 255. */
export class BulletinError extends MailError {
  override name = 'BulletinError';
  constructor(message: string, options?: ErrorOptions) {
    super(message, 255, { bare: true, ...(options?.cause === undefined ? {} : { cause: options.cause }) });
  }
}

export interface Bulletin {
  /** Absolute path (symlink targets and messages name it). */
  readonly path: string;
  /** Open read-only for the whole run. */
  readonly fd: number;
  readonly sizeBytes: number;
  /** The whole file when it is at most BULLETIN_MEMORY_MAX_BYTES, else undefined (stream from fd). */
  readonly bytes: Buffer | undefined;
  /** Does its header section carry a Date line (then copy mode adds none)? */
  readonly hasDate: boolean;
  readonly dev: number;
  readonly ino: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err);
}

function readAt(fd: number, buf: Buffer, position: number, path: string): number {
  try {
    return readSync(fd, buf, 0, buf.length, position);
  } catch (err) {
    throw new TempError(`read(${path}) failed: ${errnoOf(err)}`, { cause: err });
  }
}

/**
 * Does the header section name a Date? Lines are read up to the first empty one. C looks for
 * `Date: ` with the space and stops only at a bare LF (pitfall 8); we take any `Date:` (RFC 5322
 * needs no space) and let a CRLF blank line end the headers too, so a body line is never taken
 * for a header.
 */
export function headerHasDate(head: Buffer): boolean {
  let from = 0;
  while (from < head.length) {
    let nl = head.indexOf(10, from);
    if (nl < 0) nl = head.length;
    const lineEnd = nl > from && head[nl - 1] === 13 ? nl - 1 : nl;
    if (lineEnd === from) return false; // the blank line ending the headers
    if (lineEnd - from >= 5 && head.toString('latin1', from, from + 5).toLowerCase() === 'date:') return true;
    from = nl + 1;
  }
  return false;
}

/** The first BULLETIN_MEMORY_MAX_BYTES of a large bulletin: more header than that is not a header. */
function readHead(fd: number, path: string): Buffer {
  const head = Buffer.allocUnsafe(BULLETIN_MEMORY_MAX_BYTES);
  let got = 0;
  while (got < head.length) {
    const n = readAt(fd, head.subarray(got), got, path);
    if (n === 0) break;
    got += n;
  }
  return head.subarray(0, got);
}

/**
 * Open and check the bulletin (spec/vpopbull.md §2.4): it must open (`Could not open file <name>`)
 * and hold something (`Error: <name> is empty`); both are BulletinErrors (exit 255). It must be a
 * regular file: every mailbox reads it again from the start, which a pipe cannot give.
 */
export function openBulletin(name: string, cwd: string): Bulletin {
  const path = resolve(cwd, name);
  let fd: number;
  try {
    fd = openSync(path, fsc.O_RDONLY);
  } catch (err) {
    throw new BulletinError(`Could not open file ${name}`, { cause: err });
  }
  try {
    const st = fstatSync(fd);
    if (st.size === 0) throw new BulletinError(`Error: ${name} is empty`);
    if (!st.isFile()) throw new BulletinError(`Error: ${name} is not a regular file`);
    let bytes: Buffer | undefined;
    let head: Buffer;
    if (st.size <= BULLETIN_MEMORY_MAX_BYTES) {
      bytes = Buffer.allocUnsafe(st.size);
      let got = 0;
      while (got < st.size) {
        const n = readAt(fd, bytes.subarray(got), got, path);
        if (n === 0) break;
        got += n;
      }
      if (got === 0) throw new BulletinError(`Error: ${name} is empty`);
      bytes = bytes.subarray(0, got); // shrank while we read: the bytes we have are the bulletin
      head = bytes;
    } else {
      head = readHead(fd, path);
    }
    return {
      path,
      fd,
      sizeBytes: bytes?.length ?? st.size,
      bytes,
      hasDate: headerHasDate(head),
      dev: st.dev,
      ino: st.ino,
      mode: st.mode,
      uid: st.uid,
      gid: st.gid,
    };
  } catch (err) {
    closeSync(fd);
    if (err instanceof MailError) throw err;
    throw new TempError(`read(${path}) failed: ${errnoOf(err)}`, { cause: err });
  }
}

export function closeBulletin(bulletin: Bulletin): void {
  closeSync(bulletin.fd);
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number) => String(n).padStart(2, '0');

/** `Date: Www, DD Mon YYYY hh:mm:ss +0000` + LF, in UTC (spec/vpopbull.md §6). */
export function formatDateLine(nowMs: number): string {
  const d = new Date(nowMs);
  const time = `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`;
  return `Date: ${DAYS[d.getUTCDay()]}, ${two(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${time} +0000\n`;
}

/**
 * The lines copy mode writes before the bulletin: `To: <user>@<domain>`, and a Date line when the
 * bulletin has none. `address` is a byte string (latin1), as vpasswd holds names.
 */
export function copyHeaders(address: string, dateLine: string | undefined): Buffer {
  return Buffer.from(`To: ${address}\n${dateLine ?? ''}`, 'latin1');
}
