import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { addDomain } from '../../lib/accounts/domains.ts';
import { addUser } from '../../lib/accounts/users.ts';
import { checkDomainStore, domainDir, makeHome, run } from '../helpers/accounts-home.ts';

test('vdeluser removes the account and its home silently (golden steps 196, 198)', async (t) => {
  const h = makeHome(t);
  await addDomain(h.ctx, { domain: 'example.test', postmaster: { password: { clear: 'pw' } } });
  await addDomain(h.ctx, { domain: 'gone.test', postmaster: { password: { clear: 'pw' } } });
  await addUser(h.ctx, { domain: 'example.test', user: 'erin', password: { clear: 'pw' } });
  const r = run(h, 'vdeluser', ['erin@example.test']);
  t.deepEqual([r.status, r.stdout, r.stderr], [0, '', '']);
  t.false(existsSync(join(domainDir(h, 'example.test'), 'erin')));
  t.deepEqual(checkDomainStore(domainDir(h, 'example.test')), ['postmaster']);
  t.is(run(h, 'vdeluser', ['postmaster@gone.test']).status, 0);
});

test('an unknown user exits 246 and an unknown domain 245 (golden step 197)', async (t) => {
  const h = makeHome(t);
  await addDomain(h.ctx, { domain: 'example.test', postmaster: { password: { clear: 'pw' } } });
  const user = run(h, 'vdeluser', ['erin@example.test']);
  t.deepEqual([user.status, user.stdout, user.stderr], [246, 'Error: User does not exist\n', '']);
  const domain = run(h, 'vdeluser', ['erin@nosuch.test']);
  t.deepEqual([domain.status, domain.stdout], [245, 'Error: Domain does not exist\n']);
});

test("the catch-all mailbox is not deleted: exit 201", async (t) => {
  const h = makeHome(t);
  await addDomain(h.ctx, { domain: 'path.test', catchAll: 'postmaster', postmaster: { password: { clear: 'pw' } } });
  const r = run(h, 'vdeluser', ['postmaster@path.test']);
  t.deepEqual([r.status, r.stdout], [201, "Error: can't delete catchall account\n"]);
  t.true(existsSync(join(domainDir(h, 'path.test'), 'postmaster')));
});

test('a bucketed user is recorded in .dir_control_free (golden step 61)', async (t) => {
  const h = makeHome(t);
  await addDomain(h.ctx, { domain: 'big.test', postmaster: { password: { clear: 'pw' } } });
  for (let i = 1; i <= 150; i++) await addUser(h.ctx, { domain: 'big.test', user: `u${String(i).padStart(3, '0')}`, password: { hash: '$1$x$y' } });
  t.is(run(h, 'vdeluser', ['u150@big.test']).status, 0);
  t.is(readFileSync(join(domainDir(h, 'big.test'), '.dir_control_free'), 'utf8'), '0\n');
});
