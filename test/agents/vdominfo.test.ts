import test from 'ava';
import { addAliasDomain, addDomain } from '../../lib/accounts/domains.ts';
import { goldenStdout, goldenSteps } from '../helpers/admin-golden.ts';
import { makeHome, run, type Home } from '../helpers/accounts-home.ts';

const steps = goldenSteps();

/** The domains of golden steps 1–9, made in-process. */
async function goldenDomains(t: Parameters<typeof makeHome>[0]): Promise<Home> {
  const h = makeHome(t);
  for (const domain of ['example.test', 'with-c.test', 'catch.test', 'path.test', 'big.test', 'gone.test']) {
    await addDomain(h.ctx, { domain, postmaster: { password: { clear: 'pw' } } });
  }
  await addAliasDomain(h.ctx, 'example.test', 'example-alias.test');
  return h;
}

test('vdominfo prints every assign entry as C does (golden steps 10–19)', async (t) => {
  const h = await goldenDomains(t);
  const cases: [number, string[]][] = [
    [10, []],
    [11, ['-a', 'example.test']],
    [12, ['-n', 'example.test']],
    [13, ['-u', 'example.test']],
    [14, ['-g', 'example.test']],
    [15, ['-d', 'example.test']],
    [16, ['-t', 'example.test']],
    [17, ['-r', 'example-alias.test']],
    [18, ['example-alias.test']],
    [19, ['-n', '-d', '-t', 'example.test']],
  ];
  for (const [n, args] of cases) {
    const r = run(h, 'vdominfo', args);
    t.is(r.status, 0, `step ${n}`);
    t.is(r.stdout, goldenStdout(steps, n, h.vhome), `step ${n}`);
    t.is(r.stderr, '', `step ${n}`);
  }
});

test('fields come out in the fixed order whatever order they are asked in', async (t) => {
  const h = await goldenDomains(t);
  t.is(run(h, 'vdominfo', ['-t', '-d', '-n', 'example.test']).stdout, goldenStdout(steps, 19, h.vhome));
});

test('an unknown domain exits 245 on stdout (golden step 20)', async (t) => {
  const h = await goldenDomains(t);
  const r = run(h, 'vdominfo', ['nosuch.test']);
  t.is(r.status, 245);
  t.not(r.stdout, '');
  t.is(r.stderr, '');
});

test('without users/assign the listing says it cannot read it and exits 255', (t) => {
  const h = makeHome(t);
  const r = run(h, 'vdominfo', []);
  t.deepEqual([r.status, r.stdout], [255, "Can't get domain entries - can't read users/assign file\n"]);
});

test('vdominfo writes nothing, not even the counters C rewrites', async (t) => {
  const h = await goldenDomains(t);
  const { statSync } = await import('node:fs');
  const { join } = await import('node:path');
  const file = join(h.vhome, 'domains', 'example.test', '.dir-control');
  const before = statSync(file);
  run(h, 'vdominfo', []);
  const after = statSync(file);
  t.deepEqual([after.mtimeMs, after.ino, after.mode], [before.mtimeMs, before.ino, before.mode]);
});
