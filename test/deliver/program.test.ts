import test from 'ava';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { commandOutcome, runProgram } from '../../lib/deliver/program.ts';
import { forwardMessage } from '../../lib/deliver/forward.ts';
import { openMessage } from '../../lib/deliver/message.ts';
import { tempDir } from '../helpers/maildir-tools.ts';

test('program exit codes read as qmail-command(8): 0 go on, 99 stop, the permanent set 100, all else 111', (t) => {
  const permanent = new Set([64, 65, 70, 76, 77, 78, 100, 112]);
  for (let code = 0; code < 256; code++) {
    const want = code === 0 ? 0 : code === 99 ? 99 : permanent.has(code) ? 100 : 111;
    t.is(commandOutcome(code, null), want, `exit ${code}`);
  }
  t.is(commandOutcome(null, 'SIGKILL'), 111);
  t.is(commandOutcome(null, 'SIGPIPE'), 111);
  t.is(commandOutcome(null, null), 111);
});

test('a program runs under /bin/sh -c with the message at offset 0, SHELL=/bin/sh, its cwd, SIGPIPE at default', (t) => {
  const dir = tempDir(t);
  const msg = join(dir, 'msg');
  writeFileSync(msg, 'Subject: x\n\nhello\n');
  const fd = openSync(msg, 'r');
  t.teardown(() => closeSync(fd));
  readSync(fd, Buffer.alloc(5), 0, 5, null); // move fd's own offset: the child must not care
  const m = openMessage(fd, { tmpDir: dir, pid: process.pid });
  const out = join(dir, 'out');
  for (let i = 0; i < 2; i++) {
    const child = m.openForChild();
    const r = runProgram({
      command: `cat > ${out}.${i}; echo "$SHELL $(pwd) $V" >> ${out}.${i}; grep '^SigIgn' /proc/self/status >> ${out}.${i}`,
      stdinFd: child,
      cwd: dir,
      env: { PATH: '/usr/bin:/bin', V: 'v1' },
    });
    closeSync(child);
    t.is(r.outcome, 0);
    const text = readFileSync(`${out}.${i}`, 'utf8');
    t.true(text.startsWith(`Subject: x\n\nhello\n/bin/sh ${dir} v1\n`), text);
    const ignored = BigInt(`0x${/SigIgn:\s*([0-9a-f]+)/.exec(text)![1]}`);
    t.is((ignored >> 12n) & 1n, 0n, 'SIGPIPE (13) not ignored');
  }
  m.close();
});

test('a program that exits 99, 100, 111 or dies gives that outcome', (t) => {
  const env = { PATH: '/usr/bin:/bin' };
  const fd = openSync('/dev/null', 'r');
  t.teardown(() => closeSync(fd));
  t.is(runProgram({ command: 'exit 99', stdinFd: fd, cwd: '/', env }).outcome, 99);
  t.is(runProgram({ command: 'exit 77', stdinFd: fd, cwd: '/', env }).outcome, 100);
  t.is(runProgram({ command: 'exit 3', stdinFd: fd, cwd: '/', env }).outcome, 111);
  t.is(runProgram({ command: 'kill -9 $$', stdinFd: fd, cwd: '/', env }).outcome, 111);
  t.is(runProgram({ command: 'true', stdinFd: fd, cwd: '/nonexistent-dir', env }).outcome, 111);
});

test('a pipe on stdin is copied once, re-read from byte 0 by every reader, and the copy leaves no file', (t) => {
  const dir = tempDir(t);
  const src = join(dir, 'src');
  const body = Buffer.alloc(300_000, 0x62);
  writeFileSync(src, body);
  // `cat src |` gives the child-under-test a real pipe on fd 0
  const code = `
    import { openMessage } from ${JSON.stringify(join(import.meta.dirname, '../../lib/deliver/message.ts'))};
    import { readdirSync, readSync, readFileSync, closeSync } from 'node:fs';
    const m = openMessage(0, { tmpDir: ${JSON.stringify(dir)}, pid: process.pid });
    const left = readdirSync(${JSON.stringify(dir)}).filter((f) => f.startsWith('vdelivermail.'));
    const a = m.openForChild(); const b = m.openForChild();
    const buf = Buffer.alloc(10); readSync(a, buf, 0, 10, null);
    const all = readFileSync(b);
    console.log(JSON.stringify({ size: m.sizeBytes, left: left.length, first: buf.toString(), all: all.length }));
    closeSync(a); closeSync(b); m.close();
  `;
  const r = spawnSync('/bin/sh', ['-c', `cat ${src} | ${process.execPath} --import tsx --input-type=module -e "$CODE"`], {
    env: { ...process.env, CODE: code },
    encoding: 'utf8',
    cwd: join(import.meta.dirname, '../..'),
  });
  t.is(r.status, 0, r.stderr);
  t.deepEqual(JSON.parse(r.stdout), { size: 300_000, left: 0, first: 'bbbbbbbbbb', all: 300_000 });
});

function injectScript(dir: string, body: string): string {
  const path = join(dir, 'qmail-inject');
  writeFileSync(path, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return path;
}

test('qmail-inject gets `-- address` and the headers then the whole message, streamed', async (t) => {
  const dir = tempDir(t);
  const log = join(dir, 'log');
  const inject = injectScript(dir, `printf '%s|' "$@" > ${log}; cat >> ${log}`);
  const msg = join(dir, 'msg');
  const big = Buffer.alloc(5 * 1024 * 1024 + 7, 0x78);
  writeFileSync(msg, big);
  const fd = openSync(msg, 'r');
  t.teardown(() => closeSync(fd));
  const r = await forwardMessage({ injectPath: inject, address: '-bob@example.net', headers: Buffer.from('H: 1\n'), source: { fd, sizeBytes: big.length }, cwd: dir, env: { PATH: '/usr/bin:/bin' } });
  t.deepEqual(r, { kind: 'exited', outcome: 0, status: 0, signal: null });
  const got = readFileSync(log);
  t.is(got.subarray(0, 25).toString(), '--|-bob@example.net|H: 1\n');
  t.is(got.length, 25 + big.length);
  t.true(got.subarray(25).equals(big));
});

test('qmail-inject outcomes: its exit read as qmail-command(8), a missing program, a reader that quits early', async (t) => {
  const dir = tempDir(t);
  const msg = join(dir, 'msg');
  writeFileSync(msg, Buffer.alloc(4 * 1024 * 1024, 0x79));
  const fd = openSync(msg, 'r');
  t.teardown(() => closeSync(fd));
  const run = (injectPath: string) =>
    forwardMessage({ injectPath, address: 'a@b.test', headers: Buffer.from(''), source: { fd, sizeBytes: 4 * 1024 * 1024 }, cwd: dir, env: { PATH: '/usr/bin:/bin' } });
  t.like(await run(injectScript(dir, 'cat > /dev/null; exit 100')), { kind: 'exited', outcome: 100 });
  t.like(await run(injectScript(dir, 'cat > /dev/null; exit 111')), { kind: 'exited', outcome: 111 });
  t.like(await run(injectScript(dir, 'cat > /dev/null; exit 2')), { kind: 'exited', outcome: 111 });
  t.like(await run(injectScript(dir, 'cat > /dev/null; kill -9 $$')), { kind: 'exited', outcome: 111, signal: 'SIGKILL' });
  t.like(await run(join(dir, 'no-such-inject')), { kind: 'spawn-failed', code: 'ENOENT' });
  t.like(await run(injectScript(dir, 'exit 0')), { kind: 'write-failed' });
});
