// Directory hashing (layout.md §4): the `.dir-control` allocator state, its C file format, and the
// `.dir_control_free` backfill list.
import { closeSync, fstatSync, openSync, readFileSync, constants as fsc } from 'node:fs';
import { join } from 'node:path';
import { PermError, TempError } from '../exit.ts';
import { DURABLE, replaceFileSync, unlinkQuiet, type Durable } from '../fs/durable.ts';
import { withLock } from './lock.ts';

export const DIR_CONTROL_FILE = '.dir-control';
export const DIR_CONTROL_FREE_FILE = '.dir_control_free';
export const DIR_CONTROL_FREE_LOCK_FILE = '.dir_control_free.lock';

/** The 62 bucket characters, in C's order (MAX_DIR_LIST). */
export const BUCKET_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** The bucket advances whenever the counter reaches a multiple of this. */
export const ENTRIES_PER_BUCKET = 100;

export type Triple = readonly [number, number, number];

/** vdir_type: what `.dir-control` (or a SQL dir_control row) holds. */
export interface DirControlState {
  /** cur_users: an allocation counter (vdominfo's "users"), not an account count. */
  readonly curUsers: number;
  readonly levelCur: number;
  readonly levelMax: number;
  readonly levelStart: Triple;
  readonly levelEnd: Triple;
  /** Character positions per level; carried for the file, see allocateBucket. */
  readonly levelMod: Triple;
  readonly levelIndex: Triple;
  /** The current bucket: '', 'X', 'X/Y' or 'X/Y/Z'. */
  readonly theDir: string;
}

/** The state of a missing file or SQL row (layout.md §4.1). */
export const INITIAL_DIR_CONTROL: DirControlState = Object.freeze<DirControlState>({
  curUsers: 0,
  levelCur: 0,
  levelMax: 3,
  levelStart: [0, 0, 0],
  levelEnd: [61, 61, 61],
  levelMod: [0, 2, 4],
  levelIndex: [0, 0, 0],
  theDir: '',
});

const BUCKET_RE = /^([0-9A-Za-z](\/[0-9A-Za-z]){0,2})?$/;

/** Is this a bucket name the allocator can produce ('' for none)? Anything else could leave the domain dir. */
export function isBucketName(name: string): boolean {
  return BUCKET_RE.test(name);
}

class DirControlFormatError extends TempError {
  override name = 'DirControlFormatError';
}

function bad(file: string, line: number, why: string): never {
  throw new DirControlFormatError(`${file} line ${line}: ${why}`);
}

function parseNumberLine(text: string, file: string, line: number): number {
  if (!/^[0-9]{1,10}$/.test(text)) bad(file, line, 'expected an unsigned decimal number');
  const n = Number(text);
  if (n > 2 ** 31 - 1) bad(file, line, 'number out of range');
  return n;
}

/**
 * C's reader takes the first number of a triple line and then, restarting its search for a space
 * from the start of the line each time, the second number twice: the third value is never read. So
 * `0 2 4` comes back as 0 2 2, and C writes `0 2 2` from then on (the golden tree shows it).
 */
function parseTripleLine(text: string, file: string, line: number): Triple {
  const parts = text.split(' ');
  if (parts.length !== 3) bad(file, line, 'expected three numbers separated by single spaces');
  const a = parseNumberLine(parts[0]!, file, line);
  const b = parseNumberLine(parts[1]!, file, line);
  parseNumberLine(parts[2]!, file, line);
  return [a, b, b];
}

/**
 * Parse `.dir-control` as C reads it (layout.md §4.1), including its two quirks: the third number of
 * each triple line is replaced by the second, and `the_dir` is the 9th line when there is one, else
 * the 8th. Stricter than C (which atoi()s garbage and walks off a line without spaces): anything
 * else malformed is a TempError naming the file and line. A counter C wrapped below zero (a value of
 * 2^63 or more) reads as 0.
 */
