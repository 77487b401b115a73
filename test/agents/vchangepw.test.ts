// vchangepw as built: the address from stdin, passwords from the terminal (a real pty through
// script(1)) or, with no terminal at all (setsid), from the following lines of stdin.
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { authenticateUser } from '../../lib/accounts/authenticate.ts';
import { addAliasDomain, addDomain } from '../../lib/accounts/domains.ts';
import { addUser, modifyUser } from '../../lib/accounts/users.ts';
import { verifyPassword } from '../../lib/crypt/index.ts';
import { PW_FLAG } from '../../lib/store/limits.ts';
import { domainDir, makeHome, programPath, vpasswdText, type Home, type HomeOptions } from '../helpers/accounts-home.ts';

async function setup(t: Parameters<typeof makeHome>[0], options: HomeOptions = {}): Promise<Home> {
  const h = makeHome(t, options);
  await addDomain(h.ctx, { domain: 'example.test', postmaster: { password: { hash: '' } } });
  await addAliasDomain(h.ctx, 'example.test', 'alias.test');
  await addUser(h.ctx, { domain: 'example.test', user: 'alice', password: { clear: 'old-secret' }, checkPolicy: false });
  return h;
}

const hashOf = (h: Home, user = 'alice') => vpasswdText(domainDir(h, 'example.test')).find((l) => l.startsWith(`${user}:`))!.split(':')[1]!;

