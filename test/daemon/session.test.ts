import test from 'ava';
import { createCdbBackend } from '../../lib/backends/cdb.ts';
import { Client, daemonContext, greeted, logIo, serve, tempHome } from './harness.ts';

function setup(t: import('ava').ExecutionContext, over: Parameters<typeof daemonContext>[1] = {}) {
  const home = tempHome(t);
  const io = logIo();
  const daemon = daemonContext(home, { backend: createCdbBackend(home.config), io, ...over });
  return { home, io, daemon };
}

test('the greeting is "+OK " with its trailing space and CRLF, sent on its own', async (t) => {
  const { daemon } = setup(t);
  const server = await serve(t, daemon);
  const c = await Client.connect(server.port);
  t.is(await c.rawLine(), '+OK \r\n');
  t.deepEqual(c.chunks, ['+OK \r\n']);
  c.close();
});

test('quit, exit and q answer "+OK " and close the connection, before and after anything else', async (t) => {
  const { daemon } = setup(t);
  const server = await serve(t, daemon);
  for (const verb of ['quit', 'EXIT', 'q']) {
    const c = await greeted(server);
    c.send(verb);
    t.is(await c.line(), '+OK ');
    await c.closed();
  }
});

test('before login only login, clogin, slogin, help and quit are commands; others get 4.104', async (t) => {
  const { daemon } = setup(t);
  const server = await serve(t, daemon);
  const c = await greeted(server);
  t.is((await c.command('list_domains')).status, '-ERR 4.104 Invalid Command');
  t.is((await c.command('user_info a@b.c')).status, '-ERR 4.104 Invalid Command');
  const help = await c.command('help');
  t.is(help.status, '+OK+');
  t.deepEqual(help.lines, [
    '',
    'Login',
    'login user@domain password',
    'clogin user@domain password (compact reply)',
    'slogin user@domain password (no reply data)',
    '',
    'Utility',
    'help',
    'quit',
  ]);
  c.close();
});

test('the fourth line before login ends the session with 5.102, blank lines and help included', async (t) => {
  const { daemon } = setup(t);
  const server = await serve(t, daemon);
  const c = await greeted(server);
  c.send('');
  c.send(' \t');
  t.is((await c.command('help')).status, '+OK+');
  c.send('bogus');
  t.is(await c.line(), '-ERR 4.104 Invalid Command');
  t.is(await c.line(), '-ERR 5.102 Too many invalid login attempts');
  await c.closed();
});

test('missing address and missing password are answered 6.203 and 7.204 and do not count as failures', async (t) => {
  const { daemon } = setup(t);
  const server = await serve(t, daemon);
  const c = await greeted(server);
  t.is((await c.command('login')).status, '-ERR 6.203 Email Address Required');
  t.is((await c.command('login bob@example.org')).status, '-ERR 7.204 Password Required');
  t.is((await c.command('clogin bob@example.org ')).status, '-ERR 7.204 Password Required');
  c.send('slogin bob@example.org');
  t.is(await c.line(), '-ERR 7.204 Password Required');
  t.is(await c.line(), '-ERR 5.102 Too many invalid login attempts');
  await c.closed();
});

test('four unparsable logins are four failures: the fourth reply is followed by 5.105', async (t) => {
  const { daemon } = setup(t);
  const server = await serve(t, daemon);
  const c = await greeted(server);
  for (let i = 0; i < 3; i++) t.is((await c.command('login bad(name)@example.org pw')).status, '-ERR 8.205 Invalid Login');
  c.send('login no-domain-and-no-default pw');
  t.is(await c.line(), '-ERR 8.205 Invalid Login');
  t.is(await c.line(), '-ERR 5.105 Too many invalid login attempts');
  await c.closed();
});

