// Store one message in a Maildir: tmp/ exclusively, headers then the body in fixed chunks, fsync,
// link into new/ (never rename: a clash must not overwrite mail), unlink tmp, fsync new/.
import { closeSync, constants as fsc, fchmodSync, fchownSync, fstatSync, openSync, readSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { MailError, PermError, TempError } from '../exit.ts';
import { DURABLE, unlinkQuiet, type Durable } from '../fs/durable.ts';

/** Who should own a file or directory we create; applied only when running as root. */
export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

/** C truncates the host name in Maildir file names to this many characters. */
export const MAILDIR_HOST_MAX = 32;

/** The chunk size of the body copy: fixed, so memory stays flat whatever the message size. */
export const COPY_CHUNK_BYTES = 64 * 1024;

/** How many new names a delivery tries when its name is taken, before giving up with a TempError. */
const MAX_NAME_ATTEMPTS = 10;

/**
 * The disk quota (EDQUOT) refused the message. vdelivermail treats this as "over quota" (exit 100,
 * its over-quota text) rather than a system error; uncaught it still bounces, as C does.
 */
export class OverQuotaError extends PermError {
  override name = 'OverQuotaError';
}

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err);
}

/** One-line failure naming the call and path; EDQUOT becomes OverQuotaError, all else TempError. */
function ioError(call: string, path: string, err: unknown): MailError {
  const code = errnoOf(err);
  const message = `${call}(${path}) failed: ${code}`;
  return code === 'EDQUOT' ? new OverQuotaError(message, { cause: err }) : new TempError(message, { cause: err });
}

/** The process's effective uid, for the "chown only as root" rule. */
export function effectiveUid(): number {
  return process.geteuid?.() ?? -1;
}

/** Chown an open file when running as root and an owner is given. */
export function fchownIfRoot(fd: number, path: string, owner: Owner | undefined, euid: number): void {
  if (owner === undefined || euid !== 0) return;
  try {
    fchownSync(fd, owner.uid, owner.gid);
  } catch (err) {
    throw ioError('fchown', path, err);
  }
}

/**
 * The host part of a Maildir name: C's truncation to 32 characters, then `/` and `:` written as
 * `\057` and `\072` (the escapes the Maildir convention asks for; C leaves them in and breaks the
 * name, pitfall 13). A host name without those characters is exactly C's.
 */
export function maildirHost(host: string): string {
  return host.slice(0, MAILDIR_HOST_MAX).replaceAll('/', '\\057').replaceAll(':', '\\072');
}

export interface MaildirNameParts {
  readonly nowMs: number;
  readonly pid: number;
  readonly host: string;
  /** How many messages this process has delivered before (0 for the first). */
  readonly seq?: number;
  /** How many names were already found taken in this delivery (0 for the first try). */
  readonly attempt?: number;
}

/**
 * A unique Maildir base name. The first delivery of a process gets C's `<time>.<pid>.<host>`, so
 * the common single delivery looks exactly like C's. Later deliveries of the same process (C reuses
 * the name within one second: pitfall 1) and retries after a clash get the Maildir convention's
 * `P<pid>Q<n>` form, `Q` counting the process's deliveries: `<time>.P<pid>Q<seq+1>[_<attempt>].<host>`.
 */
export function maildirUniqueName(parts: MaildirNameParts): string {
  const sec = Math.floor(parts.nowMs / 1000);
  const seq = parts.seq ?? 0;
  const attempt = parts.attempt ?? 0;
  const host = maildirHost(parts.host);
  if (seq === 0 && attempt === 0) return `${sec}.${parts.pid}.${host}`;
  return `${sec}.P${parts.pid}Q${seq + 1}${attempt > 0 ? `_${attempt}` : ''}.${host}`;
}

