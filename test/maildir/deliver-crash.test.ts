// Crash safety of deliverToMaildir: a process that dies at any step never leaves a partial message in new/.
import test from 'ava';
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { childArgs, libUrl, plainMaildir, readWithPython, runChildSync, tempDir } from '../helpers/maildir-tools.ts';
import { PROJECT_ROOT } from '../helpers/dist.ts';

const HEADERS = 'Return-Path: <a@b.test>\nDelivered-To: joe@example.test\n';

function bodyOf(bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) b[i] = i % 64 === 63 ? 10 : 65 + (i % 26);
  return b;
}

/** Child code: deliver fd 0 into `maildir`, optionally through faultyDurable(fault). Prints the result. */
function deliverCode(maildir: string, fault: { op: string; n: number } | undefined, chunkBytes: number, offset: number | undefined): string {
  return `
    const { deliverToMaildir } = await import(${JSON.stringify(libUrl('lib/maildir/deliver.ts'))});
    const { faultyDurable, DURABLE } = await import(${JSON.stringify(libUrl('lib/fs/durable.ts'))});
    const fault = ${JSON.stringify(fault ?? null)};
    const durable = fault === null ? DURABLE : faultyDurable(fault);
    const d = deliverToMaildir(${JSON.stringify(maildir)}, { fd: 0${offset === undefined ? '' : `, offset: ${offset}`} }, {
      headers: Buffer.from(${JSON.stringify(HEADERS)}), nowMs: Date.now(), pid: process.pid, host: 'crash.test',
      durable, chunkBytes: ${chunkBytes},
    });
    process.stdout.write(JSON.stringify(d));
  `;
}

test('killed at every write, fsync and link in turn, new/ holds nothing or the whole message', (t) => {
  const dir = tempDir(t);
  const body = bodyOf(5000);
  const full = Buffer.concat([Buffer.from(HEADERS), body]);
  const msgPath = join(dir, 'msg.eml');
  writeFileSync(msgPath, body);
  const outcomes: string[] = [];
  let n = 1;
  for (; n < 40; n++) {
    const md = plainMaildir(dir, `Maildir${n}`);
    const fd = openSync(msgPath, 'r');
    const r = runChildSync(deliverCode(md, { op: 'any', n }, 1000, 0), { stdin: fd });
    closeSync(fd);
    const inNew = readdirSync(join(md, 'new'));
    for (const name of inNew) t.deepEqual(readFileSync(join(md, 'new', name)), full, `op ${n}: ${name} is complete`);
    t.true(inNew.length <= 1);
    t.true(readdirSync(join(md, 'tmp')).length <= 1);
    if (r.status === 0) {
      t.is(inNew.length, 1);
      t.is(JSON.parse(r.stdout).sizeBytes, full.length);
      t.deepEqual(readdirSync(join(md, 'tmp')), [], 'a finished delivery leaves tmp/ empty');
      break;
    }
    t.is(r.signal, 'SIGKILL', `op ${n}: ${r.stderr}`);
    outcomes.push(`${n}:${inNew.length}`);
  }
  // 1 header write + 5 body chunks, fsync, link, fsync new/: the 10th operation does not exist.
  t.is(n, 10);
  // Dying before the link leaves new/ empty; dying at the final directory fsync leaves the (complete) message.
  t.deepEqual(outcomes, ['1:0', '2:0', '3:0', '4:0', '5:0', '6:0', '7:0', '8:0', '9:1']);
});

test('a delivery from a pipe completes, and Python reads the same bytes', async (t) => {
  const dir = tempDir(t);
  const md = plainMaildir(dir);
  const body = bodyOf(300_000);
  const child = spawn(process.execPath, childArgs(deliverCode(md, undefined, 4096, undefined)), {
    cwd: PROJECT_ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  child.stdin.end(body);
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  t.is(status, 0, err);
  const d = JSON.parse(out) as { path: string; sizeBytes: number };
  t.is(d.sizeBytes, HEADERS.length + body.length);
  t.deepEqual(readFileSync(d.path), Buffer.concat([Buffer.from(HEADERS), body]));
  const seen = readWithPython(md);
  t.is(seen.count, 1);
  t.is(seen.messages[0]!.size, d.sizeBytes);
});

test('kill -9 in the middle of a delivery leaves new/ empty', async (t) => {
  const dir = tempDir(t);
  const md = plainMaildir(dir);
  const child = spawn(process.execPath, childArgs(deliverCode(md, undefined, 4096, undefined)), {
    cwd: PROJECT_ROOT,
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  const closed = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
  child.stdin.on('error', () => {}); // EPIPE after the kill
  child.stdin.write(bodyOf(50_000));
  // Wait until the child has written part of the message into tmp/, then kill it mid-copy.
  let partial = 0;
  for (let i = 0; i < 600 && partial < 50_000; i++) {
    await new Promise((r) => setTimeout(r, 50));
    for (const name of readdirSync(join(md, 'tmp'))) partial = statSync(join(md, 'tmp', name)).size;
  }
  t.true(partial >= 50_000, 'the child started writing the message');
  child.kill('SIGKILL');
  t.is(await closed, 'SIGKILL');
  t.deepEqual(readdirSync(join(md, 'new')), []);
  t.is(readWithPython(md).count, 0);
});
