import test from 'ava';
import { existsSync, mkdirSync, readFileSync, utimesSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TempError } from '../../lib/exit.ts';
import { acquireLock, withLock } from '../../lib/store/lock.ts';
import { iterateVpasswd } from '../../lib/store/vpasswd.ts';
import { tempDir } from '../helpers/cdb-tools.ts';
import { inBatches, runChild, startChild, untilOutput, waitChild } from '../helpers/spawn-child.ts';
import { cdbLines, vpasswdLines } from '../helpers/vpasswd-tree.ts';

test('two processes contending for one lock never hold it at the same time', async (t) => {
  const dir = tempDir(t);
  const lock = join(dir, '.vpasswd.lock');
  const log = join(dir, 'log');
  const results = await Promise.all([runChild(['-', 'log', lock, log, '40']), runChild(['-', 'log', lock, log, '40'])]);
  for (const r of results) t.is(r.code, 0, r.stderr);
  const lines = readFileSync(log, 'latin1').trim().split('\n');
  t.is(lines.length, 160);
  for (let i = 0; i < lines.length; i += 2) {
    const [a, pa] = lines[i]!.split(' ');
    const [b, pb] = lines[i + 1]!.split(' ');
    t.is(a, 'start');
    t.is(b, 'end');
    t.is(pa, pb, `lines ${i + 1}-${i + 2} interleave`);
  }
  t.true(existsSync(lock)); // C's lock file stays, as C leaves it
  t.false(existsSync(`${lock}.pid`));
});

test('a holder killed with SIGKILL does not keep the next one out', async (t) => {
  const lock = join(tempDir(t), '.vpasswd.lock');
  const holder = startChild(['-', 'hold', lock]);
  const done = waitChild(holder);
  await untilOutput(holder, 'locked');
  t.throws(() => acquireLock(lock, { timeoutMs: 200 }), { instanceOf: TempError, message: /File busy try again later!/ });
  holder.kill('SIGKILL');
  t.is((await done).signal, 'SIGKILL');
  // The dead holder's owner file is still there; the next locker breaks it instead of waiting.
  t.true(existsSync(`${lock}.pid`));
  const l = acquireLock(lock, { timeoutMs: 10_000 });
  l.release();
  t.false(existsSync(`${lock}.pid`));
});

test('a waiter does not write temp files beside the lock while the holder lives', async (t) => {
  const dir = tempDir(t);
  const lock = join(dir, '.vpasswd.lock');
  const holder = startChild(['-', 'hold', lock]);
  const done = waitChild(holder);
  await untilOutput(holder, 'locked');
  const ours = `.vpasswd.lock.pid.${process.pid}.`;
  const made = new Set<string>();
  const watcher = watch(dir, (_event, name) => {
    if (name !== null && String(name).startsWith(ours)) made.add(String(name));
  });
  // About 15 waits in 600 ms: a waiter that tried each time would make as many temp files.
  t.throws(() => acquireLock(lock, { timeoutMs: 600 }), { instanceOf: TempError });
  await new Promise((r) => setTimeout(r, 200)); // the watcher's events arrive once the loop runs
  watcher.close();
  holder.kill('SIGKILL');
  await done;
  t.is(made.size, 1, [...made].join(' '));
});

test('fifty concurrent adders lose no user, and vpasswd.cdb agrees with vpasswd', async (t) => {
  const dir = join(tempDir(t), 'example.test');
  mkdirSync(dir);
  const names = Array.from({ length: 50 }, (_, i) => `user${String(i).padStart(2, '0')}`);
  const results = await inBatches(
    50,
    names.map((n) => () => runChild(['-', 'add', dir, n])),
  );
  for (const r of results) t.is(r.code, 0, r.stderr);
  t.deepEqual(
    [...iterateVpasswd(dir)].map((e) => e.name),
    names,
  );
  t.deepEqual(cdbLines(dir), vpasswdLines(dir));
});

test('an owner file naming a dead process is broken at once', (t) => {
  const lock = join(tempDir(t), 'x.lock');
  writeFileSync(`${lock}.pid`, '999999999 12345\n');
  withLock(lock, () => t.pass(), { timeoutMs: 5_000 });
});

test('an owner file with our own pid but another start time belongs to an earlier process and is broken', (t) => {
  const lock = join(tempDir(t), 'x.lock');
  writeFileSync(`${lock}.pid`, `${process.pid} 1\n`);
  withLock(lock, () => t.pass(), { timeoutMs: 5_000 });
});

test('an empty owner file is respected while fresh and broken once it is old (power cut after link)', (t) => {
  const lock = join(tempDir(t), 'x.lock');
  writeFileSync(`${lock}.pid`, '');
  t.throws(() => acquireLock(lock, { timeoutMs: 100 }), { instanceOf: TempError });
  const old = new Date(Date.now() - 60_000);
  utimesSync(`${lock}.pid`, old, old);
  withLock(lock, () => t.pass(), { timeoutMs: 5_000 });
});

test('a lock in a directory that does not exist is a TempError', (t) => {
  t.throws(() => acquireLock(join(tempDir(t), 'no', 'x.lock'), { timeoutMs: 100 }), { instanceOf: TempError, message: /unable to lock/ });
});

test('the lock is released when the function throws', (t) => {
  const lock = join(tempDir(t), 'x.lock');
  t.throws(() =>
    withLock(lock, () => {
      throw new Error('boom');
    }),
  );
  t.false(existsSync(`${lock}.pid`));
  withLock(lock, () => t.pass(), { timeoutMs: 100 });
});