/** Where a message comes from: an fd, read positionally from `offset` or, without it, sequentially. */
export interface MessageSource {
  readonly fd: number;
  /** pread from here on (the fd's own offset is untouched). Omit for pipes: read from the current offset. */
  readonly offset?: number;
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function readChunk(source: MessageSource, buf: Buffer, position: number | null): number {
  for (;;) {
    try {
      return readSync(source.fd, buf, 0, buf.length, position);
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'EINTR') continue;
      if (code === 'EAGAIN') {
        sleepMs(2); // a non-blocking pipe with nothing in it yet
        continue;
      }
      throw new TempError(`read(fd ${source.fd}) failed: ${code}`, { cause: err });
    }
  }
}

export interface CopyOptions {
  readonly durable?: Durable;
  readonly chunkBytes?: number;
  /** Name of the destination for error messages. */
  readonly toPath?: string;
}

/**
 * Copy everything from `source` to `toFd` through one fixed-size buffer; returns the bytes copied.
 * Read failures are TempErrors naming the fd; write failures name `toPath` (EDQUOT: OverQuotaError).
 * Used for the message body here and by vpopbull's copy mode.
 */
export function copyFdToFd(source: MessageSource, toFd: number, options: CopyOptions = {}): number {
  const durable = options.durable ?? DURABLE;
  const buf = Buffer.allocUnsafe(options.chunkBytes ?? COPY_CHUNK_BYTES);
  let position = source.offset ?? null;
  let total = 0;
  for (;;) {
    const n = readChunk(source, buf, position);
    if (n === 0) return total;
    try {
      durable.write(toFd, n === buf.length ? buf : buf.subarray(0, n));
    } catch (err) {
      throw ioError('write', options.toPath ?? `fd ${toFd}`, err);
    }
    total += n;
    if (position !== null) position += n;
  }
}

export interface DeliverOptions {
  /** Bytes written before the body (vdelivermail: Return-Path and Delivered-To lines). */
  readonly headers?: Uint8Array;
  readonly nowMs: number;
  readonly pid: number;
  /** The machine's host name, unprocessed (os.hostname()); see maildirHost. */
  readonly host: string;
  /** Messages this process delivered before this one, to any Maildir (see maildirUniqueName). */
  readonly seq?: number;
  /** Append `,S=<final size>` to the name in new/ (default true, as vdelivermail; vpopbull's C names have none). */
  readonly sizeInName?: boolean;
  /** Mode of the message file (default 0600, as C). */
  readonly mode?: number;
  /** Chown the message to this owner when running as root (vpopbull: VPOPMAILUID:GID). */
  readonly owner?: Owner;
  /** Effective uid; default the process's. */
  readonly euid?: number;
  readonly durable?: Durable;
  readonly chunkBytes?: number;
}

export interface Delivered {
  /** Absolute path of the message in new/. */
  readonly path: string;
  /** Its file name (`<base>[,S=<size>]`). */
  readonly name: string;
  /** Final file size in bytes, headers included: what goes into maildirsize. */
  readonly sizeBytes: number;
}

function isExists(err: unknown): boolean {
  return errnoOf(err) === 'EEXIST';
}

/**
 * Deliver one message into `maildir` (the directory holding tmp/ and new/). Steps: open
 * `tmp/<base>` with O_EXCL|O_NOFOLLOW (a taken name means a new name, never a replaced file), write
 * `headers`, copy the source in fixed chunks, fsync, close, link to `new/<base>,S=<size>` (a taken
 * name there means the next name for the same file; never rename, which would overwrite), unlink the
 * tmp file, fsync new/. Any failure closes and removes the tmp file and leaves nothing in new/;
 * it throws OverQuotaError for EDQUOT and TempError for everything else. A process killed midway
 * leaves at most a file in tmp/, which Maildir readers clean up after 36 hours.
 */