export function parseDirControl(text: string, file = DIR_CONTROL_FILE): DirControlState {
  const lines = text === '' ? [] : text.split('\n');
  if (text.endsWith('\n')) lines.pop();
  if (lines.length < 8) bad(file, lines.length + 1, 'expected 8 lines');
  const curText = lines[0]!;
  if (!/^[0-9]{1,20}$/.test(curText)) bad(file, 1, 'expected an unsigned decimal number');
  const cur = BigInt(curText);
  if (cur >= 2n ** 64n) bad(file, 1, 'number out of range');
  const curUsers = cur >= 2n ** 63n ? 0 : cur > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(cur);
  const levelCur = parseNumberLine(lines[1]!, file, 2);
  if (levelCur > 2) bad(file, 2, 'level must be 0, 1 or 2');
  const levelMax = parseNumberLine(lines[2]!, file, 3);
  const levelStart = parseTripleLine(lines[3]!, file, 4);
  const levelEnd = parseTripleLine(lines[4]!, file, 5);
  const levelMod = parseTripleLine(lines[5]!, file, 6);
  const levelIndex = parseTripleLine(lines[6]!, file, 7);
  for (let l = 0; l < 3; l++) {
    if (levelEnd[l]! >= BUCKET_ALPHABET.length || levelStart[l]! > levelEnd[l]!) bad(file, 5, 'level range outside the 62-character alphabet');
  }
  const dirLine = lines.length >= 9 ? 9 : 8;
  const theDir = lines[dirLine - 1]!;
  if (!isBucketName(theDir)) bad(file, dirLine, 'not a bucket name');
  return { curUsers, levelCur, levelMax, levelStart, levelEnd, levelMod, levelIndex, theDir };
}

/** The 8-line file C writes. */
export function formatDirControl(state: DirControlState): string {
  const t = (x: Triple) => `${x[0]} ${x[1]} ${x[2]}`;
  return (
    `${state.curUsers}\n${state.levelCur}\n${state.levelMax}\n${t(state.levelStart)}\n${t(state.levelEnd)}\n` +
    `${t(state.levelMod)}\n${t(state.levelIndex)}\n${state.theDir}\n`
  );
}

export interface Allocation {
  readonly state: DirControlState;
  /** Where the new entry goes: '' for the domain (or domains) directory itself. */
  readonly bucket: string;
}

/**
 * One allocation: layout.md §4.3's state machine. The character a level changes sits at position
 * 2 × level of the bucket name ('X/Y/Z'), which is what mod holds as C initialises it (0 2 4); we do
 * not take the position from the file, because C's reader turns mod into 0 2 2 (see parseTripleLine)
 * and would then rewrite the second character at level 2 instead of adding a third. Everything
 * else, including the first row of a new level counting one higher than its character, is C's.
 */
export function allocateBucket(state: DirControlState): Allocation {
  const curUsers = state.curUsers + 1;
  if (curUsers % ENTRIES_PER_BUCKET !== 0) return { state: { ...state, curUsers }, bucket: state.theDir };
  if (state.theDir === '') {
    const theDir = BUCKET_ALPHABET[state.levelStart[0]]!;
    return { state: { ...state, curUsers, theDir }, bucket: theDir };
  }
  const depth = (state.theDir.length + 1) / 2;
  if (!isBucketName(state.theDir) || depth !== state.levelCur + 1) {
    throw new TempError(`dir-control state is inconsistent: bucket ${JSON.stringify(state.theDir)} at level ${state.levelCur}`);
  }
  const start = state.levelStart;
  const end = state.levelEnd;
  const index = [...state.levelIndex] as [number, number, number];
  let dir = state.theDir;
  let levelCur = state.levelCur;

  const advance = (level: number): void => {
    const pos = 2 * level;
    const ch = dir[pos];
    if (ch === BUCKET_ALPHABET[end[level]!]) {
      dir = dir.slice(0, pos) + BUCKET_ALPHABET[start[level]!]! + dir.slice(pos + 1);
      index[level] = start[level]!;
      if (level > 0) advance(level - 1);
      return;
    }
    const at = ch === undefined ? -1 : BUCKET_ALPHABET.indexOf(ch, start[level]!);
    const next = at < 0 || at >= end[level]! ? BUCKET_ALPHABET[start[level]!]! : BUCKET_ALPHABET[at + 1]!;
    dir = ch === undefined ? dir + next : dir.slice(0, pos) + next + dir.slice(pos + 1);
    index[level] = index[level]! + 1;
  };

  if (levelCur === 0 && index[0] === end[0]) {
    advance(0);
    levelCur = 1;
    dir += '/';
  } else if (levelCur === 1 && index[0] === end[0] && index[1] === end[1]) {
    advance(1);
    levelCur = 2;
    dir += '/';
  }
  advance(levelCur);
  return { state: { ...state, curUsers, levelCur, levelIndex: index, theDir: dir }, bucket: dir };
}

