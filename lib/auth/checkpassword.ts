// The checkpassword input: `login\0secret\0challenge\0` on fd 3, read to EOF within a fixed bound.
import { closeSync, fstatSync, readSync, readlinkSync } from 'node:fs';

/** checkpassword's own limit (C vpopmail reads 155 bytes and silently drops the rest). */
export const CHECKPASSWORD_MAX_BYTES = 512;

export interface CheckpasswordInput {
  /** Byte strings (latin1): what the client sent, byte for byte. */
  readonly login: string;
  readonly secret: string;
  /** APOP timestamp or CRAM-MD5 challenge; empty when absent. */
  readonly challenge: string;
}

export type Fd3Read =
  | { readonly kind: 'ok'; readonly data: Buffer }
  | { readonly kind: 'unreadable'; readonly code: string }
  | { readonly kind: 'oversized' };

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Read fd 3 until EOF. More than `max` bytes is misuse (checkpassword allows 512); a closed fd 3 or
 * a read error means we were not started by a checkpassword client. fd 3 is closed afterwards.
 */
export function readCheckpasswordFd(fd = 3, max = CHECKPASSWORD_MAX_BYTES): Fd3Read {
  if (!isInheritedInput(fd)) return { kind: 'unreadable', code: 'EBADF' };
  const buf = Buffer.alloc(max + 1);
  let len = 0;
  try {
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, len, buf.length - len, null);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') {
          sleepMs(1);
          continue;
        }
        if (code === 'EINTR') continue;
        return { kind: 'unreadable', code: code ?? 'EIO' };
      }
      if (n === 0) break;
      len += n;
      if (len > max) {
        buf.fill(0);
        return { kind: 'oversized' };
      }
    }
  } finally {
    try {
      closeSync(fd);
    } catch {
      // was never open
    }
  }
  const data = Buffer.from(buf.subarray(0, len));
  buf.fill(0);
  return { kind: 'ok', data };
}

/**
 * Was `fd` handed to us as input? When the caller closed fd 3, the runtime may have taken that
 * number for its own event loop (an epoll or eventfd descriptor) before our code runs: reading it
 * would hang, and closing it would break the runtime. Such descriptors are anonymous inodes.
 */
function isInheritedInput(fd: number): boolean {
  try {
    return !readlinkSync(`/proc/self/fd/${fd}`).startsWith('anon_inode:');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false; // no such descriptor
    try {
      const st = fstatSync(fd); // no /proc: judge by type
      return st.isFIFO() || st.isFile() || st.isSocket() || st.isCharacterDevice();
    } catch {
      return false;
    }
  }
}

/** Split at NULs; missing terminators are tolerated, as in C. The buffer is wiped afterwards. */
export function parseCheckpassword(data: Buffer): CheckpasswordInput {
  const fields: string[] = [];
  let start = 0;
  for (let i = 0; i < 3; i++) {
    if (start > data.length) {
      fields.push('');
      continue;
    }
    let end = data.indexOf(0, start);
    if (end < 0) end = data.length;
    fields.push(data.toString('latin1', start, end));
    start = end + 1;
  }
  data.fill(0);
  return { login: fields[0]!, secret: fields[1]!, challenge: fields[2]! };
}