export function deliverToMaildir(maildir: string, source: MessageSource, options: DeliverOptions): Delivered {
  const durable = options.durable ?? DURABLE;
  const euid = options.euid ?? effectiveUid();
  const mode = options.mode ?? 0o600;
  const newDir = join(maildir, 'new');
  let attempt = 0;
  const nextName = (): string => {
    if (attempt >= MAX_NAME_ATTEMPTS) {
      throw new TempError(`unable to find a free message name in ${maildir} after ${MAX_NAME_ATTEMPTS} tries (#4.3.0)`);
    }
    return maildirUniqueName({ nowMs: options.nowMs, pid: options.pid, host: options.host, seq: options.seq ?? 0, attempt: attempt++ });
  };

  let base = nextName();
  let tmpPath = join(maildir, 'tmp', base);
  let fd = -1;
  while (fd < 0) {
    try {
      fd = openSync(tmpPath, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, mode);
    } catch (err) {
      if (!isExists(err)) throw ioError('open', tmpPath, err);
      base = nextName();
      tmpPath = join(maildir, 'tmp', base);
    }
  }

  let sizeBytes: number;
  try {
    sizeBytes = writeMessage(fd, tmpPath, source, options, mode, euid, durable);
  } catch (err) {
    closeQuiet(fd);
    unlinkQuiet(tmpPath);
    throw err;
  }
  try {
    closeSync(fd); // close can report a late write error (NFS): then the message is not safe
  } catch (err) {
    unlinkQuiet(tmpPath);
    throw ioError('close', tmpPath, err);
  }

  const sizeInName = options.sizeInName ?? true;
  let name = sizeInName ? `${base},S=${sizeBytes}` : base;
  let newPath = join(newDir, name);
  try {
    for (;;) {
      try {
        durable.link(tmpPath, newPath);
        break;
      } catch (err) {
        if (!isExists(err)) throw ioError('link', `${tmpPath}, ${newPath}`, err);
        const next = nextName();
        name = sizeInName ? `${next},S=${sizeBytes}` : next;
        newPath = join(newDir, name);
      }
    }
  } catch (err) {
    unlinkQuiet(tmpPath);
    throw err;
  }

  try {
    unlinkSync(tmpPath);
  } catch {
    // the message is safely in new/; a tmp/ leftover is harmless and readers remove old ones
  }
  try {
    fsyncDir(newDir, durable);
  } catch (err) {
    // Not known to survive a crash: take it back so qmail's retry does not deliver it twice.
    unlinkQuiet(newPath);
    throw err;
  }
  return { path: newPath, name, sizeBytes };
}

/** Headers, body, fsync; returns the file's final size. */
function writeMessage(
  fd: number,
  tmpPath: string,
  source: MessageSource,
  options: DeliverOptions,
  mode: number,
  euid: number,
  durable: Durable,
): number {
  try {
    fchmodSync(fd, mode); // exactly this mode, whatever the umask
  } catch (err) {
    throw ioError('fchmod', tmpPath, err);
  }
  fchownIfRoot(fd, tmpPath, options.owner, euid);
  if (options.headers !== undefined && options.headers.length > 0) {
    try {
      durable.write(fd, options.headers);
    } catch (err) {
      throw ioError('write', tmpPath, err);
    }
  }
  const copy: CopyOptions = { durable, toPath: tmpPath, ...(options.chunkBytes === undefined ? {} : { chunkBytes: options.chunkBytes }) };
  copyFdToFd(source, fd, copy);
  try {
    durable.fsync(fd);
  } catch (err) {
    throw ioError('fsync', tmpPath, err);
  }
  return fstatSync(fd).size;
}

function closeQuiet(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already failing: the first error is the one to report
  }
}

/** fsync a directory through `durable`, naming the failed call and path. */
export function fsyncDir(dir: string, durable: Durable = DURABLE): void {
  let fd: number;
  try {
    fd = openSync(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
  } catch (err) {
    throw ioError('open', dir, err);
  }
  try {
    durable.fsync(fd);
  } catch (err) {
    throw ioError('fsync', dir, err);
  } finally {
    closeQuiet(fd);
  }
}
