// Loop detection (spec/vdelivermail.md §5): a `Delivered-To: <address>` line in DTLINE or in the
// message's header section means the message has been here before.
import { readSync } from 'node:fs';
import { TempError } from '../exit.ts';
import { lowerAscii } from '../store/assign.ts';

export const DELIVERED_TO = 'Delivered-To: ';

const LF = 0x0a;
const CR = 0x0d;
const CHUNK_BYTES = 16 * 1024;

/**
 * Does this line (LF included, if it had one) say the message was delivered to `address`? C's test:
 * the first 14 characters are `Delivered-To: ` and the rest is `<address>` + LF, both compared
 * without regard to ASCII case. Trailing blanks or a CR make it another line, as in C.
 */
export function isDeliveredToLine(line: string, address: string): boolean {
  return lowerAscii(line) === lowerAscii(`${DELIVERED_TO}${address}\n`);
}

export interface HeaderSource {
  readonly fd: number;
  readonly sizeBytes: number;
}

/**
 * Scan the header section (up to the first line that starts with CR or LF, or the end) for the
 * Delivered-To line of `address`. Lines are read whole, however long (C reads 155-byte pieces, so a
 * long header could end its scan early or yield false fragments: pitfall 11); only the first bytes
 * a match could need are kept, so memory stays flat whatever the header holds.
 */
export function hasDeliveredToHeader(source: HeaderSource, address: string): boolean {
  // Compared as bytes: the address (from the environment) in UTF-8, the message as it is.
  const wanted = lowerAscii(Buffer.from(`${DELIVERED_TO}${address}\n`, 'utf8').toString('latin1'));
  const keep = wanted.length + 1; // one more byte tells "longer" from "equal"
  const line = Buffer.alloc(keep);
  let lineLength = 0; // bytes of the current line seen so far (kept: min(lineLength, keep))
  const buf = Buffer.alloc(CHUNK_BYTES);
  let position = 0;
  const matches = () => lineLength === keep - 1 && lowerAscii(line.toString('latin1', 0, lineLength)) === wanted;
  while (position < source.sizeBytes) {
    let n: number;
    try {
      n = readSync(source.fd, buf, 0, buf.length, position);
    } catch (err) {
      throw new TempError(`unable to read the message: ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err });
    }
    if (n === 0) break;
    // Line by line with the native byte search, not byte by byte in JavaScript: a cold process
    // interprets a per-byte loop at a few hundred ns a byte, milliseconds for a long header section.
    const chunk = n === buf.length ? buf : buf.subarray(0, n);
    for (let i = 0; i < n; ) {
      if (lineLength === 0 && (chunk[i] === LF || chunk[i] === CR)) return false; // end of the header section
      const lf = chunk.indexOf(LF, i);
      const end = lf < 0 ? n : lf + 1;
      if (lineLength < keep) chunk.copy(line, lineLength, i, Math.min(end, i + keep - lineLength));
      lineLength += end - i;
      i = end;
      if (lf >= 0) {
        if (matches()) return true;
        lineLength = 0;
      }
    }
    position += n;
  }
  return false; // a last line without LF cannot equal `<address>` + LF
}

/**
 * is_looping: DTLINE, then the message's headers, name `address` (a leading `&` ignored). There is
 * no hop counter, as in C; qmail-local has already checked DTLINE against its own recipient.
 */
export function isLooping(source: HeaderSource, dtline: string | undefined, address: string): boolean {
  const target = address.startsWith('&') ? address.slice(1) : address;
  if (dtline !== undefined && isDeliveredToLine(dtline, target)) return true;
  return hasDeliveredToHeader(source, target);
}
