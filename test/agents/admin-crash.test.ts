// Crash tests of vadduser, vdeluser and vmoduser: the program dies (SIGKILL, no cleanup) at each of
// its durable operations in turn (VPOPMAIL_FAULT=any:N, every write, fsync and rename), and at 50
// random moments. Afterwards vpasswd, vpasswd.cdb, users/assign and users/cdb agree, the next
// reader finds one consistent state, and running the command again finishes the job.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { addDomain } from '../../lib/accounts/domains.ts';
import { addUser, deleteUser, modifyUser } from '../../lib/accounts/users.ts';
import { createCdbBackend } from '../../lib/backends/cdb.ts';
import { VA, VpopmailError } from '../../lib/exit.ts';
import { DURABLE, type Durable } from '../../lib/fs/durable.ts';
import { PW_FLAG } from '../../lib/store/limits.ts';
import { checkAssign, checkDomainStore, domainDir, makeHome, programPath, vpasswdText, type Home } from '../helpers/accounts-home.ts';

const DOMAIN = 'crash.test';

interface Scenario {
  readonly program: 'vadduser' | 'vdeluser' | 'vmoduser';
  readonly args: readonly string[];
  /** After the command has run to the end (possibly the second time): is the job done? */
  readonly done: (h: Home, dir: string) => boolean;
  /**
   * The same job again, in-process (the same lib call the tool makes; a second process start per
   * case would double the run time): true when it ran, false when it found the job already done.
   */
  readonly rerun: (h: Home) => Promise<boolean>;
}

/** Run fn; a VpopmailError with `code` means "already done" (false). */
async function unless(code: number, fn: () => Promise<unknown>): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch (err) {
    if (err instanceof VpopmailError && err.code === code) return false;
    throw err;
  }
}

const line = (dir: string, user: string) => vpasswdText(dir).find((l) => l.startsWith(`${user}:`));

const SCENARIOS: readonly Scenario[] = [
  {
    program: 'vadduser',
    args: ['-q', '1M', `newbie@${DOMAIN}`, 'pw-newbie'],
    done: (_h, dir) => line(dir, 'newbie')?.includes(':1048576S:pw-newbie') === true && existsSync(join(dir, 'newbie', 'Maildir', 'new')),
    rerun: (h) => unless(VA.USERNAME_EXISTS, () => addUser(h.ctx, { domain: DOMAIN, user: 'newbie', password: { clear: 'pw-newbie' }, quota: '1048576S' })),
  },
  {
    program: 'vdeluser',
    args: [`victim@${DOMAIN}`],
    done: (_h, dir) => line(dir, 'victim') === undefined,
    rerun: (h) => unless(VA.USER_DOES_NOT_EXIST, () => deleteUser(h.ctx, DOMAIN, 'victim')),
  },
  {
    program: 'vmoduser',
    args: ['-q', '2000000', '-c', 'Changed', '-p', `target@${DOMAIN}`],
    done: (_h, dir) => {
      const f = line(dir, 'target')?.split(':');
      const size = join(dir, 'target', 'Maildir', 'maildirsize');
      return f !== undefined && f[3] === '2' && f[4] === 'Changed' && f[6] === '2000000S' && readFileSync(size, 'latin1').startsWith('2000000S\n');
    },
    rerun: (h) => unless(0, () => modifyUser(h.ctx, DOMAIN, 'target', { quota: '2000000S', gecos: 'Changed', addFlags: PW_FLAG.NO_POP })),
  },
];

/** Setting the stage needs no fsync: nothing crashes then. */
const NO_SYNC: Durable = { ...DURABLE, fsync: () => {} };

