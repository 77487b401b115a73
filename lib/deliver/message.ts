// The message on fd 0: qmail's queue file, read with positioned reads so every delivery starts at
// byte 0 without buffering; a pipe or terminal is copied once to an unlinked temporary file first.
import { closeSync, constants as fsc, fstatSync, openSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { TempError } from '../exit.ts';
import { unlinkQuiet } from '../fs/durable.ts';
import { copyFdToFd } from '../maildir/deliver.ts';

export interface Message {
  /** Read it with pread from offset 0 (the descriptor's own offset is never moved by us). */
  readonly fd: number;
  readonly sizeBytes: number;
  /** A new descriptor of the message at offset 0, for a child's stdin; the caller closes it. */
  openForChild(): number;
  /** Close what we opened (never fd 0 itself). */
  close(): void;
}

export interface OpenMessageOptions {
  /** Where a copy goes when the input cannot be re-read (TMPDIR, else /tmp). */
  readonly tmpDir: string;
  readonly pid: number;
}

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err);
}

/** Re-open an open file through /proc: a new file description, offset 0, same inode. */
function reopen(fd: number): number | undefined {
  try {
    return openSync(`/proc/self/fd/${fd}`, fsc.O_RDONLY);
  } catch {
    return undefined; // no /proc, or the inode's mode does not let us open it anew
  }
}

interface Spool {
  readonly fd: number;
  /** Set when the copy could not be unlinked at once (no /proc to re-open it by). */
  readonly path: string | undefined;
  readonly sizeBytes: number;
}

/**
 * Copy `fd` (from `offset`, or sequentially from where it stands) into a fresh 0600 file in
 * tmpDir, then unlink the name when /proc can re-open the descriptor, so nothing is left behind
 * however the process ends. Not fsynced: it only lives as long as this run.
 */
function spool(source: { fd: number; offset?: number }, options: OpenMessageOptions): Spool {
  // O_EXCL makes the name ours; the random part only makes a clash (and a retry) unlikely. Not
  // node:crypto: loading it costs every run start-up time, and nothing here needs to be secret.
  let path = '';
  let fd = -1;
  for (let attempt = 0; fd < 0; attempt++) {
    path = join(options.tmpDir, `vdelivermail.${options.pid}.${Math.random().toString(36).slice(2, 10)}`);
    try {
      fd = openSync(path, fsc.O_RDWR | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
    } catch (err) {
      if (errnoOf(err) === 'EEXIST' && attempt < 10) continue;
      throw new TempError(`unable to copy the message: open(${path}) failed: ${errnoOf(err)}`, { cause: err });
    }
  }
  let sizeBytes: number;
  try {
    sizeBytes = copyFdToFd(source, fd, { toPath: path });
  } catch (err) {
    closeSync(fd);
    unlinkQuiet(path);
    throw new TempError(`unable to copy the message: ${(err as Error).message}`, { cause: err });
  }
  const probe = reopen(fd);
  if (probe === undefined) return { fd, path, sizeBytes };
  closeSync(probe);
  try {
    unlinkSync(path);
  } catch {
    return { fd, path, sizeBytes };
  }
  return { fd, path: undefined, sizeBytes };
}

/**
 * Take the message on `fd`. A regular file (qmail-local's case) is used in place: its size is its
 * fstat size, children get a re-opened descriptor at offset 0. Anything else (a pipe, a terminal,
 * /dev/null) is copied once to a temporary file, as C's make-seekable build does; so is a regular
 * file that cannot be re-opened through /proc, the first time a child needs it.
 */
export function openMessage(fd: number, options: OpenMessageOptions): Message {
  let st;
  try {
    st = fstatSync(fd);
  } catch (err) {
    throw new TempError(`unable to read the message: fstat(fd ${fd}) failed: ${errnoOf(err)}`, { cause: err });
  }
  let copy: Spool | undefined;
  const closeCopy = () => {
    if (copy === undefined) return;
    closeSync(copy.fd);
    if (copy.path !== undefined) unlinkQuiet(copy.path);
    copy = undefined;
  };
  const openCopy = (c: Spool): number => {
    const again = c.path === undefined ? reopen(c.fd) : undefined;
    if (again !== undefined) return again;
    try {
      return openSync(c.path ?? `/proc/self/fd/${c.fd}`, fsc.O_RDONLY);
    } catch (err) {
      throw new TempError(`unable to re-open the message copy: ${errnoOf(err)}`, { cause: err });
    }
  };

  if (st.isFile()) {
    const sizeBytes = st.size;
    return {
      fd,
      sizeBytes,
      openForChild() {
        if (copy === undefined) {
          const again = reopen(fd);
          if (again !== undefined) return again;
          copy = spool({ fd, offset: 0 }, options);
        }
        return openCopy(copy);
      },
      close: closeCopy,
    };
  }
  copy = spool({ fd }, options);
  const c = copy;
  return {
    fd: c.fd,
    sizeBytes: c.sizeBytes,
    openForChild: () => openCopy(c),
    close: closeCopy,
  };
}
