// upgrade-hash-on-login = yes (README "Password hashes"): a good plain-text login through the built
// vchkpw or vpopmaild replaces a DES or $1$ hash with one of the configured scheme; nothing else
// changes, and nothing changes when the setting is off, the password is wrong, the login is not
// plain text, the hash is already strong, or DES could not tell the typed password from another.
import test, { type ExecutionContext } from 'ava';
import { accountsContext } from '../../lib/accounts/context.ts';
import { modifyUser } from '../../lib/accounts/users.ts';
import { isFaithfulSecret, isWeakerThanConfigured, upgradeHashAfterLogin } from '../../lib/auth/hash-upgrade.ts';
import { createCdbBackend } from '../../lib/backends/cdb.ts';
import { cramMd5Response, crypt, hashPassword, schemeOf, verifyPassword } from '../../lib/crypt/index.ts';
import { checkpassword } from '../helpers/mail-world.ts';
import { agreedPairProblems, makeWorld, runBuilt, summarize, type World } from '../helpers/reliability.ts';
import { noteSecret } from '../helpers/capture.ts';

const D = 'hash.test';
let trials = 0;
let failures = 0;
const count = (ok: boolean) => {
  trials++;
  if (!ok) failures++;
};

interface Account {
  readonly user: string;
  readonly password: string;
  readonly hash: string;
  readonly clear?: string;
}

const DES_PW = 'des-pw7'; // 7 bytes: all of it reaches DES
const ACCOUNTS: readonly Account[] = [
  { user: 'des', password: DES_PW, hash: crypt(DES_PW, 'ab')! },
  { user: 'md5', password: 'Md5-password-1', hash: hashPassword('Md5-password-1', 'md5') },
  { user: 'sha', password: 'Sha-password-1', hash: hashPassword('Sha-password-1', 'sha512') },
  // DES kept only `Longpass`; the owner's password is longer, and no clear text is kept
  { user: 'longdes', password: 'Longpass-of-the-owner', hash: crypt('Longpass', 'cd')! },
  // the same, but the account keeps its clear text: that tells the owner's password apart
  { user: 'cleardes', password: 'Cleardes-of-the-owner', hash: crypt('Cleardes', 'ef')!, clear: 'Cleardes-of-the-owner' },
];

async function world(t: ExecutionContext, conf: string): Promise<World> {
  const w = makeWorld(t, { conf });
  await w.addDomain(D);
  for (const a of ACCOUNTS) {
    await w.addUser(`${a.user}@${D}`, a.password);
    const e = (await w.backend.getUser(D, a.user))!;
    await w.backend.setUser(D, { ...e, passwd: a.hash, clear: a.clear ?? '' });
    noteSecret(a.hash);
  }
  return w;
}

async function stored(w: World, user: string): Promise<string> {
  return (await w.backend.getUser(D, user))!.passwd;
}

function vchkpw(w: World, user: string, password: string, env: Record<string, string> = {}, challenge = '') {
  return runBuilt('vchkpw', ['/bin/true'], { fd3: checkpassword(`${user}@${D}`, password, challenge), env: { ...w.env, TCPLOCALPORT: '110', TCPREMOTEIP: '192.0.2.50', ...env } });
}

test('on: a good vchkpw login turns DES and $1$ into $6$ of the same password; $6$ stays byte for byte; vpasswd.cdb agrees', async (t) => {
  const w = await world(t, 'upgrade-hash-on-login = yes\n');
  for (const a of ACCOUNTS.slice(0, 3)) {
    const r = await vchkpw(w, a.user, a.password);
    t.is(r.code, 0, r.stderr);
    const now = await stored(w, a.user);
    if (a.user === 'sha') t.is(now, a.hash, 'a strong hash is not rewritten');
    else {
      t.is(schemeOf(now), 'sha512-crypt', `${a.user} now has the configured scheme`);
      t.true(verifyPassword(a.password, now), 'and it verifies the same password');
      t.regex(r.stderr, new RegExp(`password hash upgraded user=${a.user} domain=${D}`));
      t.false(r.stderr.includes(a.password) || r.stderr.includes(now), 'the log holds neither the password nor a hash');
    }
    count(a.user === 'sha' ? now === a.hash : schemeOf(now) === 'sha512-crypt' && verifyPassword(a.password, now));
    const again = await vchkpw(w, a.user, a.password);
    t.is(again.code, 0, 'the upgraded account still logs in');
  }
  t.deepEqual(agreedPairProblems(w.domainDir(D)), [], 'vpasswd and vpasswd.cdb hold the same lines');
  const other = (await w.backend.getUser(D, 'md5'))!;
  t.is(other.clear, '', 'the clear-text field is left as it was');
});

test('off (the default), a wrong password, or a CRAM-MD5 login leave a weak hash alone', async (t) => {
  const off = await world(t, '');
  t.is((await vchkpw(off, 'des', DES_PW)).code, 0);
  t.is(await stored(off, 'des'), ACCOUNTS[0]!.hash, 'off by default');
  const on = await world(t, 'upgrade-hash-on-login = yes\n');
  t.is((await vchkpw(on, 'md5', 'Md5-password-2')).code, 3);
  t.is(await stored(on, 'md5'), ACCOUNTS[1]!.hash, 'a wrong password changes nothing');
  // CRAM-MD5 proves knowledge of the clear text without sending it: nothing to hash.
  const e = (await on.backend.getUser(D, 'md5'))!;
  await on.backend.setUser(D, { ...e, clear: 'Md5-password-1' });
  const challenge = '<1234.5678@hash.test>';
  const r = await vchkpw(on, 'md5', cramMd5Response(Buffer.from('Md5-password-1'), Buffer.from(challenge)), { TCPLOCALPORT: '25' }, challenge);
  t.is(r.code, 0, r.stderr);
  t.is(await stored(on, 'md5'), ACCOUNTS[1]!.hash, 'a CRAM-MD5 login changes nothing');
  count(true);
});

