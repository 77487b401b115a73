import test from 'ava';
import { addDomain } from '../../lib/accounts/domains.ts';
import { lookupAssignDomain } from '../../lib/store/assign.ts';
import { makeHome, run } from '../helpers/accounts-home.ts';

async function withDomain(t: Parameters<typeof makeHome>[0]) {
  const h = makeHome(t);
  await addDomain(h.ctx, { domain: 'example.test', postmaster: { password: { clear: 'pw' } } });
  return h;
}

test('vaddaliasdomain adds the alias silently, in either order (golden step 8)', async (t) => {
  const h = await withDomain(t);
  const r = run(h, 'vaddaliasdomain', ['example.test', 'example-alias.test']);
  t.deepEqual([r.status, r.stdout, r.stderr], [0, '', '']);
  t.is(lookupAssignDomain(h.qhome, 'example-alias.test')?.domain, 'example.test');
  t.is(run(h, 'vaddaliasdomain', ['second-alias.test', 'example.test']).status, 0);
  t.is(lookupAssignDomain(h.qhome, 'second-alias.test')?.domain, 'example.test');
});

test('neither, both and the same name are refused on stdout with exit 255 (golden step 9)', async (t) => {
  const h = await withDomain(t);
  const neither = run(h, 'vaddaliasdomain', ['nosuch.test', 'alias2.test']);
  t.deepEqual([neither.status, neither.stdout], [255, "Error: Neither 'nosuch.test' or 'alias2.test'  exist, unable to create alias.\n"]);
  await addDomain(h.ctx, { domain: 'other.test', postmaster: { password: { clear: 'pw' } } });
  const both = run(h, 'vaddaliasdomain', ['example.test', 'other.test']);
  t.deepEqual([both.status, both.stdout], [255, 'Error: Both domains already exist, unable to create alias.\n']);
  const same = run(h, 'vaddaliasdomain', ['example.test', 'EXAMPLE.test']);
  t.is(same.status, 255);
  t.regex(same.stdout, /^Error: real domain and alias domain are the same!\n/);
});

test('fewer than two names print the usage and exit 255', async (t) => {
  const h = await withDomain(t);
  const r = run(h, 'vaddaliasdomain', ['example.test']);
  t.is(r.status, 255);
  t.regex(r.stdout, /^usage: vaddaliasdomain/);
});
