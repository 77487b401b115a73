// The sort key and sorted insertion C vpopmail uses for users/assign and the qmail control files
// (spec/layout.md §3.3), so that our files come out in the order C's do.

/** assign lines carry `+`/`=` and a trailing `-` around the name; control-file lines are bare. */
export type SortedFileKind = 'assign' | 'control';

/** C splits a name into at most this many labels; labels after the tenth take no part in the key. */
const MAX_LABELS = 10;

/**
 * The key a line sorts by: the text before the first `:` (for assign without its first character
 * and its last one, the `-`), its labels with the last two moved to the front when there are at
 * least two (`a.b.example.com` → `example.com.a.b`). Empty labels vanish; with fewer than two
 * labels the text is the key as it stands. Keys compare as bytes (lines are latin1 strings).
 */
export function sortKeyOf(line: string, kind: SortedFileKind): string {
  const colon = line.indexOf(':');
  let text = colon < 0 ? line : line.slice(0, colon);
  if (kind === 'assign') text = text.slice(1, -1);
  const labels = text.split('.').filter((label) => label !== '').slice(0, MAX_LABELS);
  if (labels.length < 2) return text;
  return [...labels.slice(-2), ...labels.slice(0, -2)].join('.');
}

/** Byte order of two latin1 strings (strcmp): code units are bytes. */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface SortedInsert {
  /** The lines after the insertion (and the re-sort, if one was needed). */
  readonly lines: string[];
  /** False when the exact line was already there: nothing changed (C would add a duplicate). */
  readonly inserted: boolean;
  /** True when existing lines were out of order and the whole list was sorted. */
  readonly resorted: boolean;
}

/**
 * C's update_file: put `line` before the first existing line whose key is greater than its key (or
 * at the end). If any existing line's key is smaller than the one before it, sort everything by key
 * afterwards; ties keep their order (C's qsort may not). An exact duplicate is not added.
 */
export function insertSorted(lines: readonly string[], line: string, kind: SortedFileKind): SortedInsert {
  if (lines.includes(line)) return { lines: [...lines], inserted: false, resorted: false };
  const newKey = sortKeyOf(line, kind);
  const out: string[] = [];
  let placed = false;
  let previous = '';
  let outOfOrder = false;
  const keys = new Map<string, string>();
  for (const existing of lines) {
    const key = sortKeyOf(existing, kind);
    keys.set(existing, key);
    if (!placed && compareKeys(key, newKey) > 0) {
      out.push(line);
      placed = true;
    }
    if (compareKeys(previous, key) > 0) outOfOrder = true;
    previous = key;
    out.push(existing);
  }
  if (!placed) out.push(line);
  if (!outOfOrder) return { lines: out, inserted: true, resorted: false };
  keys.set(line, newKey);
  out.sort((a, b) => compareKeys(keys.get(a)!, keys.get(b)!));
  return { lines: out, inserted: true, resorted: true };
}

/** What C prints to stderr after re-sorting a file; the caller prints it. */
export function outOfOrderNotice(path: string): string {
  return `NOTICE: Out of order entries found in ${path}\n   Sorting...\n\n`;
}
