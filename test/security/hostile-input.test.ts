// Hostile input at every entry point a caller controls: 10,000 generated cases each in-process, and
// a sample through the built executables. fd 3 of vchkpw has its own suite (test/auth/vchkpw-fuzz.test.ts:
// 10,000 in-process, 200 through dist/bin/vchkpw); here: the admin tools' argv, vdelivermail's
// qmail-local environment, and message bodies (NUL bytes, very long lines, no final newline, invalid
// UTF-8). Names carry `../`, `/`, `%`, upper case and dots. No crash, no stack trace, only the
// documented exit codes, every stored message byte for byte, nothing touched outside the domain.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { captureIo } from '../../lib/cli/agent.ts';
import { loadConfig } from '../../lib/config.ts';
import { vdelivermail } from '../../lib/deliver/vdelivermail.ts';
import { PROJECT_ROOT } from '../helpers/dist.ts';
import { DOMAIN, hostileArgv, hostileBody, hostileQmailEnv } from '../helpers/hostile.ts';
import { qmailLocalEnv } from '../helpers/qmail-env.ts';
import { FAST_ROOT, listPaths, makeWorld, pool, runBuilt, summarize, TRACE, type World } from '../helpers/reliability.ts';

const CASES = 10_000;
const ADMIN_CODES_MAX = 255;
const DELIVERY_CODES = new Set([0, 99, 100, 111]);
const RECIPIENTS = ['box', 'alice', 'bob', 'postmaster'];
/** Every mailbox of the world: a HOST of other.test is that domain's mail, and may land there. */
const MAILBOXES = [...RECIPIENTS.map((u) => [DOMAIN, u] as const), ['other.test', 'carol'] as const, ['other.test', 'postmaster'] as const];
let trials = 0;
let failures = 0;
const tally = (n: number, bad: number) => {
  trials += n;
  failures += bad;
};

/** A world alone in a cage directory, so anything made next to it (a `../` escape) shows. */
async function caged(t: ExecutionContext, conf = 'hash-scheme = md5\n'): Promise<{ w: World; cage: string }> {
  const cage = mkdtempSync(join(FAST_ROOT, 'vpop-cage-'));
  chmodSync(cage, 0o755); // deliveries run as uid 89
  t.teardown(() => rmSync(cage, { recursive: true, force: true }));
  const w = makeWorld(t, { base: cage, conf });
  await w.addDomain(DOMAIN, 'Hostile-pm-pw1');
  await w.addDomain('other.test', 'Other-pm-pw1');
  for (const u of ['alice', 'bob', 'box']) await w.addUser(`${u}@${DOMAIN}`, `Hostile-${u}-pw1`, { quota: '50000000S' });
  await w.addUser(`carol@other.test`, 'Other-carol-pw1');
  return { w, cage };
}

/** Paths of the world outside the parts a tool may change (domains, assign, control files, locks). */
function outsideTheStores(w: World): string[] {
  const allowed = [join(w.vhome, 'domains'), join(w.qhome, 'users'), join(w.qhome, 'control'), join(w.vhome, 'locks'), join(w.vhome, 'etc')];
  return listPaths(w.root).filter((p) => !allowed.some((a) => p === a || p.startsWith(`${a}/`))).sort();
}

/** Paths of the world outside the accounts' Maildirs, with sizes: a delivery may change nothing there. */
function outsideTheMailboxes(w: World, msgs: string): string[] {
  const maildirs = MAILBOXES.map(([d, u]) => join(w.domainDir(d), u, 'Maildir'));
  return listPaths(w.root)
    .filter((p) => !maildirs.some((m) => p.startsWith(`${m}/`)) && !p.startsWith(`${msgs}/`) && p !== msgs && !p.startsWith(join(w.vhome, 'etc')))
    .map((p) => {
      const st = statSync(p);
      return st.isDirectory() ? p : `${p} ${st.size}`;
    })
    .sort();
}

