// vpopbull to 1,000 and 10,000 mailboxes, copy and hard-link mode, as ratios to the raw file
// operations made by a minimal program on the same runtime (its start included) in the same run:
// the same hard links; copies written to tmp/, fsynced and renamed into new/, one after the other
// (the plain loop) and with the fsyncs in concurrent batches as vpopbull makes them.
// C vpopbull (no fsync at all) took 36 ms for -c and 15 ms for -h to 1,000 users.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { accountsContext } from '../../lib/accounts/index.ts';
import { addDomain } from '../../lib/accounts/domains.ts';
import { createCdbBackend } from '../../lib/backends/cdb.ts';
import { loadConfig } from '../../lib/config.ts';
import { DURABLE, type Durable } from '../../lib/fs/durable.ts';
import { makeUserDir } from '../../lib/maildir/make.ts';
import { lookupAssignDomain } from '../../lib/store/assign.ts';
import { iterateVpasswd, replaceVpasswdEntries, type VpasswdEntry } from '../../lib/store/vpasswd.ts';
import { fmt, type Bench, type Timing } from './harness.ts';

const BULLETIN = 'From: Postmaster <postmaster@bench.test>\nSubject: Maintenance\nDate: Mon, 01 Jan 2024 00:00:00 +0000\n\nThe servers go down for an hour tonight.\n';

/** Set-up only: no fsync, so 10,000 Maildirs are made in seconds. */
const NO_FSYNC: Durable = { ...DURABLE, fsync: () => {} };

// The floors: what a program that knows the Maildirs already must do, nothing more.
const FLOOR_JS = String.raw`
const fs = require('node:fs');
const [src, list, mode] = process.argv.slice(2);
const dirs = fs.readFileSync(list, 'utf8').split('\n').filter(Boolean);
const name = Math.floor(Date.now() / 1000) + '.' + process.pid + '.bench';
if (mode === 'link') {
  for (const d of dirs) fs.linkSync(src, d + '/new/' + name);
} else if (mode === 'copy') {
  const data = fs.readFileSync(src);
  for (const d of dirs) {
    const tmp = d + '/tmp/' + name;
    const fd = fs.openSync(tmp, 'wx', 0o600);
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, d + '/new/' + name);
  }
} else {
  const data = fs.readFileSync(src);
  (async () => {
    for (let i = 0; i < dirs.length; i += 128) {
      const batch = dirs.slice(i, i + 128).map((d) => {
        const tmp = d + '/tmp/' + name;
        const fd = fs.openSync(tmp, 'wx', 0o600);
        fs.writeSync(fd, data);
        return { d, tmp, fd };
      });
      await Promise.all(batch.map((b) => new Promise((res, rej) => fs.fsync(b.fd, (e) => (e ? rej(e) : res())))));
      for (const b of batch) {
        fs.closeSync(b.fd);
        fs.renameSync(b.tmp, b.d + '/new/' + name);
      }
    }
  })();
}
`;

// Untimed, before every run: empty new/ of every Maildir (so hard links never reach EMLINK).
const CLEAN_PY = String.raw`
import os, sys
for d in open(sys.argv[1]).read().split():
    n = d + '/new'
    for f in os.listdir(n):
        os.unlink(n + '/' + f)
`;

interface BenchWorld {
  readonly env: Record<string, string>;
  readonly list: string;
  readonly bulletin: string;
}

