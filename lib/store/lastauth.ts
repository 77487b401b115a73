// `<home>/lastauth` (layout.md §10): the last login's client IP as the content (no newline) and its
// time as the file's mtime.
import { closeSync, fchmodSync, fchownSync, fstatSync, futimesSync, lstatSync, openSync, readSync, constants as fsc } from 'node:fs';
import { dirname, join } from 'node:path';
import { TempError } from '../exit.ts';
import { DURABLE, fsyncDirSync, unlinkQuiet, withPlainFile, type Durable } from '../fs/durable.ts';

export const LASTAUTH_FILE = 'lastauth';
/** What user creation writes: "never logged in". */
export const NEVER_LOGGED_IN_IP = '0.0.0.0';

export interface Lastauth {
  /** The first line of the file (C: fgets), without its LF. */
  readonly ip: string;
  /** The file's mtime in whole seconds: the login time. */
  readonly timeSec: number;
}

export interface LastauthWriteOptions {
  readonly durable?: Durable;
  /**
   * fsync the file and the directory. Off by default: lastauth is a login note, and a power cut that
   * loses the newest one leaves the previous note, whole, in place.
   */
  readonly sync?: boolean;
  /** Mode for a new file (an existing file keeps its mode). C: 0600 from vadduser, 0644 from vchkpw. */
  readonly mode?: number;
  /** chowned to this when running as root (C chowns to the domain uid/gid). */
  readonly owner?: { readonly uid: number; readonly gid: number };
}

function sysCode(err: unknown): string {
  return String((err as NodeJS.ErrnoException).code ?? err);
}

/** `<home>/lastauth`; undefined when the home is empty (a SQL import without pw_dir). */
export function lastauthPath(homeDir: string): string | undefined {
  return homeDir === '' ? undefined : join(homeDir, LASTAUTH_FILE);
}

/**
 * A login from the IP the file already holds (a client polling from one address): only the times
 * change, so they are set on that file, and no file is written or renamed. True when done that way;
 * false when the file must be written anew: it is missing, not a plain file (a symlink is not
 * followed, a FIFO not waited for), holds something else, carries set-id bits, or has another owner
 * than the one we would give it. Measured (strace), the rename of a fresh lastauth over the old one
 * took 0.6 ms of a vchkpw login: ext4 starts writing a file's data when it is renamed over another.
 */
function touchUnchanged(path: string, ip: Buffer, timeSec: number, owner: LastauthWriteOptions['owner']): boolean {
  const done = withPlainFile(path, fsc.O_RDONLY, (fd, st) => {
    if (st.size !== ip.length || (st.mode & 0o7000) !== 0) return undefined;
    if (owner !== undefined && process.geteuid?.() === 0 && (st.uid !== owner.uid || st.gid !== owner.gid)) return undefined;
    const held = Buffer.alloc(ip.length);
    if (readSync(fd, held, 0, ip.length, 0) !== ip.length || !held.equals(ip)) return undefined;
    futimesSync(fd, timeSec, timeSec);
    return true;
  });
  return done === true;
}

/**
 * Record a login: content `ip`, mtime and atime `timeSec`. C truncates and rewrites in place, so a
 * crash can leave it empty; we write a sibling temp file and rename it, or, when the file already
 * holds this IP, set its times (touchUnchanged). False, as C's silent failure, when the user
 * directory does not exist (yet).
 */
export function writeLastauth(homeDir: string, ip: string, timeSec: number, options: LastauthWriteOptions = {}): boolean {
  const path = lastauthPath(homeDir);
  if (path === undefined) return false;
  if (ip.includes('\n')) throw new TempError('lastauth IP holds a newline');
  const bytes = Buffer.from(ip, 'latin1');
  if (options.sync !== true && touchUnchanged(path, bytes, timeSec, options.owner)) return true;
  const durable = options.durable ?? DURABLE;
  let mode = options.mode ?? 0o600;
  try {
    // lstat: a symlink planted there is replaced by the rename, so its target's mode is not ours to
    // copy (vchkpw runs as root); and never the set-id bits of whatever was there
    const st = lstatSync(path);
    if (st.isFile()) mode = st.mode & 0o777;
  } catch {
    // new file: the given mode
  }
  const tmp = `${path}.tmp.${process.pid}`;
  let fd: number;
  try {
    unlinkQuiet(tmp);
    fd = openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new TempError(`unable to create ${tmp}: ${sysCode(err)}`, { cause: err });
  }
  try {
    try {
      fchmodSync(fd, mode);
      if (options.owner !== undefined && process.geteuid?.() === 0) fchownSync(fd, options.owner.uid, options.owner.gid);
      durable.write(fd, bytes);
      futimesSync(fd, timeSec, timeSec);
      if (options.sync === true) durable.fsync(fd);
    } finally {
      closeSync(fd);
    }
    durable.rename(tmp, path);
  } catch (err) {
    unlinkQuiet(tmp);
    throw new TempError(`unable to write ${path}: ${sysCode(err)}`, { cause: err });
  }
  if (options.sync === true) fsyncDirSync(dirname(path), durable);
  return true;
}

/** The last login, or undefined when there is no lastauth file. */
export function readLastauth(homeDir: string): Lastauth | undefined {
  const path = lastauthPath(homeDir);
  if (path === undefined) return undefined;
  let fd: number;
  try {
    fd = openSync(path, fsc.O_RDONLY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new TempError(`unable to open ${path}: ${sysCode(err)}`, { cause: err });
  }
  try {
    const st = fstatSync(fd);
    // An IP is at most 45 characters; C reads one line into a small buffer, as we read 256 bytes.
    const buf = Buffer.alloc(256);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const text = buf.toString('latin1', 0, n);
    const nl = text.indexOf('\n');
    return { ip: nl < 0 ? text : text.slice(0, nl), timeSec: Math.floor(st.mtimeMs / 1000) };
  } catch (err) {
    throw new TempError(`unable to read ${path}: ${sysCode(err)}`, { cause: err });
  } finally {
    closeSync(fd);
  }
}
