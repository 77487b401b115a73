import test from 'ava';
import { existsSync } from 'node:fs';
import { addAliasDomain, addDomain } from '../../lib/accounts/domains.ts';
import { lookupAssignDomain } from '../../lib/store/assign.ts';
import { domainDir, makeHome, run } from '../helpers/accounts-home.ts';

async function setup(t: Parameters<typeof makeHome>[0]) {
  const h = makeHome(t);
  await addDomain(h.ctx, { domain: 'example.test', postmaster: { password: { clear: 'pw' } } });
  await addAliasDomain(h.ctx, 'example.test', 'example-alias.test');
  await addDomain(h.ctx, { domain: 'gone.test', postmaster: { password: { clear: 'pw' } } });
  return h;
}

test('vdeldomain of an alias removes only the alias, silently (golden step 199)', async (t) => {
  const h = await setup(t);
  const r = run(h, 'vdeldomain', ['example-alias.test']);
  t.deepEqual([r.status, r.stdout, r.stderr], [0, '', '']);
  t.is(lookupAssignDomain(h.qhome, 'example-alias.test'), undefined);
  t.truthy(lookupAssignDomain(h.qhome, 'example.test'));
});

test('vdeldomain of a domain removes it with its directory (golden step 200)', async (t) => {
  const h = await setup(t);
  const r = run(h, 'vdeldomain', ['gone.test']);
  t.deepEqual([r.status, r.stdout, r.stderr], [0, '', '']);
  t.false(existsSync(domainDir(h, 'gone.test')));
});

test('an unknown domain exits 245 (golden step 201)', async (t) => {
  const h = await setup(t);
  const r = run(h, 'vdeldomain', ['nosuch.test']);
  t.deepEqual([r.status, r.stdout], [245, 'Error: Domain does not exist\n']);
});

test('a domain with aliases is kept without -f and the tool says so with a failing exit; -f deletes all', async (t) => {
  const h = await setup(t);
  const kept = run(h, 'vdeldomain', ['EXAMPLE.test']);
  t.is(kept.status, 255);
  t.is(kept.stdout, 'Warning: Alias domains exist:\n   example-alias.test\n   use -f to force delete of domain and all aliases\n');
  t.true(existsSync(domainDir(h, 'example.test')));
  const gone = run(h, 'vdeldomain', ['-f', 'example.test']);
  t.is(gone.status, 0);
  t.is(gone.stdout, 'Warning: Alias domains deleted:\n   example-alias.test\n');
  t.false(existsSync(domainDir(h, 'example.test')));
  t.is(lookupAssignDomain(h.qhome, 'example-alias.test'), undefined);
});

test('no argument prints the usage and exits 0; an unknown option exits 255', async (t) => {
  const h = makeHome(t);
  t.is(run(h, 'vdeldomain', []).status, 0);
  const bad = run(h, 'vdeldomain', ['-z', 'x.test']);
  t.is(bad.status, 255);
  t.regex(bad.stderr, /invalid option -- 'z'/);
});
