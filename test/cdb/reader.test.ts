import test from 'ava';
import { closeSync, ftruncateSync, openSync, readFileSync, readdirSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { CdbFormatError, CdbReader, cdbGetSync, cdbHash } from '../../lib/cdb/reader.ts';
import { writeCdbSync } from '../../lib/cdb/writer.ts';
import { tempDir, tinycdbDump, tinycdbMake, tinycdbQuery, type CdbRecord } from '../helpers/cdb-tools.ts';

const GOLDEN = join(import.meta.dirname, '..', '..', '..', 'shared', 'fixtures', 'golden', 'tree');
const b = (s: string) => Buffer.from(s, 'latin1');
const hex = (u: Uint8Array | undefined) => (u === undefined ? undefined : Buffer.from(u).toString('hex'));

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

function randomRecords(seed: number, count: number): CdbRecord[] {
  const rand = prng(seed);
  const bytes = (max: number) => {
    const buf = Buffer.alloc(rand() < 0.1 ? 0 : Math.floor(rand() * (max + 1)));
    for (let i = 0; i < buf.length; i++) buf[i] = Math.floor(rand() * 256);
    return buf;
  };
  const records: CdbRecord[] = [];
  for (let i = 0; i < count; i++) {
    const key = records.length > 0 && rand() < 0.2 ? records[Math.floor(rand() * records.length)]![0] : bytes(16);
    records.push([key, bytes(40)]);
  }
  return records;
}

test('lookups in files made by tinycdb find the first record, all records, and miss absent keys', (t) => {
  const dir = tempDir(t);
  for (let seed = 1; seed <= 25; seed++) {
    const records = randomRecords(seed, Math.floor(prng(seed + 1000)() * 400));
    const path = join(dir, `r${seed}.cdb`);
    tinycdbMake(path, records);
    const db = CdbReader.open(path);
    t.teardown(() => db.close());
    const byKey = new Map<string, string[]>();
    for (const [k, d] of records) {
      const list = byKey.get(hex(k)!) ?? [];
      list.push(hex(d)!);
      byKey.set(hex(k)!, list);
    }
    for (const [k, values] of byKey) {
      t.is(hex(db.get(Buffer.from(k, 'hex'))), values[0]);
      t.deepEqual(db.getAll(Buffer.from(k, 'hex')).map(hex), values);
    }
    const rand = prng(seed + 5000);
    for (let i = 0; i < 50; i++) {
      const probe = Buffer.from(`absent-${Math.floor(rand() * 1e9)}`);
      if (!byKey.has(probe.toString('hex'))) t.is(db.get(probe), undefined);
    }
    t.deepEqual([...db.entries()].map(([k, d]) => [hex(k), hex(d)]), records.map(([k, d]) => [hex(k), hex(d)]));
  }
});

test('string keys are UTF-8 and give the same answer as tinycdb cdb -q', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 's.cdb');
  writeCdbSync(path, [
    [Buffer.from('jörg', 'utf8'), b('utf8 key')],
    [b('j\xf6rg'), b('latin1 key')],
    [b('alice'), b('A')],
  ]);
  t.is(Buffer.from(cdbGetSync(path, 'jörg')!).toString(), 'utf8 key');
  t.is(Buffer.from(cdbGetSync(path, b('j\xf6rg'))!).toString(), 'latin1 key');
  t.is(Buffer.from(cdbGetSync(path, 'alice')!).toString(), tinycdbQuery(path, 'alice')!.toString());
  t.is(cdbGetSync(path, 'bob'), undefined);
  t.is(tinycdbQuery(path, 'bob'), undefined);
});

test('an empty key and empty data are found like any other', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'e.cdb');
  writeCdbSync(path, [[b(''), b('-')], [b('k'), b('')]]);
  t.is(Buffer.from(cdbGetSync(path, '')!).toString(), '-');
  t.is(cdbGetSync(path, 'k')!.length, 0);
});

