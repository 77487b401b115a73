// Admin tools run at the same time on one domain: the per-domain operation lock makes each run one
// step for the others, so no user is lost and no half-made account is seen.
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { addDomain } from '../../lib/accounts/domains.ts';
import { addUser } from '../../lib/accounts/users.ts';
import { readDirControlFile } from '../../lib/store/dir-control.ts';
import { checkAssign, checkDomainStore, domainDir, makeHome, programPath, type Home } from '../helpers/accounts-home.ts';

interface Outcome {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function start(h: Home, program: string, args: readonly string[]): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(programPath(program), args, { env: h.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('50 vadduser runs at once on one domain lose no user', async (t) => {
  const h = makeHome(t);
  await addDomain(h.ctx, { domain: 'busy.test', postmaster: { password: { clear: 'pw' } } });
  const names = Array.from({ length: 50 }, (_, i) => `user${String(i).padStart(2, '0')}`);
  const results = await Promise.all(names.map((n) => start(h, 'vadduser', [`${n}@busy.test`, `pw-${n}`])));
  for (const [i, r] of results.entries()) t.deepEqual([r.code, r.stderr], [0, ''], names[i]);
  const dir = domainDir(h, 'busy.test');
  t.deepEqual(checkDomainStore(dir).sort(), ['postmaster', ...names].sort());
  t.is(readDirControlFile(join(dir, '.dir-control'))?.curUsers, 51);
  for (const n of names) t.true(existsSync(join(dir, n, 'Maildir', 'new')), n);
});

test('adds, deletes and changes running together on one domain all take effect', async (t) => {
  const h = makeHome(t);
  await addDomain(h.ctx, { domain: 'mixed.test', postmaster: { password: { clear: 'pw' } } });
  for (let i = 0; i < 20; i++) await addUser(h.ctx, { domain: 'mixed.test', user: `old${i}`, password: { hash: '$1$x$y' } });
  const jobs: Promise<Outcome>[] = [];
  for (let i = 0; i < 10; i++) jobs.push(start(h, 'vadduser', [`new${i}@mixed.test`, 'pw']));
  for (let i = 0; i < 10; i++) jobs.push(start(h, 'vdeluser', [`old${i}@mixed.test`]));
  for (let i = 10; i < 20; i++) jobs.push(start(h, 'vmoduser', ['-q', '5000000', '-c', `changed ${i}`, `old${i}@mixed.test`]));
  for (let i = 10; i < 20; i++) jobs.push(start(h, 'vmoduser', ['-p', `old${i}@mixed.test`]));
  const results = await Promise.all(jobs);
  for (const r of results) t.is(r.code, 0, r.stdout + r.stderr);
  const dir = domainDir(h, 'mixed.test');
  const names = checkDomainStore(dir);
  t.deepEqual(names.sort(), ['postmaster', ...Array.from({ length: 10 }, (_, i) => `new${i}`), ...Array.from({ length: 10 }, (_, i) => `old${i + 10}`)].sort());
  for (const line of readFileSync(join(dir, 'vpasswd'), 'latin1').split('\n').filter((l) => l.startsWith('old'))) {
    const f = line.split(':');
    // both changes of each account survived: neither vmoduser undid the other
    t.deepEqual([f[3], f[4], f[6]], ['2', `changed ${f[0]!.slice(3)}`, '5000000S'], f[0]);
  }
});

test('the same domain added five times at once is made exactly once; different domains all get made', async (t) => {
  const h = makeHome(t);
  const same = await Promise.all(Array.from({ length: 5 }, () => start(h, 'vadddomain', ['race.test', 'pw'])));
  t.is(same.filter((r) => r.code === 0).length, 1);
  t.true(same.filter((r) => r.code !== 0).every((r) => r.code === 243));
  const many = await Promise.all(Array.from({ length: 10 }, (_, i) => start(h, 'vadddomain', [`d${i}.test`, 'pw'])));
  for (const r of many) t.is(r.code, 0, r.stdout + r.stderr);
  const assign = readFileSync(join(h.qhome, 'users', 'assign'), 'latin1');
  t.is(assign.split('\n').filter((l) => l.startsWith('+')).length, 11);
  t.is(readDirControlFile(join(h.vhome, 'domains', '.dir-control'))?.curUsers, 11);
  checkAssign(h.qhome);
});
