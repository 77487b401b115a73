// The bad days, through the built programs: a full disk (a tmpfs of a few MiB), a read-only file
// system, missing files, files owned by the wrong user, a database that refuses connections or
// never answers. Every program must answer with its documented code (agents: 111, "try again"),
// say in one line what failed, and lose nothing: no account changes half-way, no message is
// bounced for the machine's fault or left half-written in new/.
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { chownSync, chmodSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyPassword } from '../../lib/crypt/index.ts';
import { parseVpasswdLine } from '../../lib/store/vpasswd.ts';
import { checkpassword } from '../helpers/mail-world.ts';
import { qmailLocalEnv } from '../helpers/qmail-env.ts';
import {
  agreedPairProblems,
  assignProblems,
  filesIn,
  makeWorld,
  runBuilt,
  summarize,
  TRACE,
  vpasswdLinesOf,
  type RunResult,
  type World,
} from '../helpers/reliability.ts';

const D = 'faults.test';
let trials = 0;
let failures = 0;

/** Count a scenario for the area's summary line; its assertions are the test's own. */
function tally(t: ExecutionContext, ok: boolean): void {
  trials++;
  if (!ok) failures++;
  void t;
}

async function smallWorld(t: ExecutionContext, base?: string): Promise<World> {
  const w = makeWorld(t, base === undefined ? {} : { base });
  await w.addDomain(D);
  await w.addUser(`alice@${D}`, 'Alice-pw-1', { quota: '1000000S' });
  await w.addUser(`bob@${D}`, 'Bob-pw-1');
  return w;
}

function message(w: World, name: string, bytes: number): string {
  const path = join(w.root, name);
  writeFileSync(path, Buffer.concat([Buffer.from(`Subject: ${name}\n\n`), Buffer.alloc(bytes, 0x6d)]), { mode: 0o644 });
  return path;
}

function deliver(w: World, user: string, file: string, cwd?: string): Promise<RunResult> {
  const dir = join(w.vhome, 'domains', D);
  return runBuilt('vdelivermail', ['', 'bounce-no-mailbox'], { stdinFile: file, cwd: cwd ?? dir, uid: 89, gid: 89, env: { ...w.env, ...qmailLocalEnv(user, D, dir) } });
}

function login(w: World, user: string, password: string): Promise<RunResult> {
  return runBuilt('vchkpw', ['/bin/true'], { fd3: checkpassword(`${user}@${D}`, password), env: { ...w.env, TCPLOCALPORT: '110', TCPREMOTEIP: '192.0.2.77' } });
}

/** One line, no stack trace, no runtime text. */
function isClear(r: RunResult): boolean {
  const text = `${r.stdout}${r.stderr}`;
  return !TRACE.test(text) && text.trim().split('\n').length <= 3;
}

/** The accounts of the world are as they were: both users there, passwords verifying, the pair agreeing. */
function accountsIntact(w: World): string[] {
  const dir = join(w.vhome, 'domains', D);
  const problems = [...agreedPairProblems(dir), ...assignProblems(w.qhome)];
  const lines = vpasswdLinesOf(dir);
  for (const [u, pw] of [['alice', 'Alice-pw-1'], ['bob', 'Bob-pw-1']] as const) {
    const l = lines.find((x) => x.startsWith(`${u}:`));
    if (l === undefined || !verifyPassword(pw, parseVpasswdLine(l).passwd)) problems.push(`${u} is not as it was`);
  }
  return problems;
}

