// cdb reader: constant-time lookups with positioned reads of only the slots and records a key needs.
//
// Three outcomes stay apart (djb): found, not found (undefined), and could not look. A file that is
// truncated, points outside itself or outside its data area is a CdbFormatError, never a miss; an
// I/O error is the system error. No mmap, so a multi-GB file costs a handful of small reads; a
// file of up to 64 KiB (users/cdb, a small domain's vpasswd.cdb) is read whole at open instead.
// Keys given as strings are UTF-8 encoded; where bytes matter (latin1 names, binary keys) pass a
// Uint8Array, e.g. Buffer.from(name, 'latin1').
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const HEADER_BYTES = 2048;
const MAX_FILE_BYTES = 0xffff_ffff;
/**
 * A file this small (users/cdb, a small domain's vpasswd.cdb) is read whole by open: each lookup is
 * then a few slices of memory instead of three or four reads.
 */
const READ_WHOLE_BYTES = 64 * 1024;
/** cdb's numbers are little-endian: on such a host the header is used in place, not decoded. */
const IS_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/** Slots read per probe step: a lookup usually ends in the first one or two. */
const PROBE_SLOTS = 8;
const SCAN_BUFFER_BYTES = 64 * 1024;

/** djb's hash: h = 5381; h = (h * 33) xor byte, mod 2^32, bytes taken as unsigned (as cdbmake does). */
export function cdbHash(key: Uint8Array): number {
  let h = 5381;
  for (let i = 0; i < key.length; i++) h = (Math.imul(h, 33) ^ key[i]!) >>> 0;
  return h;
}

/** The file is not a well-formed cdb (truncated, a pointer out of range, or too large). */
export class CdbFormatError extends Error {
  override name = 'CdbFormatError';
}

function keyBytes(key: Uint8Array | string): Uint8Array {
  return typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
}

function sameBytes(a: Uint8Array, aOff: number, b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (a[aOff + i] !== b[i]) return false;
  return true;
}

export class CdbReader {
  readonly path: string;
  #fd: number | undefined;
  readonly #size: number;
  /** The 256 (position, slot count) pairs. */
  readonly #header: Uint32Array;
  /** End of the record area: the first hash table's position. */
  readonly #eod: number;
  /** The whole file, when it is small enough to have been read at open (READ_WHOLE_BYTES). */
  readonly #whole: Buffer | undefined;

  private constructor(path: string, fd: number, size: number, header: Uint32Array, eod: number, whole: Buffer | undefined) {
    this.path = path;
    this.#fd = fd;
    this.#size = size;
    this.#header = header;
    this.#eod = eod;
    this.#whole = whole;
  }

  /**
   * Open and check the header. open(2) errors (ENOENT, EACCES, ...) are thrown as they come: the
   * caller decides what a missing file means. A damaged header or a file over 4 GiB is CdbFormatError.
   */
  static open(path: string): CdbReader {
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size > MAX_FILE_BYTES) {
        throw new CdbFormatError(`${path} is not a cdb: ${size} bytes is over the 4 GiB cdb's 32-bit positions can address`);
      }
      if (size < HEADER_BYTES) {
        throw new CdbFormatError(`${path} is not a cdb: ${size} bytes is shorter than the 2048-byte header`);
      }
      const whole = size <= READ_WHOLE_BYTES ? readExactly(fd, path, 0, size) : undefined;
      const header = headerWords(whole ?? readExactly(fd, path, 0, HEADER_BYTES));
      const eod = header[0]!;
      if (eod < HEADER_BYTES || eod > size) {
        throw new CdbFormatError(`${path} is not a cdb: data ends at ${eod}, outside 2048..${size}`);
      }
      return new CdbReader(path, fd, size, header, eod, whole);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** The data of the first record with this key, or undefined if there is none. */
  get(key: Uint8Array | string): Uint8Array | undefined {
    return this.#find(keyBytes(key), 1)[0];
  }

  /** The data of every record with this key, in file order. */
  getAll(key: Uint8Array | string): Uint8Array[] {
    return this.#find(keyBytes(key), Infinity);
  }