test('DES: a longer typed password that DES cannot tell from the owner\'s logs in (as in C) but does not replace the hash; with a clear-text copy the owner\'s own is upgraded', async (t) => {
  const w = await world(t, 'upgrade-hash-on-login = yes\n');
  const long = ACCOUNTS[3]!;
  // An attacker's guess with the same first 8 characters passes DES...
  const r = await vchkpw(w, 'longdes', 'Longpass-guessed-by-someone');
  t.is(r.code, 0, 'DES checks 8 characters, as crypt(3) does');
  t.is(await stored(w, 'longdes'), long.hash, '...but storing its hash would lock the owner out: not upgraded');
  t.is((await vchkpw(w, 'longdes', long.password)).code, 0, 'the owner still logs in');
  t.is((await vchkpw(w, 'longdes', 'Longpass')).code, 0);
  t.is(schemeOf(await stored(w, 'longdes')), 'sha512-crypt', 'the 8 bytes DES saw are upgraded');

  const clear = ACCOUNTS[4]!;
  t.is((await vchkpw(w, 'cleardes', 'Cleardes-typed-by-someone')).code, 0);
  t.is(await stored(w, 'cleardes'), clear.hash, 'not the clear-text copy: not upgraded');
  t.is((await vchkpw(w, 'cleardes', clear.password)).code, 0);
  const now = await stored(w, 'cleardes');
  t.true(schemeOf(now) === 'sha512-crypt' && verifyPassword(clear.password, now), 'the whole password of the owner is hashed');
  count(verifyPassword(clear.password, now));
});

test('hash-scheme = md5: DES becomes $1$, $1$ is not rewritten at every login', async (t) => {
  const w = await world(t, 'upgrade-hash-on-login = yes\nhash-scheme = md5\n');
  t.is((await vchkpw(w, 'des', DES_PW)).code, 0);
  t.is(schemeOf(await stored(w, 'des')), 'md5-crypt');
  t.is((await vchkpw(w, 'md5', 'Md5-password-1')).code, 0);
  t.is(await stored(w, 'md5'), ACCOUNTS[1]!.hash);
  count(true);
});

test('vpopmaild login upgrades the same way, only when the setting is on', async (t) => {
  for (const on of [false, true]) {
    const w = await world(t, on ? 'upgrade-hash-on-login = yes\n' : '');
    const r = await runBuilt('vpopmaild', [], { input: `slogin des@${D} ${DES_PW}\r\nquit\r\n`, env: { ...w.env, TCPREMOTEIP: '192.0.2.51' } });
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /^\+OK/);
    const now = await stored(w, 'des');
    if (on) {
      t.true(schemeOf(now) === 'sha512-crypt' && verifyPassword(DES_PW, now), 'upgraded');
      t.regex(r.stderr, /password hash upgraded/);
    } else t.is(now, ACCOUNTS[0]!.hash, 'left alone');
    t.false(r.stderr.includes(DES_PW));
    t.deepEqual(agreedPairProblems(w.domainDir(D)), []);
    count(on ? schemeOf(now) === 'sha512-crypt' : now === ACCOUNTS[0]!.hash);
  }
});

test('an upgrade never overwrites a password changed after the login read the record', async (t) => {
  const w = await world(t, 'upgrade-hash-on-login = yes\n');
  const ctx = accountsContext(w.config, createCdbBackend(w.config), 'host');
  const verified = (await w.backend.getUser(D, 'md5'))!;
  await modifyUser(ctx, D, 'md5', { password: { clear: 'Admin-set-pw-1' } });
  const r = await upgradeHashAfterLogin(ctx, D, verified, Buffer.from('Md5-password-1'));
  t.is(r.outcome, 'changed-meanwhile');
  t.true(verifyPassword('Admin-set-pw-1', await stored(w, 'md5')), "the administrator's password stands");
  t.true(isWeakerThanConfigured('$1$abc$def', 'sha512') && !isWeakerThanConfigured('$1$abc$def', 'md5') && !isWeakerThanConfigured('$y$j9T$x$y', 'sha512'));
  t.true(isFaithfulSecret(crypt('abc', 'ab')!, Buffer.from('abc'), undefined) && !isFaithfulSecret(crypt('abc', 'ab')!, Buffer.from('abcdefghi'), undefined));
  t.false(isFaithfulSecret(crypt('abc', 'ab')!, Buffer.from([0x61, 0xe2]), undefined), 'DES drops the 8th bit: not faithful');
  count(r.outcome === 'changed-meanwhile');
});

test.after.always('hash upgrade: one line for the run report', (t) => {
  summarize(t as unknown as ExecutionContext, 'password policy beyond C (hash upgrade on login)', trials, failures);
});