/**
 * A deletion: cur_users minus one, nothing else (layout.md §4.4). C's unsigned counter wraps from 0
 * to 2^64−1; ours stays at 0.
 */
export function releaseBucket(state: DirControlState): DirControlState {
  return state.curUsers === 0 ? state : { ...state, curUsers: state.curUsers - 1 };
}

/** A backfilled allocation counts as an entry too, except that C leaves a 0 counter at 0 (layout.md §4.5). */
export function countBackfill(state: DirControlState): DirControlState {
  return state.curUsers === 0 ? state : { ...state, curUsers: state.curUsers + 1 };
}

// --- files ---------------------------------------------------------------------------------------

export interface DirControlWriteOptions {
  readonly durable?: Durable;
  /** C: 0600 under the library umask (a tool that does not set it, such as vdominfo, leaves 0644). */
  readonly mode?: number;
  /** chowned to this when running as root (the domain's uid/gid, or the domains' owner). */
  readonly owner?: { readonly uid: number; readonly gid: number };
}

function sysCode(err: unknown): string {
  return String((err as NodeJS.ErrnoException).code ?? err);
}

/** `.dir-control` of a domain (user buckets) or of a domains directory (domain buckets). */
export function dirControlPath(dir: string): string {
  return join(dir, DIR_CONTROL_FILE);
}

/** The state in a `.dir-control` file; undefined when there is none (use INITIAL_DIR_CONTROL). */
export function readDirControlFile(path: string): DirControlState | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TempError(`unable to read ${path}: ${sysCode(err)}`, { cause: err });
  }
  return parseDirControl(text, path);
}

/** Replace `.dir-control` (C's temp name `<file>.<pid>`, made durable). Unlocked in C, as here. */
export function writeDirControlFile(path: string, state: DirControlState, options: DirControlWriteOptions = {}): void {
  try {
    replaceFileSync(path, Buffer.from(formatDirControl(state), 'latin1'), {
      mode: options.mode ?? 0o600,
      tmpPath: `${path}.${process.pid}`,
      durable: options.durable ?? DURABLE,
      ...(options.owner === undefined ? {} : { owner: options.owner }),
    });
  } catch (err) {
    throw new TempError(`unable to write ${path}: ${sysCode(err)}`, { cause: err });
  }
}

/** Domain deletion unlinks the domain's `.dir-control`; a missing file is fine. */
export function deleteDirControlFile(path: string): void {
  unlinkQuiet(path);
}

// --- backfill: .dir_control_free -------------------------------------------------------------------

export interface BackfillOptions {
  readonly durable?: Durable;
  readonly lockTimeoutMs?: number;
}

/** The bucket of a user directory: the path between the domain dir and `/<user>`; '' when unhashed. */
export function bucketOfUserDir(domainDir: string, userDir: string, user: string): string | undefined {
  const prefix = `${domainDir}/`;
  const suffix = `/${user}`;
  if (userDir === `${domainDir}${suffix}`) return '';
  if (!userDir.startsWith(prefix) || !userDir.endsWith(suffix)) return undefined;
  const bucket = userDir.slice(prefix.length, userDir.length - suffix.length);
  return isBucketName(bucket) && bucket !== '' ? bucket : undefined;
}

