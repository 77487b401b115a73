import test from 'ava';
import { addDomain } from '../../lib/accounts/domains.ts';
import { addUser, modifyUser } from '../../lib/accounts/users.ts';
import { verifyPassword } from '../../lib/crypt/index.ts';
import { PW_FLAG } from '../../lib/store/limits.ts';
import { domainDir, makeHome, run, vpasswdText, type Home } from '../helpers/accounts-home.ts';

async function setup(t: Parameters<typeof makeHome>[0], options = {}): Promise<Home & { dir: string }> {
  const h = makeHome(t, options);
  await addDomain(h.ctx, { domain: 'example.test', postmaster: { password: { clear: 'pmpassword' }, checkPolicy: false } });
  await addUser(h.ctx, { domain: 'example.test', user: 'alice', password: { clear: 'alicepw1' }, checkPolicy: false });
  return { ...h, dir: domainDir(h, 'example.test') };
}
const alice = (h: { dir: string }) => vpasswdText(h.dir).find((l) => l.startsWith('alice:'))!.split(':');

test('vpasswd sets a new hash and clear text silently (golden step 116)', async (t) => {
  const h = await setup(t);
  const r = run(h, 'vpasswd', ['alice@example.test', 'alicepw2']);
  t.deepEqual([r.status, r.stdout, r.stderr], [0, '', '']);
  t.true(verifyPassword('alicepw2', alice(h)[1]!));
  t.is(alice(h)[7], 'alicepw2');
});

test('-r10 prints the random password it set (golden step 117)', async (t) => {
  const h = await setup(t);
  const r = run(h, 'vpasswd', ['-r10', 'alice@example.test']);
  t.is(r.status, 0);
  const pw = /^Random password: (\S{10})\n$/.exec(r.stdout)?.[1];
  t.truthy(pw);
  t.true(verifyPassword(pw!, alice(h)[1]!));
});

test('an unknown user exits 255 on stdout (golden step 118)', async (t) => {
  const h = await setup(t);
  const r = run(h, 'vpasswd', ['nobody@example.test', 'pw']);
  t.is(r.status, 255);
  t.is(r.stdout, 'Error: User does not exist\n');
});

test('root may change the password of an account that may not change it itself', async (t) => {
  const h = await setup(t);
  await modifyUser(h.ctx, 'example.test', 'alice', { addFlags: PW_FLAG.NO_PASSWD_CHNG });
  t.is(run(h, 'vpasswd', ['alice@example.test', 'adminset']).status, 0);
  t.true(verifyPassword('adminset', alice(h)[1]!));
});

test('the policy refuses a weak password with its code and description, and the old one stays', async (t) => {
  const h = await setup(t, { policy: 'Policy = ten or more characters\nLength >= 10\n' });
  const before = alice(h);
  const r = run(h, 'vpasswd', ['alice@example.test', 'short']);
  t.deepEqual([r.status, r.stdout], [186, 'Error: password requires more characters \nA password policy is in place:\n\tten or more characters\n']);
  t.deepEqual(alice(h), before);
});

test('the new password can come from stdin, so it never appears in the process list', async (t) => {
  const h = await setup(t);
  t.is(run(h, 'vpasswd', ['alice@example.test'], { input: 'via-stdin\n' }).status, 0);
  t.true(verifyPassword('via-stdin', alice(h)[1]!));
  const none = run(h, 'vpasswd', ['alice@example.test']);
  t.is(none.status, 255);
});
