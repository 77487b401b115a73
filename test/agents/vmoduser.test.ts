import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { addDomain } from '../../lib/accounts/domains.ts';
import { addUser } from '../../lib/accounts/users.ts';
import { verifyPassword } from '../../lib/crypt/index.ts';
import { domainDir, makeHome, run, vpasswdText, type Home } from '../helpers/accounts-home.ts';

const HASH1 = '$1$Gold3nSa$SCZGo/u1MpOW7fVg02r6g.';

async function setup(t: Parameters<typeof makeHome>[0]): Promise<Home & { dir: string }> {
  const h = makeHome(t);
  await addDomain(h.ctx, { domain: 'example.test', postmaster: { password: { clear: 'pw' } } });
  await addUser(h.ctx, { domain: 'example.test', user: 'frank', password: { clear: 'frankpw' } });
  await addUser(h.ctx, { domain: 'example.test', user: 'erin', password: { clear: 'erinclear' } });
  return { ...h, dir: domainDir(h, 'example.test') };
}

const field = (h: { dir: string }, user: string, n: number) => vpasswdText(h.dir).find((l) => l.startsWith(`${user}:`))!.split(':')[n];

test('flags accumulate letter by letter to the values of golden steps 67–104', async (t) => {
  const h = await setup(t);
  const expected: [string, number][] = [
    ['-d', 1], ['-p', 3], ['-s', 2051], ['-w', 2055], ['-i', 2063], ['-b', 2079], ['-o', 10271], ['-r', 10303],
    ['-a', 14399], ['-S', 79935], ['-E', 211007], ['-f', 227391], ['-F', 260159], ['-m', 522303], ['-u', 522367],
    ['-0', 522495], ['-1', 522751], ['-2', 523263], ['-3', 524287],
  ];
  for (const [opt, gid] of expected) {
    if (opt === '-E') t.is(run(h, 'vuserinfo', ['-g', 'frank@example.test']).stdout, '79935\n'); // what vuserinfo -g shows
    const r = run(h, 'vmoduser', [opt, 'frank@example.test']);
    t.deepEqual([r.status, r.stdout, r.stderr], [0, '', ''], opt);
    t.is(field(h, 'frank', 3), String(gid), opt);
  }
  t.is(run(h, 'vmoduser', ['-x', 'frank@example.test']).status, 0);
  t.is(field(h, 'frank', 3), '0');
  t.is(run(h, 'vmoduser', ['-x', '-p', 'frank@example.test']).status, 0);
  t.is(field(h, 'frank', 3), '2');
});

test('-X clears only the named flags', async (t) => {
  const h = await setup(t);
  run(h, 'vmoduser', ['-p', '-s', '-i', 'frank@example.test']);
  t.is(run(h, 'vmoduser', ['-X', 'ps', 'frank@example.test']).status, 0);
  t.is(field(h, 'frank', 3), '8');
  t.is(run(h, 'vmoduser', ['-X', 'q', 'frank@example.test']).status, 255);
});

test('-c, -q, -C and -n -c change the fields of golden steps 65, 66, 110, 112', async (t) => {
  const h = await setup(t);
  t.is(run(h, 'vmoduser', ['-c', 'Frank N. Stein', 'frank@example.test']).status, 0);
  t.is(run(h, 'vmoduser', ['-q', '3000000', 'frank@example.test']).status, 0);
  t.is(readFileSync(join(h.dir, 'frank', 'Maildir', 'maildirsize'), 'utf8'), '3000000S\n0 0\n');
  t.is(run(h, 'vmoduser', ['-C', 'frankpw2', 'frank@example.test']).status, 0);
  t.is(run(h, 'vmoduser', ['-n', '-c', 'No Index', 'erin@example.test']).status, 0);
  t.is(field(h, 'frank', 4), 'Frank N. Stein');
  t.is(field(h, 'frank', 6), '3000000S');
  t.is(field(h, 'frank', 7), 'frankpw2');
  t.true(verifyPassword('frankpw2', field(h, 'frank', 1)!));
  t.is(field(h, 'erin', 4), 'No Index');
});

test('-e stores the hash and empties the old clear-text password (C keeps it)', async (t) => {
  const h = await setup(t);
  t.is(run(h, 'vmoduser', ['-e', HASH1, 'erin@example.test']).status, 0);
  t.is(field(h, 'erin', 1), HASH1);
  t.is(field(h, 'erin', 7), '');
  t.false(readFileSync(join(h.dir, 'vpasswd.cdb'), 'latin1').includes('erinclear'));
});

test('a domain argument changes every user (golden step 113); an unknown domain exits 245', async (t) => {
  const h = await setup(t);
  t.is(run(h, 'vmoduser', ['-q', '4000000', 'example.test']).status, 0);
  t.true(vpasswdText(h.dir).every((l) => l.split(':')[6] === '4000000S'));
  t.is(run(h, 'vmoduser', ['-q', '1', 'nosuch.test']).status, 245);
});

test('-h prints the usage and exits 0; an unknown user is `no such user` with exit 255 (golden steps 114, 115)', async (t) => {
  const h = await setup(t);
  const help = run(h, 'vmoduser', ['-h']);
  t.is(help.status, 0);
  t.regex(help.stdout, /^usage: vmoduser/);
  const r = run(h, 'vmoduser', ['-p', 'nobody@example.test']);
  t.deepEqual([r.status, r.stdout, r.stderr], [255, 'no such user nobody@example.test\n', '']);
});

test('a colon in the comment is refused (it would split the vpasswd line) and unknown options too', async (t) => {
  const h = await setup(t);
  const before = vpasswdText(h.dir);
  const r = run(h, 'vmoduser', ['-c', 'a:b', 'frank@example.test']);
  t.deepEqual([r.status, r.stdout], [236, 'Error: bad character\n']);
  const bad = run(h, 'vmoduser', ['-Z', 'frank@example.test']);
  t.is(bad.status, 255);
  t.deepEqual(vpasswdText(h.dir), before);
});
