import test from 'ava';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { greeted } from './harness.ts';
import { world } from './world.ts';

test('a data block that stops coming times out with 3.106 and writes nothing (C waits forever, P5)', async (t) => {
  const w = await world(t, '', { limits: { idleTimeoutMs: 300 } });
  const c = await w.as('postmaster');
  const path = join(w.dirs['example.com']!, '.qmail-stall');
  writeFileSync(path, 'old\n');
  c.send('write_file example.com/.qmail-stall');
  c.send('&bob@example.com');
  t.is(await c.line(), '-ERR 3.106 Read Timeout');
  await c.closed();
  t.is(readFileSync(path, 'latin1'), 'old\n');
  const m = await w.as('postmaster');
  m.send('mod_user bob@example.com');
  t.is(await m.line(), '+OK ');
  m.send('comment half a block');
  t.is(await m.line(), '-ERR 3.106 Read Timeout');
  t.is((await w.backend.getUser('example.com', 'bob'))?.gecos, 'bob');
});

test('a write_file larger than the limit is refused after its block, and the old file stays', async (t) => {
  const w = await world(t, '', { limits: { maxFileBytes: 1000 } });
  const c = await w.as('postmaster');
  c.send('write_file example.com/big');
  for (let i = 0; i < 50; i++) c.send('x'.repeat(100));
  c.send('.');
  t.is(await c.line(), '-ERR 0.2002 File too large');
  t.false(existsSync(join(w.dirs['example.com']!, 'big')));
  t.is((await c.command('quit')).status, '+OK ');
});

test('a client that stops reading is dropped after the write timeout; the daemon goes on serving', async (t) => {
  const w = await world(t, '', { limits: { writeTimeoutMs: 300 } });
  const dom = w.dirs['example.com']!;
  writeFileSync(join(dom, 'huge'), `${'y'.repeat(1023)}\n`.repeat(32 * 1024)); // 32 MiB
  const c = await w.as('postmaster');
  c.socket.pause();
  c.send('read_file example.com/huge');
  for (let i = 0; i < 400 && !w.io.lines.some((l) => /end conn=\d+ reason=write-timeout/.test(l)); i++) await new Promise((r) => setTimeout(r, 25));
  t.true(w.io.lines.some((l) => /end conn=\d+ reason=write-timeout/.test(l)));
  const d = await greeted(w.server);
  t.is((await d.command('quit')).status, '+OK ');
  c.close();
});
