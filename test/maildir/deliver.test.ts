import test from 'ava';
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  readdirSync,
  readSync,
  statSync,
  writeFileSync,
  writeSync,
  rmSync,
} from 'node:fs';
import { join } from 'node:path';
import { MailError, PermError, TempError } from '../../lib/exit.ts';
import { DURABLE, type Durable } from '../../lib/fs/durable.ts';
import {
  OverQuotaError,
  copyFdToFd,
  deliverToMaildir,
  maildirHost,
  maildirUniqueName,
  type DeliverOptions,
} from '../../lib/maildir/deliver.ts';
import { plainMaildir, readWithPython, tempDir } from '../helpers/maildir-tools.ts';

const NOW = 1795988144_123;
const HEADERS = Buffer.from('Return-Path: <sender@remote.test>\nDelivered-To: alice@example.test\n');
const BODY = Buffer.from(
  'Received: from remote.test by mail.golden.test with SMTP\nFrom: Sender <sender@remote.test>\nTo: alice@example.test\n' +
    'Subject: hello alice\nMessage-ID: <msg-alice.eml@remote.test>\n\nThis is a golden test message for alice@example.test.\nLine two of the body.\n',
);

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function fileWith(t: import('ava').ExecutionContext, dir: string, data: Uint8Array, name = 'msg.eml'): number {
  const path = join(dir, name);
  writeFileSync(path, data);
  const fd = openSync(path, 'r');
  t.teardown(() => {
    try {
      closeSync(fd);
    } catch {
      // closed by the test
    }
  });
  return fd;
}

const OPTS: DeliverOptions = { headers: HEADERS, nowMs: NOW, pid: 27175, host: 'mail.golden.test' };

test('a delivery stores headers then the message under C\'s name in new/ and leaves tmp/ empty', (t) => {
  const dir = tempDir(t);
  const md = plainMaildir(dir);
  const d = deliverToMaildir(md, { fd: fileWith(t, dir, BODY), offset: 0 }, OPTS);
  // The golden run's step 171: 319 bytes, `<time>.<pid>.<host>,S=<size>`.
  t.is(d.sizeBytes, 319);
  t.is(d.name, '1795988144.27175.mail.golden.test,S=319');
  t.is(d.path, join(md, 'new', d.name));
  t.deepEqual(readFileSync(d.path), Buffer.concat([HEADERS, BODY]));
  t.is(statSync(d.path).mode & 0o7777, 0o600);
  t.deepEqual(readdirSync(join(md, 'tmp')), []);
  t.deepEqual(readdirSync(join(md, 'cur')), []);
});

test('Python mailbox.Maildir reads back every delivered message with the same bytes', (t) => {
  const dir = tempDir(t);
  const md = plainMaildir(dir);
  const src = fileWith(t, dir, BODY);
  const expected: string[] = [];
  for (let seq = 0; seq < 5; seq++) {
    const headers = Buffer.from(`Delivered-To: n${seq}@example.test\n`);
    deliverToMaildir(md, { fd: src, offset: 0 }, { ...OPTS, headers, seq });
    expected.push(sha256(Buffer.concat([headers, BODY])));
  }
  const seen = readWithPython(md);
  t.is(seen.count, 5);
  t.deepEqual(seen.messages.map((m) => m.sha256).sort(), expected.sort());
  t.true(seen.messages.every((m) => m.subdir === 'new'));
});

test('later deliveries of one process in the same second get distinct names (pitfall 1)', (t) => {
  const dir = tempDir(t);
  const md = plainMaildir(dir);
  const src = fileWith(t, dir, BODY);
  const a = deliverToMaildir(md, { fd: src, offset: 0 }, { ...OPTS, seq: 0 });
  const b = deliverToMaildir(md, { fd: src, offset: 0 }, { ...OPTS, seq: 1 });
  const c = deliverToMaildir(md, { fd: src, offset: 0 }, { ...OPTS, seq: 2 });
  t.is(a.name, '1795988144.27175.mail.golden.test,S=319');
  t.is(b.name, '1795988144.P27175Q2.mail.golden.test,S=319');
  t.is(c.name, '1795988144.P27175Q3.mail.golden.test,S=319');
  t.is(readdirSync(join(md, 'new')).length, 3);
});

test('a name taken in tmp/ is never reused or truncated: the delivery takes the next name', (t) => {
  const dir = tempDir(t);
  const md = plainMaildir(dir);
  const squatter = join(md, 'tmp', maildirUniqueName(OPTS));
  writeFileSync(squatter, 'someone else\n');
  const d = deliverToMaildir(md, { fd: fileWith(t, dir, BODY), offset: 0 }, OPTS);
  t.is(d.name, '1795988144.P27175Q1_1.mail.golden.test,S=319');
  t.is(readFileSync(squatter, 'utf8'), 'someone else\n');
  t.deepEqual(readdirSync(join(md, 'tmp')), [squatter.slice(squatter.lastIndexOf('/') + 1)]);
});