/** Run without a controlling terminal (a new session), stdin given. */
function noTerminal(h: Home, input: string) {
  const r = spawnSync('setsid', ['-w', programPath('vchangepw')], { env: h.env, input, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const SECRETS = ['old-secret', 'new-secret-1', 'wrong-one'];
function noSecrets(t: Parameters<typeof makeHome>[0], ...texts: string[]): void {
  for (const s of SECRETS) for (const text of texts) t.false(text.includes(s), `"${s}" appeared in the output`);
}

test('without a terminal: address, old and new password from stdin; the new one is set and checked', async (t) => {
  const h = await setup(t);
  const r = noTerminal(h, 'alice@example.test\nold-secret\nnew-secret-1\n');
  t.deepEqual([r.status, r.stdout, r.stderr], [0, 'Please enter the email address: alice@example.test\nPassword successfully changed.\n', '']);
  t.true(verifyPassword('new-secret-1', hashOf(h)));
  t.truthy(await authenticateUser(h.ctx, 'example.test', 'alice', 'new-secret-1'));
  t.is(await authenticateUser(h.ctx, 'example.test', 'alice', 'old-secret'), undefined);
});

test('an alias domain and upper case in the address reach the real account', async (t) => {
  const h = await setup(t);
  t.is(noTerminal(h, 'Alice@ALIAS.test\nold-secret\nnew-secret-1\n').status, 0);
  t.true(verifyPassword('new-secret-1', hashOf(h)));
});

test('a wrong password, an unknown user and an unknown domain all read "authentication failed", exit 3, and change nothing', async (t) => {
  const h = await setup(t);
  const before = hashOf(h);
  for (const address of ['alice@example.test', 'nobody@example.test', 'alice@nowhere.test']) {
    const r = noTerminal(h, `${address}\nwrong-one\nnew-secret-1\n`);
    t.deepEqual([r.status, r.stdout], [3, `Please enter the email address: ${address}\nError: authentication failed!\n`], address);
    noSecrets(t, r.stdout, r.stderr);
  }
  t.is(hashOf(h), before);
});

test('end of input at any prompt aborts with 255 and changes nothing (C: 0 at the address prompt)', async (t) => {
  const h = await setup(t);
  const before = hashOf(h);
  const none = noTerminal(h, '');
  t.deepEqual([none.status, none.stdout], [255, 'Please enter the email address: \n']);
  t.is(noTerminal(h, 'alice@example.test\n').status, 255);
  t.is(noTerminal(h, 'alice@example.test\nold-secret\n').status, 255);
  t.is(hashOf(h), before);
});

test('an address or an old password that is too long: C\'s messages and exit 3', async (t) => {
  const h = await setup(t);
  const long = noTerminal(h, `${'a'.repeat(300)}@example.test\n`);
  t.is(long.status, 3);
  t.regex(long.stdout, /Error: email address too long\n$/);
  const pw = noTerminal(h, `alice@example.test\n${'p'.repeat(128)}\nx\n`);
  t.deepEqual([pw.status, pw.stdout.split('\n').at(-2)], [3, 'Error: password too long.']);
});

test('an address with bad characters: Error: Illegal username, 255', async (t) => {
  const h = await setup(t);
  const r = noTerminal(h, 'al ice@example.test\nold-secret\nnew\n');
  t.is(r.status, 255);
  t.regex(r.stdout, /Error: Illegal username\n$/);
});

test('NO_PASSWD_CHNG on the account or from the domain\'s limits refuses the change (the owner is asking)', async (t) => {
  const h = await setup(t);
  await modifyUser(h.ctx, 'example.test', 'alice', { addFlags: PW_FLAG.NO_PASSWD_CHNG });
  const before = hashOf(h);
  const r = noTerminal(h, 'alice@example.test\nold-secret\nnew-secret-1\n');
  t.is(r.status, 255);
  t.regex(r.stdout, /Error: password changes are disabled/);
  t.is(hashOf(h), before);
  await modifyUser(h.ctx, 'example.test', 'alice', { removeFlags: PW_FLAG.NO_PASSWD_CHNG });
  writeFileSync(join(domainDir(h, 'example.test'), '.qmailadmin-limits'), 'disable_password_changing\n');
  t.is(noTerminal(h, 'alice@example.test\nold-secret\nnew-secret-1\n').status, 255);
  t.is(hashOf(h), before);
});

test('the strength policy applies: a refused password gives the policy\'s code and text, and nothing changes', async (t) => {
  const h = await setup(t, { policy: 'Policy = At least 12 characters\nLength >= 12\n' });
  const before = hashOf(h);
  const r = noTerminal(h, 'alice@example.test\nold-secret\nshort\n');
  t.is(r.status, 186); // VA_PWSTR_LENGTH
  t.regex(r.stdout, /Error: password .*\nA password policy is in place:\n\tAt least 12 characters\n$/);
  t.is(hashOf(h), before);
});

/** Run on a pty: stdin and /dev/tty are the terminal; answer each prompt once it has appeared. */
function onTerminal(h: Home, answers: readonly string[]): Promise<{ code: number | null; output: string }> {
  const prompts = /Please enter the email address: |Enter old password: |Please enter password for [^:]+: |enter password again: /g;
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', `'${programPath('vchangepw')}'`, '/dev/null'], { env: h.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let answered = 0;
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString('latin1');
      const seen = output.match(prompts)?.length ?? 0;
      while (answered < seen && answered < answers.length) child.stdin.write(`${answers[answered++]}\n`);
      if (answered >= answers.length) child.stdin.end();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

test('on a terminal: the old password once and the new one twice, with echo off; neither is shown', async (t) => {
  const h = await setup(t);
  const r = await onTerminal(h, ['alice@example.test', 'old-secret', 'new-secret-1', 'new-secret-1']);
  t.is(r.code, 0, r.output);
  t.regex(r.output, /Password successfully changed\./);
  noSecrets(t, r.output);
  t.true(verifyPassword('new-secret-1', hashOf(h)));
});

test('on a terminal: three mismatched new passwords give up and change nothing', async (t) => {
  const h = await setup(t);
  const before = hashOf(h);
  const r = await onTerminal(h, ['alice@example.test', 'old-secret', 'a1', 'b1', 'a2', 'b2', 'a3', 'b3']);
  t.not(r.code, 0);
  t.regex(r.output, /Passwords do not match, try again/);
  t.is(hashOf(h), before);
});