async function makeWorld(root: string, domain: string, users: number): Promise<BenchWorld> {
  const vhome = join(root, 'vpopmail');
  const qhome = join(root, 'qmail');
  for (const d of [join(vhome, 'etc'), join(vhome, 'domains'), join(qhome, 'users'), join(qhome, 'control'), join(qhome, 'bin')]) mkdirSync(d, { recursive: true });
  const env = { PATH: '/usr/bin:/bin', VPOPMAIL_HOME: vhome, QMAIL_HOME: qhome };
  const config = loadConfig(env);
  const ctx = accountsContext(config, createCdbBackend(config, { durable: NO_FSYNC }), 'bench', { durable: NO_FSYNC, hupQmailSend: () => {} });
  await addDomain(ctx, { domain, postmaster: { password: { hash: '$6$bench$x' } } });
  const info = lookupAssignDomain(qhome, domain)!;
  const owner = { uid: info.uid, gid: info.gid };
  const entries: VpasswdEntry[] = [...iterateVpasswd(info.dir)];
  for (let i = 1; i < users; i++) {
    const name = `user${String(i).padStart(5, '0')}`;
    const dir = join(info.dir, name);
    makeUserDir(info.dir, dir, { owner, durable: NO_FSYNC });
    entries.push({ name, passwd: '$6$bench$x', uid: 1, gid: 0, gecos: name, dir, quota: 'NOQUOTA', clear: '' });
  }
  replaceVpasswdEntries(info.dir, entries, { owner, durable: NO_FSYNC });
  const list = join(root, 'maildirs.txt');
  writeFileSync(list, entries.map((e) => `${e.dir}/Maildir\n`).join(''));
  const bulletin = join(root, 'bulletin.txt');
  writeFileSync(bulletin, BULLETIN);
  return { env, list, bulletin };
}

function ratio(t: Timing, floor: Timing): string {
  return `${(t.medianMs / floor.medianMs).toFixed(2)}x ${floor.name}`;
}

export default async function vpopbull(b: Bench): Promise<void> {
  const bun = b.bun;
  const floorJs = join(b.root, 'floor.js');
  writeFileSync(floorJs, FLOOR_JS);
  const cleanPy = join(b.root, 'clean.py');
  writeFileSync(cleanPy, CLEAN_PY);
  const exe = join(b.dist, 'bin', 'vpopbull');

  for (const [users, runs, copyRuns] of [
    [1000, 15, 5],
    [10_000, 5, 3],
  ] as const) {
    const root = join(b.root, `u${users}`);
    mkdirSync(root);
    const domain = `bench${users}.test`;
    const w = await makeWorld(root, domain, users);
    const setup = ['python3', cleanPy, w.list];
    const common = { env: w.env, cwd: root, setup, warmup: 1 };
    b.section(`vpopbull, ${users.toLocaleString('en')} mailboxes`);

    // Each floor is timed in turns with the run it is the floor of (same moments of the machine).
    const [floorLink, hard] = b.timeTogether(
      [
        { name: `floor: ${users} hard links (bun loop)`, ...common, argv: [bun, floorJs, w.bulletin, w.list, 'link'] },
        { name: `vpopbull -h (${users})`, ...common, argv: [exe, '-h', '-f', w.bulletin, domain] },
      ],
      runs,
      1,
    );
    b.print(`${pad(floorLink!.name)} ${fmt(floorLink!)}`);
    b.print(`${pad(hard!.name)} ${fmt(hard!)}  ${ratio(hard!, floorLink!)}`);

    const [floorBatched, copy] = b.timeTogether(
      [
        { name: `floor: ${users} copies, batched fsync (bun)`, ...common, argv: [bun, floorJs, w.bulletin, w.list, 'batched'] },
        { name: `vpopbull -c (${users})`, ...common, argv: [exe, '-c', '-f', w.bulletin, domain] },
      ],
      copyRuns,
      0,
    );
    b.print(`${pad(floorBatched!.name)} ${fmt(floorBatched!)}`);
    b.print(`${pad(copy!.name)} ${fmt(copy!)}  ${ratio(copy!, floorBatched!)}`);

    // The plain one-at-a-time loop: one fsync after another (C makes none). Slow on purpose, so once.
    spawnSync('python3', setup);
    const t0 = process.hrtime.bigint();
    const r = spawnSync(bun, [floorJs, w.bulletin, w.list, 'copy'], { cwd: root });
    const plainMs = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`floor copy loop failed: ${r.stderr}`);
    b.print(`${pad(`floor: ${users} copies, fsync one by one (1 run)`)} ${plainMs.toFixed(1)} ms  (vpopbull -c: ${(copy.medianMs / plainMs).toFixed(2)}x)`);
  }
}

function pad(s: string): string {
  return s.length >= 44 ? s : s + ' '.repeat(44 - s.length);
}
