// Crash consistency of the built programs: each one dies (SIGKILL, no cleanup) at its n-th write,
// fsync and rename in turn (VPOPMAIL_FAULT=<kind>:<n>, n = 1, 2, ... until a run gets to the end),
// and at random instants (kill -9 from outside). One world per lane is reused from trial to trial,
// so every trial starts from what the last one left. After every trial: vpasswd and vpasswd.cdb are
// each readable and in the old or the new state with the cdb never ahead (the documented states,
// COMPATIBILITY "Crash-safe pair"), users/assign agrees with users/cdb, every maildirsize parses,
// every file in new/ is a whole message, and nothing a run acknowledged (exit 0) is missing.
import test, { type ExecutionContext } from 'ava';
import { existsSync, lstatSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { modifyUser } from '../../lib/accounts/users.ts';
import { verifyPassword } from '../../lib/crypt/index.ts';
import { readDirControlFile } from '../../lib/store/dir-control.ts';
import { parseVpasswdLine } from '../../lib/store/vpasswd.ts';
import { checkAssign, checkDomainStore } from '../helpers/accounts-home.ts';
import { qmailLocalEnv } from '../helpers/qmail-env.ts';
import {
  agreedPairProblems,
  assignProblems,
  filesIn,
  maildirsizeProblems,
  maildirUsage,
  makeWorld,
  pairProblems,
  pool,
  rng,
  runBuilt,
  summarize,
  vpasswdLinesOf,
  type RunOptions,
  type RunResult,
  type World,
} from '../helpers/reliability.ts';

const DOMAIN = 'crash.test';
const BULL = 'bull.test';
/** Lanes (worlds) worked on at once, for the whole file: the machine has two cores. */
const WIDTH = 4;
const RANDOM_KILLS_PER_PROGRAM = 60;
const SEED = Number(process.env['VPOPMAIL_CRASH_SEED'] ?? 20240601);

/** A trial: what to run, and what must hold afterwards (before and after a reader repaired). */
interface Trial {
  readonly args: readonly string[];
  readonly options?: RunOptions;
  /** Problems in the raw state the run left (nothing has repaired it yet). */
  raw(r: RunResult): string[];
  /** Problems once a reader has looked (and rolled an interrupted commit forward). */
  repaired(r: RunResult): string[];
}

interface Scenario {
  readonly program: 'vadduser' | 'vdeluser' | 'vmoduser' | 'vpasswd' | 'vdelivermail' | 'vpopbull';
  readonly variant: string;
  /** Make the lane's world; returns the trial maker. */
  setup(w: World): Promise<(i: number) => Trial>;
}

const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((l, i) => l === b[i]);
const without = (lines: readonly string[], name: string) => lines.filter((l) => !l.startsWith(`${name}:`));
const lineOf = (lines: readonly string[], name: string) => lines.find((l) => l.startsWith(`${name}:`));
const fields = (line: string) => parseVpasswdLine(line);

/** Repair as any reader would, then the pair agrees, assign agrees, .dir-control parses. */
async function repairedStore(w: World, domain: string): Promise<string[]> {
  const dir = w.domainDir(domain);
  try {
    await w.backend.getUser(domain, 'bystander');
  } catch (err) {
    return [`a reader failed after the crash: ${(err as Error).message}`];
  }
  const problems = [...agreedPairProblems(dir), ...assignProblems(w.qhome)];
  try {
    readDirControlFile(join(dir, '.dir-control'));
  } catch (err) {
    problems.push(`.dir-control unreadable: ${(err as Error).message}`);
  }
  return problems;
}

function homeProblems(w: World, user: string): string[] {
  const line = lineOf(vpasswdLinesOf(w.domainDir(DOMAIN)), user);
  if (line === undefined) return [];
  const md = join(fields(line).dir, 'Maildir');
  return ['new', 'cur', 'tmp'].every((s) => existsSync(join(md, s))) ? [] : [`${user} is in vpasswd but its Maildir is incomplete`];
}

async function baseWorld(w: World): Promise<void> {
  await w.addDomain(DOMAIN);
  await w.addUser(`bystander@${DOMAIN}`, 'Bystander-pw1', { quota: '5000000S' });
}

// --- the admin tools ------------------------------------------------------------------------------

function vadduserScenario(variant: 'quota' | 'random'): Scenario {
  return {
    program: 'vadduser',
    variant,
    async setup(w) {
      await baseWorld(w);
      const dir = w.domainDir(DOMAIN);
      const acked = new Set<string>();
      return (i) => {
        const user = `new${i}`;
        const password = `Pw-${user}!x`;
        const before = vpasswdLinesOf(dir);
        let made: string | undefined;
        const isNewLine = (line: string) => {
          const f = fields(line);
          if (variant === 'quota') return f.quota === '1048576S' && verifyPassword(password, f.passwd);
          return f.clear !== undefined && f.clear.length === 12 && verifyPassword(f.clear, f.passwd);
        };
        const classify = (lines: readonly string[]) => {
          if (same(lines, before)) return 'old' as const;
          const l = lineOf(lines, user);
          return l !== undefined && same(without(lines, user), before) && isNewLine(l) ? ('new' as const) : undefined;
        };
        return {
          args: variant === 'quota' ? ['-q', '1M', `${user}@${DOMAIN}`, password] : ['-r', `${user}@${DOMAIN}`],
          raw: (r) => {
            const problems = pairProblems(dir, classify);
            if (r.code === 0) {
              if (classify(vpasswdLinesOf(dir)) !== 'new') problems.push('acknowledged but vpasswd lacks the user');
              made = variant === 'random' ? /^Random password: (\S+)$/m.exec(r.stdout)?.[1] : password;
              if (made === undefined) problems.push('no random password printed');
            }
            return problems;
          },
          repaired: (r) => {
            const problems = homeProblems(w, user);
            const lines = vpasswdLinesOf(dir);
            if (r.code === 0) {
              acked.add(user);
              const l = lineOf(lines, user);
              if (l === undefined || made === undefined || !verifyPassword(made, fields(l).passwd)) problems.push('the acknowledged password does not verify');
              if (variant === 'quota') problems.push(...maildirsizeProblems(join(dir, user, 'Maildir'), ['1048576S']).problems);
            }
            for (const u of acked) if (lineOf(lines, u) === undefined) problems.push(`acknowledged user ${u} is missing`);
            return problems;
          },
        };
      };
    },
  };
}

function vdeluserScenario(): Scenario {
  return {
    program: 'vdeluser',
    variant: 'with mail',
    async setup(w) {
      await baseWorld(w);
      const dir = w.domainDir(DOMAIN);
      for (let i = 1; i <= RANDOM_KILLS_PER_PROGRAM + 30; i++) {
        await w.addUser(`v${i}@${DOMAIN}`, `Victim-${i}`, { quota: '1000000S' });
        writeFileSync(join(dir, `v${i}`, 'Maildir', 'new', `1.${i}.host,S=6`), 'mail!\n');
      }
      const acked = new Set<string>();
      return (i) => {
        const user = `v${i}`;
        const before = vpasswdLinesOf(dir);
        const classify = (lines: readonly string[]) => (same(lines, before) ? 'old' : same(lines, without(before, user)) ? 'new' : undefined);
        return {
          args: [`${user}@${DOMAIN}`],
          raw: (r) => {
            const problems = pairProblems(dir, classify);
            if (r.code === 0 && classify(vpasswdLinesOf(dir)) !== 'new') problems.push('acknowledged but the user is still in vpasswd');
            return problems;
          },
          repaired: (r) => {
            const problems = homeProblems(w, user);
            if (r.code === 0) {
              acked.add(user);
              if (existsSync(join(dir, user))) problems.push('acknowledged but the home directory is still there');
            }
            const lines = vpasswdLinesOf(dir);
            for (const u of acked) if (lineOf(lines, u) !== undefined) problems.push(`acknowledged deletion of ${u} undone`);
            return problems;
          },
        };
      };
    },
  };
}

function vmoduserScenario(variant: 'quota' | 'gecos'): Scenario {
  return {
    program: 'vmoduser',
    variant,
    async setup(w) {
      await baseWorld(w);
      await w.addUser(`target@${DOMAIN}`, 'Target-pw1', { quota: '2000000S' });
      const dir = w.domainDir(DOMAIN);
      const md = join(dir, 'target', 'Maildir');
      writeFileSync(join(md, 'new', '1.1.host,S=100'), 'x'.repeat(100));
      // maildirsize is a cache: after crashes its quota line may lag several changes behind (the
      // next delivery recounts a file whose quota differs from the account's), but it is one of them.
      const quotas = new Set(['2000000S']);
      return (i) => {
        const before = vpasswdLinesOf(dir);
        const old = fields(lineOf(before, 'target')!);
        const quota = variant === 'quota' ? `${2_000_000 + i * 1000}S` : old.quota;
        const gecos = `Gecos ${i}`;
        quotas.add(quota);
        const classify = (lines: readonly string[]) => {
          if (same(lines, before)) return 'old' as const;
          const l = lineOf(lines, 'target');
          if (l === undefined || !same(without(lines, 'target'), without(before, 'target'))) return undefined;
          const f = fields(l);
          return f.gecos === gecos && f.quota === quota && f.passwd === old.passwd ? ('new' as const) : undefined;
        };
        return {
          args: variant === 'quota' ? ['-c', gecos, '-q', quota.slice(0, -1), `target@${DOMAIN}`] : ['-c', gecos, `target@${DOMAIN}`],
          raw: (r) => {
            const problems = [...pairProblems(dir, classify), ...maildirsizeProblems(md, [...quotas]).problems];
            if (r.code === 0 && classify(vpasswdLinesOf(dir)) !== 'new') problems.push('acknowledged but vpasswd has the old record');
            return problems;
          },
          repaired: (r) => {
            if (r.code !== 0 || variant !== 'quota') return [];
            const m = maildirsizeProblems(md, [quota]);
            if (m.parsed === undefined && m.problems.length === 0) return ['acknowledged quota change left no maildirsize'];
            return m.problems;
          },
        };
      };
    },
  };
}

function vpasswdScenario(variant: 'given' | 'random'): Scenario {
  return {
    program: 'vpasswd',
    variant,
    async setup(w) {
      await baseWorld(w);
      await w.addUser(`target@${DOMAIN}`, 'Target-pw0', { quota: '2000000S' });
      const dir = w.domainDir(DOMAIN);
      let current = 'Target-pw0';
      return (i) => {
        const password = `Target-pw${i}`;
        const before = vpasswdLinesOf(dir);
        const old = fields(lineOf(before, 'target')!);
        const classify = (lines: readonly string[]) => {
          if (same(lines, before)) return 'old' as const;
          const l = lineOf(lines, 'target');
          if (l === undefined || !same(without(lines, 'target'), without(before, 'target'))) return undefined;
          const f = fields(l);
          const rest = (e: typeof f) => [e.uid, e.gid, e.gecos, e.dir, e.quota].join(':');
          if (rest(f) !== rest(old) || f.passwd === old.passwd) return undefined;
          const ok = variant === 'given' ? verifyPassword(password, f.passwd) && f.clear === password : f.clear !== undefined && verifyPassword(f.clear, f.passwd);
          return ok ? ('new' as const) : undefined;
        };
        return {
          args: variant === 'given' ? [`target@${DOMAIN}`, password] : ['-r', `target@${DOMAIN}`],
          raw: (r) => {
            const problems = pairProblems(dir, classify);
            if (r.code === 0 && classify(vpasswdLinesOf(dir)) !== 'new') problems.push('acknowledged but the old password is stored');
            return problems;
          },
          repaired: (r) => {
            const f = fields(lineOf(vpasswdLinesOf(dir), 'target')!);
            if (r.code === 0) {
              const made = variant === 'given' ? password : /^Random password: (\S+)$/m.exec(r.stdout)?.[1];
              if (made === undefined || !verifyPassword(made, f.passwd)) return ['the acknowledged password does not verify'];
              current = made;
              return [];
            }
            // a crash leaves the old password or the new one, never neither
            return verifyPassword(current, f.passwd) || (f.clear !== undefined && verifyPassword(f.clear, f.passwd)) ? [] : ['neither the old nor a new password verifies'];
          },
        };
      };
    },
  };
}

// --- vdelivermail ---------------------------------------------------------------------------------

const SENDER = 'sender@remote.test';
const prefix = (address: string) => `Return-Path: <${SENDER}>\nDelivered-To: ${address}\n`;

/** Message i: unique, with the hostile bytes deliveries must keep (NUL, 8-bit, a long line, no final LF). */
function messageBytes(i: number, size: number): Buffer {
  const head = Buffer.from(`Subject: crash ${i}\nMessage-ID: <${i}@remote.test>\n\n`, 'latin1');
  const body = Buffer.alloc(size, 0x61 + (i % 26));
  body[10] = 0;
  body[20] = 0xff;
  for (let p = 4000; p < size - 1; p += 4000) body[p] = 0x0a;
  return Buffer.concat([head, body]);
}

function vdelivermailScenario(variant: 'small' | 'large' | 'catch-all'): Scenario {
  return {
    program: 'vdelivermail',
    variant,
    async setup(w) {
      await baseWorld(w);
      await w.addUser(`box@${DOMAIN}`, 'Box-pw-1', { quota: '50000000S' });
      const dir = w.domainDir(DOMAIN);
      const md = join(dir, 'box', 'Maildir');
      const size = variant === 'large' ? 300 * 1024 : 2000;
      const stored = new Map<string, number>(); // stored bytes (latin1) -> message number
      const acked = new Set<number>();
      return (i) => {
        const body = messageBytes(i, size);
        const file = join(w.root, `msg-${i}`);
        writeFileSync(file, body, { mode: 0o644 });
        // catch-all: an unknown user, the default action names box's directory (vdelivermail.md §4)
        const ext = variant === 'catch-all' ? `ghost${i}` : 'box';
        const address = variant === 'catch-all' ? `${ext}@${DOMAIN}` : `box@${DOMAIN}`;
        const whole = Buffer.concat([Buffer.from(prefix(address)), body]).toString('latin1');
        stored.set(whole, i);
        const check = (r: RunResult) => {
          const problems: string[] = [];
          const seen = new Map<number, number>();
          for (const f of filesIn(md)) {
            const n = stored.get(readFileSync(join(md, 'new', f), 'latin1'));
            if (n === undefined) problems.push(`new/${f} is not a whole message`);
            else seen.set(n, (seen.get(n) ?? 0) + 1);
          }
          for (const [n, c] of seen) if (c > 1) problems.push(`message ${n} is in new/ ${c} times`);
          if (r.code === 0) acked.add(i);
          for (const n of acked) if (!seen.has(n)) problems.push(`acknowledged message ${n} is missing`);
          if (filesIn(md, 'cur').length > 0) problems.push('a message appeared in cur/');
          const m = maildirsizeProblems(md, ['50000000S']);
          problems.push(...m.problems);
          if (m.parsed !== undefined) {
            const real = maildirUsage(md);
            if (m.parsed.bytes > real.bytes || m.parsed.count > real.count) problems.push(`maildirsize counts ${m.parsed.bytes}/${m.parsed.count}, more than the ${real.bytes}/${real.count} there`);
          }
          if (r.code !== null && r.code !== 0) problems.push(`exit ${r.code}: ${r.stdout.trim()}`);
          return problems;
        };
        return {
          args: ['', variant === 'catch-all' ? join(dir, 'box') : 'bounce-no-mailbox'],
          options: { stdinFile: file, cwd: dir, uid: 89, gid: 89, env: { ...w.env, ...qmailLocalEnv(ext, DOMAIN, dir, SENDER) } },
          raw: check,
          repaired: () => [],
        };
      };
    },
  };
}

// --- vpopbull -------------------------------------------------------------------------------------

const BULL_USERS = ['ann', 'bea', 'cyd', 'postmaster'];

function vpopbullScenario(variant: 'copy' | 'hard-link' | 'symlink'): Scenario {
  return {
    program: 'vpopbull',
    variant,
    async setup(w) {
      await w.addDomain(BULL);
      for (const u of BULL_USERS.slice(0, 3)) await w.addUser(`${u}@${BULL}`, `Bull-${u}-pw`, { quota: '20000000S' });
      await modifyUser(w.ctx, BULL, 'postmaster', { quota: '20000000S' });
      const dir = w.domainDir(BULL);
      // What a whole bulletin looks like in a mailbox, per mode: a copy's text, a hard link's text (as
      // root the links go to the domain owner's copy of the bulletin, not to its inode), a symlink's target.
      const copies = new Map<string, number>();
      const texts = new Map<string, number>();
      const targets = new Map<string, number>();
      const acked = new Set<number>();
      return (i) => {
        const path = join(w.root, `bulletin-${i}.txt`);
        const source = `From: Postmaster <postmaster@${BULL}>\nSubject: Bulletin ${i}\nDate: Mon, 01 Jan 2024 00:00:00 +0000\n\n${'news '.repeat(200)}${i}\n`;
        writeFileSync(path, source, { mode: 0o644 });
        for (const user of BULL_USERS) copies.set(`To: ${user}@${BULL}\n${source}`, i);
        texts.set(source, i);
        targets.set(path, i);
        const whichBulletin = (user: string, f: string): number | undefined => {
          const p = join(dir, user, 'Maildir', 'new', f);
          if (variant === 'symlink') return lstatSync(p).isSymbolicLink() ? targets.get(readlinkSync(p)) : undefined;
          if (variant === 'hard-link') return lstatSync(p).isFile() ? texts.get(readFileSync(p, 'latin1')) : undefined;
          const n = copies.get(readFileSync(p, 'latin1'));
          return n !== undefined && readFileSync(p, 'latin1').startsWith(`To: ${user}@`) ? n : undefined;
        };
        const check = (r: RunResult) => {
          const problems: string[] = [];
          for (const user of BULL_USERS) {
            const md = join(dir, user, 'Maildir');
            const seen = new Map<number, number>();
            for (const f of filesIn(md)) {
              const n = whichBulletin(user, f);
              if (n === undefined) problems.push(`${user}: new/${f} is not a whole bulletin`);
              else seen.set(n, (seen.get(n) ?? 0) + 1);
            }
            for (const [n, c] of seen) if (c > 1) problems.push(`${user}: bulletin ${n} is in new/ ${c} times`);
            for (const n of acked) if (!seen.has(n)) problems.push(`${user}: acknowledged bulletin ${n} is missing`);
            if (r.code === 0 && !seen.has(i)) problems.push(`${user}: acknowledged bulletin ${i} is missing`);
            const m = maildirsizeProblems(md, ['20000000S']);
            problems.push(...m.problems);
            if (m.parsed !== undefined && variant !== 'symlink') {
              const real = maildirUsage(md);
              if (m.parsed.count > real.count) problems.push(`${user}: maildirsize counts ${m.parsed.count} messages, ${real.count} are there`);
            }
          }
          if (r.code === 0) acked.add(i);
          if (r.code !== null && r.code !== 0) problems.push(`exit ${r.code}: ${r.stderr.trim()}`);
          return problems;
        };
        const mode = variant === 'copy' ? [] : variant === 'hard-link' ? ['-h'] : ['-s'];
        return { args: [...mode, '-f', path, BULL], raw: check, repaired: () => assignProblems(w.qhome) };
      };
    },
  };
}

const SCENARIOS: Readonly<Record<Scenario['program'], readonly Scenario[]>> = {
  vadduser: [vadduserScenario('quota'), vadduserScenario('random')],
  vdeluser: [vdeluserScenario()],
  vmoduser: [vmoduserScenario('quota'), vmoduserScenario('gecos')],
  vpasswd: [vpasswdScenario('given'), vpasswdScenario('random')],
  vdelivermail: [vdelivermailScenario('small'), vdelivermailScenario('large'), vdelivermailScenario('catch-all')],
  vpopbull: [vpopbullScenario('copy'), vpopbullScenario('hard-link'), vpopbullScenario('symlink')],
};

// --- running lanes --------------------------------------------------------------------------------

interface LaneResult {
  readonly trials: number;
  readonly kills: number;
  readonly problems: string[];
  /** Fault sweeps: how many operations of the kind the run has. */
  readonly ops?: number;
}

/** One world, one trial after the other; every problem is labelled with the trial that found it. */
async function runTrial(w: World, s: Scenario, make: (i: number) => Trial, i: number, label: string, extraEnv: Record<string, string>, killAfterMs?: number): Promise<{ r: RunResult; problems: string[] }> {
  const trial = make(i);
  const base = trial.options ?? {};
  const r = await runBuilt(s.program, trial.args, {
    ...base,
    env: { ...w.env, ...base.env, ...extraEnv },
    ...(killAfterMs === undefined ? {} : { killAfterMs }),
  });
  const problems = trial.raw(r);
  const domain = s.program === 'vpopbull' ? BULL : DOMAIN;
  problems.push(...(s.program === 'vpopbull' ? [] : await repairedStore(w, domain)), ...trial.repaired(r));
  if (r.signal !== null && r.signal !== 'SIGKILL') problems.push(`died of ${r.signal}`);
  if (r.code !== null && r.code !== 0 && s.program !== 'vdelivermail' && s.program !== 'vpopbull') problems.push(`exit ${r.code}: ${r.stdout.trim()} ${r.stderr.trim()}`);
  return { r, problems: problems.map((p) => `${s.program} (${s.variant}) ${label}: ${p}`) };
}

/** A fault sweep: n = 1, 2, ... until a run completes. */
async function sweep(t: ExecutionContext, s: Scenario, kind: 'write' | 'fsync' | 'rename'): Promise<LaneResult> {
  const w = makeWorld(t);
  const make = await s.setup(w);
  const problems: string[] = [];
  for (let n = 1; n <= 200; n++) {
    const { r, problems: p } = await runTrial(w, s, make, n, `${kind}:${n}`, { VPOPMAIL_FAULT: `${kind}:${n}` });
    problems.push(...p);
    if (r.signal !== 'SIGKILL') {
      problems.push(...finalPeerCheck(w, s));
      return { trials: n, kills: n - 1, problems, ops: n - 1 };
    }
  }
  problems.push(`${s.program} (${s.variant}) ${kind}: still killed at the 200th operation`);
  return { trials: 200, kills: 200, problems };
}

/** kill -9 at a random instant: within 1.2 times a normal run's length (measured in the lane first). */
async function randomKills(t: ExecutionContext, s: Scenario, count: number, seed: number): Promise<LaneResult> {
  const w = makeWorld(t);
  const make = await s.setup(w);
  const random = rng(seed);
  const problems: string[] = [];
  const times: number[] = [];
  let i = 1;
  for (; i <= 3; i++) {
    const { r, problems: p } = await runTrial(w, s, make, i, `calibration ${i}`, {});
    problems.push(...p);
    times.push(r.ms);
  }
  const typical = times.sort((a, b) => a - b)[1]!;
  let kills = 0;
  for (let k = 0; k < count; k++, i++) {
    const delay = Math.floor(random() * typical * 1.2);
    const { r, problems: p } = await runTrial(w, s, make, i, `kill after ${delay} ms (seed ${seed})`, {}, delay);
    if (r.signal === 'SIGKILL') kills++;
    problems.push(...p);
  }
  problems.push(...finalPeerCheck(w, s));
  return { trials: count, kills, problems };
}

/** At the end of a lane, the peers judge: tinycdb reads vpasswd.cdb and users/cdb. */
function finalPeerCheck(w: World, s: Scenario): string[] {
  try {
    checkAssign(w.qhome);
    checkDomainStore(w.domainDir(s.program === 'vpopbull' ? BULL : DOMAIN));
    return [];
  } catch (err) {
    return [`${s.program} (${s.variant}): tinycdb disagrees: ${(err as Error).message}`];
  }
}

/** All lanes of the file share one pool, so concurrent ava tests do not multiply the load. */
const lanes: (() => void)[] = [];
let running = 0;
async function inPool<T>(job: () => Promise<T>): Promise<T> {
  if (running >= WIDTH) await new Promise<void>((r) => lanes.push(r));
  running++;
  try {
    return await job();
  } finally {
    running--;
    lanes.shift()?.();
  }
}

interface ProgramResult {
  readonly program: string;
  readonly faultTrials: number;
  readonly killTrials: number;
  readonly problems: string[];
  readonly detail: string;
}

const results = new Map<string, Promise<ProgramResult>>();

function programTrials(t: ExecutionContext, program: Scenario['program']): Promise<ProgramResult> {
  let p = results.get(program);
  if (p === undefined) {
    const scenarios = SCENARIOS[program];
    p = (async () => {
      const kinds = ['write', 'fsync', 'rename'] as const;
      const sweeps = await pool(99, scenarios.flatMap((s) => kinds.map((k) => () => inPool(() => sweep(t, s, k)))));
      const seed = SEED + Object.keys(SCENARIOS).indexOf(program) * 1000;
      const perScenario = Math.ceil(RANDOM_KILLS_PER_PROGRAM / scenarios.length);
      const kills = await pool(99, scenarios.map((s, j) => () => inPool(() => randomKills(t, s, perScenario, seed + j))));
      const ops = scenarios.map((s, j) => `${s.variant}: ${kinds.map((k, q) => `${k} ${sweeps[j * 3 + q]!.ops ?? '?'}`).join(', ')}`).join('; ');
      return {
        program,
        faultTrials: sweeps.reduce((a, r) => a + r.trials, 0),
        killTrials: kills.reduce((a, r) => a + r.trials, 0),
        problems: [...sweeps, ...kills].flatMap((r) => r.problems),
        detail: `${ops}; random kills that landed: ${kills.reduce((a, r) => a + r.kills, 0)}`,
      };
    })();
    results.set(program, p);
  }
  return p;
}

for (const program of Object.keys(SCENARIOS) as Scenario['program'][]) {
  test(`${program} killed at every write, fsync and rename and at random instants leaves every store readable, old or new, and loses nothing it acknowledged`, async (t) => {
    t.timeout(8 * 60_000);
    const r = await programTrials(t, program);
    t.log(`${program}: ${r.faultTrials} fault-switch trials, ${r.killTrials} random kill -9 trials, ${r.problems.length} failures (${r.detail})`);
    t.deepEqual(r.problems.slice(0, 20), [], `${r.problems.length} problems`);
    t.true(r.faultTrials >= 6 * SCENARIOS[program].length, 'the fault switch reached too few operations: is VPOPMAIL_FAULT still honoured?');
  });
}

test('crash consistency: at least 500 trials across the six programs, no failures', async (t) => {
  t.timeout(10 * 60_000);
  const all = await Promise.all((Object.keys(SCENARIOS) as Scenario['program'][]).map((p) => programTrials(t, p)));
  const trials = all.reduce((a, r) => a + r.faultTrials + r.killTrials, 0);
  const failures = all.reduce((a, r) => a + r.problems.length, 0);
  summarize(t, 'crash consistency', trials, failures, all.map((r) => `${r.program} ${r.faultTrials + r.killTrials}`).join(', '));
  t.true(trials >= 500, `only ${trials} trials`);
  t.is(failures, 0);
});