function mount(args: readonly string[]): void {
  const r = spawnSync('mount', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount ${args.join(' ')} failed: ${r.stderr}`);
}

/** A tmpfs of `size` on a fresh directory, unmounted (lazily, so a busy file cannot block it) after the test. */
function tmpfs(t: ExecutionContext, size: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'vpop-tmpfs-'));
  mount(['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir]);
  t.teardown(() => {
    spawnSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Fill the file system holding `dir` to the last byte. */
function fill(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 0x66);
  try {
    for (let size = chunk.length; size >= 1; ) {
      try {
        writeSync(fd, chunk, 0, size);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
        size = Math.floor(size / 2);
      }
    }
  } finally {
    closeSync(fd);
  }
  return path;
}

test('a full disk: every program fails with a one-line ENOSPC reason (vdelivermail 111), no account or message is lost or half-written, and all works again once there is room', async (t) => {
  t.timeout(3 * 60_000);
  const mnt = tmpfs(t, '6m');
  const w = await smallWorld(t, mnt);
  const small = message(w, 'small', 2000);
  const second = message(w, 'm2', 3000);
  t.is((await deliver(w, 'alice', small)).code, 0);
  const filler = fill(mnt);

  const d = await deliver(w, 'alice', second);
  t.is(d.code, 111, d.stdout);
  t.regex(d.stdout, /ENOSPC \(#4\.3\.0\)\n$/);
  const md = join(w.vhome, 'domains', D, 'alice', 'Maildir');
  t.is(filesIn(md).length, 1, 'only the first message is in new/');
  t.deepEqual(filesIn(md, 'tmp'), [], 'no temp file left in tmp/');

  const admin: [string, string[]][] = [
    ['vadduser', [`carol@${D}`, 'Carol-pw-1']],
    ['vpasswd', [`alice@${D}`, 'Alice-pw-2']],
    ['vmoduser', ['-c', 'Changed', `bob@${D}`]],
    ['vdeluser', [`bob@${D}`]],
    ['vsetuserquota', [`alice@${D}`, '2M']],
  ];
  for (const [program, args] of admin) {
    const r = await runBuilt(program, args, { env: w.env });
    t.not(r.code, 0, `${program} cannot succeed on a full disk: ${r.stdout}${r.stderr}`);
    t.regex(`${r.stdout}${r.stderr}`, /ENOSPC/, `${program} says why`);
    t.true(isClear(r), `${program}: ${r.stdout}${r.stderr}`);
    const problems = accountsIntact(w);
    t.deepEqual(problems, [], `${program} left the accounts as they were`);
    tally(t, r.code !== 0 && problems.length === 0);
  }
  t.false(existsSync(join(w.vhome, 'domains', D, 'carol')), 'no half-made account directory');
  // A login still works: lastauth and open-smtp cannot be written, which is logged, not fatal (as C).
  const l = await login(w, 'alice', 'Alice-pw-1');
  t.is(l.code, 0, l.stderr);
  t.true(isClear(l));
  const b = await runBuilt('vpopbull', ['-f', small, D], { env: w.env });
  t.not(b.code, null);
  t.true(isClear(b) || /ENOSPC/.test(b.stderr), `vpopbull: ${b.stdout}${b.stderr}`);
  for (const u of ['alice', 'bob', 'postmaster']) {
    for (const f of filesIn(join(w.vhome, 'domains', D, u, 'Maildir'))) t.true(readFileSync(join(w.vhome, 'domains', D, u, 'Maildir', 'new', f)).length > 0, `${u}: ${f} is not empty`);
  }
  tally(t, d.code === 111 && l.code === 0);

  unlinkSync(filler);
  const again = await deliver(w, 'alice', small);
  t.is(again.code, 0, again.stdout);
  const add = await runBuilt('vadduser', [`carol@${D}`, 'Carol-pw-1'], { env: w.env });
  t.is(add.code, 0, add.stdout + add.stderr);
  t.deepEqual(agreedPairProblems(join(w.vhome, 'domains', D)), []);
  tally(t, again.code === 0 && add.code === 0);
});

test('a read-only file system: admin tools fail with EROFS and change nothing, vdelivermail defers (111), vchkpw still logs in', async (t) => {
  t.timeout(3 * 60_000);
  const mnt = tmpfs(t, '8m');
  const w = await smallWorld(t, mnt);
  const msg = message(w, 'm', 1000);
  mount(['-o', 'remount,ro', mnt]);
  t.teardown(() => spawnSync('mount', ['-o', 'remount,rw', mnt]));
  const d = await deliver(w, 'alice', msg);
  t.is(d.code, 111, d.stdout);
  t.regex(d.stdout, /EROFS \(#4\.3\.0\)\n$/);
  for (const [program, args] of [
    ['vadduser', [`carol@${D}`, 'Carol-pw-1']],
    ['vpasswd', [`alice@${D}`, 'Alice-pw-2']],
    ['vdeluser', [`bob@${D}`]],
  ] as const) {
    const r = await runBuilt(program, args, { env: w.env });
    t.not(r.code, 0, program);
    t.regex(`${r.stdout}${r.stderr}`, /EROFS/, `${program} says why: ${r.stdout}${r.stderr}`);
    t.true(isClear(r));
    tally(t, r.code !== 0);
  }
  const l = await login(w, 'alice', 'Alice-pw-1');
  t.is(l.code, 0, l.stderr);
  mount(['-o', 'remount,rw', mnt]);
  t.deepEqual(accountsIntact(w), []);
  t.deepEqual(filesIn(join(w.vhome, 'domains', D, 'alice', 'Maildir')), []);
  tally(t, d.code === 111 && l.code === 0);
});

interface FileFault {
  readonly title: string;
  readonly apply: (w: World) => void;
  /** vdelivermail's exit code for alice with this fault. */
  readonly deliver: number;
  /** vchkpw's exit code for alice's good password. */
  readonly login: number;
  /** What the delivery output must say, when it fails. */
  readonly says?: RegExp;
  /** Run vdelivermail outside the domain directory (qmail-local could not have entered it). */
  readonly outside?: boolean;
}

const dom = (w: World) => join(w.vhome, 'domains', D);

const FILE_FAULTS: readonly FileFault[] = [
  // qmail reaches vdelivermail only through users/cdb: without it the install is broken, not the address
  { title: 'users/cdb missing', apply: (w) => rmSync(join(w.qhome, 'users', 'cdb')), deliver: 111, login: 111, says: /users\/cdb/ },
  { title: 'vpasswd and vpasswd.cdb missing', apply: (w) => (rmSync(join(dom(w), 'vpasswd')), rmSync(join(dom(w), 'vpasswd.cdb'))), deliver: 111, login: 3, says: /vpasswd/ },
  { title: 'vpasswd.cdb missing (vpasswd is read)', apply: (w) => rmSync(join(dom(w), 'vpasswd.cdb')), deliver: 0, login: 0 },
  { title: 'the home directory missing (made again)', apply: (w) => rmSync(join(dom(w), 'alice'), { recursive: true }), deliver: 0, login: 0 },
  { title: 'maildirsize missing (counted again)', apply: (w) => rmSync(join(dom(w), 'alice', 'Maildir', 'maildirsize'), { force: true }), deliver: 0, login: 0 },
  { title: 'vpopmail.conf missing (defaults)', apply: (w) => rmSync(join(w.vhome, 'etc', 'vpopmail.conf')), deliver: 0, login: 0 },
  // owned by the wrong user: vdelivermail runs as the domain (89), vchkpw as root
  {
    title: 'vpasswd.cdb and vpasswd owned by root, mode 0600',
    apply: (w) => {
      for (const f of ['vpasswd', 'vpasswd.cdb']) chownSync(join(dom(w), f), 0, 0);
    },
    deliver: 111,
    login: 0,
    says: /EACCES/,
  },
  { title: 'the Maildir owned by root, mode 0700', apply: (w) => chownSync(join(dom(w), 'alice', 'Maildir'), 0, 0), deliver: 111, login: 0, says: /EACCES/ },
  { title: 'new/ owned by root, mode 0700', apply: (w) => chownSync(join(dom(w), 'alice', 'Maildir', 'new'), 0, 0), deliver: 111, login: 0, says: /EACCES/ },
  {
    title: 'maildirsize owned by root, mode 0600 (a cache: replaced)',
    apply: (w) => {
      const p = join(dom(w), 'alice', 'Maildir', 'maildirsize');
      writeFileSync(p, '1000000S\n0 0\n');
      chownSync(p, 0, 0);
      chmodSync(p, 0o600);
    },
    deliver: 0,
    login: 0,
  },
  { title: "the user's .qmail owned by root, mode 0600", apply: (w) => writeFileSync(join(dom(w), 'alice', '.qmail'), './Maildir/\n', { mode: 0o600 }), deliver: 111, login: 0, says: /EACCES/ },
  // vchkpw cannot enter the home as the domain's owner: C's exit 6 (chdir failed)
  { title: 'the domain directory owned by root, mode 0700', apply: (w) => chownSync(dom(w), 0, 0), deliver: 111, login: 6, says: /EACCES/, outside: true },
];

for (const f of FILE_FAULTS) {
  test(`${f.title}: vdelivermail exits ${f.deliver}, vchkpw ${f.login}, with a clear message and nothing lost`, async (t) => {
    const w = await smallWorld(t);
    const msg = message(w, 'm', 1500);
    f.apply(w);
    const d = await deliver(w, 'alice', msg, f.outside === true ? w.root : undefined);
    t.is(d.code, f.deliver, `vdelivermail: ${d.stdout}${d.stderr}`);
    t.true(isClear(d), d.stdout);
    if (f.says !== undefined) t.regex(d.stdout, f.says);
    if (d.code !== 0) t.regex(d.stdout, /\(#4\.3\.0\)\n$/, 'a temporary failure in our words ends with its status');
    const md = join(dom(w), 'alice', 'Maildir');
    if (existsSync(join(md, 'new'))) t.is(filesIn(md).length, d.code === 0 ? 1 : 0, 'delivered once, or not at all');
    const l = await login(w, 'alice', 'Alice-pw-1');
    t.is(l.code, f.login, `vchkpw: ${l.stderr}`);
    t.true(isClear(l), l.stderr);
    tally(t, d.code === f.deliver && l.code === f.login);
  });
}

/** A TCP server that takes connections and never says a word: a database that hangs. */
async function silentServer(t: ExecutionContext): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return (server.address() as { port: number }).port;
}

const DB_PASSWORD = 'Db-Secret-9x';

for (const backend of ['mysql', 'pgsql'] as const) {
  for (const state of ['refusing connections', 'never answering'] as const) {
    test(`${backend} ${state}: vchkpw, vdelivermail, vadduser, vuserinfo and vpopbull exit 111 naming the server, never its password, and nothing is stored`, async (t) => {
      t.timeout(3 * 60_000);
      const w = await smallWorld(t);
      const port = state === 'refusing connections' ? 1 : await silentServer(t);
      writeFileSync(join(w.vhome, 'etc', 'backend'), `${backend}\n`);
      const conf = join(w.vhome, 'etc', `vpopmail.${backend}`);
      writeFileSync(conf, `127.0.0.1|${port}|vpopmail|${DB_PASSWORD}|vpopmail\n`, { mode: 0o600 });
      chownSync(conf, 89, 89); // vdelivermail runs as the domain's owner and must read it, as in an install
      const msg = message(w, 'm', 800);
      const runs = await Promise.all([
        login(w, 'alice', 'Alice-pw-1').then((r) => ['vchkpw', r] as const),
        deliver(w, 'alice', msg).then((r) => ['vdelivermail', r] as const),
        runBuilt('vadduser', [`carol@${D}`, 'Carol-pw-1'], { env: w.env }).then((r) => ['vadduser', r] as const),
        runBuilt('vuserinfo', [`alice@${D}`], { env: w.env }).then((r) => ['vuserinfo', r] as const),
        runBuilt('vpopbull', ['-f', msg, D], { env: w.env }).then((r) => ['vpopbull', r] as const),
      ]);
      for (const [program, r] of runs) {
        const text = `${r.stdout}${r.stderr}`;
        t.is(r.code, 111, `${program}: ${text}`);
        t.regex(text, state === 'refusing connections' ? /ECONNREFUSED/ : /time|ETIMEDOUT|timed out/i, `${program} says why: ${text}`);
        t.regex(text, /127\.0\.0\.1/, `${program} names the server`);
        t.false(text.includes(DB_PASSWORD), `${program} never prints the database password`);
        t.true(isClear(r), text);
        tally(t, r.code === 111 && !text.includes(DB_PASSWORD));
      }
      t.deepEqual(filesIn(join(dom(w), 'alice', 'Maildir')), [], 'nothing delivered');
      t.false(existsSync(join(dom(w), 'carol')), 'no half-made account');
    });
  }
}

test.after.always('faults: one line for the run report', (t) => {
  summarize(t as unknown as ExecutionContext, 'faults (disk full, read-only, missing, wrong owner, database down/slow)', trials, failures);
});