test(`${CASES.toLocaleString('en')} generated argv through the admin tools in-process: codes 0-255, no trace, nothing made outside ~vpopmail/domains and the qmail files`, async (t) => {
  t.timeout(8 * 60_000);
  const { w, cage } = await caged(t);
  const before = outsideTheStores(w);
  const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'test/helpers/argv-fuzz-child.ts'), w.vhome, w.qhome, cage, '1', String(CASES)], {
    cwd: PROJECT_ROOT, // where --import tsx resolves
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: '/usr/bin:/bin', HOME: w.root },
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  t.is(code, 0, err.slice(0, 2000));
  const result = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { cases: number; codes: Record<string, number>; problems: string[]; examples: string[] };
  t.deepEqual(result.problems, []);
  t.deepEqual(outsideTheStores(w), before, 'nothing appeared or went outside the stores');
  const byTool = new Map<string, number>();
  for (const [k, n] of Object.entries(result.codes)) byTool.set(k.split(' ')[0]!, (byTool.get(k.split(' ')[0]!) ?? 0) + n);
  t.log(`admin argv: ${result.cases} cases: ${[...byTool].map(([k, n]) => `${k} ${n}`).join(', ')}`);
  t.true((result.codes['vadduser 0'] ?? 0) > 0 && Object.keys(result.codes).length > 12, 'the generator reaches successes and many refusals');
  tally(result.cases, result.problems.length);
});

interface DeliveryCase {
  readonly env: Record<string, string>;
  readonly body: Buffer;
  readonly args: readonly string[];
}

/** Run deliveries in-process; every stored message must end with its body, byte for byte. */
async function deliveries(t: ExecutionContext, label: string, make: (i: number, dir: string) => DeliveryCase): Promise<void> {
  const { w, cage } = await caged(t, '');
  const dir = w.domainDir(DOMAIN);
  const msgs = join(w.root, 'msgs');
  mkdirSync(msgs);
  const outsideBefore = outsideTheMailboxes(w, msgs);
  const domainEntries = readdirSync(dir).sort();
  const config = loadConfig(w.env);
  const codes = new Map<number, number>();
  const problems: string[] = [];
  let stored = 0;
  for (let i = 0; i < CASES && problems.length < 30; i++) {
    const c = make(i, dir);
    const file = join(msgs, 'm');
    writeFileSync(file, c.body);
    const fd = openSync(file, 'r');
    const io = captureIo();
    let code: number;
    try {
      code = await vdelivermail({ argv: c.args, env: c.env, config, io, stdinFd: fd, cwd: dir, hostname: 'mail.test', pid: process.pid, now: Date.now, tmpDir: msgs });
    } catch (err) {
      problems.push(`case ${i}: threw ${String(err)}`);
      continue;
    } finally {
      closeSync(fd);
    }
    codes.set(code, (codes.get(code) ?? 0) + 1);
    const text = io.out + io.err;
    const what = `case ${i} (EXT=${JSON.stringify(c.env['EXT'])} HOST=${JSON.stringify(c.env['HOST'])} body ${c.body.length} bytes)`;
    if (!DELIVERY_CODES.has(code)) problems.push(`${what}: exit ${code}`);
    if (TRACE.test(text)) problems.push(`${what}: a trace: ${text.slice(0, 300)}`);
    if (code === 111) problems.push(`${what}: deferred for its input (qmail would retry it for a week): ${text.trim().slice(0, 200)}`);
    let here = 0;
    for (const [d, u] of MAILBOXES) {
      const newDir = join(w.domainDir(d), u, 'Maildir', 'new');
      for (const f of readdirSync(newDir)) {
        const got = readFileSync(join(newDir, f));
        here++;
        if (got.length < c.body.length || !got.subarray(got.length - c.body.length).equals(c.body)) problems.push(`${what}: ${u}/new/${f} does not end with the message as sent`);
        else if (got.subarray(0, got.length - c.body.length).includes(0)) problems.push(`${what}: a NUL in the headers we added`);
        unlinkSync(join(newDir, f));
      }
    }
    stored += here;
    if (here > 1) problems.push(`${what}: stored ${here} times`);
    if (i % 1000 === 999) {
      const now = outsideTheMailboxes(w, msgs);
      if (now.join('\n') !== outsideBefore.join('\n')) problems.push(`after case ${i}: something outside the Maildirs changed: ${now.filter((p) => !outsideBefore.includes(p)).slice(0, 5).join(', ')}`);
    }
  }
  t.deepEqual(problems, []);
  t.deepEqual(readdirSync(dir).sort(), domainEntries, 'no directory was made for a name that is no account');
  t.deepEqual(readdirSync(cage), [w.root.split('/').pop()], 'nothing next to the world');
  t.deepEqual(outsideTheMailboxes(w, msgs), outsideBefore, "nothing outside the accounts' Maildirs changed");
  t.log(`${label}: ${CASES} cases, ${stored} stored; exit codes ${[...codes].map(([c, n]) => `${c}×${n}`).join(' ')}`);
  t.true(stored > 0 && (codes.get(100) ?? 0) > 0, 'the generator reaches deliveries and refusals');
  tally(CASES, problems.length);
}

