// cdb writer (djb's constant database): streams records to a file, then writes the hash tables and header.
//
// Format (spec/passwords.md §5): a 2048-byte header of 256 (table position, slot count) pairs, the
// records `klen dlen key data` in insertion order from offset 2048, then 256 hash tables of
// (hash, record position) slots, every integer 32-bit little-endian. Table t holds the records whose
// hash mod 256 is t, in twice as many slots as records, placed by linear probing from slot
// (hash >> 8) mod slots in insertion order. That is what tinycdb's `cdb -c` and qmail's cdbmake write,
// so for the same records in the same order our bytes are theirs.
import { closeSync, fchmodSync, openSync, constants as fsc } from 'node:fs';
import { dirname } from 'node:path';
import { DURABLE, fsyncDirSync, unlinkQuiet, type Durable } from '../fs/durable.ts';
import { cdbHash } from './reader.ts';

const HEADER_BYTES = 2048;
/** Every position and length in a cdb is 32 bits: no byte of the file may lie at or past 4 GiB. */
const MAX_FILE_BYTES = 0xffff_ffff;
const BUFFER_BYTES = 64 * 1024;
/** Hash tables are built a group at a time so that slot memory stays near this, however big the file. */
const TABLE_BATCH_BYTES = 16 * 1024 * 1024;

/** The file would not fit cdb's 32-bit positions. */
export class CdbTooLargeError extends Error {
  override name = 'CdbTooLargeError';
}

/**
 * Writes one cdb to an fd opened for writing (normally a fresh temp file). Records go to the file as
 * they arrive through a 64 KiB buffer, with positioned writes from offset 2048, so the fd's own offset
 * does not matter; per record only its hash and position (8 bytes) stay in memory. Every byte goes
 * through `durable`. The caller fsyncs, closes and renames (or uses writeCdbSync).
 */
export class CdbWriter {
  readonly #fd: number;
  readonly #durable: Durable;
  /** (hash, position) of every record so far: [2i] = hash, [2i+1] = position. */
  #slots = new Uint32Array(2 * 64);
  #count = 0;
  /** File offset where the next record goes. */
  #pos = HEADER_BYTES;
  readonly #buf = new Uint8Array(BUFFER_BYTES);
  #bufLen = 0;
  /** File offset of #buf[0]. */
  #bufPos = HEADER_BYTES;
  readonly #head = new Uint8Array(8);
  readonly #headView = new DataView(this.#head.buffer);
  #finished = false;

  constructor(fd: number, durable: Durable = DURABLE) {
    this.#fd = fd;
    this.#durable = durable;
  }

