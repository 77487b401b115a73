import test from 'ava';
import { PassThrough } from 'node:stream';
import { LINE_MAX_BYTES, LineReader, ReplyWriter, WriteTimeoutError, err, libErr, parseRequest, splitOptionLine, statusLine } from '../../lib/daemon/protocol.ts';

async function readAll(input: string | Buffer[], timeoutMs = 1000) {
  const stream = new PassThrough();
  const reader = new LineReader(stream);
  for (const chunk of typeof input === 'string' ? [Buffer.from(input, 'latin1')] : input) stream.write(chunk);
  stream.end();
  const events = [];
  for (;;) {
    const e = await reader.next(timeoutMs);
    events.push(e);
    if (e.kind === 'eof' || e.kind === 'timeout') return events;
  }
}

test('lines end at LF; a CR before it is dropped and a CR after it starts the next line (LF-CR clients)', async (t) => {
  const events = await readAll('a\nb\r\nslogin u p\n\rquit\n\r');
  t.deepEqual(events, [
    { kind: 'line', text: 'a' },
    { kind: 'line', text: 'b' },
    { kind: 'line', text: 'slogin u p' },
    { kind: 'line', text: '\rquit' },
    { kind: 'line', text: '' },
    { kind: 'eof' },
  ]);
});

test('a line split across chunks is joined, and bytes pass through as latin1', async (t) => {
  const events = await readAll([Buffer.from('log'), Buffer.from([0x69, 0x6e, 0x20, 0xc3, 0xa9]), Buffer.from('\r'), Buffer.from('\n')]);
  t.deepEqual(events, [{ kind: 'line', text: 'login \xc3\xa9' }, { kind: 'eof' }]);
});

test('a line of exactly LINE_MAX_BYTES is accepted, with or without CR; one byte more is overlong', async (t) => {
  const max = 'x'.repeat(LINE_MAX_BYTES);
  const events = await readAll(`${max}\n${max}\r\n${max}y\n${max}y\r\nok\n`);
  t.deepEqual(events, [
    { kind: 'line', text: max },
    { kind: 'line', text: max },
    { kind: 'overlong', bytes: LINE_MAX_BYTES + 1 },
    { kind: 'overlong', bytes: LINE_MAX_BYTES + 2 }, // counted with its CR
    { kind: 'line', text: 'ok' },
    { kind: 'eof' },
  ]);
});

test('an overlong line is discarded up to its LF however long it is, and the next line is intact', async (t) => {
  const chunks = [Buffer.alloc(100_000, 0x41), Buffer.alloc(100_000, 0x42), Buffer.from('\nquit\n')];
  const events = await readAll(chunks);
  t.deepEqual(events, [{ kind: 'overlong', bytes: 200_000 }, { kind: 'line', text: 'quit' }, { kind: 'eof' }]);
});

test('a last line without LF is still delivered at end of input', async (t) => {
  t.deepEqual(await readAll('help\nquit'), [{ kind: 'line', text: 'help' }, { kind: 'line', text: 'quit' }, { kind: 'eof' }]);
});

test('next() times out when no complete line arrives in time', async (t) => {
  const stream = new PassThrough();
  const reader = new LineReader(stream);
  stream.write('partial');
  t.deepEqual(await reader.next(20), { kind: 'timeout' });
  stream.write(' line\n');
  t.deepEqual(await reader.next(1000), { kind: 'line', text: 'partial line' });
});

test('a client that pipelines many lines is paused, not buffered without bound', async (t) => {
  const stream = new PassThrough();
  const reader = new LineReader(stream);
  stream.write(Buffer.from('help\n'.repeat(10_000)));
  await new Promise((r) => setImmediate(r));
  t.true(stream.isPaused());
  let n = 0;
  for (; n < 10_000; n++) t.is((await reader.next(1000)).kind, 'line');
  t.is(n, 10_000);
});

test('parseRequest lower-cases the verb, splits on white space and keeps the rest of the line for passwords', (t) => {
  const r = parseRequest('LOGIN alice@example.test  two  spaces ')!;
  t.is(r.verb, 'login');
  t.deepEqual(r.args, ['alice@example.test', 'two', 'spaces']);
  t.is(r.rest(1), ' two  spaces ');
  t.is(parseRequest('slogin a@b.c')!.rest(1), '');
  t.is(parseRequest('slogin a@b.c ')!.rest(1), '');
  t.is(parseRequest('\rslogin u p')!.verb, 'slogin');
  t.is(parseRequest('add_user bob@x.y pass word')!.rest(1), 'pass word');
  t.is(parseRequest(' \t\r'), undefined);
  t.is(parseRequest(''), undefined);
});

test('option lines split at the first space, = or : and keep spaces in the value', (t) => {
  t.deepEqual(splitOptionLine('clear_text_password New Pass 2'), { name: 'clear_text_password', value: 'New Pass 2' });
  t.deepEqual(splitOptionLine('no_pop=1'), { name: 'no_pop', value: '1' });
  t.deepEqual(splitOptionLine('quota:10M'), { name: 'quota', value: '10M' });
  t.deepEqual(splitOptionLine('comment'), { name: 'comment', value: undefined });
  t.deepEqual(splitOptionLine('comment '), { name: 'comment', value: undefined });
});

test('reply status lines have the exact forms of spec §2.2', (t) => {
  t.is(statusLine({ kind: 'ok' }), '+OK ');
  t.is(statusLine({ kind: 'data', lines: [] }), '+OK+');
  t.is(statusLine(err(5, 102)), '-ERR 5.102 Too many invalid login attempts');
  t.is(statusLine(err(9, 3401)), '-ERR 9.3401 Not Authorized');
  t.is(statusLine(err(20, 1501)), '-ERR 20.1501 Invalid Directory.  .. not allowed in path');
  t.is(statusLine(libErr(305, 'Username exists')), '-ERR 0.305 Username exists');
  t.is(statusLine(libErr(305, 'two\nlines')), '-ERR 0.305 two lines');
  t.is(statusLine(err(37, 3002)), '-ERR 37.3002 IP Required');
  t.is(statusLine(err(38, 3104)), '-ERR 38.3104 Invalid Domain');
  t.is(statusLine(err(9, 508, 'no_pop')), '-ERR 9.508 Not Authorized (no_pop)');
});

test('a reply the peer does not take within the write timeout is an error, not a buffered megabyte', async (t) => {
  const out = new PassThrough({ highWaterMark: 16 });
  const writer = new ReplyWriter(out, 30);
  await t.throwsAsync(() => writer.line('x'.repeat(1000)), { instanceOf: WriteTimeoutError });
});

test('replies to a closed output are dropped quietly', async (t) => {
  const out = new PassThrough();
  const writer = new ReplyWriter(out, 1000);
  out.destroy();
  await t.notThrowsAsync(() => writer.line('+OK '));
  t.true(writer.isClosed);
});
