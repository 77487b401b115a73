// vpopbull's exclusion file (spec/vpopbull.md §4): one address a line, matched byte for byte.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { BulletinError } from './bulletin.ts';

/**
 * The addresses to leave out, as byte strings (latin1). Each line without its LF is one address;
 * nothing is trimmed or folded, so `Bob@example.test` and a CRLF line match nothing, as in C. C
 * re-reads the file for every mailbox; reading it once gives the same answers for a file that does
 * not change during the run. A file that cannot be read is `Could not open file <name>` (exit 255).
 */
export function readExclusions(name: string, cwd: string): ReadonlySet<string> {
  let text: string;
  try {
    text = readFileSync(resolve(cwd, name), 'latin1');
  } catch (err) {
    throw new BulletinError(`Could not open file ${name}`, { cause: err });
  }
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return new Set(lines);
}
