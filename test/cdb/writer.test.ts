import test from 'ava';
import { closeSync, openSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CdbTooLargeError, CdbWriter, writeCdbSync } from '../../lib/cdb/writer.ts';
import { DURABLE, type Durable } from '../../lib/fs/durable.ts';
import { tempDir, tinycdbDump, tinycdbMake, type CdbRecord } from '../helpers/cdb-tools.ts';

/** mulberry32: a small seeded generator, so a failing case can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytes(rand: () => number, maxLength: number): Buffer {
  const len = rand() < 0.1 ? 0 : Math.floor(rand() * (maxLength + 1));
  const buf = Buffer.alloc(len);
  for (let i = 0; i < len; i++) buf[i] = Math.floor(rand() * 256);
  return buf;
}

/** Random records: binary keys and data, empty ones, and repeated keys. */
function randomRecords(seed: number, count: number, maxLength: number): CdbRecord[] {
  const rand = prng(seed);
  const records: CdbRecord[] = [];
  for (let i = 0; i < count; i++) {
    const key = records.length > 0 && rand() < 0.15 ? records[Math.floor(rand() * records.length)]![0] : randomBytes(rand, maxLength);
    records.push([key, randomBytes(rand, maxLength)]);
  }
  return records;
}

function sameAsTinycdb(t: import('ava').ExecutionContext, dir: string, name: string, records: CdbRecord[]): void {
  const ours = join(dir, `${name}.ours.cdb`);
  const theirs = join(dir, `${name}.tiny.cdb`);
  writeCdbSync(ours, records);
  tinycdbMake(theirs, records);
  t.true(readFileSync(ours).equals(readFileSync(theirs)), `${name}: our bytes differ from cdb -c`);
  t.deepEqual(
    tinycdbDump(ours).map(([k, d]) => [k.toString('hex'), d.toString('hex')]),
    records.map(([k, d]) => [Buffer.from(k).toString('hex'), Buffer.from(d).toString('hex')]),
    `${name}: cdb -d of our file lists other records`,
  );
}

test('random records (binary, empty, duplicate keys) give the bytes of tinycdb cdb -c', (t) => {
  const dir = tempDir(t);
  for (let seed = 1; seed <= 40; seed++) {
    const count = Math.floor(prng(seed * 7919)() * 300);
    sameAsTinycdb(t, dir, `seed${seed}`, randomRecords(seed, count, 24));
  }
});

test('an empty cdb is the 2048-byte header that cdb -c writes', (t) => {
  const dir = tempDir(t);
  sameAsTinycdb(t, dir, 'empty', []);
  t.is(statSync(join(dir, 'empty.ours.cdb')).size, 2048);
});

test('many records with colliding tables and records over the write buffer match cdb -c', (t) => {
  const dir = tempDir(t);
  sameAsTinycdb(t, dir, 'many', randomRecords(4242, 20_000, 12));
  const rand = prng(99);
  const big: CdbRecord[] = [
    [Buffer.from('small'), Buffer.from('x')],
    [Buffer.from('large'), randomBytes(() => rand() * 0.99 + 0.01, 200_000)],
    [Buffer.alloc(70_000, 0x61), Buffer.from('long key')],
    [Buffer.from('small'), Buffer.from('second')],
  ];
  sameAsTinycdb(t, dir, 'big', big);
});

test('writeCdbSync leaves the asked mode whatever the umask, and no temp file', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'users.cdb');
  const old = process.umask(0o077);
  try {
    writeCdbSync(path, [[Buffer.from('a'), Buffer.from('b')]], { mode: 0o644 });
  } finally {
    process.umask(old);
  }
  t.is(statSync(path).mode & 0o777, 0o644);
  t.deepEqual(readdirSync(dir), ['users.cdb']);
  writeCdbSync(path, []);
  t.is(statSync(path).mode & 0o777, 0o600, 'default mode is 0600');
});

test('writeCdbSync keeps the old file and removes its temp file when the records fail midway', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'x.cdb');
  writeCdbSync(path, [[Buffer.from('old'), Buffer.from('1')]]);
  const before = readFileSync(path);
  function* failing(): Generator<CdbRecord> {
    yield [Buffer.from('new'), Buffer.from('2')];
    throw new Error('source went away');
  }
  t.throws(() => writeCdbSync(path, failing()), { message: 'source went away' });
  t.true(readFileSync(path).equals(before));
  t.deepEqual(readdirSync(dir), ['x.cdb']);
});

test('every byte goes through the Durable, the header last at offset 0', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'd.cdb');
  const writes: { length: number; position: number | undefined }[] = [];
  const ops: string[] = [];
  const spy: Durable = {
    write(fd, data, position) {
      writes.push({ length: data.length, position });
      ops.push('write');
      DURABLE.write(fd, data, position);
    },
    fsync(fd) {
      ops.push('fsync');
      DURABLE.fsync(fd);
    },
    rename(from, to) {
      ops.push('rename');
      DURABLE.rename(from, to);
    },
    link: DURABLE.link,
  };
  const records = randomRecords(5, 50, 10);
  writeCdbSync(path, records, { durable: spy });
  t.is(writes.reduce((n, w) => n + w.length, 0), statSync(path).size);
  t.deepEqual(writes.at(-1), { length: 2048, position: 0 });
  t.deepEqual(ops.slice(-3), ['fsync', 'rename', 'fsync'], 'file fsync, rename, directory fsync');
});

test('the writer refuses a cdb that would pass 4 GiB before writing it', (t) => {
  const dir = tempDir(t);
  const fd = openSync(join(dir, 'huge.cdb'), 'w');
  t.teardown(() => closeSync(fd));
  // Count the bytes instead of writing them: the refusal must come from the arithmetic alone.
  let written = 0;
  const counting: Durable = { ...DURABLE, write: (_fd, data) => void (written += data.length) };
  const writer = new CdbWriter(fd, counting);
  const chunk = new Uint8Array(256 * 1024 * 1024);
  for (let i = 0; i < 15; i++) writer.put(Buffer.from(`k${i}`), chunk);
  const error = t.throws(() => writer.put(Buffer.from('one too many'), chunk), { instanceOf: CdbTooLargeError });
  t.regex(error.message, /4 GiB/);
  t.true(written < 2 ** 32);
});

test('put after finish is a programming error', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'f.cdb');
  writeFileSync(path, '');
  const fd = openSync(path, 'w');
  t.teardown(() => closeSync(fd));
  const writer = new CdbWriter(fd);
  writer.finish();
  t.throws(() => writer.put(Buffer.from('a'), Buffer.from('b')));
});
