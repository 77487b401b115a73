import test from 'ava';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TempError } from '../../lib/exit.ts';
import {
  BUCKET_ALPHABET,
  INITIAL_DIR_CONTROL,
  allocateBucket,
  bucketOfUserDir,
  countBackfill,
  formatDirControl,
  parseDirControl,
  readDirControlFile,
  recordFreeBucket,
  releaseBucket,
  takeFreeBucket,
  writeDirControlFile,
  type DirControlState,
} from '../../lib/store/dir-control.ts';
import { tempDir } from '../helpers/cdb-tools.ts';
import { GOLDEN_DOMAINS } from '../helpers/vpasswd-tree.ts';

const A = BUCKET_ALPHABET;

/** The bucket of the n-th entry without deletions (layout.md §4.2): sequence element ⌊n/100⌋. */
function referenceBucket(n: number): string {
  let k = Math.floor(n / 100);
  if (k === 0) return '';
  k -= 1;
  if (k < 62) return A[k]!;
  k -= 62;
  if (k < 62 * 62) return `${A[Math.floor(k / 62)]}/${A[k % 62]}`;
  k = (k - 62 * 62) % (62 * 62 * 62);
  return `${A[Math.floor(k / 3844)]}/${A[Math.floor(k / 62) % 62]}/${A[k % 62]}`;
}

/** One allocation as a separate C process does it: read the file, allocate, write it back. */
function allocateViaFile(path: string): string {
  const { state, bucket } = allocateBucket(readDirControlFile(path) ?? INITIAL_DIR_CONTROL);
  writeDirControlFile(path, state);
  return bucket;
}

function goldenText(relative: string): string {
  return readFileSync(join(GOLDEN_DOMAINS, relative), 'latin1');
}

test('the first allocation of a fresh domain writes the file C writes (0 2 4, before any read)', (t) => {
  const path = join(tempDir(t), '.dir-control');
  t.is(allocateViaFile(path), '');
  t.is(readFileSync(path, 'latin1'), '1\n0\n3\n0 0 0\n61 61 61\n0 2 4\n0 0 0\n\n');
  t.is(statSync(path).mode & 0o777, 0o600);
});

test('261 users in big.test land where C put them and leave the golden .dir-control', (t) => {
  const dir = tempDir(t);
  const path = join(dir, '.dir-control');
  const buckets: string[] = [];
  for (let n = 1; n <= 261; n++) buckets.push(allocateViaFile(path)); // postmaster, u001..u260
  t.true(buckets.slice(0, 99).every((b) => b === ''));
  t.true(buckets.slice(99, 199).every((b) => b === '0')); // u099 (the 100th) .. u198
  t.true(buckets.slice(199).every((b) => b === '1')); // u199 .. u260
  t.is(readFileSync(path, 'latin1'), goldenText('big.test/.dir-control'));
});

test('delete and re-add through .dir_control_free reproduce the golden states of steps 61 to 63', (t) => {
  const dir = tempDir(t);
  const path = join(dir, '.dir-control');
  for (let n = 1; n <= 261; n++) allocateViaFile(path);
  // vdeluser u150@big.test: counter down, its bucket onto the free list
  writeDirControlFile(path, releaseBucket(readDirControlFile(path)!));
  const bucket = bucketOfUserDir(dir, join(dir, '0', 'u150'), 'u150');
  t.is(bucket, '0');
  recordFreeBucket(dir, bucket!);
  t.is(readFileSync(join(dir, '.dir_control_free'), 'latin1'), '0\n');
  t.is(readFileSync(path, 'latin1'), '260\n0\n3\n0 0 0\n61 61 61\n0 2 2\n1 0 0\n1\n');
  // vadduser u261@big.test: the freed bucket first, the counter back up, the bucket not advanced
  t.is(takeFreeBucket(dir), '0');
  writeDirControlFile(path, countBackfill(readDirControlFile(path)!));
  t.is(readFileSync(join(dir, '.dir_control_free'), 'latin1'), '');
  t.is(readFileSync(path, 'latin1'), goldenText('big.test/.dir-control'));
  t.is(takeFreeBucket(dir), undefined);
});

test('every golden .dir-control parses and a rewrite keeps its bytes', (t) => {
  for (const rel of ['.dir-control', 'big.test/.dir-control', 'example.test/.dir-control', 'catch.test/.dir-control']) {
    const text = goldenText(rel);
    t.is(formatDirControl(parseDirControl(text, rel)), text, rel);
  }
  t.is(parseDirControl(goldenText('.dir-control')).curUsers, 4);
});

