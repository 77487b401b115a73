import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { addAliasDomain, addDomain } from '../../lib/accounts/domains.ts';
import { verifyPassword } from '../../lib/crypt/index.ts';
import { domainDir, listTree, makeHome, run, vpasswdText, type Home } from '../helpers/accounts-home.ts';

const HASH6 = '$6$Gold3nSa$tgzfiKEBlmebiYch15GKkrR5Tsfn03Mr7afOGTC7oSs3AYGKt6HY1BMJAgR6ODqjkkMawTHcVFzf7wYuwfII6/';
const HASH1 = '$1$Gold3nSa$SCZGo/u1MpOW7fVg02r6g.';

async function setup(t: Parameters<typeof makeHome>[0], options = {}): Promise<Home & { dir: string }> {
  const h = makeHome(t, options);
  await addDomain(h.ctx, { domain: 'example.test', postmaster: { password: { clear: 'pmpassword' }, checkPolicy: false } });
  await addAliasDomain(h.ctx, 'example.test', 'example-alias.test');
  return { ...h, dir: domainDir(h, 'example.test') };
}

const lineOf = (h: { dir: string }, user: string) => vpasswdText(h.dir).find((l) => l.startsWith(`${user}:`));

test('vadduser adds users silently as in golden steps 21–28 and 32', async (t) => {
  const h = await setup(t);
  const cases: [string[], RegExp][] = [
    [['alice@example.test', 'alicepw1'], /^alice:\$6\$[^:]+:1:0:alice:.*\/alice:NOQUOTA:alicepw1$/],
    [['-q', '1000000', 'bob@example.test', 'bobpw'], /^bob:\$6\$[^:]+:1:0:bob:.*\/bob:1000000S:bobpw$/],
    [['-c', 'Carol Singer', 'carol@example.test', 'carolpw'], /^carol:\$6\$[^:]+:1:0:Carol Singer:.*\/carol:NOQUOTA:carolpw$/],
    [['-e', HASH6, 'dave@example.test'], new RegExp(`^dave:${HASH6.replaceAll('$', '\\$')}:1:0:dave:.*/dave:NOQUOTA:$`)],
    [['-q', 'NOQUOTA', '-e', HASH1, 'dora@example.test'], /^dora:\$1\$Gold3nSa\$SCZGo\/u1MpOW7fVg02r6g\.:1:0:dora:.*:NOQUOTA:$/],
    [['-q', '3000', 'tiny@example.test', 'tinypw'], /^tiny:[^:]+:1:0:tiny:.*:3000S:tinypw$/],
    [['gina@example-alias.test', 'ginapw'], /^gina:\$6\$[^:]+:1:0:gina:.*\/example\.test\/gina:NOQUOTA:ginapw$/],
  ];
  for (const [args, pattern] of cases) {
    const r = run(h, 'vadduser', args);
    t.deepEqual([r.status, r.stdout, r.stderr], [0, '', ''], args.join(' '));
    const user = args.at(-1)!.includes('@') ? args.at(-1)! : args.at(-2)!;
    t.regex(lineOf(h, user.split('@')[0]!) ?? '', pattern, args.join(' '));
  }
  t.is(readFileSync(join(h.dir, 'bob', 'Maildir', 'maildirsize'), 'utf8'), '1000000S\n0 0\n');
  t.is(readFileSync(join(h.dir, 'tiny', 'Maildir', 'maildirsize'), 'utf8'), '3000S\n0 0\n');
});

test('-r8 prints the random password it stored (golden step 26)', async (t) => {
  const h = await setup(t);
  const r = run(h, 'vadduser', ['-r8', 'erin@example.test']);
  t.is(r.status, 0);
  const pw = /^Random password: (\S{8})\n$/.exec(r.stdout)?.[1];
  t.truthy(pw);
  const line = lineOf(h, 'erin')!;
  t.true(line.endsWith(`:${pw}`));
  t.true(verifyPassword(pw!, line.split(':')[1]!));
});