test('a message already in new/ under the same name is never overwritten', (t) => {
  const dir = tempDir(t);
  const md = plainMaildir(dir);
  const existing = join(md, 'new', '1795988144.27175.mail.golden.test,S=319');
  writeFileSync(existing, 'the first message\n');
  const d = deliverToMaildir(md, { fd: fileWith(t, dir, BODY), offset: 0 }, OPTS);
  t.not(d.path, existing);
  t.is(readFileSync(existing, 'utf8'), 'the first message\n');
  t.deepEqual(readFileSync(d.path), Buffer.concat([HEADERS, BODY]));
  t.deepEqual(readdirSync(join(md, 'tmp')), []);
});

test('host names are truncated to 32 characters and / and : are escaped in names (pitfall 13)', (t) => {
  t.is(maildirHost('mail.golden.test'), 'mail.golden.test');
  t.is(maildirHost('a'.repeat(40)), 'a'.repeat(32));
  t.is(maildirHost('bad/host:name'), 'bad\\057host\\072name');
  const dir = tempDir(t);
  const md = plainMaildir(dir);
  const d = deliverToMaildir(md, { fd: fileWith(t, dir, BODY), offset: 0 }, { ...OPTS, host: 'x/y:z' });
  t.is(d.name, '1795988144.27175.x\\057y\\072z,S=319');
  t.is(readWithPython(md).count, 1);
});

test('without ,S= in the name (vpopbull style) and with an owner when running as root', (t) => {
  const dir = tempDir(t);
  const md = plainMaildir(dir);
  const d = deliverToMaildir(md, { fd: fileWith(t, dir, BODY), offset: 0 }, {
    ...OPTS,
    sizeInName: false,
    owner: { uid: 65534, gid: 65534 },
    euid: 0,
  });
  t.is(d.name, '1795988144.27175.mail.golden.test');
  const st = statSync(d.path);
  if (process.geteuid?.() === 0) {
    t.is(st.uid, 65534);
    t.is(st.gid, 65534);
  } else {
    t.pass('not root: chown cannot be checked');
  }
});

test('a non-root caller never chowns, whatever owner it passes', (t) => {
  const dir = tempDir(t);
  const md = plainMaildir(dir);
  const d = deliverToMaildir(md, { fd: fileWith(t, dir, BODY), offset: 0 }, { ...OPTS, owner: { uid: 65534, gid: 65534 }, euid: 1000 });
  t.is(statSync(d.path).uid, process.geteuid!());
});

test('the source is read from its offset with pread, or sequentially from the fd offset', (t) => {
  const dir = tempDir(t);
  const md = plainMaildir(dir);
  const fd = fileWith(t, dir, Buffer.concat([Buffer.from('JUNK'), BODY]));
  const a = deliverToMaildir(md, { fd, offset: 4 }, { ...OPTS, headers: new Uint8Array() });
  t.deepEqual(readFileSync(a.path), BODY);
  // Sequential: the fd's own offset is used and advanced.
  const skip = Buffer.alloc(4);
  t.is(readSync(fd, skip, 0, 4, null), 4);
  const b = deliverToMaildir(md, { fd }, { ...OPTS, headers: new Uint8Array(), seq: 1 });
  t.deepEqual(readFileSync(b.path), BODY);
});

test('a missing tmp/ is a TempError naming open() and the path', (t) => {
  const dir = tempDir(t);
  const md = plainMaildir(dir);
  rmSync(join(md, 'tmp'), { recursive: true });
  const err = t.throws(() => deliverToMaildir(md, { fd: fileWith(t, dir, BODY), offset: 0 }, OPTS), { instanceOf: TempError });
  t.is(err.message, `open(${join(md, 'tmp', '1795988144.27175.mail.golden.test')}) failed: ENOENT`);
  t.is(err.exitCode, 111);
});

test('a missing new/ fails the link with a TempError and removes the tmp file', (t) => {
  const dir = tempDir(t);
  const md = plainMaildir(dir);
  rmSync(join(md, 'new'), { recursive: true });
  const err = t.throws(() => deliverToMaildir(md, { fd: fileWith(t, dir, BODY), offset: 0 }, OPTS), { instanceOf: TempError });
  t.regex(err.message, /^link\(.*\) failed: ENOENT$/);
  t.deepEqual(readdirSync(join(md, 'tmp')), []);
});

/** A Durable whose n-th write fails with the given errno (the disk saying no, not a crash). */
function failingWrites(code: string, n: number): Durable {
  let count = 0;
  return {
    ...DURABLE,
    write(fd, data, position) {
      if (++count === n) throw Object.assign(new Error(`${code}: injected`), { code });
      DURABLE.write(fd, data, position);
    },
  };
}

