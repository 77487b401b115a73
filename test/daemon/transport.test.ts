import test from 'ava';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { createCdbBackend } from '../../lib/backends/cdb.ts';
import { parseVpopmaildArgs, runVpopmaild, type ProcessPorts } from '../../lib/daemon/daemon.ts';
import { LoginLimiter, limiterKey } from '../../lib/daemon/rate-limit.ts';
import { Client, daemonContext, greeted, logIo, serve, tempHome } from './harness.ts';

test('options: no -p is one stdio session; -p listens on 127.0.0.1 unless -b says otherwise', (t) => {
  t.is(parseVpopmaildArgs('vpopmaild', []).server, undefined);
  t.deepEqual(parseVpopmaildArgs('vpopmaild', ['-p', '8989']).server, { host: '127.0.0.1', port: 8989 });
  t.is(parseVpopmaildArgs('vpopmaild', ['-p', '89', '-b', '0.0.0.0']).server?.host, '0.0.0.0');
  t.deepEqual(parseVpopmaildArgs('vpopmaild', ['-p', '89', '-c', 'c.pem', '-k', 'k.pem']).server?.tls, { certFile: 'c.pem', keyFile: 'k.pem' });
  t.is(parseVpopmaildArgs('vpopmaild', ['-t', '5']).limits.idleTimeoutMs, 5000);
  t.throws(() => parseVpopmaildArgs('vpopmaild', ['-b', '0.0.0.0']), { message: /give -p port/ });
  t.throws(() => parseVpopmaildArgs('vpopmaild', ['-p', '89', '-c', 'c.pem']), { message: /both -c and -k/ });
  t.throws(() => parseVpopmaildArgs('vpopmaild', ['-p', 'x']), { message: /-p needs a whole number/ });
  t.throws(() => parseVpopmaildArgs('vpopmaild', ['-z']), { message: /invalid option -- 'z'/ });
  t.throws(() => parseVpopmaildArgs('vpopmaild', ['extra']), { message: /unexpected argument/ });
});

function stdioPorts(env: NodeJS.ProcessEnv): ProcessPorts & { stdin: PassThrough; stdout: PassThrough; out: () => string } {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  let out = '';
  stdout.on('data', (c: Buffer) => (out += c.toString('latin1')));
  return { env, io: logIo(), stdin, stdout, pid: 4242, onSignal: () => () => undefined, out: () => out };
}

test('with no options vpopmaild runs one session on stdin/stdout, as under tcpserver', async (t) => {
  const home = tempHome(t);
  const ports = stdioPorts({ VPOPMAIL_HOME: home.vpopmailHome, QMAIL_HOME: home.qmailHome, TCPREMOTEIP: '192.0.2.9' });
  const done = runVpopmaild(ports, parseVpopmaildArgs('vpopmaild', []));
  ports.stdin.write('help\r\nquit\r\n');
  t.is(await done, 0);
  t.regex(ports.out(), /^\+OK \r\n\+OK\+\r\n\r\nLogin\r\n[^]*\.\r\n\+OK \r\n$/);
});

test('stdio mode ends quietly at end of input', async (t) => {
  const home = tempHome(t);
  const ports = stdioPorts({ VPOPMAIL_HOME: home.vpopmailHome, QMAIL_HOME: home.qmailHome });
  const done = runVpopmaild(ports, parseVpopmaildArgs('vpopmaild', []));
  ports.stdin.end();
  t.is(await done, 0);
  t.is(ports.out(), '+OK \r\n');
});

test('the standalone server stops on SIGTERM and reloads on SIGHUP', async (t) => {
  const home = tempHome(t);
  const handlers = new Map<string, () => void>();
  const ports: ProcessPorts = {
    ...stdioPorts({ VPOPMAIL_HOME: home.vpopmailHome, QMAIL_HOME: home.qmailHome }),
    onSignal(signal, handler) {
      handlers.set(signal, handler);
      return () => handlers.delete(signal);
    },
  };
  const io = ports.io as ReturnType<typeof logIo>;
  const done = runVpopmaild(ports, parseVpopmaildArgs('vpopmaild', ['-p', '0']));
  let port: number | undefined;
  while (port === undefined) {
    await new Promise((r) => setTimeout(r, 10));
    const m = /listening ip=127\.0\.0\.1 service=tcp port=(\d+)/.exec(io.lines.join(''));
    if (m !== null) port = Number(m[1]);
  }
  const c = await Client.connect(port);
  t.is(await c.line(), '+OK ');
  handlers.get('SIGHUP')!();
  while (!io.lines.join('').includes('reloaded')) await new Promise((r) => setTimeout(r, 10));
  handlers.get('SIGTERM')!();
  t.is(await done, 0);
  await c.rest();
  t.false(handlers.has('SIGTERM'));
});

test('TLS: the server speaks the same protocol inside TLS with the given certificate', async (t) => {
  const home = tempHome(t);
  const cert = join(home.root, 'cert.pem');
  const key = join(home.root, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  const daemon = daemonContext(home, { backend: createCdbBackend(home.config) });
  const server = await serve(t, daemon, { tls: { certFile: cert, keyFile: key } });
  t.true(server.tls);
  const socket = tlsConnect({ port: server.port, host: '127.0.0.1', rejectUnauthorized: false });
  const c = await Client.connect(server.port, '127.0.0.1', socket);
  t.is(await c.line(), '+OK ');
  t.is((await c.command('quit')).status, '+OK ');
  await c.rest();
});

test('a plain-text client talking to the TLS port gets nothing it could take for a reply', async (t) => {
  const home = tempHome(t);
  const cert = join(home.root, 'cert.pem');
  const key = join(home.root, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  const server = await serve(t, daemonContext(home, { backend: createCdbBackend(home.config) }), { tls: { certFile: cert, keyFile: key } });
  const c = await Client.connect(server.port);
  c.send('login a@b.c pw');
  t.notRegex(await c.rest(), /\+OK/);
});

test('the limiter refuses an address after its failures for the window, then forgets them', (t) => {
  let now = 0;
  const limiter = new LoginLimiter({ maxFailures: 2, windowMs: 1000, maxAddresses: 3 }, () => now);
  t.false(limiter.isBlocked('192.0.2.1'));
  limiter.recordFailure('192.0.2.1');
  limiter.recordFailure('::ffff:192.0.2.1');
  t.true(limiter.isBlocked('192.0.2.1'));
  t.false(limiter.isBlocked('192.0.2.2'));
  now = 1000;
  t.false(limiter.isBlocked('192.0.2.1'));
  for (const ip of ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4']) limiter.recordFailure(ip);
  t.is(limiter.size, 3);
});

test('IPv6 clients are counted by their /64', (t) => {
  t.is(limiterKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  t.is(limiterKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64');
  t.is(limiterKey('::1'), '0:0:0:0::/64');
  t.is(limiterKey('192.0.2.7'), '192.0.2.7');
});

test('past the failed-login limit an address gets 41.208 in new sessions too, without a password check', async (t) => {
  const home = tempHome(t);
  const daemon = daemonContext(home, { backend: createCdbBackend(home.config), limiter: { maxFailures: 2 } });
  const server = await serve(t, daemon);
  const a = await greeted(server);
  t.is((await a.command('login bad(x)@example.org pw')).status, '-ERR 8.205 Invalid Login');
  t.is((await a.command('login bad(x)@example.org pw')).status, '-ERR 8.205 Invalid Login');
  a.close();
  const b = await greeted(server);
  t.is((await b.command('login bob@example.org pw')).status, '-ERR 41.208 Too Many Failed Logins From Your Address, Try Later');
  b.close();
});
