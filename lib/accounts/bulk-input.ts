// vaddusers' input: one user a line as `user@domain:password-or-hash:quota:comment`, or CSV with a
// header, read from a file descriptor in chunks so that a million-line file costs one line of memory.
import { readSync } from 'node:fs';
import { TempError } from '../exit.ts';

export type BulkFormat = 'colon' | 'csv';

/** How the password field is to be read: by its shape (`auto`), always clear text, always a hash. */
export type PasswordKind = 'auto' | 'clear' | 'hash';

/** One user asked for, as written; nothing is checked yet beyond the line's own syntax. */
export interface BulkInputUser {
  readonly kind: 'user';
  /** 1-based number of the (first) line the record is on. */
  readonly line: number;
  readonly address: string;
  readonly password: string;
  readonly passwordKind: PasswordKind;
  /** Empty or absent: the default quota. */
  readonly quota: string | undefined;
  /** Empty or absent: the user name (as vadduser). */
  readonly gecos: string | undefined;
}

/** A line that cannot be read as a user at all. */
export interface BulkInputError {
  readonly kind: 'error';
  readonly line: number;
  readonly reason: string;
}

export type BulkInputItem = BulkInputUser | BulkInputError;

export interface BulkInputOptions {
  /** Default: told from the first line (a CSV header names known columns). */
  readonly format?: BulkFormat;
  /** How the colon format's password field and the CSV `password` column are read (default auto). */
  readonly passwordKind?: PasswordKind;
}

const CHUNK_BYTES = 256 * 1024;
/** A record longer than this is damage, not data (a vpasswd line holds at most a few hundred bytes). */
const MAX_RECORD_BYTES = 64 * 1024;

type Column = 'address' | 'user' | 'domain' | 'password' | 'hash' | 'quota' | 'gecos';

const COLUMN_NAMES: ReadonlyMap<string, Column> = new Map([
  ['address', 'address'],
  ['email', 'address'],
  ['user', 'user'],
  ['domain', 'domain'],
  ['password', 'password'],
  ['hash', 'hash'],
  ['quota', 'quota'],
  ['gecos', 'gecos'],
  ['comment', 'gecos'],
]);

/** The columns of a CSV header, or undefined when the line is not one. */
function headerColumns(fields: readonly string[]): Column[] | undefined {
  const columns: Column[] = [];
  for (const f of fields) {
    const c = COLUMN_NAMES.get(f.trim().toLowerCase());
    if (c === undefined) return undefined;
    columns.push(c);
  }
  const has = (c: Column) => columns.includes(c);
  if (!has('address') && !(has('user') && has('domain'))) return undefined;
  return columns;
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** RFC 4180 fields of one record; `open` when a quoted field runs on past the end of the text. */
function splitCsv(text: string): { fields: string[]; open: boolean } {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === ',') {
      fields.push(field);
      field = '';
    } else field += c;
    i++;
  }
  fields.push(field);
  return { fields, open: quoted };
}

/**
 * Reads the input once, front to back. `bytesRead` tells a progress bar how far it got; `items()`
 * yields each user or unreadable line in file order. Blank lines and lines starting with `#` are
 * skipped; a CR before the LF is dropped.
 */
export class BulkInputReader {
  bytesRead = 0;
  /** Known once the first record has been seen. */
  format: BulkFormat | undefined;

  constructor(
    private readonly fd: number,
    private readonly name: string,
    private readonly options: BulkInputOptions = {},
  ) {
    this.format = options.format;
  }

