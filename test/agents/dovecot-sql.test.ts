// Dovecot 2.3 with `driver = sql` (dovecot-mysql, dovecot-pgsql) over the tables our programs wrote:
// users made by the built vadddomain/vadduser/vmoduser/vaddaliasdomain log in over IMAP and POP3
// (Python's imaplib and poplib), flags refuse the services they name, and IMAP reports the quota.
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { dovecotSqlQueries } from '../../lib/backends/sql-dovecot.ts';
import type { SqlServer } from '../../lib/backends/sql-config.ts';
import type { SqlDialect } from '../../lib/backends/sql-schema.ts';
import { binPath } from '../helpers/dist.ts';
import { tempDir } from '../helpers/cdb-tools.ts';
import { connectionFileLine, createTestDatabase } from '../helpers/sql-db.ts';

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as import('node:net').AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

interface World {
  readonly root: string;
  readonly env: Record<string, string>;
}

function program(w: World, name: string, ...args: string[]): string {
  const r = spawnSync(binPath(name), args, { env: w.env, encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`${name} ${args.join(' ')} exited ${r.status}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** A ~vpopmail whose backend is the test database, filled through the real programs. */
function mailWorld(t: ExecutionContext, dialect: SqlDialect, server: SqlServer): World {
  const root = tempDir(t);
  chmodSync(root, 0o755); // Dovecot's mail processes run as 89 and must reach the homes
  const vhome = join(root, 'vpopmail');
  const qhome = join(root, 'qmail');
  for (const d of [join(vhome, 'etc'), join(vhome, 'bin'), join(vhome, 'domains'), join(qhome, 'users'), join(qhome, 'control'), join(qhome, 'bin')]) mkdirSync(d, { recursive: true });
  writeFileSync(join(vhome, 'etc', 'backend'), `${dialect}\n`);
  writeFileSync(join(vhome, 'etc', dialect === 'mysql' ? 'vpopmail.mysql' : 'vpopmail.pgsql'), connectionFileLine(server), { mode: 0o640 });
  const w = { root, env: { PATH: '/usr/bin:/bin', VPOPMAIL_HOME: vhome, QMAIL_HOME: qhome } };
  program(w, 'vadddomain', 'example.test', 'postmaster-pw');
  program(w, 'vaddaliasdomain', 'alias.test', 'example.test');
  program(w, 'vadduser', '-q', '10M,1000C', 'alice@example.test', 'alice-pw');
  program(w, 'vadduser', '-q', '500C', 'bob@example.test', 'bob-pw');
  program(w, 'vadduser', 'carol@example.test', 'carol-pw');
  program(w, 'vmoduser', '-p', 'bob@example.test'); // NO_POP
  program(w, 'vmoduser', '-i', 'carol@example.test'); // NO_IMAP
  return w;
}

interface Dovecot {
  readonly imapPort: number;
  readonly pop3Port: number;
  readonly log: string;
}

async function startDovecot(t: ExecutionContext, dialect: SqlDialect, server: SqlServer, root: string): Promise<Dovecot> {
  const [imapPort, pop3Port] = [await freePort(), await freePort()];
  const dir = join(root, 'dovecot');
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  const queries = dovecotSqlQueries(dialect, { uid: 89, gid: 89 });
  const sqlConf = join(dir, 'dovecot-sql.conf.ext');
  writeFileSync(
    sqlConf,
    [
      `driver = ${dialect}`,
      `connect = host=${server.host} port=${server.port} dbname=${server.database} user=${server.user}`,
      // vpopmail stores bare crypt(3) strings ($6$, $1$, DES, ...): CRYPT hands them to libc.
      'default_pass_scheme = CRYPT',
      `password_query = ${queries.passwordQuery}`,
      `user_query = ${queries.userQuery}`,
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  const conf = join(dir, 'dovecot.conf');
  const log = join(dir, 'dovecot.log');
  writeFileSync(
    conf,
    [
      `base_dir = ${join(dir, 'run')}`,
      `log_path = ${log}`,
      'protocols = imap pop3',
      'listen = 127.0.0.1',
      'ssl = no',
      'disable_plaintext_auth = no',
      'auth_mechanisms = plain login',
      'first_valid_uid = 1',
      'mail_location = maildir:~/Maildir',
      'mail_plugins = quota',
      'protocol imap {\n  mail_plugins = $mail_plugins imap_quota\n}',
      `service imap-login {\n  inet_listener imap {\n    address = 127.0.0.1\n    port = ${imapPort}\n  }\n  inet_listener imaps {\n    port = 0\n  }\n}`,
      `service pop3-login {\n  inet_listener pop3 {\n    address = 127.0.0.1\n    port = ${pop3Port}\n  }\n  inet_listener pop3s {\n    port = 0\n  }\n}`,
      'service auth {\n  user = root\n}',
      'service auth-worker {\n  user = root\n}',
      'auth_cache_size = 0',
      `passdb {\n  driver = sql\n  args = ${sqlConf}\n}`,
      `userdb {\n  driver = sql\n  args = ${sqlConf}\n}`,
      'plugin {\n  quota = maildir:User quota\n}',
      '',
    ].join('\n'),
  );
  const r = spawnSync('dovecot', ['-c', conf], { stdio: 'ignore', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`dovecot did not start (exit ${r.status}); see ${log}`);
  t.teardown(() => {
    spawnSync('dovecot', ['-c', conf, 'stop'], { stdio: 'ignore', timeout: 20_000 });
  });
  // Until the listeners answer.
  for (let i = 0; ; i++) {
    const probe = spawnSync('python3', ['-c', `import socket; socket.create_connection(('127.0.0.1', ${imapPort}), 1).close()`], { timeout: 5_000 });
    if (probe.status === 0) break;
    if (i > 100) throw new Error(`dovecot never listened; see ${log}`);
    spawnSync('sleep', ['0.1']);
  }
  return { imapPort, pop3Port, log };
}

/** Log in from a given loopback address (Dovecot's penalty is per client IP); JSON results per attempt. */
const CLIENT = String.raw`
import imaplib, poplib, socket, sys, json, time
host, imap_port, pop_port = '127.0.0.1', int(sys.argv[1]), int(sys.argv[2])
class IMAP(imaplib.IMAP4):
    def __init__(self, src, *a):
        self.src = src
        super().__init__(*a)
    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), 10, (self.src, 0))
class POP(poplib.POP3):
    def __init__(self, src, *a):
        self.src = src
        super().__init__(*a)
    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), 10, (self.src, 0))