test('the allocator matches the reference sequence through both level changes (400 000 entries, re-read each time)', (t) => {
  let state = INITIAL_DIR_CONTROL;
  for (let n = 1; n <= 400_000; n++) {
    // Every allocation is a fresh process in C: the state goes through the file format each time.
    const { state: next, bucket } = allocateBucket(parseDirControl(formatDirControl(state)));
    if (bucket !== referenceBucket(n)) {
      t.fail(`entry ${n}: got ${JSON.stringify(bucket)}, reference ${JSON.stringify(referenceBucket(n))}`);
      return;
    }
    state = next;
  }
  t.is(referenceBucket(6_299), 'z');
  t.is(referenceBucket(6_300), '0/0');
  t.is(referenceBucket(390_700), '0/0/0');
  t.is(state.theDir, referenceBucket(400_000));
  t.is(state.levelCur, 2);
});

function stateFile(t: Parameters<typeof tempDir>[0], text: string): string {
  const path = join(tempDir(t), '.dir-control');
  writeFileSync(path, text);
  return path;
}

test('a state file C left just before 6 300 moves to 0/0 exactly at 6 300', (t) => {
  const path = stateFile(t, '6250\n0\n3\n0 0 0\n61 61 61\n0 2 2\n61 0 0\nz\n');
  for (let n = 6251; n <= 6299; n++) t.is(allocateViaFile(path), 'z');
  t.is(allocateViaFile(path), '0/0');
  t.is(readFileSync(path, 'latin1'), '6300\n1\n3\n0 0 0\n61 61 61\n0 2 2\n0 1 0\n0/0\n');
  t.is(allocateViaFile(path), '0/0');
  t.is(readFileSync(path, 'latin1'), '6301\n1\n3\n0 0 0\n61 61 61\n0 2 2\n0 1 1\n0/0\n');
  for (let n = 6302; n <= 6399; n++) allocateViaFile(path);
  t.is(allocateViaFile(path), '0/1');
});

test('a state file just before 390 700 moves to 0/0/0 exactly at 390 700, and the third level advances', (t) => {
  const path = stateFile(t, '390650\n1\n3\n0 0 0\n61 61 61\n0 2 2\n61 61 61\nz/z\n');
  for (let n = 390_651; n <= 390_699; n++) t.is(allocateViaFile(path), 'z/z');
  t.is(allocateViaFile(path), '0/0/0');
  const s = readDirControlFile(path)!;
  t.is(s.levelCur, 2);
  t.is(s.theDir, '0/0/0');
  let bucket = '';
  for (let n = 390_701; n <= 390_800; n++) bucket = allocateViaFile(path);
  t.is(bucket, '0/0/1');
  t.is(bucket, referenceBucket(390_800));
});

test('after z/z/z the sequence wraps to 0/0/0 and never gains a fourth level', (t) => {
  const n0 = 24_223_450;
  t.is(referenceBucket(n0), 'z/z/z');
  const path = stateFile(t, `${n0}\n2\n3\n0 0 0\n61 61 61\n0 2 2\n61 61 61\nz/z/z\n`);
  let bucket = '';
  for (let n = n0 + 1; n <= n0 + 50; n++) bucket = allocateViaFile(path);
  t.is(bucket, '0/0/0');
  t.is(referenceBucket(n0 + 50), '0/0/0');
});

test('the first row of a new level counts one higher than its character, as C files show', (t) => {
  let s: DirControlState = parseDirControl('6300\n1\n3\n0 0 0\n61 61 61\n0 2 2\n0 1 1\n0/0\n');
  const seen: string[] = [];
  for (let i = 0; i < 62 * 100; i++) {
    const a = allocateBucket(s);
    s = a.state;
    if (s.curUsers % 100 === 0) seen.push(`${a.bucket}@${s.levelIndex[1]}`);
  }
  t.is(seen[0], '0/1@2');
  t.is(seen[60], '0/z@62');
  t.is(seen[61], '1/0@0');
});

test('churn: a delete and an add at a multiple of 100 advance the bucket again, as in C', (t) => {
  let s = parseDirControl('199\n0\n3\n0 0 0\n61 61 61\n0 2 2\n0 0 0\n0\n');
  let a = allocateBucket(s);
  t.is(a.bucket, '1');
  s = releaseBucket(a.state);
  a = allocateBucket(s);
  t.is(a.bucket, '2');
  t.is(a.state.curUsers, 200);
});

test('deleting at 0 leaves 0 (C wraps to 2^64-1), and a counter C wrapped reads as 0', (t) => {
  t.is(releaseBucket(INITIAL_DIR_CONTROL).curUsers, 0);
  t.is(countBackfill(INITIAL_DIR_CONTROL).curUsers, 0);
  t.is(parseDirControl('18446744073709551615\n0\n3\n0 0 0\n61 61 61\n0 2 2\n0 0 0\n\n').curUsers, 0);
});