  /** Raw lines (UTF-8 text, no LF or final CR) with their numbers. */
  private *lines(): Generator<{ text: string; number: number; tooLong: boolean }> {
    const buf = Buffer.allocUnsafe(CHUNK_BYTES + MAX_RECORD_BYTES);
    let have = 0;
    let number = 0;
    let skipping = false; // inside a line that was too long: drop bytes until its LF
    for (;;) {
      let n: number;
      try {
        n = readSync(this.fd, buf, have, CHUNK_BYTES, null);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') {
          sleepMs(5);
          continue;
        }
        if (code === 'EOF') n = 0;
        else throw new TempError(`unable to read ${this.name}: ${code ?? err}`, { cause: err });
      }
      this.bytesRead += n;
      const size = have + n;
      let from = 0;
      for (;;) {
        const nl = buf.indexOf(10, from);
        if (nl < 0 || nl >= size) break;
        number++;
        if (skipping) {
          skipping = false;
          yield { text: '', number, tooLong: true };
        } else {
          const end = nl > from && buf[nl - 1] === 13 ? nl - 1 : nl;
          yield { text: buf.toString('utf8', from, end), number, tooLong: end - from > MAX_RECORD_BYTES };
        }
        from = nl + 1;
      }
      if (n === 0) {
        if (size > from && !skipping) yield { text: buf.toString('utf8', from, size), number: number + 1, tooLong: false };
        else if (skipping) yield { text: '', number: number + 1, tooLong: true };
        return;
      }
      have = size - from;
      if (have > MAX_RECORD_BYTES) {
        skipping = true;
        have = 0;
      } else if (have > 0) buf.copyWithin(0, from, size);
    }
  }

  *items(): Generator<BulkInputItem> {
    const passwordKind = this.options.passwordKind ?? 'auto';
    let columns: Column[] | undefined;
    let pending: { text: string; line: number } | undefined; // a CSV record with an open quote
    for (const raw of this.lines()) {
      // Spreadsheets start their CSV with a byte order mark.
      if (raw.number === 1 && raw.text.startsWith('\ufeff')) raw.text = raw.text.slice(1);
      if (raw.tooLong) {
        pending = undefined;
        yield { kind: 'error', line: raw.number, reason: 'line longer than 64 KiB' };
        continue;
      }
      if (pending === undefined && (raw.text.trim() === '' || raw.text.trimStart().startsWith('#'))) continue;
      if (this.format === undefined) {
        columns = headerColumns(splitCsv(raw.text).fields);
        this.format = columns === undefined ? 'colon' : 'csv';
        if (columns !== undefined) continue;
      } else if (this.format === 'csv' && columns === undefined) {
        columns = headerColumns(splitCsv(raw.text).fields);
        if (columns === undefined) {
          yield { kind: 'error', line: raw.number, reason: 'not a CSV header: columns must be address (or user and domain), password or hash, quota, gecos' };
          return;
        }
        continue;
      }
      if (this.format === 'colon') {
        yield colonRecord(raw.text, raw.number, passwordKind);
        continue;
      }
      const record = pending === undefined ? { text: raw.text, line: raw.number } : { text: `${pending.text}\n${raw.text}`, line: pending.line };
      const { fields, open } = splitCsv(record.text);
      if (open) {
        if (record.text.length > MAX_RECORD_BYTES) {
          pending = undefined;
          yield { kind: 'error', line: record.line, reason: 'a quoted field is not closed' };
        } else pending = record;
        continue;
      }
      pending = undefined;
      yield csvRecord(fields, columns!, record.line, passwordKind);
    }
    if (pending !== undefined) yield { kind: 'error', line: pending.line, reason: 'a quoted field is not closed' };
  }
}

/** `user@domain:password[:quota[:comment]]`; a password holding `:` needs the CSV format. */
function colonRecord(text: string, line: number, passwordKind: PasswordKind): BulkInputItem {
  const fields = text.split(':');
  if (fields.length < 2) return { kind: 'error', line, reason: 'expected user@domain:password[:quota[:comment]]' };
  if (fields.length > 4) return { kind: 'error', line, reason: 'more than 4 fields (a comment or password with ":" needs the CSV format)' };
  return {
    kind: 'user',
    line,
    address: fields[0]!.trim(),
    password: fields[1]!,
    passwordKind,
    quota: fields[2]?.trim(),
    gecos: fields[3],
  };
}

function csvRecord(fields: readonly string[], columns: readonly Column[], line: number, passwordKind: PasswordKind): BulkInputItem {
  if (fields.length !== columns.length) return { kind: 'error', line, reason: `expected ${columns.length} fields, found ${fields.length}` };
  const value = (c: Column): string | undefined => {
    const i = columns.indexOf(c);
    return i < 0 ? undefined : fields[i];
  };
  const address = value('address')?.trim() ?? `${value('user')!.trim()}@${value('domain')!.trim()}`;
  const password = value('password') ?? '';
  const hash = value('hash') ?? '';
  if (password !== '' && hash !== '') return { kind: 'error', line, reason: 'both a password and a hash' };
  return {
    kind: 'user',
    line,
    address,
    password: hash !== '' ? hash : password,
    passwordKind: hash !== '' ? 'hash' : passwordKind,
    quota: value('quota')?.trim(),
    gecos: value('gecos'),
  };
}
