import test from 'ava';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCdbBackend } from '../../lib/backends/cdb.ts';
import { canonicalPath, isWithin, resolveClientPath } from '../../lib/daemon/paths.ts';
import { statusLine } from '../../lib/daemon/protocol.ts';
import { daemonContext, tempHome } from './harness.ts';
import { handlerContext, loginAs, makeAccount, makeDomain } from './fixtures.ts';

async function world(t: import('ava').ExecutionContext) {
  const home = tempHome(t);
  const backend = createCdbBackend(home.config);
  const daemon = daemonContext(home, { backend });
  const dom = makeDomain(home, 'example.com');
  const evil = makeDomain(home, 'example.com.evil.net');
  const bob = await makeAccount(home, backend, 'example.com', 'bob');
  const bobby = await makeAccount(home, backend, 'example.com', 'bobby');
  const pm = await makeAccount(home, backend, 'example.com', 'postmaster');
  const admin = await makeAccount(home, backend, 'example.com', 'admin', { gid: 0x10000 });
  const as = (entry: typeof bob) => handlerContext(daemon, loginAs(home, 'example.com', entry));
  return { home, dom, evil, bob, bobby, pm, admin, as };
}

async function outcome(ctx: ReturnType<Awaited<ReturnType<typeof world>>['as']>, arg: string, use: 'follow' | 'entry' = 'follow') {
  const r = await resolveClientPath(ctx, arg, use);
  return r.ok ? r.value.path : statusLine(r.reply);
}

test('isWithin compares whole path components, not string prefixes', (t) => {
  t.true(isWithin('/d/example.com', '/d/example.com'));
  t.true(isWithin('/d/example.com/bob', '/d/example.com'));
  t.false(isWithin('/d/example.com.evil.net/x', '/d/example.com'));
  t.false(isWithin('/d/bobby', '/d/bob'));
});

test('the syntax checks come first: .., %, a missing / and an @ after the first /', async (t) => {
  const w = await world(t);
  const ctx = w.as(w.admin);
  t.is(await outcome(ctx, 'example.com/../x'), '-ERR 20.1501 Invalid Directory.  .. not allowed in path');
  t.is(await outcome(ctx, 'bob%example.com/x'), '-ERR 21.1502 Invalid Directory.  % not allowed in path');
  t.is(await outcome(ctx, 'example.com'), "-ERR 22.1503 Invalid Directory.  Do you need a trailing '/'?");
  t.is(await outcome(ctx, 'example.com/x@y'), '-ERR 23.1504 Invalid Directory. Found / before @');
  t.is(await outcome(ctx, 'b(b@example.com/x'), "-ERR 24.1505 Invalid Directory. Can't parse email address");
  t.is(await outcome(ctx, 'nobody@example.com/x'), '-ERR 25.1506 Invalid Directory. Unknown email address');
  t.is(await outcome(ctx, 'nosuch.test/x'), '-ERR 11.1509 Not Authorized for domain');
});

test('user@domain/rest is the account home, domain/rest the domain directory', async (t) => {
  const w = await world(t);
  const ctx = w.as(w.admin);
  t.is(await outcome(ctx, 'bob@example.com/Maildir'), join(w.bob.dir, 'Maildir'));
  t.is(await outcome(ctx, 'example.com/.qmail-info'), join(w.dom, '.qmail-info'));
  t.is(await outcome(ctx, 'example.com/INFO/'), join(w.dom, 'INFO'));
});

test('a user reaches only its own home: not bobby (a longer name), not another account by address', async (t) => {
  const w = await world(t);
  const ctx = w.as(w.bob);
  t.is(await outcome(ctx, 'bob@example.com/Maildir/new'), join(w.bob.dir, 'Maildir', 'new'));
  t.is(await outcome(ctx, `${w.bobby.dir}/Maildir`), '-ERR 26.1512 Unauthorized Directory.');
  t.is(await outcome(ctx, 'bobby@example.com/Maildir'), '-ERR 12.1508 User does not exist');
  t.is(await outcome(ctx, 'example.com/vpasswd'), '-ERR 26.1512 Unauthorized Directory.');
});

test('a domain admin reaches its domain, not example.com.evil.net (a longer name) nor /etc', async (t) => {
  const w = await world(t);
  const ctx = w.as(w.pm);
  t.is(await outcome(ctx, 'example.com/.qmail-sales'), join(w.dom, '.qmail-sales'));
  t.is(await outcome(ctx, `${w.evil}/x`), '-ERR 26.1511 Unauthorized Directory.');
  t.is(await outcome(ctx, 'example.com.evil.net/x'), '-ERR 26.1511 Unauthorized Directory.');
  t.is(await outcome(ctx, '/etc/passwd'), '-ERR 26.1511 Unauthorized Directory.');
});

test('a system admin is confined to ~vpopmail/domains', async (t) => {
  const w = await world(t);
  const ctx = w.as(w.admin);
  t.is(await outcome(ctx, `${w.evil}/x`), join(w.evil, 'x'));
  t.is(await outcome(ctx, `${w.home.vpopmailHome}/etc/vpopmail.conf`), '-ERR 26.1510 Unauthorized Directory.');
});

test('a symlink inside the home that points out of it is not followed out', async (t) => {
  const w = await world(t);
  const outside = join(w.home.root, 'outside');
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret'), 'x');
  symlinkSync(outside, join(w.bob.dir, 'escape'));
  symlinkSync(join(outside, 'secret'), join(w.bob.dir, 'secret-link'));
  const ctx = w.as(w.bob);
  t.is(await outcome(ctx, 'bob@example.com/escape/secret'), '-ERR 26.1512 Unauthorized Directory.');
  t.is(await outcome(ctx, 'bob@example.com/escape/new-file', 'entry'), '-ERR 26.1512 Unauthorized Directory.');
  t.is(await outcome(ctx, 'bob@example.com/secret-link'), '-ERR 26.1512 Unauthorized Directory.');
  // Acting on the link itself (rm_file) stays inside the home.
  t.is(await outcome(ctx, 'bob@example.com/secret-link', 'entry'), join(w.bob.dir, 'secret-link'));
});

test('canonicalPath resolves the existing part of a path and appends the rest', async (t) => {
  const w = await world(t);
  symlinkSync(w.bob.dir, join(w.dom, 'bob-link'));
  t.is(await canonicalPath(join(w.dom, 'bob-link', 'no', 'such'), 'follow'), join(w.bob.dir, 'no', 'such'));
  t.is(await canonicalPath(join(w.dom, 'bob-link'), 'entry'), join(w.dom, 'bob-link'));
});