test('EDQUOT while writing is an OverQuotaError (exit 100), and nothing is left behind', (t) => {
  const dir = tempDir(t);
  const md = plainMaildir(dir);
  const err = t.throws(
    () => deliverToMaildir(md, { fd: fileWith(t, dir, BODY), offset: 0 }, { ...OPTS, durable: failingWrites('EDQUOT', 2) }),
    { instanceOf: OverQuotaError },
  );
  t.true(err instanceof PermError);
  t.is(err.exitCode, 100);
  t.regex(err.message, /^write\(.*\/tmp\/1795988144\.27175\.mail\.golden\.test\) failed: EDQUOT$/);
  t.deepEqual(readdirSync(join(md, 'tmp')), []);
  t.deepEqual(readdirSync(join(md, 'new')), []);
});

test('ENOSPC while writing is a TempError (exit 111), and nothing is left behind', (t) => {
  const dir = tempDir(t);
  const md = plainMaildir(dir);
  const err = t.throws(
    () => deliverToMaildir(md, { fd: fileWith(t, dir, BODY), offset: 0 }, { ...OPTS, durable: failingWrites('ENOSPC', 1) }),
    { instanceOf: TempError },
  );
  t.false(err instanceof OverQuotaError);
  t.regex(err.message, /failed: ENOSPC$/);
  t.deepEqual(readdirSync(join(md, 'tmp')), []);
  t.deepEqual(readdirSync(join(md, 'new')), []);
});

test('a failed fsync of new/ takes the message back out, so a retry cannot duplicate it', (t) => {
  const dir = tempDir(t);
  const md = plainMaildir(dir);
  let fsyncs = 0;
  const durable: Durable = {
    ...DURABLE,
    fsync(fd) {
      if (++fsyncs === 2) throw Object.assign(new Error('EIO: injected'), { code: 'EIO' });
      DURABLE.fsync(fd);
    },
  };
  const err = t.throws(() => deliverToMaildir(md, { fd: fileWith(t, dir, BODY), offset: 0 }, { ...OPTS, durable }), {
    instanceOf: TempError,
  });
  t.is(err.message, `fsync(${join(md, 'new')}) failed: EIO`);
  t.deepEqual(readdirSync(join(md, 'new')), []);
  t.deepEqual(readdirSync(join(md, 'tmp')), []);
});

test('a read error on the source is a TempError naming the fd', (t) => {
  const dir = tempDir(t);
  const md = plainMaildir(dir);
  const wfd = openSync(join(dir, 'w'), 'w'); // write-only: read() fails with EBADF
  t.teardown(() => closeSync(wfd));
  const err = t.throws(() => deliverToMaildir(md, { fd: wfd, offset: 0 }, OPTS), { instanceOf: TempError });
  t.is(err.message, `read(fd ${wfd}) failed: EBADF`);
  t.deepEqual(readdirSync(join(md, 'tmp')), []);
  t.deepEqual(readdirSync(join(md, 'new')), []);
});

test('copyFdToFd copies everything through small chunks and returns the byte count', (t) => {
  const dir = tempDir(t);
  const data = Buffer.alloc(100_003);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
  const src = fileWith(t, dir, data);
  const out = openSync(join(dir, 'out'), 'w');
  writeSync(out, 'H');
  t.is(copyFdToFd({ fd: src, offset: 0 }, out, { chunkBytes: 4096 }), data.length);
  closeSync(out);
  t.deepEqual(readFileSync(join(dir, 'out')), Buffer.concat([Buffer.from('H'), data]));
});

test('a 100 MiB message is delivered byte for byte', async (t) => {
  const dir = tempDir(t);
  const md = plainMaildir(dir);
  const path = join(dir, 'big.eml');
  const wfd = openSync(path, 'w');
  const block = Buffer.alloc(1024 * 1024);
  const want = createHash('sha256').update(HEADERS);
  for (let i = 0; i < 100; i++) {
    block.fill(`line ${i} of a very large message\n`);
    writeSync(wfd, block);
    want.update(block);
  }
  closeSync(wfd);
  const fd = openSync(path, 'r');
  t.teardown(() => closeSync(fd));
  const d = deliverToMaildir(md, { fd, offset: 0 }, OPTS);
  t.is(d.sizeBytes, HEADERS.length + 100 * 1024 * 1024);
  t.true(d.name.endsWith(`,S=${d.sizeBytes}`));
  const got = createHash('sha256');
  const rfd = openSync(d.path, 'r');
  for (;;) {
    const n = readSync(rfd, block, 0, block.length, null);
    if (n === 0) break;
    got.update(block.subarray(0, n));
  }
  closeSync(rfd);
  t.is(got.digest('hex'), want.digest('hex'));
  t.false(existsSync(join(md, 'tmp', d.name.split(',')[0]!)));
});

test('delivery errors are MailErrors with one-line messages', (t) => {
  const dir = tempDir(t);
  const err = t.throws(() => deliverToMaildir(join(dir, 'nope'), { fd: 0, offset: 0 }, OPTS));
  t.true(err instanceof MailError);
  t.false(err.message.includes('\n'));
});
