import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { addDomain } from '../../lib/accounts/domains.ts';
import { addUser } from '../../lib/accounts/users.ts';
import { domainDir, makeHome, run, vpasswdText } from '../helpers/accounts-home.ts';

test('vsetuserquota stores what C stores for each form (golden steps 119–131)', async (t) => {
  const h = makeHome(t);
  await addDomain(h.ctx, { domain: 'example.test', postmaster: { password: { clear: 'pw' } } });
  await addUser(h.ctx, { domain: 'example.test', user: 'bob', password: { clear: 'bobpw' }, quota: '1000000S' });
  const cases: [string, string][] = [
    ['2000000', '2000000S'], ['10M', '10485760S'], ['500K', '512000S'], ['1G', '1S'],
    ['3000000S,200C', '3000000S,200C'], ['NOQUOTA', 'NOQUOTA'], ['noquota', 'NOQUOTA'], ['100c', '100C'], ['1000000', '1000000S'],
  ];
  for (const [input, stored] of cases) {
    const r = run(h, 'vsetuserquota', ['bob@example.test', input]);
    t.deepEqual([r.status, r.stdout, r.stderr], [0, '', ''], input);
    t.is(run(h, 'vuserinfo', ['-q', 'bob@example.test']).stdout, `${stored}\n`, input);
  }
  t.is(readFileSync(join(domainDir(h, 'example.test'), 'bob', 'Maildir', 'maildirsize'), 'utf8'), '1000000S\n0 0\n');
  t.is(run(h, 'vsetuserquota', ['bob@example.test', 'NOQUOTA']).status, 0);
  t.false(existsSync(join(domainDir(h, 'example.test'), 'bob', 'Maildir', 'maildirsize')));
});

test('a domain argument sets every user (golden step 132); unknown user 246, unknown domain 245 (step 133)', async (t) => {
  const h = makeHome(t);
  await addDomain(h.ctx, { domain: 'catch.test', postmaster: { password: { clear: 'pw' } } });
  await addUser(h.ctx, { domain: 'catch.test', user: 'x1', password: { clear: 'pw' } });
  t.is(run(h, 'vsetuserquota', ['catch.test', '7000000']).status, 0);
  t.true(vpasswdText(domainDir(h, 'catch.test')).every((l) => l.split(':')[6] === '7000000S'));
  const user = run(h, 'vsetuserquota', ['nobody@catch.test', '1000']);
  t.deepEqual([user.status, user.stdout, user.stderr], [246, 'Error: User does not exist\n', '']);
  t.is(run(h, 'vsetuserquota', ['nosuch.test', '1000']).status, 245);
  t.is(run(h, 'vsetuserquota', ['catch.test']).status, 255);
});