async function freshHome(t: ExecutionContext): Promise<{ h: Home; dir: string }> {
  const h = makeHome(t);
  const setup = { ...h.ctx, durable: NO_SYNC, backend: createCdbBackend(h.config, { durable: NO_SYNC }) };
  await addDomain(setup, { domain: DOMAIN, postmaster: { password: { hash: '$1$x$y' } } });
  for (const user of ['victim', 'target', 'bystander']) await addUser(setup, { domain: DOMAIN, user, password: { hash: '$1$x$y' }, quota: '500000S' });
  return { h, dir: domainDir(h, DOMAIN) };
}

// A dead holder's lock owner file (`.vpasswd.lock.pid`) is not listed: the next taker breaks it.
const STRAY = /\.tmp$|\.tmp\.\d+$|\.new$|\.break$|^cdb\.tmp$/;

/** What must hold after a crash, after the next reader, and after the command ran again. */
async function checkAfterCrash(t: ExecutionContext, h: Home, dir: string, s: Scenario, label: string): Promise<void> {
  t.notThrows(() => checkDomainStore(dir), `${label}: store after the crash`);
  t.notThrows(() => checkAssign(h.qhome), `${label}: assign after the crash`);
  // The next reader rolls an interrupted change forward: then vpasswd.cdb alone agrees.
  t.truthy(await h.backend.getUser(DOMAIN, 'bystander'), label);
  t.notThrows(() => checkDomainStore(dir), `${label}: store after a reader`);
  await t.notThrowsAsync(s.rerun(h), `${label}: run again`);
  t.true(s.done(h, dir), `${label}: the job is done after the re-run`);
  const names = checkDomainStore(dir);
  t.true(names.includes('bystander') && names.includes('postmaster'), `${label}: other accounts untouched`);
  t.deepEqual(readdirSync(dir).filter((f) => STRAY.test(f)), [], `${label}: no temp files left`);
}

function runTool(h: Home, s: Scenario, env: Record<string, string> = {}, killAfterMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(programPath(s.program), s.args, { env: { ...h.env, ...env }, stdio: 'ignore' });
    const timer = killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

/** Run `count` jobs, `width` at a time (the runs mostly wait on fsync). */
async function inBatches(count: number, width: number, job: (i: number) => Promise<boolean>): Promise<number> {
  let next = 0;
  let stopAt = count;
  const worker = async () => {
    while (next < stopAt) {
      const i = next++;
      if (!(await job(i))) stopAt = Math.min(stopAt, i + 1);
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
  return stopAt;
}

for (const s of SCENARIOS) {
  test(`${s.program} killed at each write, fsync and rename leaves the stores consistent and can be run again`, async (t) => {
    // Fault n = 1, 2, ...: the n-th durable operation kills the process before it happens. The first
    // n at which the program runs to its end is one past its last operation.
    let completedAt = Infinity;
    await inBatches(120, 4, async (i) => {
      const n = i + 1;
      const { h, dir } = await freshHome(t);
      const r = await runTool(h, s, { VPOPMAIL_FAULT: `any:${n}` });
      if (r.signal !== 'SIGKILL') {
        t.is(r.code, 0, `any:${n}`);
        t.true(s.done(h, dir), `any:${n}`);
        completedAt = Math.min(completedAt, n);
        return false;
      }
      await checkAfterCrash(t, h, dir, s, `${s.program} any:${n}`);
      return true;
    });
    t.log(`${s.program}: ${completedAt - 1} durable operations`);
    t.true(completedAt > 5 && completedAt < 120, `the fault switch hit ${completedAt - 1} operations`);
  });
}

test('50 random kill -9 of the three tools leave the stores consistent and the job finishable', async (t) => {
  await inBatches(50, 4, async (i) => {
    const s = SCENARIOS[i % SCENARIOS.length]!;
    const { h, dir } = await freshHome(t);
    // Process start-up takes most of a run; kill somewhere between it and well past the end.
    const delayMs = 60 + Math.floor(Math.random() * 300);
    await runTool(h, s, {}, delayMs);
    await checkAfterCrash(t, h, dir, s, `${s.program} killed after ${delayMs} ms`);
    return true;
  });
});
