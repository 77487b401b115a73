import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addDomain } from '../../lib/accounts/domains.ts';
import { checkDomainStore, domainDir, makeHome, run } from '../helpers/accounts-home.ts';

test('vmkpasswd rebuilds vpasswd.cdb from a hand-edited vpasswd (golden step 134)', async (t) => {
  const h = makeHome(t);
  await addDomain(h.ctx, { domain: 'example.test', postmaster: { password: { clear: 'pw' } } });
  const dir = domainDir(h, 'example.test');
  const vpasswd = join(dir, 'vpasswd');
  writeFileSync(vpasswd, `${readFileSync(vpasswd, 'latin1')}hand:$1$x$y:1:0:hand:${dir}/hand:NOQUOTA:\n`);
  const r = run(h, 'vmkpasswd', ['example.test']);
  t.deepEqual([r.status, r.stdout, r.stderr], [0, '', '']);
  t.deepEqual(checkDomainStore(dir), ['postmaster', 'hand']);
});

test('an unknown domain exits 253 without a word; no argument prints the usage with 255 (golden step 135)', (t) => {
  const h = makeHome(t);
  const r = run(h, 'vmkpasswd', ['nosuch.test']);
  t.deepEqual([r.status, r.stdout, r.stderr], [253, '', '']);
  t.is(run(h, 'vmkpasswd', []).status, 255);
});
