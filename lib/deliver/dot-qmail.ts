// Delivery instructions: a `.qmail` line or the default action (spec/vdelivermail.md §6, layout.md
// §8.4), the `.qmail-<ext>` names vdelivermail tries in a user's home, and reading those files.
import { closeSync, constants as fsc, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { TempError } from '../exit.ts';

export type Instruction =
  | { readonly kind: 'comment' }
  | { readonly kind: 'program'; readonly command: string }
  | { readonly kind: 'maildir'; readonly path: string }
  | { readonly kind: 'mbox'; readonly path: string }
  | { readonly kind: 'forward'; readonly address: string };

/**
 * What one instruction asks for, by its first character: `#` nothing, `|` a program (leading
 * blanks and `|`s go), `.` or `/` a Maildir when it ends in `/` (else mbox, which we cannot do),
 * anything else a forward address (one leading `&` goes).
 */
export function parseInstruction(line: string): Instruction {
  const c = line[0];
  if (c === '#') return { kind: 'comment' };
  if (c === '|') return { kind: 'program', command: line.replace(/^[ |]+/, '') };
  if (c === '.' || c === '/') return line.endsWith('/') ? { kind: 'maildir', path: line } : { kind: 'mbox', path: line };
  return { kind: 'forward', address: c === '&' ? line.slice(1) : line };
}

/**
 * The delivery lines of a `.qmail` file's text: split at LF, trailing blanks and CR removed, blank
 * lines left out, as qmail-local reads its own `.qmail` files (C keeps a CR as part of the line and
 * hands an empty line to qmail-inject as an address: pitfall 6).
 */
export function dotQmailLines(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[ \t\r]+$/, '');
    if (line !== '') out.push(line);
  }
  return out;
}

/**
 * The files vdelivermail tries in a home, first that opens wins: with qmail-ext and an extension,
 * `.qmail-<ext>`, then `.qmail-<prefix>-default` for each `-` from the right, then `.qmail-default`;
 * always `.qmail` last. The extension has its `.` written as `:` (qmail's convention) already; one
 * with a `/` could name a file outside the home and gets no `.qmail-<ext>` forms at all.
 */
export function dotQmailNames(extension: string, qmailExt: boolean): string[] {
  const names: string[] = [];
  if (qmailExt && extension !== '' && !extension.includes('/')) {
    names.push(`.qmail-${extension}`);
    for (let i = extension.lastIndexOf('-'); i > 0; i = extension.lastIndexOf('-', i - 1)) {
      names.push(`.qmail-${extension.slice(0, i)}-default`);
    }
    names.push('.qmail-default');
  }
  names.push('.qmail');
  return names;
}

/** A `.qmail` file holds a few lines; a bigger one is refused rather than read into memory. */
export const DOT_QMAIL_MAX_BYTES = 1024 * 1024;

export interface DotQmail {
  readonly path: string;
  /** Delivery lines (dotQmailLines); comments included. */
  readonly lines: readonly string[];
}

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err);
}

/**
 * The first of `names` in `dir` that exists. Missing (ENOENT, ENOTDIR) means "try the next one";
 * anything else (EACCES, EIO, a directory, too big) is a TempError: delivering to the Maildir
 * instead could ignore a forward the user asked for (C treats every open failure as "no file").
 */
export function readDotQmail(dir: string, names: readonly string[]): DotQmail | undefined {
  for (const name of names) {
    const path = join(dir, name);
    let fd: number;
    try {
      fd = openSync(path, fsc.O_RDONLY | fsc.O_NONBLOCK);
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') continue;
      throw new TempError(`unable to read ${path}: ${code}`, { cause: err });
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new TempError(`unable to read ${path}: not a regular file`);
      if (st.size > DOT_QMAIL_MAX_BYTES) throw new TempError(`unable to read ${path}: larger than ${DOT_QMAIL_MAX_BYTES} bytes`);
      const buf = Buffer.alloc(Math.min(st.size + 1, DOT_QMAIL_MAX_BYTES + 1));
      let got = 0;
      for (;;) {
        const n = readSync(fd, buf, got, buf.length - got, null);
        if (n === 0) break;
        got += n;
        if (got >= buf.length) throw new TempError(`unable to read ${path}: it grew while being read`);
      }
      return { path, lines: dotQmailLines(buf.toString('utf8', 0, got)) };
    } catch (err) {
      if (err instanceof TempError) throw err;
      throw new TempError(`unable to read ${path}: ${errnoOf(err)}`, { cause: err });
    } finally {
      closeSync(fd);
    }
  }
  return undefined;
}