function lockOptions(options: BackfillOptions): { timeoutMs?: number } {
  return options.lockTimeoutMs === undefined ? {} : { timeoutMs: options.lockTimeoutMs };
}

/**
 * vdeluser's half of backfill: append a freed bucket to `<dom>/.dir_control_free` under its lock
 * (file created 0644 as C's VPOPMAIL_QMAIL_MODE). '' (an unhashed user) is not recorded.
 */
export function recordFreeBucket(domainDir: string, bucket: string, options: BackfillOptions = {}): void {
  if (bucket === '') return;
  if (!isBucketName(bucket)) throw new PermError(`not a bucket name: ${JSON.stringify(bucket)}`);
  const path = join(domainDir, DIR_CONTROL_FREE_FILE);
  const durable = options.durable ?? DURABLE;
  withLock(
    join(domainDir, DIR_CONTROL_FREE_LOCK_FILE),
    () => {
      let fd: number;
      try {
        fd = openSync(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_APPEND, 0o644);
      } catch (err) {
        throw new TempError(`unable to open ${path}: ${sysCode(err)}`, { cause: err });
      }
      try {
        durable.write(fd, Buffer.from(`${bucket}\n`, 'latin1'));
        durable.fsync(fd);
      } catch (err) {
        throw new TempError(`unable to append to ${path}: ${sysCode(err)}`, { cause: err });
      } finally {
        closeSync(fd);
      }
    },
    lockOptions(options),
  );
}

/**
 * vadduser's half: take the first usable bucket from `.dir_control_free` and remove exactly that
 * line. A line counts once its `#` comment is cut and it is trimmed; blank lines are skipped, and so
 * (unlike C) is a line that is not a bucket name, which is left in place. C removes the first line
 * that merely starts with the value and misses when comments come first (pitfall 7); we remove the
 * line we took, by position. The file is rewritten atomically with its mode and owner kept.
 * Undefined when there is no file or no usable line.
 */
export function takeFreeBucket(domainDir: string, options: BackfillOptions = {}): string | undefined {
  const path = join(domainDir, DIR_CONTROL_FREE_FILE);
  const durable = options.durable ?? DURABLE;
  return withLock(
    join(domainDir, DIR_CONTROL_FREE_LOCK_FILE),
    () => {
      let fd: number;
      try {
        fd = openSync(path, fsc.O_RDONLY);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new TempError(`unable to open ${path}: ${sysCode(err)}`, { cause: err });
      }
      let text: string;
      let mode: number;
      let uid: number;
      let gid: number;
      try {
        const st = fstatSync(fd);
        mode = st.mode & 0o7777;
        uid = st.uid;
        gid = st.gid;
        text = readFileSync(fd, 'latin1');
      } catch (err) {
        throw new TempError(`unable to read ${path}: ${sysCode(err)}`, { cause: err });
      } finally {
        closeSync(fd);
      }
      const lines = text.split('\n');
      const hadFinalNewline = text.endsWith('\n');
      if (hadFinalNewline) lines.pop();
      let taken = -1;
      let bucket = '';
      for (let i = 0; i < lines.length; i++) {
        const hash = lines[i]!.indexOf('#');
        const value = (hash < 0 ? lines[i]! : lines[i]!.slice(0, hash)).trim();
        if (value === '' || !isBucketName(value)) continue;
        taken = i;
        bucket = value;
        break;
      }
      if (taken < 0) return undefined;
      lines.splice(taken, 1);
      const rest = lines.length === 0 ? '' : `${lines.join('\n')}${hadFinalNewline ? '\n' : ''}`;
      try {
        replaceFileSync(path, Buffer.from(rest, 'latin1'), {
          mode,
          tmpPath: `${path}.bak`,
          durable,
          owner: { uid, gid },
        });
      } catch (err) {
        throw new TempError(`unable to rewrite ${path}: ${sysCode(err)}`, { cause: err });
      }
      return bucket;
    },
    lockOptions(options),
  );
}