test('an overlong line is refused with 39.104 instead of running as several commands', async (t) => {
  const { daemon } = setup(t);
  const server = await serve(t, daemon);
  const c = await greeted(server);
  c.send(`help ${'quit '.repeat(400)}`);
  t.is(await c.line(), '-ERR 39.104 Line Too Long');
  t.is((await c.command('quit')).status, '+OK ');
  await c.closed();
});

test('an idle client gets 3.103 Read Timeout before login and is disconnected', async (t) => {
  const { daemon } = setup(t, { limits: { idleTimeoutMs: 150 } });
  const server = await serve(t, daemon);
  const c = await greeted(server);
  t.is(await c.line(), '-ERR 3.103 Read Timeout');
  await c.closed();
});

test('a client that keeps sending without ever ending a line still times out', async (t) => {
  const { daemon } = setup(t, { limits: { idleTimeoutMs: 200 } });
  const server = await serve(t, daemon);
  const c = await greeted(server);
  const timer = setInterval(() => c.write('x'.repeat(50)), 20);
  t.teardown(() => clearInterval(timer));
  t.is(await c.line(), '-ERR 3.103 Read Timeout');
  clearInterval(timer);
  await c.rest();
});

test('the session time limit ends even a busy session with 42.110', async (t) => {
  const { daemon } = setup(t, { limits: { sessionTimeoutMs: 300 } });
  const server = await serve(t, daemon);
  const c = await greeted(server);
  // Stay under the pre-login line limit by sending partial lines: only the session limit can end this.
  const timer = setInterval(() => c.write('h'), 20);
  t.teardown(() => clearInterval(timer));
  t.is(await c.line(), '-ERR 42.110 Session Time Limit Reached');
  clearInterval(timer);
  await c.rest();
});

test('a timer that fires before the clock reaches the session deadline still ends the session with 42.110', async (t) => {
  // Timers and Date.now() round differently: the wait cut short by the session limit can end a
  // millisecond "early". This clock lags 50 ms behind the timers, so the early firing always happens.
  let started: number | undefined;
  const now = () => {
    const real = Date.now();
    started ??= real;
    return real - started < 100 ? real : real - 50;
  };
  const { daemon } = setup(t, { limits: { sessionTimeoutMs: 300, idleTimeoutMs: 60_000 }, now });
  const server = await serve(t, daemon);
  const c = await greeted(server);
  t.is(await c.line(), '-ERR 42.110 Session Time Limit Reached');
  await c.rest();
});

test('connections beyond the session cap get 40.100 and are closed; the daemon keeps serving', async (t) => {
  const { daemon } = setup(t);
  const server = await serve(t, daemon, { maxSessions: 2 });
  const a = await greeted(server);
  const b = await greeted(server);
  const c = await Client.connect(server.port);
  t.is(await c.line(), '-ERR 40.100 Too Many Connections');
  await c.closed();
  a.send('quit');
  t.is(await a.line(), '+OK ');
  await a.closed();
  const d = await greeted(server);
  t.is((await d.command('quit')).status, '+OK ');
  b.close();
});

test('the log holds verb and length of each request, never the rest of the line', async (t) => {
  const { daemon, io } = setup(t);
  const server = await serve(t, daemon);
  const c = await greeted(server);
  await c.command('login bad(name)@example.org S3cretPassw0rd');
  c.send('S3cretPassw0rd as a command');
  await c.line();
  c.send('quit');
  await c.line();
  await c.closed();
  const log = io.lines.join('');
  t.regex(log, /vpopmaild: request conn=\d+ verb=login len=42\n/);
  t.regex(log, /verb=unknown len=27/);
  t.notRegex(log, /S3cret/);
});

test('LF-CR line ends (Haraka, qpsmtpd) are read as LF lines and the stray CR as a blank line', async (t) => {
  const { daemon } = setup(t);
  const server = await serve(t, daemon);
  const c = await greeted(server);
  c.write('help\n\r');
  t.is(await c.line(), '+OK+');
  await c.block();
  c.write('quit\n\r');
  t.is(await c.line(), '+OK ');
  await c.closed();
});
