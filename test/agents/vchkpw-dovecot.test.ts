// Dovecot 2.3 logs users in through our vchkpw (passdb checkpassword, userdb prefetch) over POP3 and
// IMAP on 127.0.0.1, with no INSECURE_SETUID, and each session reads its own user's Maildir.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { deliverToMaildir } from '../../lib/maildir/deliver.ts';
import { binPath } from '../helpers/dist.ts';
import { mailWorld, type MailWorld } from '../helpers/mail-world.ts';

const NO_POP = 0x02;
const NO_IMAP = 0x08;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

interface Dovecot {
  readonly pop3: number;
  readonly imap: number;
  readonly log: string;
}

async function startDovecot(t: import('ava').ExecutionContext, w: MailWorld): Promise<Dovecot> {
  const pop3 = await freePort();
  const imap = await freePort();
  const dir = join(w.root, 'dovecot');
  const conf = join(w.root, 'dovecot.conf');
  const log = join(w.root, 'dovecot.log');
  writeFileSync(
    conf,
    [
      `base_dir = ${join(dir, 'run')}`,
      `state_dir = ${join(dir, 'state')}`,
      `log_path = ${log}`,
      'protocols = pop3 imap',
      'listen = 127.0.0.1',
      'ssl = no',
      'disable_plaintext_auth = no',
      'auth_mechanisms = plain login',
      'auth_failure_delay = 0',
      'auth_verbose = yes',
      'first_valid_uid = 1',
      'mail_location = maildir:~/Maildir',
      // the only variables vchkpw gets: where this test's ~vpopmail and /var/qmail are
      'import_environment = VPOPMAIL_HOME QMAIL_HOME PATH',
      `service pop3-login {\n  inet_listener pop3 {\n    port = ${pop3}\n  }\n}`,
      `service imap-login {\n  inet_listener imap {\n    port = ${imap}\n  }\n}`,
      // V8 reserves far more address space than Dovecot's default 256 MiB limit for auth children
      'service auth {\n  user = root\n  vsz_limit = 0\n}',
      `passdb {\n  driver = checkpassword\n  args = ${binPath('vchkpw')}\n}`,
      'userdb {\n  driver = prefetch\n}',
      '',
    ].join('\n'),
  );
  const env = { PATH: '/usr/bin:/bin:/usr/sbin:/sbin', VPOPMAIL_HOME: w.vhome, QMAIL_HOME: w.qhome };
  const r = spawnSync('dovecot', ['-c', conf], { stdio: 'ignore', env, timeout: 20_000 });
  if (r.status !== 0) throw new Error(`dovecot did not start (exit ${r.status})`);
  t.teardown(() => void spawnSync('dovecot', ['-c', conf, 'stop'], { stdio: 'ignore', env, timeout: 20_000 }));
  return { pop3, imap, log };
}

const CLIENT = String.raw`
import imaplib, json, poplib, socket, sys
kind, port, src, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
class P(poplib.POP3):
    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, (src, 0))
class I(imaplib.IMAP4):
    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, (src, 0))
out = {}
try:
    if kind == 'pop3':
        c = P('127.0.0.1', port, timeout=20)
        c.user(user)
        c.pass_(password)
        count = c.stat()[0]
        out['count'] = count
        out['subjects'] = [l.decode('latin1') for i in range(1, count + 1) for l in c.retr(i)[1] if l.startswith(b'Subject:')]
        c.quit()
    else:
        c = I('127.0.0.1', port, timeout=20)
        c.login(user, password)
        typ, data = c.select('INBOX')
        out['count'] = int(data[0])
        subjects = []
        for i in range(1, out['count'] + 1):
            typ, d = c.fetch(str(i), '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
            subjects.append(d[0][1].decode('latin1').strip())
        out['subjects'] = subjects
        c.logout()
    out['ok'] = True
except Exception as e:
    out['ok'] = False
    out['error'] = str(e)
print(json.dumps(out))
`;

interface ClientResult {
  readonly ok: boolean;
  readonly count?: number;
  readonly subjects?: string[];
  readonly error?: string;
}

