import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { verifyPassword } from '../../lib/crypt/index.ts';
import { lookupAssignDomain } from '../../lib/store/assign.ts';
import { domainDir, listTree, makeHome, run, vpasswdText } from '../helpers/accounts-home.ts';

const pmLine = (h: ReturnType<typeof makeHome>, domain: string) => vpasswdText(domainDir(h, domain)).find((l) => l.startsWith('postmaster:'));

test('vadddomain -q makes the domain and a postmaster with that quota, silently (golden step 1)', (t) => {
  const h = makeHome(t);
  const r = run(h, 'vadddomain', ['-q', '5000000', 'example.test', 'pmpass']);
  t.is(r.status, 0);
  t.is(r.stdout, '');
  t.is(r.stderr, '');
  t.regex(pmLine(h, 'example.test')!, /^postmaster:\$6\$[^:]+:1:0:Postmaster:.*:5000000S:pmpass$/);
  t.is(readFileSync(join(domainDir(h, 'example.test'), 'postmaster', 'Maildir', 'maildirsize'), 'utf8'), '5000000S\n0 0\n');
});

test('an option vadddomain does not have is refused with getopt\'s complaint and usage, and nothing is made', (t) => {
  const h = makeHome(t);
  const r = run(h, 'vadddomain', ['-c', 'with-c.test', 'pw-c']);
  t.is(r.status, 255);
  t.regex(r.stderr, /vadddomain: invalid option -- 'c'\n$/);
  t.regex(r.stdout, /^usage: vadddomain/);
  t.is(lookupAssignDomain(h.qhome, 'with-c.test'), undefined);
});

test('adding an existing domain prints Error: Domain already exists and exits 243 (golden step 3)', (t) => {
  const h = makeHome(t);
  t.is(run(h, 'vadddomain', ['example.test', 'pmpass']).status, 0);
  const r = run(h, 'vadddomain', ['example.test', 'pmpass']);
  t.is(r.status, 243);
  t.is(r.stdout, 'Error: Domain already exists\n');
});

test('-e writes the catch-all into .qmail-default (golden steps 4, 5)', (t) => {
  const h = makeHome(t);
  t.is(run(h, 'vadddomain', ['-e', 'catchall@elsewhere.test', 'catch.test', 'pw-catch']).status, 0);
  t.is(run(h, 'vadddomain', ['-e', 'postmaster', 'path.test', 'pw-path']).status, 0);
  t.is(readFileSync(join(domainDir(h, 'catch.test'), '.qmail-default'), 'utf8'), `| ${h.vhome}/bin/vdelivermail '' catchall@elsewhere.test\n`);
  t.is(readFileSync(join(domainDir(h, 'path.test'), '.qmail-default'), 'utf8'), `| ${h.vhome}/bin/vdelivermail '' ${domainDir(h, 'path.test')}/postmaster\n`);
});

test('-r makes up a password, prints it, and it logs in; -r with a password is refused', (t) => {
  const h = makeHome(t);
  const r = run(h, 'vadddomain', ['-r16', 'rand.test']);
  t.is(r.status, 0);
  const m = /^Random password: (\S{16})\n$/.exec(r.stdout);
  t.truthy(m);
  t.true(verifyPassword(m![1]!, pmLine(h, 'rand.test')!.split(':')[1]!));
  const both = run(h, 'vadddomain', ['-r', 'other.test', 'pw']);
  t.is(both.status, 255);
  t.regex(both.stdout, /^Error: don't use -r option/);
  t.is(run(h, 'vadddomain', ['-r200', 'long.test']).status, 229);
});

test('without a password argument the password is read from stdin; end of input is no password', (t) => {
  const h = makeHome(t);
  t.is(run(h, 'vadddomain', ['piped.test'], { input: 's3cret\n' }).status, 0);
  t.true(verifyPassword('s3cret', pmLine(h, 'piped.test')!.split(':')[1]!));
  const none = run(h, 'vadddomain', ['empty.test']);
  t.is(none.status, 255);
  t.regex(none.stdout, /^Error: No password entered/);
  t.false(existsSync(domainDir(h, 'empty.test')));
});

test('an invalid domain name exits 244 and nothing is created', (t) => {
  const h = makeHome(t);
  const before = listTree(h.root);
  for (const name of ['nodot', 'a..b.test', 'x.test-', 'bad_char.test']) {
    const r = run(h, 'vadddomain', [name, 'pw']);
    t.is(r.status, 244, name);
    t.is(r.stdout, 'Error: Invalid domain name\n', name);
  }
  t.deepEqual(listTree(h.root), before);
});

test('-u takes the owner and base directory from the system account; an unknown account is refused', (t) => {
  const h = makeHome(t);
  const r = run(h, 'vadddomain', ['-u', 'no-such-account-here', 'sys.test', 'pw']);
  t.is(r.status, 255);
  t.is(r.stdout, 'Error: user no-such-account-here not found in /etc/passwd\n');
  t.is(lookupAssignDomain(h.qhome, 'sys.test'), undefined);
});

test('-i and -g set the owner recorded in users/assign; -d puts the domain under another base', (t) => {
  const h = makeHome(t);
  t.is(run(h, 'vadddomain', ['-i', '1234', '-g', '4321', '-d', h.root, 'owned.test', 'pw']).status, 0);
  const found = lookupAssignDomain(h.qhome, 'owned.test');
  t.deepEqual([found?.uid, found?.gid, found?.dir], [1234, 4321, join(h.root, 'domains', 'owned.test')]);
  t.true(existsSync(join(h.root, 'domains', '.dir-control')));
  t.is(run(h, 'vadddomain', ['-i', 'abc', 'x.test', 'pw']).status, 255);
});

test('no argument prints the usage and exits 0, as C does', (t) => {
  const h = makeHome(t);
  const r = run(h, 'vadddomain', []);
  t.is(r.status, 0);
  t.regex(r.stdout, /^usage: vadddomain/);
});

test('-v prints the version and carries on', (t) => {
  const h = makeHome(t);
  const r = run(h, 'vadddomain', ['-v', 'v.test', 'pw']);
  t.is(r.status, 0);
  t.is(r.stdout, 'version: 5.6.13\n');
  t.truthy(lookupAssignDomain(h.qhome, 'v.test'));
});

test('a password the policy refuses leaves no domain behind and exits with the policy code', (t) => {
  const h = makeHome(t, { policy: 'Policy = at least eight characters\nLength >= 8\n' });
  const r = run(h, 'vadddomain', ['strict.test', 'short']);
  t.is(r.status, 186);
  t.is(r.stdout, 'Error: password requires more characters \nA password policy is in place:\n\tat least eight characters\n');
  t.is(lookupAssignDomain(h.qhome, 'strict.test'), undefined);
  t.false(existsSync(domainDir(h, 'strict.test')));
});