  /** Add one record; duplicates are kept (a lookup returns the first, getAll all of them). */
  put(key: Uint8Array, data: Uint8Array): void {
    if (this.#finished) throw new Error('CdbWriter.put after finish');
    const recordBytes = 8 + key.length + data.length;
    // Refuse now rather than after writing gigabytes: the records, plus two 8-byte slots per record
    // for the hash tables, must all end below 4 GiB.
    if (this.#pos + recordBytes + 16 * (this.#count + 1) > MAX_FILE_BYTES) {
      throw new CdbTooLargeError(`cdb would exceed 4 GiB at record ${this.#count + 1}: cdb positions are 32-bit`);
    }
    if (2 * this.#count === this.#slots.length) {
      const grown = new Uint32Array(this.#slots.length * 2);
      grown.set(this.#slots);
      this.#slots = grown;
    }
    this.#slots[2 * this.#count] = cdbHash(key);
    this.#slots[2 * this.#count + 1] = this.#pos;
    this.#count++;

    this.#headView.setUint32(0, key.length, true);
    this.#headView.setUint32(4, data.length, true);
    this.#append(this.#head);
    this.#append(key);
    this.#append(data);
    this.#pos += recordBytes;
  }

  /** Write the hash tables and then the header (at offset 0). Does not fsync or close. */
  finish(): void {
    if (this.#finished) throw new Error('CdbWriter.finish called twice');
    this.#finished = true;

    const tableCount = new Uint32Array(256);
    for (let i = 0; i < this.#count; i++) tableCount[this.#slots[2 * i]! & 255]!++;

    const header = new Uint8Array(HEADER_BYTES);
    const headerView = new DataView(header.buffer);
    let tablePos = this.#pos;
    for (let t = 0; t < 256; t++) {
      headerView.setUint32(8 * t, tablePos, true);
      headerView.setUint32(8 * t + 4, 2 * tableCount[t]!, true);
      tablePos += 16 * tableCount[t]!;
    }

    // Fill the tables a group at a time: one pass over the records per group, records taken in
    // insertion order so that probing places them exactly as cdbmake does.
    let first = 0;
    while (first < 256) {
      let last = first;
      let groupBytes = 16 * tableCount[first]!;
      while (last + 1 < 256 && groupBytes + 16 * tableCount[last + 1]! <= TABLE_BATCH_BYTES) {
        last++;
        groupBytes += 16 * tableCount[last]!;
      }
      this.#writeTables(first, last, tableCount);
      first = last + 1;
    }
    this.#flush();
    this.#durable.write(this.#fd, header, 0);
  }

  #writeTables(first: number, last: number, tableCount: Uint32Array): void {
    const tables: Uint32Array[] = [];
    for (let t = first; t <= last; t++) tables.push(new Uint32Array(4 * tableCount[t]!));
    for (let i = 0; i < this.#count; i++) {
      const hash = this.#slots[2 * i]!;
      const t = hash & 255;
      if (t < first || t > last) continue;
      const table = tables[t - first]!;
      const slotCount = table.length / 2;
      let slot = (hash >>> 8) % slotCount;
      // Positions are >= 2048, so 0 marks a free slot; a table is at most half full, so this ends.
      while (table[2 * slot + 1] !== 0) slot = slot + 1 === slotCount ? 0 : slot + 1;
      table[2 * slot] = hash;
      table[2 * slot + 1] = this.#slots[2 * i + 1]!;
    }
    for (const table of tables) {
      const bytes = new Uint8Array(table.length * 4);
      const view = new DataView(bytes.buffer);
      for (let j = 0; j < table.length; j++) view.setUint32(4 * j, table[j]!, true);
      this.#append(bytes);
    }
  }

  #append(bytes: Uint8Array): void {
    if (bytes.length >= BUFFER_BYTES) {
      this.#flush();
      this.#durable.write(this.#fd, bytes, this.#bufPos);
      this.#bufPos += bytes.length;
      return;
    }
    if (this.#bufLen + bytes.length > BUFFER_BYTES) this.#flush();
    this.#buf.set(bytes, this.#bufLen);
    this.#bufLen += bytes.length;
  }

  #flush(): void {
    if (this.#bufLen === 0) return;
    this.#durable.write(this.#fd, this.#buf.subarray(0, this.#bufLen), this.#bufPos);
    this.#bufPos += this.#bufLen;
    this.#bufLen = 0;
  }
}

export interface WriteCdbOptions {
  /** Mode of the new file, set at creation (no window with a wrong mode). Default 0600. */
  mode?: number;
  /** Temp file; default `<path>.tmp.<pid>`, in the same directory so the rename is atomic. */
  tmpPath?: string;
  durable?: Durable;
}

/**
 * Build a cdb at `path` the way cdbmake does, made crash-safe: write a sibling temp file, fsync,
 * close, rename over `path`, fsync the directory. Readers see the old file or the new one, never a
 * part; on any error the temp file is removed and `path` is untouched.
 */
export function writeCdbSync(
  path: string,
  records: Iterable<readonly [Uint8Array, Uint8Array]>,
  options: WriteCdbOptions = {},
): void {
  const durable = options.durable ?? DURABLE;
  const tmp = options.tmpPath ?? `${path}.tmp.${process.pid}`;
  const mode = options.mode ?? 0o600;
  try {
    unlinkQuiet(tmp); // a stale temp file of a crashed run with our pid
    const fd = openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, mode);
    try {
      fchmodSync(fd, mode); // exactly this mode, whatever the umask
      const writer = new CdbWriter(fd, durable);
      for (const [key, data] of records) writer.put(key, data);
      writer.finish();
      durable.fsync(fd);
    } finally {
      closeSync(fd);
    }
    durable.rename(tmp, path);
  } catch (err) {
    unlinkQuiet(tmp);
    throw err;
  }
  fsyncDirSync(dirname(path), durable);
}