test('an existing user and an unknown domain exit 255 with C texts on stdout (golden steps 29, 30)', async (t) => {
  const h = await setup(t);
  t.is(run(h, 'vadduser', ['alice@example.test', 'alicepw1']).status, 0);
  const again = run(h, 'vadduser', ['alice@example.test', 'otherpw']);
  t.deepEqual([again.status, again.stdout, again.stderr], [255, 'Error: User already exists\n', '']);
  const nodomain = run(h, 'vadduser', ['zed@nosuch.test', 'zedpw']);
  t.deepEqual([nodomain.status, nodomain.stdout, nodomain.stderr], [255, 'Error: Domain does not exist\n', '']);
});

test('a name with a bad character gives C two lines and exit 255 (golden step 31)', async (t) => {
  const h = await setup(t);
  const r = run(h, 'vadduser', ['bad name@example.test', 'pw']);
  t.deepEqual([r.status, r.stdout, r.stderr], [255, 'Error: Illegal username\n', 'user invalid bad name\n']);
});

test('names that would leave or hide in the domain directory are refused and nothing is made', async (t) => {
  const h = await setup(t);
  const before = listTree(h.root);
  for (const name of ['../evil', '.hidden', '..', 'x/y']) {
    const r = run(h, 'vadduser', [`${name}@example.test`, 'pw']);
    t.is(r.status, 255, name);
    t.is(r.stdout, 'Error: Illegal username\n', name);
    t.not(r.stderr, '', name);
  }
  t.false(existsSync(join(h.root, 'vpopmail', 'domains', 'evil')));
  t.deepEqual(listTree(h.root), before);
});

test('the password is read from stdin when it is not given; an empty stdin is no password', async (t) => {
  const h = await setup(t);
  t.is(run(h, 'vadduser', ['piped@example.test'], { input: 'fromstdin\n' }).status, 0);
  t.true(verifyPassword('fromstdin', lineOf(h, 'piped')!.split(':')[1]!));
  const none = run(h, 'vadduser', ['nopw@example.test']);
  t.is(none.status, 255);
  t.regex(none.stdout, /^Error: No password entered\n/);
  t.is(lineOf(h, 'nopw'), undefined);
});

test('an address without a domain uses VPOPMAIL_DOMAIN, and with none says to use a full address', async (t) => {
  const h = await setup(t);
  t.is(run(h, 'vadduser', ['local', 'pw'], { env: { VPOPMAIL_DOMAIN: 'example.test' } }).status, 0);
  t.truthy(lineOf(h, 'local'));
  const r = run(h, 'vadduser', ['other', 'pw']);
  t.deepEqual([r.status, r.stdout], [255, 'You did not use a full email address for the user name\nOnly full email addresses should be used\n']);
});

test('the removed -n option and unknown options are refused with usage; -s only warns', async (t) => {
  const h = await setup(t);
  const n = run(h, 'vadduser', ['-n', 'nn@example.test', 'pw']);
  t.is(n.status, 255);
  t.regex(n.stderr, /invalid option -- 'n'/);
  t.is(lineOf(h, 'nn'), undefined);
  const s = run(h, 'vadduser', ['-s', 'ss@example.test', 'pw']);
  t.is(s.status, 0);
  t.not(s.stderr, '');
});

test('a quota longer than 20 characters is refused with C code 227 and no account', async (t) => {
  const h = await setup(t);
  const r = run(h, 'vadduser', ['-q', '1'.repeat(21), 'qq@example.test', 'pw']);
  t.deepEqual([r.status, r.stdout], [227, 'Error: quota too long (max=20)\n']);
  t.is(lineOf(h, 'qq'), undefined);
});

test('a user name over 64 characters exits 231', async (t) => {
  const h = await setup(t);
  const r = run(h, 'vadduser', [`${'l'.repeat(65)}@example.test`, 'pw']);
  t.deepEqual([r.status, r.stdout], [231, 'Error: user name too long (max=64)\n']);
});

test('the password never shows in the tool output, even when the add fails', async (t) => {
  const h = await setup(t, { policy: 'Length >= 30\n' });
  const r = run(h, 'vadduser', ['pwtest@example.test', 'TopSecretPassword']);
  t.not(r.status, 0);
  t.false(r.stdout.includes('TopSecretPassword'));
  t.false(r.stderr.includes('TopSecretPassword'));
});