test(`${CASES.toLocaleString('en')} generated qmail-local environments through vdelivermail in-process: codes 0/99/100, no trace, nothing touched outside the mailboxes`, async (t) => {
  t.timeout(8 * 60_000);
  await deliveries(t, 'qmail-local environment', (i, dir) => ({
    env: hostileQmailEnv(i, dir),
    body: Buffer.from(`Subject: env case ${i}\n\nhello\n`),
    args: ['', i % 10 === 0 ? 'delete' : i % 10 === 1 ? join(dir, 'postmaster') : 'bounce-no-mailbox'],
  }));
});

test(`${CASES.toLocaleString('en')} generated message bodies (NUL, long lines, no final newline, bad UTF-8) through vdelivermail in-process: stored byte for byte`, async (t) => {
  t.timeout(8 * 60_000);
  await deliveries(t, 'message bodies', (i, dir) => ({
    env: qmailLocalEnv(RECIPIENTS[i % RECIPIENTS.length]!, DOMAIN, dir),
    body: hostileBody(i),
    args: ['', 'bounce-no-mailbox'],
  }));
});

test('a sample through the built executables: 150 admin commands and 150 deliveries (as uid 89) end with documented codes, no trace, mail intact, nothing outside touched', async (t) => {
  t.timeout(8 * 60_000);
  const { w, cage } = await caged(t);
  const before = outsideTheStores(w);
  const problems: string[] = [];
  await pool(
    4,
    Array.from({ length: 150 }, (_, i) => async () => {
      const { tool, argv } = hostileArgv(50_000 + i, true);
      const r = await runBuilt(tool, argv, { env: w.env, cwd: w.root });
      if (r.signal !== null || r.code === null || r.code > ADMIN_CODES_MAX) problems.push(`${tool} ${JSON.stringify(argv)}: exit ${r.code} ${r.signal}`);
      if (TRACE.test(r.stdout + r.stderr)) problems.push(`${tool} ${JSON.stringify(argv)}: a trace: ${(r.stdout + r.stderr).slice(0, 300)}`);
    }),
  );
  const dir = w.domainDir(DOMAIN);
  for (let i = 0; i < 150; i++) {
    const env = i % 2 === 0 ? hostileQmailEnv(60_000 + i, dir) : qmailLocalEnv('box', DOMAIN, dir);
    const body = i % 2 === 0 ? Buffer.from('Subject: x\n\nhi\n') : hostileBody(60_000 + i);
    const file = join(w.root, `m${i}`);
    writeFileSync(file, body, { mode: 0o644 });
    for (const [d, u] of MAILBOXES) for (const f of readdirSync(join(w.domainDir(d), u, 'Maildir', 'new'))) unlinkSync(join(w.domainDir(d), u, 'Maildir', 'new', f));
    const r = await runBuilt('vdelivermail', ['', 'bounce-no-mailbox'], { stdinFile: file, cwd: dir, uid: 89, gid: 89, env: { ...w.env, ...env } });
    const what = `delivery ${i} (EXT=${JSON.stringify(env['EXT'])} HOST=${JSON.stringify(env['HOST'])})`;
    if (r.signal !== null || r.code === null || !DELIVERY_CODES.has(r.code) || r.code === 111) problems.push(`${what}: exit ${r.code} ${r.signal} ${r.stdout.slice(0, 200)}`);
    if (TRACE.test(r.stdout + r.stderr)) problems.push(`${what}: a trace`);
    if (i % 2 === 1 && r.code === 0) {
      // An empty message is dropped without a word, as C does (lib/deliver/instruction.ts); any other is stored once, whole.
      const newDir = join(dir, 'box', 'Maildir', 'new');
      const files = readdirSync(newDir);
      const got = files.length === 1 ? readFileSync(join(newDir, files[0]!)) : Buffer.alloc(0);
      if (files.length !== (body.length === 0 ? 0 : 1) || !got.subarray(got.length - body.length).equals(body)) problems.push(`${what}: not stored whole`);
      for (const f of files) unlinkSync(join(newDir, f));
    }
  }
  t.deepEqual(problems, []);
  t.deepEqual(readdirSync(cage), [w.root.split('/').pop()]);
  t.deepEqual(outsideTheStores(w).filter((p) => !/\/m\d+$/.test(p)), before);
  tally(300, problems.length);
});

test.after.always('hostile input: one line for the run report', (t) => {
  summarize(t as unknown as ExecutionContext, 'hostile input (argv, qmail-local environment, bodies; fd 3 in test/auth/vchkpw-fuzz.test.ts)', trials, failures);
});