test('a missing file is the system error ENOENT, not a miss', (t) => {
  const dir = tempDir(t);
  t.throws(() => cdbGetSync(join(dir, 'nope.cdb'), 'x'), { code: 'ENOENT' });
});

// --- the golden run's cdb files -----------------------------------------------------------------

function goldenCdbFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, name.name);
      if (name.isDirectory()) walk(path);
      else if (name.name === 'cdb' || name.name.endsWith('.cdb')) out.push(path);
    }
  };
  walk(GOLDEN);
  return out.sort();
}

test('every cdb of the golden tree reads the same through our reader and tinycdb', (t) => {
  const files = goldenCdbFiles();
  t.true(files.length >= 6, `found ${files.join(', ')}`);
  for (const path of files) {
    const db = CdbReader.open(path);
    t.teardown(() => db.close());
    const ours = [...db.entries()].map(([k, d]) => [hex(k), hex(d)]);
    t.deepEqual(ours, tinycdbDump(path).map(([k, d]) => [hex(k), hex(d)]), path);
    for (const [k] of ours) t.not(db.get(Buffer.from(k!, 'hex')), undefined, `${path}: key ${k}`);
  }
});

test('every cdb of the golden tree is rebuilt byte for byte by our writer from its records', (t) => {
  const dir = tempDir(t);
  for (const [i, path] of goldenCdbFiles().entries()) {
    const db = CdbReader.open(path);
    const records = [...db.entries()];
    db.close();
    const copy = join(dir, `copy${i}.cdb`);
    writeCdbSync(copy, records);
    t.true(readFileSync(copy).equals(readFileSync(path)), path);
  }
});

test('each golden vpasswd.cdb holds its vpasswd lines: key = name, data = the rest of the line', (t) => {
  const domains = join(GOLDEN, 'vpopmail', 'domains');
  let checked = 0;
  for (const domain of readdirSync(domains)) {
    const vpasswd = join(domains, domain, 'vpasswd');
    try {
      statSync(vpasswd);
    } catch {
      continue;
    }
    const lines = readFileSync(vpasswd, 'latin1').split('\n').filter((l) => l !== '');
    const db = CdbReader.open(join(domains, domain, 'vpasswd.cdb'));
    t.teardown(() => db.close());
    const expected = lines.map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]);
    t.deepEqual([...db.entries()].map(([k, d]) => [Buffer.from(k).toString('latin1'), Buffer.from(d).toString('latin1')]), expected);
    for (const [name, rest] of expected) t.is(Buffer.from(db.get(b(name!))!).toString('latin1'), rest);
    t.is(db.get('no-such-user'), undefined);
    checked++;
  }
  t.true(checked >= 4);
});

test('the golden users/cdb answers the assign lines domain by domain', (t) => {
  const assign = readFileSync(join(GOLDEN, 'qmail', 'users', 'assign'), 'latin1').split('\n');
  const db = CdbReader.open(join(GOLDEN, 'qmail', 'users', 'cdb'));
  t.teardown(() => db.close());
  let checked = 0;
  for (const line of assign) {
    if (!line.startsWith('+')) continue;
    const fields = line.split(':');
    const data = Buffer.from(db.get(b(`!${fields[0]!.slice(1)}`))!).toString('latin1');
    t.is(data, `${fields.slice(1, 6).join('\0')}\0`);
    checked++;
  }
  t.is(checked, 4);
  t.is(Buffer.from(db.get('')!).toString(), '-', 'the wildchars record');
});

// --- damaged files ------------------------------------------------------------------------------

function validFile(dir: string): { path: string; bytes: Buffer; records: CdbRecord[] } {
  const records = randomRecords(77, 60).map(([k, d], i) => [Buffer.concat([b(`k${i}:`), k]), d] as const);
  const path = join(dir, 'valid.cdb');
  writeCdbSync(path, records);
  return { path, bytes: readFileSync(path), records };
}