function client(kind: 'pop3' | 'imap', d: Dovecot, src: string, user: string, password: string): ClientResult {
  const r = spawnSync('python3', ['-c', CLIENT, kind, String(kind === 'pop3' ? d.pop3 : d.imap), src, user, password], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`python client failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as ClientResult;
}

function deliver(w: MailWorld, home: string, subject: string): void {
  const src = join(w.root, `msg-${Math.random().toString(36).slice(2)}`);
  writeFileSync(src, `From: a@b.test\nSubject: ${subject}\n\nbody\n`);
  const fd = openSync(src, 'r');
  try {
    deliverToMaildir(join(home, 'Maildir'), { fd, offset: 0 }, { nowMs: Date.now() - 5000, pid: process.pid, host: 'mail.test', owner: { uid: 89, gid: 89 }, euid: 0 });
  } finally {
    closeSync(fd);
  }
}

test('Dovecot logs users in through vchkpw over POP3 and IMAP without INSECURE_SETUID, and same-named users keep their own mail', async (t) => {
  if (process.geteuid?.() !== 0) {
    t.fail('this test runs a private Dovecot master and needs root');
    return;
  }
  const w = await mailWorld(t);
  await w.addDomain('example.test');
  await w.addDomain('other.test');
  await w.addUser('alice@example.test', 'alice-pw');
  await w.addUser('alice@other.test', 'other-alice-pw');
  await w.addUser('nopop@example.test', 'nopop-pw');
  await w.addUser('noimap@example.test', 'noimap-pw');
  for (const [user, gid] of [['nopop', NO_POP], ['noimap', NO_IMAP]] as const) {
    const e = await w.ctx.backend.getUser('example.test', user);
    await w.ctx.backend.setUser('example.test', { ...e!, gid });
  }
  deliver(w, join(w.vhome, 'domains/example.test/alice'), 'for alice at example.test');
  deliver(w, join(w.vhome, 'domains/other.test/alice'), 'for alice at other.test');
  deliver(w, join(w.vhome, 'domains/other.test/alice'), 'second for alice at other.test');
  const d = await startDovecot(t, w);

  const logTail = () => spawnSync('tail', ['-n', '20', d.log], { encoding: 'utf8' }).stdout;
  const pop = client('pop3', d, '127.0.0.1', 'alice@example.test', 'alice-pw');
  t.true(pop.ok, `${pop.error}\n${logTail()}`);
  t.is(pop.count, 1);
  t.deepEqual(pop.subjects, ['Subject: for alice at example.test']);
  const imap = client('imap', d, '127.0.0.1', 'alice@other.test', 'other-alice-pw');
  t.true(imap.ok, imap.error);
  t.is(imap.count, 2);
  t.deepEqual(imap.subjects?.sort(), ['Subject: for alice at other.test', 'Subject: second for alice at other.test']);
  const imap2 = client('imap', d, '127.0.0.1', 'alice@example.test', 'alice-pw');
  t.true(imap2.ok, imap2.error);
  t.deepEqual(imap2.subjects, ['Subject: for alice at example.test'], 'the other alice sees only her own mail');

  // refusals, each from its own loopback address so Dovecot's per-IP penalty stays out of the way
  t.false(client('pop3', d, '127.0.0.2', 'alice@example.test', 'wrong').ok);
  t.false(client('imap', d, '127.0.0.3', 'alice@example.test', 'wrong').ok);
  t.false(client('pop3', d, '127.0.0.4', 'ghost@example.test', 'alice-pw').ok);
  t.false(client('pop3', d, '127.0.0.5', 'nopop@example.test', 'nopop-pw').ok, 'NO_POP refuses POP3');
  t.true(client('imap', d, '127.0.0.6', 'nopop@example.test', 'nopop-pw').ok, 'NO_POP still allows IMAP');
  t.false(client('imap', d, '127.0.0.7', 'noimap@example.test', 'noimap-pw').ok, 'NO_IMAP refuses IMAP');
  t.true(client('pop3', d, '127.0.0.8', 'noimap@example.test', 'noimap-pw').ok, 'NO_IMAP still allows POP3');

  const log = spawnSync('cat', [d.log], { encoding: 'utf8' }).stdout;
  t.notRegex(log, /INSECURE_SETUID|setuid/i, 'Dovecot never complained about setuid');
  t.notRegex(log, /alice-pw|other-alice-pw|nopop-pw|noimap-pw/, 'no password reached the log');
});
