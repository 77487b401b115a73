// The example sessions of spec/vpopmaild.md §10, replayed on a state this test sets up: every server
// line exactly (the paths and ids are this state's, not /home/vpopmail and 89).
import test from 'ava';
import { createCdbBackend } from '../../lib/backends/cdb.ts';
import { daemonContext, greeted, serve, tempHome } from './harness.ts';
import { makeAccount, makeAliasDomain, makeDomain, sha512Crypt } from './fixtures.ts';

async function state(t: import('ava').ExecutionContext) {
  const home = tempHome(t);
  const backend = createCdbBackend(home.config);
  const daemon = daemonContext(home, { backend, limiter: false });
  const sys = makeDomain(home, 'sys.invalid');
  makeDomain(home, 'example.com');
  makeAliasDomain(home, 'example.net', 'example.com');
  await makeAccount(home, backend, 'sys.invalid', 'admin', { passwd: sha512Crypt('S3cret'), gid: 0x10000 });
  await makeAccount(home, backend, 'example.com', 'alice', { passwd: sha512Crypt('OldPass1') });
  const server = await serve(t, daemon);
  return { home, backend, server, sys };
}

test('§10.2: a system admin logs in compact, adds a domain and users, counts, lists', async (t) => {
  const { home, server, sys } = await state(t);
  const c = await greeted(server);
  c.send('clogin admin@sys.invalid S3cret');
  const expected = [
    '+OK+',
    `vpopmail_dir ${home.vpopmailHome}`,
    `domain_dir ${sys}`,
    `uid ${process.getuid!()}`,
    `gid ${process.getgid!()}`,
    'name admin',
    'comment admin',
    'quota NOQUOTA',
    `user_dir ${sys}/admin`,
  ];
  for (const line of expected) t.is(await c.line(), line);
  t.regex(await c.line(), /^encrypted_password \$6\$[^ ]+$/);
  t.is(await c.line(), 'clear_text_password ');
  t.is(await c.line(), 'gidflags 65536');
  t.is(await c.line(), '.');
  c.send('add_domain example.org PmPass99');
  t.is(await c.line(), '+OK ');
  c.send('add_user bob@example.org BobPass7');
  t.is(await c.line(), '+OK ');
  c.send('add_user bob@example.org Other1');
  t.is(await c.line(), '-ERR 0.305 Username exists');
  c.send('user_count example.org');
  t.is(await c.line(), '+OK+');
  t.is(await c.line(), 'count 2');
  t.is(await c.line(), '.');
  c.send('list_domains 1 2');
  t.is(await c.line(), '+OK+');
  t.is(await c.line(), 'example.com example.com');
  t.is(await c.line(), 'example.com example.net');
  t.is(await c.line(), '.');
  c.send('quit');
  t.is(await c.line(), '+OK ');
  await c.closed();
  // The domain and its postmaster exist as vadddomain makes them: gecos postmaster, the given password.
  const pm = await greeted(server);
  const r = await pm.command('login postmaster@example.org PmPass99');
  t.is(r.status, '+OK+');
  t.true(r.lines.includes('comment postmaster'));
  t.true(r.lines.includes('domain_admin_privileges 1'));
});