/** Look up every key and walk every record: the only allowed failure is CdbFormatError. */
function exercise(path: string, records: CdbRecord[]): void {
  const db = CdbReader.open(path);
  try {
    for (const [k] of records) db.getAll(k);
    db.get('absent key');
    for (const entry of db.entries()) void entry;
  } finally {
    db.close();
  }
}

test('a truncated cdb is a CdbFormatError at every length, never a miss', (t) => {
  const dir = tempDir(t);
  const { bytes, records } = validFile(dir);
  const path = join(dir, 'cut.cdb');
  for (let len = 0; len < bytes.length; len += len < 2100 ? 97 : 13) {
    writeFileSync(path, bytes.subarray(0, len));
    t.throws(() => exercise(path, records), { instanceOf: CdbFormatError }, `length ${len}`);
  }
});

test('a record whose lengths run past the data is a CdbFormatError for get and entries', (t) => {
  const dir = tempDir(t);
  const { bytes, records } = validFile(dir);
  const path = join(dir, 'long.cdb');
  const copy = Buffer.from(bytes);
  copy.writeUInt32LE(0x7fff_0000, 2048 + 4); // first record's dlen
  writeFileSync(path, copy);
  const db = CdbReader.open(path);
  t.teardown(() => db.close());
  t.throws(() => db.get(records[0]![0]), { instanceOf: CdbFormatError, message: /long\.cdb.*runs past/ });
  t.throws(() => [...db.entries()], { instanceOf: CdbFormatError });
});

test('a slot pointing into the header is a CdbFormatError, not a miss', (t) => {
  const dir = tempDir(t);
  const { bytes, records } = validFile(dir);
  const path = join(dir, 'ptr.cdb');
  const copy = Buffer.from(bytes);
  // Point every slot of every table at offset 100.
  const eod = copy.readUInt32LE(0);
  for (let at = eod; at < copy.length; at += 8) if (copy.readUInt32LE(at + 4) !== 0) copy.writeUInt32LE(100, at + 4);
  writeFileSync(path, copy);
  const db = CdbReader.open(path);
  t.teardown(() => db.close());
  t.throws(() => db.get(records[3]![0]), { instanceOf: CdbFormatError, message: /pointer 100/ });
});

test('random corruption gives answers or CdbFormatError, never another error or a hang', (t) => {
  const dir = tempDir(t);
  const { bytes, records } = validFile(dir);
  const path = join(dir, 'bad.cdb');
  const rand = prng(2024);
  let formatErrors = 0;
  for (let round = 0; round < 400; round++) {
    const copy = Buffer.from(bytes);
    const flips = 1 + Math.floor(rand() * 8);
    for (let i = 0; i < flips; i++) {
      // Aim at the structure (header, record heads, tables) more than at key and data bytes.
      const at = rand() < 0.5 ? Math.floor(rand() * 2048) : Math.floor(rand() * copy.length);
      copy[at] = Math.floor(rand() * 256);
    }
    writeFileSync(path, copy);
    try {
      exercise(path, records);
    } catch (err) {
      if (!(err instanceof CdbFormatError)) throw err;
      t.regex(err.message, /bad\.cdb/, 'the message names the file');
      formatErrors++;
    }
  }
  t.true(formatErrors > 0);
});

test('a table with no free slot ends the probe after one round', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'full.cdb');
  // One record "a" and a table for its hash whose every slot is taken by foreign hashes.
  const key = b('a');
  const header = Buffer.alloc(2048);
  const record = Buffer.concat([Buffer.from([1, 0, 0, 0, 1, 0, 0, 0]), key, b('x')]);
  const eod = 2048 + record.length;
  const slots = Buffer.alloc(16);
  slots.writeUInt32LE(1, 0);
  slots.writeUInt32LE(2048, 4);
  slots.writeUInt32LE(2, 8);
  slots.writeUInt32LE(2048, 12);
  for (let i = 0; i < 256; i++) {
    header.writeUInt32LE(eod, 8 * i);
    header.writeUInt32LE(0, 8 * i + 4);
  }
  const tableOfA = 0x2b5c4 & 255; // djb hash of "a" is 0x0002b5c4
  header.writeUInt32LE(2, 8 * tableOfA + 4);
  writeFileSync(path, Buffer.concat([header, record, slots]));
  t.is(cdbGetSync(path, 'a'), undefined);
});