test('the reader takes the_dir from a 9th line when there is one, else the 8th', (t) => {
  t.is(parseDirControl('5\n0\n3\n0 0 0\n61 61 61\n0 2 4\n0 0 0\nA\n').theDir, 'A');
  t.is(parseDirControl('5\n0\n3\n0 0 0\n61 61 61\n0 2 4\n0 0 0\nA\nB\n').theDir, 'B');
  t.is(parseDirControl('5\n0\n3\n0 0 0\n61 61 61\n0 2 4\n0 0 0\nA').theDir, 'A');
  t.deepEqual(parseDirControl('5\n0\n3\n0 0 0\n61 61 61\n0 2 4\n3 4 5\n\n').levelIndex, [3, 4, 4]);
});

test('a malformed .dir-control is an error naming the line', (t) => {
  for (const [text, line] of [
    ['', 1],
    ['x\n0\n3\n0 0 0\n61 61 61\n0 2 4\n0 0 0\n\n', 1],
    ['1\n0\n3\n0 0\n61 61 61\n0 2 4\n0 0 0\n\n', 4],
    ['1\n5\n3\n0 0 0\n61 61 61\n0 2 4\n0 0 0\n\n', 2],
    ['1\n0\n3\n0 0 0\n61 61 61\n0 2 4\n0 0 0\n../x\n', 8],
    ['1\n0\n3\n0 0 0\n61 99 61\n0 2 4\n0 0 0\n\n', 5],
  ] as const) {
    t.throws(() => parseDirControl(text, 'f'), { instanceOf: TempError, message: new RegExp(`^f line ${line}: `) }, text);
  }
  t.throws(() => allocateBucket({ ...INITIAL_DIR_CONTROL, curUsers: 99, levelCur: 1, theDir: 'A' }), { instanceOf: TempError });
});

test('the owner is the given uid/gid when root, the mode 0600 unless told', (t) => {
  const path = join(tempDir(t), '.dir-control');
  writeDirControlFile(path, INITIAL_DIR_CONTROL, { owner: { uid: 89, gid: 89 }, mode: 0o644 });
  const st = statSync(path);
  t.is(st.mode & 0o777, 0o644);
  if (process.geteuid?.() === 0) t.deepEqual([st.uid, st.gid], [89, 89]);
  t.false(existsSync(`${path}.${process.pid}`));
});

test('backfill takes the first real line, skipping comments, blanks and non-buckets, and removes exactly it', (t) => {
  const dir = tempDir(t);
  const free = join(dir, '.dir_control_free');
  writeFileSync(free, '# freed buckets\n\n  \n../../etc\n0/a  # comment\n0\n0/a\n3\n');
  chmodSync(free, 0o640);
  t.is(takeFreeBucket(dir), '0/a');
  t.is(readFileSync(free, 'latin1'), '# freed buckets\n\n  \n../../etc\n0\n0/a\n3\n');
  t.is(statSync(free).mode & 0o777, 0o640);
  t.is(takeFreeBucket(dir), '0');
  t.is(readFileSync(free, 'latin1'), '# freed buckets\n\n  \n../../etc\n0/a\n3\n');
  t.is(takeFreeBucket(dir), '0/a');
  t.is(takeFreeBucket(dir), '3');
  t.is(takeFreeBucket(dir), undefined);
  t.is(readFileSync(free, 'latin1'), '# freed buckets\n\n  \n../../etc\n');
});

test('backfill without a file is no backfill; recording creates it 0644 and refuses a non-bucket', (t) => {
  const dir = tempDir(t);
  t.is(takeFreeBucket(dir), undefined);
  recordFreeBucket(dir, '');
  t.false(existsSync(join(dir, '.dir_control_free')));
  recordFreeBucket(dir, 'A/b');
  recordFreeBucket(dir, 'z');
  t.is(readFileSync(join(dir, '.dir_control_free'), 'latin1'), 'A/b\nz\n');
  t.is(statSync(join(dir, '.dir_control_free')).mode & 0o777, 0o644);
  t.true(existsSync(join(dir, '.dir_control_free.lock')));
  t.throws(() => recordFreeBucket(dir, '../x'));
});

test('the bucket of a user directory is the path between the domain and the user', (t) => {
  const d = '/home/vpopmail/domains/big.test';
  t.is(bucketOfUserDir(d, `${d}/u001`, 'u001'), '');
  t.is(bucketOfUserDir(d, `${d}/0/u150`, 'u150'), '0');
  t.is(bucketOfUserDir(d, `${d}/0/a/Z/bob`, 'bob'), '0/a/Z');
  t.is(bucketOfUserDir(d, `/elsewhere/bob`, 'bob'), undefined);
  t.is(bucketOfUserDir(d, `${d}/../x/bob`, 'bob'), undefined);
});
