import test from 'ava';
import { writeFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { addAliasDomain, addDomain } from '../../lib/accounts/domains.ts';
import { addUser, modifyUser } from '../../lib/accounts/users.ts';
import { PW_FLAG } from '../../lib/store/limits.ts';
import { goldenStdout, goldenSteps, maskVarying } from '../helpers/admin-golden.ts';
import { domainDir, makeHome, run, type Home } from '../helpers/accounts-home.ts';

const steps = goldenSteps();
const HASH6 = '$6$Gold3nSa$tgzfiKEBlmebiYch15GKkrR5Tsfn03Mr7afOGTC7oSs3AYGKt6HY1BMJAgR6ODqjkkMawTHcVFzf7wYuwfII6/';
const HASH1 = '$1$Gold3nSa$SCZGo/u1MpOW7fVg02r6g.';

/** example.test with the users of golden steps 21–32, made in-process. */
async function goldenUsers(t: Parameters<typeof makeHome>[0]): Promise<Home> {
  const h = makeHome(t);
  await addDomain(h.ctx, { domain: 'example.test', postmaster: { password: { clear: 'pmpass' }, quota: '5000000S' } });
  await addAliasDomain(h.ctx, 'example.test', 'example-alias.test');
  const add = (user: string, password: { clear: string } | { hash: string }, extra: { quota?: string; gecos?: string } = {}) =>
    addUser(h.ctx, { domain: 'example.test', user, password, ...extra });
  await add('alice', { clear: 'alicepw1' });
  await add('bob', { clear: 'bobpw' }, { quota: '1000000S' });
  await add('carol', { clear: 'carolpw' }, { gecos: 'Carol Singer' });
  await add('dave', { hash: HASH6 });
  await add('dora', { hash: HASH1 }, { quota: 'NOQUOTA' });
  await add('erin', { clear: 'MWa2Ed#L' });
  await add('frank', { clear: 'frankpw' });
  await add('tiny', { clear: 'tinypw' }, { quota: '3000S' });
  await add('gina', { clear: 'ginapw' });
  return h;
}

test('vuserinfo prints the blocks and fields of golden steps 33–47', async (t) => {
  const h = await goldenUsers(t);
  const cases: [number, string[]][] = [
    [33, ['alice@example.test']],
    [34, ['-a', 'bob@example.test']],
    [35, ['-n', 'carol@example.test']],
    [36, ['-p', 'dave@example.test']],
    [37, ['-u', 'alice@example.test']],
    [38, ['-g', 'alice@example.test']],
    [39, ['-c', 'carol@example.test']],
    [40, ['-d', 'alice@example.test']],
    [41, ['-q', 'bob@example.test']],
    [42, ['-Q', 'bob@example.test']],
    [43, ['-C', 'alice@example.test']],
    [44, ['-l', 'alice@example.test']],
    [45, ['alice@example-alias.test']],
    [47, ['-D', 'example.test']],
  ];
  for (const [n, args] of cases) {
    const r = run(h, 'vuserinfo', args);
    t.is(r.status, 0, `step ${n}`);
    t.is(maskVarying(r.stdout), maskVarying(goldenStdout(steps, n, h.vhome)), `step ${n}`);
    t.is(r.stderr, '', `step ${n}`);
  }
});

test('an unknown user is `no such user` on stdout with exit 255 (golden step 46)', async (t) => {
  const h = await goldenUsers(t);
  const r = run(h, 'vuserinfo', ['nobody@example.test']);
  t.deepEqual([r.status, r.stdout, r.stderr], [255, 'no such user nobody@example.test\n', '']);
});

test('every flag shows its line, in C order (golden step 105)', async (t) => {
  const h = await goldenUsers(t);
  await modifyUser(h.ctx, 'example.test', 'frank', { gecos: 'Frank N. Stein', quota: '3000000S', addFlags: 0x7ffff });
  const r = run(h, 'vuserinfo', ['frank@example.test']);
  t.is(maskVarying(r.stdout), maskVarying(goldenStdout(steps, 105, h.vhome)));
});

test('flags set only by the domain limits are starred and the footer explains them', async (t) => {
  const h = await goldenUsers(t);
  writeFileSync(join(domainDir(h, 'example.test'), '.qmailadmin-limits'), 'disable_pop\n');
  await modifyUser(h.ctx, 'example.test', 'alice', { addFlags: PW_FLAG.NO_SMTP });
  const r = run(h, 'vuserinfo', ['alice@example.test']);
  t.regex(r.stdout, /gid: {4}2048\nflags: {2}2050\n/);
  t.regex(r.stdout, /limits:\n {8}pop access closed \(\*\)\n {8}smtp access is closed\n {8}\* = set by domain-wide limits\n/);
});

test('a login shows its time and IP instead of the creation time (golden step 204 form)', async (t) => {
  const h = await goldenUsers(t);
  const lastauth = join(domainDir(h, 'example.test'), 'alice', 'lastauth');
  writeFileSync(lastauth, '192.0.2.17');
  utimesSync(lastauth, 1_800_000_000, 1_800_000_000);
  const r = run(h, 'vuserinfo', ['-l', 'alice@example.test']);
  t.is(r.stdout, 'last auth: Fri Jan 15 08:00:00 2027\nlast auth ip: 192.0.2.17\n');
});

test('usage is the percentage of the byte quota in maildirsize, capped at 100', async (t) => {
  const h = await goldenUsers(t);
  const maildir = join(domainDir(h, 'example.test'), 'tiny', 'Maildir');
  writeFileSync(join(maildir, 'maildirsize'), '3000S\n2336 2\n');
  t.is(run(h, 'vuserinfo', ['-Q', 'tiny@example.test']).stdout, '77%\n');
  writeFileSync(join(maildir, 'maildirsize'), '3000S\n9000 2\n');
  t.is(run(h, 'vuserinfo', ['-Q', 'tiny@example.test']).stdout, '100%\n');
});

test('-D of an unknown domain fails with 245 instead of printing nothing', async (t) => {
  const h = await goldenUsers(t);
  const r = run(h, 'vuserinfo', ['-D', 'nosuch.test']);
  t.deepEqual([r.status, r.stdout], [245, 'Error: Domain does not exist\n']);
});

test('no argument or an unknown option prints the usage and exits 255', async (t) => {
  const h = makeHome(t);
  t.is(run(h, 'vuserinfo', []).status, 255);
  const bad = run(h, 'vuserinfo', ['-z', 'x@y.test']);
  t.is(bad.status, 255);
  t.regex(bad.stderr, /invalid option -- 'z'/);
});