out = []
for line in sys.stdin:
    proto, src, user, password = line.split()
    r = {'proto': proto, 'user': user, 'src': src}
    started = time.time()
    try:
        if proto == 'imap':
            c = IMAP(src, host, imap_port)
            c.login(user, password)
            typ, data = c.getquotaroot('INBOX')
            r['quota'] = [d.decode() if isinstance(d, bytes) else str(d) for d in data[1]]
            c.logout()
        else:
            c = POP(src, host, pop_port)
            c.user(user)
            c.pass_(password)
            r['stat'] = list(c.stat())
            c.quit()
        r['ok'] = True
    except Exception as e:
        r['ok'] = False
        r['error'] = str(e)
    r['ms'] = round((time.time() - started) * 1000)
    out.append(r)
print(json.dumps(out))
`;

interface Attempt {
  readonly proto: string;
  readonly user: string;
  readonly ok: boolean;
  readonly quota?: string[];
  readonly error?: string;
}

function logins(d: Dovecot, lines: readonly string[]): Attempt[] {
  const r = spawnSync('python3', ['-c', CLIENT, String(d.imapPort), String(d.pop3Port)], { input: lines.join('\n') + '\n', encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`client failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Attempt[];
}

for (const dialect of ['mysql', 'pgsql'] as const) {
  const name = dialect === 'mysql' ? 'MariaDB' : 'PostgreSQL';

  test(`Dovecot's ${dialect} driver logs in the users our programs wrote to ${name}, honours their flags and reads their quota`, async (t) => {
    if (process.geteuid?.() !== 0) {
      t.fail('this test runs a private Dovecot master and needs root');
      return;
    }
    for (const p of ['vadddomain', 'vadduser', 'vmoduser', 'vaddaliasdomain']) t.true(existsSync(binPath(p)), `${p} is built by npm test`);
    const module = `/usr/lib/dovecot/modules/auth/libdriver_${dialect}.so`;
    t.true(existsSync(module) || existsSync(`/usr/lib/dovecot/modules/libdriver_${dialect}.so`), `dovecot-${dialect} is installed (apt-get install dovecot-${dialect})`);
    const server = await createTestDatabase(t, dialect);
    const w = mailWorld(t, dialect, server);
    const d = await startDovecot(t, dialect, server, w.root);
    const got = logins(d, [
      'imap 127.0.0.2 alice@example.test alice-pw',
      'pop3 127.0.0.3 alice@example.test alice-pw',
      'imap 127.0.0.4 alice@alias.test alice-pw',
      'imap 127.0.0.5 bob@example.test bob-pw',
      'pop3 127.0.0.6 bob@example.test bob-pw',
      'pop3 127.0.0.7 carol@example.test carol-pw',
      'imap 127.0.0.8 carol@example.test carol-pw',
      'imap 127.0.0.9 alice@example.test wrong-pw',
      'imap 127.0.0.10 nobody@example.test x',
    ]);
    t.log(got.map((a) => `${a.proto} ${a.user} ${(a as { ms?: number }).ms} ms`).join(', '));
    const ok = got.map((a) => `${a.proto} ${a.user} ${a.ok ? 'ok' : 'refused'}`);
    t.deepEqual(
      ok,
      [
        'imap alice@example.test ok',
        'pop3 alice@example.test ok',
        'imap alice@alias.test ok',
        'imap bob@example.test ok',
        'pop3 bob@example.test refused',
        'pop3 carol@example.test ok',
        'imap carol@example.test refused',
        'imap alice@example.test refused',
        'imap nobody@example.test refused',
      ],
      `dovecot log: ${d.log}`,
    );
    // 10M,1000C → 10240 KiB and 1000 messages; 500C → a message limit only.
    t.deepEqual(got[0]!.quota, ['"User quota" (STORAGE 0 10240 MESSAGE 0 1000)']);
    t.deepEqual(got[3]!.quota, ['"User quota" (MESSAGE 0 500)']);
  });
}