test('a lookup in a 3 GiB cdb reads only its slot and record (the file is sparse; reading it whole would fail)', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'big.cdb');
  const key = b('alice');
  const hash = cdbHash(key);
  const tablePos = 3 * 2 ** 30;
  const header = Buffer.alloc(2048);
  for (let i = 0; i < 256; i++) header.writeUInt32LE(tablePos, 8 * i);
  header.writeUInt32LE(2, 8 * (hash & 255) + 4);
  const record = Buffer.concat([Buffer.from([5, 0, 0, 0, 5, 0, 0, 0]), key, b('found')]);
  const slots = Buffer.alloc(16);
  const first = (hash >>> 8) % 2;
  slots.writeUInt32LE(hash, 8 * first);
  slots.writeUInt32LE(2048, 8 * first + 4);
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, header, 0, header.length, 0);
    writeSync(fd, record, 0, record.length, 2048);
    writeSync(fd, slots, 0, slots.length, tablePos); // the 3 GiB between are a hole
  } finally {
    closeSync(fd);
  }
  t.is(Buffer.from(cdbGetSync(path, 'alice')!).toString(), 'found');
  t.is(cdbGetSync(path, 'bob'), undefined);
  t.is(tinycdbQuery(path, 'alice')!.toString(), 'found', 'tinycdb agrees the file is a valid cdb');
});

test('a file over 4 GiB is refused with an error saying so', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'huge.cdb');
  const fd = openSync(path, 'w');
  ftruncateSync(fd, 2 ** 32 + 4096); // sparse: no data blocks are written
  closeSync(fd);
  const error = t.throws(() => CdbReader.open(path), { instanceOf: CdbFormatError });
  t.regex(error.message, /4 GiB/);
  t.regex(error.message, /huge\.cdb/);
});

test('a reader used after close throws rather than reading another file', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'c.cdb');
  writeCdbSync(path, [[b('a'), b('b')]]);
  const db = CdbReader.open(path);
  db.close();
  db.close();
  t.throws(() => db.get('a'), { message: /after close/ });
});

test('a cdb read whole at open (up to 64 KiB) and one read record by record answer alike; answers are copies', (t) => {
  const dir = tempDir(t);
  for (const [name, count] of [['small', 200], ['large', 3000]] as const) {
    const records = randomRecords(4242, count);
    const path = join(dir, `${name}.cdb`);
    tinycdbMake(path, records);
    t.is(statSync(path).size <= 64 * 1024, name === 'small', `${name}: ${statSync(path).size} bytes`);
    const db = CdbReader.open(path);
    try {
      for (const [k] of records) {
        t.deepEqual(db.getAll(k).map(hex), records.filter(([rk]) => Buffer.compare(rk, k) === 0).map(([, d]) => hex(d)), `${name}: ${hex(k)}`);
      }
      const [key] = records.find(([, d]) => d.length > 0)!;
      db.get(key)!.fill(0xff); // the caller's own bytes: the next lookup is not changed by this
      t.is(hex(db.get(key)), hex(records.find(([k]) => Buffer.compare(k, key) === 0)![1]), `${name}: a changed answer leaves the file's bytes alone`);
    } finally {
      db.close();
    }
    // cut inside its hash tables: the lookups that reach the lost part fail, never miss
    const cut = join(dir, `${name}-cut.cdb`);
    writeFileSync(cut, readFileSync(path).subarray(0, statSync(path).size - 8));
    t.throws(() => exercise(cut, records), { instanceOf: CdbFormatError }, `${name} cut`);
  }
});
