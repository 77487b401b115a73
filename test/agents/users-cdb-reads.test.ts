// A one-shot program reads users/cdb once for the domain it serves, however many of its steps need
// the domain (the login's domain, the user store, the limits, lastauth): counted with strace.
import test from 'ava';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rememberingAssignLookup, lookupAssignDomain } from '../../lib/store/assign.ts';
import { checkpassword, mailWorld, runProgram, type MailWorld } from '../helpers/mail-world.ts';
import { deliveryWorld, runVdelivermail } from '../helpers/qmail-env.ts';

/** Run under strace (openat only) and count the opens of users/cdb. */
function tracedOpens(t: import('ava').ExecutionContext, w: MailWorld, run: (wrap: string[]) => { status: number | null; stderr: string }): number {
  const dir = mkdtempSync(join(tmpdir(), 'vpopmail-strace-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o777); // vdelivermail runs as the domain owner
  const out = join(dir, 'trace');
  const r = run(['strace', '-f', '-qq', '-e', 'trace=openat', '-o', out]);
  t.is(r.status, 0, r.stderr);
  const cdb = join(w.qhome, 'users', 'cdb');
  return readFileSync(out, 'utf8').split('\n').filter((l) => l.includes(`"${cdb}"`)).length;
}

test('vchkpw: a POP3 login with lastauth and a relay opens users/cdb once', async (t) => {
  const w = await mailWorld(t);
  await w.addDomain('example.test');
  await w.addUser('alice@example.test', 'alice-pw');
  const n = tracedOpens(t, w, (wrap) =>
    runProgram(w, 'vchkpw', ['/bin/true'], { wrap, fd3: checkpassword('alice@example.test', 'alice-pw'), env: { TCPLOCALPORT: '110', TCPREMOTEIP: '192.0.2.7' } }),
  );
  t.is(n, 1);
  t.regex(readFileSync(join(w.vhome, 'domains/example.test/alice/lastauth'), 'latin1'), /^192\.0\.2\.7$/, 'the login still wrote lastauth');
});

test('vuserinfo: one user opens users/cdb once', async (t) => {
  const w = await mailWorld(t);
  await w.addDomain('example.test');
  await w.addUser('alice@example.test', 'alice-pw');
  let stdout = '';
  const n = tracedOpens(t, w, (wrap) => {
    const r = runProgram(w, 'vuserinfo', ['alice@example.test'], { wrap });
    stdout = r.stdout;
    return r;
  });
  t.is(n, 1);
  t.regex(stdout, /^name:\s+alice$/m);
});

test('vdelivermail: a delivery opens users/cdb once', async (t) => {
  const w = await deliveryWorld(t);
  await w.addDomain('example.test');
  await w.addUser('alice@example.test', 'alice-pw');
  const file = w.message('m1', 'Subject: hi\n\nbody\n');
  const n = tracedOpens(t, w, (wrap) => runVdelivermail(w, 'alice', 'example.test', 'bounce-no-mailbox', { file, wrap }));
  t.is(n, 1);
});

test('rememberingAssignLookup answers as lookupAssignDomain, keeps answers by lower-cased name, and keeps no failure', async (t) => {
  const w = await mailWorld(t);
  await w.addDomain('example.test');
  const resolve = rememberingAssignLookup(w.qhome);
  const direct = lookupAssignDomain(w.qhome, 'example.test');
  t.truthy(direct);
  t.deepEqual(resolve('Example.TEST'), direct);
  t.is(resolve('nowhere.test'), undefined);
  const cdb = join(w.qhome, 'users', 'cdb');
  const saved = readFileSync(cdb);
  rmSync(cdb);
  t.deepEqual(resolve('example.test'), direct, 'the kept answer, without users/cdb');
  t.is(resolve('nowhere.test'), undefined, 'a kept miss');
  // a damaged users/cdb is a TempError every time it is asked, never a kept "no such domain"
  writeFileSync(cdb, saved.subarray(0, 100));
  t.throws(() => resolve('other.test'), { message: /unable to read/ });
  t.throws(() => resolve('other.test'), { message: /unable to read/ });
});