  /** Every record, in file order. Reads through a 64 KiB buffer. */
  *entries(): IterableIterator<[Uint8Array, Uint8Array]> {
    const scan = new Scanner(this.#openFd(), this.path, this.#eod);
    let pos = HEADER_BYTES;
    while (pos < this.#eod) {
      const head = scan.take(pos, 8);
      const view = new DataView(head.buffer, head.byteOffset, 8);
      const klen = view.getUint32(0, true);
      const dlen = view.getUint32(4, true);
      if (pos + 8 + klen + dlen > this.#eod) {
        throw new CdbFormatError(`${this.path} is damaged: record at ${pos} runs past the end of the data (${this.#eod})`);
      }
      const key = scan.take(pos + 8, klen);
      const data = scan.take(pos + 8 + klen, dlen);
      pos += 8 + klen + dlen;
      yield [key, data];
    }
  }

  close(): void {
    if (this.#fd === undefined) return;
    const fd = this.#fd;
    this.#fd = undefined;
    closeSync(fd);
  }

  #openFd(): number {
    if (this.#fd === undefined) throw new Error(`${this.path}: cdb reader used after close`);
    return this.#fd;
  }

  #find(key: Uint8Array, limit: number): Uint8Array[] {
    const fd = this.#openFd();
    const found: Uint8Array[] = [];
    const hash = cdbHash(key);
    const t = hash & 255;
    const tablePos = this.#header[2 * t]!;
    const slotCount = this.#header[2 * t + 1]!;
    if (slotCount === 0) return found;
    // Only the table a key needs is checked: the other 255 cost every lookup nothing.
    if (tablePos < this.#eod || tablePos + 8 * slotCount > this.#size) {
      throw new CdbFormatError(`${this.path} is not a cdb: hash table ${t} (${slotCount} slots at ${tablePos}) lies outside the file`);
    }

    let slot = (hash >>> 8) % slotCount;
    // Every slot is looked at most once: a table with no free slot cannot make us loop.
    let left = slotCount;
    while (left > 0) {
      const n = Math.min(PROBE_SLOTS, slotCount - slot, left);
      const slots = this.#read(fd, tablePos + 8 * slot, 8 * n);
      const view = new DataView(slots.buffer, slots.byteOffset, slots.byteLength);
      for (let i = 0; i < n; i++) {
        const slotHash = view.getUint32(8 * i, true);
        const recordPos = view.getUint32(8 * i + 4, true);
        if (recordPos === 0) return found;
        if (slotHash !== hash) continue;
        const data = this.#recordData(fd, recordPos, key);
        if (data === undefined) continue;
        found.push(data);
        if (found.length >= limit) return found;
      }
      left -= n;
      slot += n;
      if (slot === slotCount) slot = 0;
    }
    return found;
  }

  /** The data of the record at `pos` if its key is `key`; undefined if the key differs. */
  #recordData(fd: number, pos: number, key: Uint8Array): Uint8Array | undefined {
    if (pos < HEADER_BYTES || pos + 8 > this.#eod) {
      throw new CdbFormatError(`${this.path} is damaged: record pointer ${pos} lies outside the data (2048..${this.#eod})`);
    }
    const head = this.#read(fd, pos, Math.min(8 + key.length, this.#eod - pos));
    const view = new DataView(head.buffer, head.byteOffset, 8);
    const klen = view.getUint32(0, true);
    const dlen = view.getUint32(4, true);
    if (pos + 8 + klen + dlen > this.#eod) {
      throw new CdbFormatError(`${this.path} is damaged: record at ${pos} runs past the end of the data (${this.#eod})`);
    }
    if (klen !== key.length || !sameBytes(head, 8, key)) return undefined;
    const data = this.#read(fd, pos + 8 + klen, dlen);
    return this.#whole === undefined ? data : Buffer.from(data); // a copy: the caller's own bytes
  }

  /** `length` bytes at `pos`: from the file read at open (no copy), else read now. */
  #read(fd: number, pos: number, length: number): Buffer {
    if (this.#whole === undefined) return readExactly(fd, this.path, pos, length);
    if (pos + length > this.#size) {
      throw new CdbFormatError(`${this.path} is truncated: wanted ${length} bytes at ${pos}, the file ends after ${Math.max(0, this.#size - pos)}`);
    }
    return this.#whole.subarray(pos, pos + length);
  }
}

/** The header's 512 numbers: a view of its bytes on a little-endian host (Buffer.alloc's are aligned), else decoded. */
function headerWords(raw: Buffer): Uint32Array {
  if (IS_LITTLE_ENDIAN && raw.byteOffset % 4 === 0) return new Uint32Array(raw.buffer, raw.byteOffset, 512);
  const view = new DataView(raw.buffer, raw.byteOffset, HEADER_BYTES);
  const header = new Uint32Array(512);
  for (let i = 0; i < 512; i++) header[i] = view.getUint32(4 * i, true);
  return header;
}

/** Read exactly `length` bytes at `pos`; fewer (the file ends early) is a format error. */
function readExactly(fd: number, path: string, pos: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, pos + got);
    if (n === 0) {
      throw new CdbFormatError(`${path} is truncated: wanted ${length} bytes at ${pos}, the file ends after ${got}`);
    }
    got += n;
  }
  return buf;
}

/** Sequential reads of the record area through one buffer, for entries(). */
class Scanner {
  readonly #fd: number;
  readonly #path: string;
  readonly #end: number;
  #buf: Buffer = Buffer.alloc(0);
  #bufPos = 0;

  constructor(fd: number, path: string, end: number) {
    this.#fd = fd;
    this.#path = path;
    this.#end = end;
  }

  /** A copy of the `length` bytes at `pos` (callers keep what we yield). */
  take(pos: number, length: number): Buffer {
    if (pos + length > this.#end) {
      throw new CdbFormatError(`${this.#path} is damaged: record at ${pos} runs past the end of the data (${this.#end})`);
    }
    if (length > SCAN_BUFFER_BYTES) return readExactly(this.#fd, this.#path, pos, length);
    if (pos < this.#bufPos || pos + length > this.#bufPos + this.#buf.length) {
      this.#buf = readExactly(this.#fd, this.#path, pos, Math.min(SCAN_BUFFER_BYTES, this.#end - pos));
      this.#bufPos = pos;
    }
    return Buffer.from(this.#buf.subarray(pos - this.#bufPos, pos - this.#bufPos + length));
  }
}

/** Open, look up one key, close. */
export function cdbGetSync(path: string, key: Uint8Array | string): Uint8Array | undefined {
  const db = CdbReader.open(path);
  try {
    return db.get(key);
  } finally {
    db.close();
  }
}
