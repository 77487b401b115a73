// The built vpopmaild executable: one session on stdin/stdout through real pipes, under tcpserver as
// C runs it, and as a standalone server stopped by SIGTERM.
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { createCdbBackend } from '../../lib/backends/cdb.ts';
import { binPath } from '../helpers/dist.ts';
import { Client, tempHome, type TempHome } from '../daemon/harness.ts';
import { makeAccount, makeDomain, sha512Crypt } from '../daemon/fixtures.ts';

const VPOPMAILD = binPath('vpopmaild');

async function homeWithBob(t: import('ava').ExecutionContext): Promise<TempHome> {
  const home = tempHome(t);
  makeDomain(home, 'example.com');
  await makeAccount(home, createCdbBackend(home.config), 'example.com', 'bob', { passwd: sha512Crypt('bob pw') });
  return home;
}

function envOf(home: TempHome, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: '/usr/bin:/bin', VPOPMAIL_HOME: home.vpopmailHome, QMAIL_HOME: home.qmailHome, ...extra };
}

test('with no arguments it runs one session on stdin/stdout and exits 0 after quit', async (t) => {
  const home = await homeWithBob(t);
  const r = spawnSync(VPOPMAILD, [], {
    input: 'slogin bob@example.com bob pw\r\nuser_info bob@example.com\r\nquit\r\n',
    env: envOf(home, { TCPREMOTEIP: '192.0.2.9' }),
    encoding: 'latin1',
    timeout: 30_000,
  });
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, '+OK \r\n+OK \r\n-ERR 4.107 Invalid Command\r\n+OK \r\n');
  t.regex(r.stderr, /vpopmaild: login conn=\d+ user=bob@example.com ip=192.0.2.9 reason=user\n/);
  t.notRegex(r.stderr, /bob pw/);
});

test('a refused option is a usage error, exit 100', (t) => {
  const r = spawnSync(VPOPMAILD, ['-b', '0.0.0.0'], { encoding: 'latin1', timeout: 30_000 });
  t.is(r.status, 100);
  t.regex(r.stderr, /give -p port/);
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

test('under tcpserver, as C runs it, the session is on the socket and TCPREMOTEIP is the client', async (t) => {
  if (!existsSync('/usr/bin/tcpserver')) {
    t.fail('tcpserver (ucspi-tcp) is not installed; .ci/run installs it');
    return;
  }
  const home = await homeWithBob(t);
  const port = await freePort();
  const server = spawn('/usr/bin/tcpserver', ['-v', '-R', '-H', '-l', '0', '127.0.0.1', String(port), VPOPMAILD], { env: envOf(home), stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => server.kill('SIGTERM'));
  let log = '';
  server.stderr.setEncoding('latin1').on('data', (d: string) => (log += d));
  for (let i = 0; i < 200 && !log.includes('status: 0/'); i++) await new Promise((r) => setTimeout(r, 25));
  const c = await Client.connect(port);
  t.is(await c.line(), '+OK ');
  c.write('slogin bob@example.com bob pw\n\r');
  t.is(await c.line(), '+OK ');
  c.write('quit\n\r');
  t.is(await c.line(), '+OK ');
  await c.rest();
  for (let i = 0; i < 200 && !log.includes('vpopmaild: end'); i++) await new Promise((r) => setTimeout(r, 25));
  t.regex(log, /vpopmaild: login conn=\d+ user=bob@example.com ip=127.0.0.1/);
});

test('-p runs the standalone server on 127.0.0.1; SIGTERM stops it with exit 0', async (t) => {
  const home = await homeWithBob(t);
  const child = spawn(VPOPMAILD, ['-p', '0'], { env: envOf(home), stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  let log = '';
  child.stderr.setEncoding('latin1').on('data', (d: string) => (log += d));
  let port: number | undefined;
  for (let i = 0; i < 400 && port === undefined; i++) {
    await new Promise((r) => setTimeout(r, 25));
    const m = /vpopmaild: listening ip=127\.0\.0\.1 service=tcp port=(\d+)/.exec(log);
    if (m !== null) port = Number(m[1]);
  }
  t.truthy(port, log);
  const c = await Client.connect(port!);
  t.is(await c.line(), '+OK ');
  t.is((await c.command('slogin bob@example.com bob pw')).status, '+OK ');
  child.kill('SIGHUP');
  for (let i = 0; i < 200 && !log.includes('reloaded'); i++) await new Promise((r) => setTimeout(r, 25));
  t.true(log.includes('reloaded'));
  t.is((await c.command('quit')).status, '+OK ');
  await c.rest();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  t.is(await exited, 0);
});
