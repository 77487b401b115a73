// vchkpw through the built executable: fd 3 in, exit code or exec out (spec/vchkpw.md §3–§11).
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { apopDigest, cramMd5Response } from '../../lib/crypt/index.ts';
import { checkpassword, envOutput, mailWorld, runProgram, type MailWorld } from '../helpers/mail-world.ts';

const PORTS = { pop3: '110', pop3s: '995', imap: '143', imaps: '993', smtp: '25', smtps: '465', submission: '587' } as const;
const NO_POP = 0x02;
const NO_WEBMAIL = 0x04;
const NO_IMAP = 0x08;
const NO_RELAY = 0x20;
const NO_SMTP = 0x800;
const BOUNCE_MAIL = 0x10;

async function world(t: import('ava').ExecutionContext, settings = ''): Promise<MailWorld> {
  const w = await mailWorld(t, settings);
  await w.addDomain('example.test');
  await w.addUser('alice@example.test', 'alice-pw');
  return w;
}

async function setFlags(w: MailWorld, address: string, gid: number): Promise<void> {
  const [user, domain] = address.split('@') as [string, string];
  const entry = await w.ctx.backend.getUser(domain, user);
  await w.ctx.backend.setUser(domain, { ...entry!, gid });
}

function login(w: MailWorld, fd3: Buffer | undefined, env: Record<string, string> = {}, program: string[] = ['/usr/bin/env']) {
  return runProgram(w, 'vchkpw', program, { env, ...(fd3 === undefined ? {} : { fd3 }) });
}

test('a good POP3 login execs the program with USER, HOME, SHELL and VPOPUSER, as the domain owner in the home', async (t) => {
  const w = await world(t);
  const r = login(w, checkpassword('alice@example.test', 'alice-pw', '<1.2@h>'), { TCPLOCALPORT: '110', TCPREMOTEIP: '192.0.2.10' }, [
    '/bin/sh', '-c', 'env; echo "ids=$(id -u):$(id -g):$(id -G)"; echo "cwd=$(pwd)"',
  ]);
  t.is(r.status, 0, r.stderr);
  const env = envOutput(r.stdout);
  t.is(env.get('USER'), 'alice');
  t.is(env.get('HOME'), join(w.vhome, 'domains/example.test/alice'));
  t.is(env.get('SHELL'), 'NOLOGIN');
  t.is(env.get('VPOPUSER'), 'alice@example.test');
  t.is(env.get('TCPREMOTEIP'), '192.0.2.10');
  t.is(env.get('ids'), '89:89:89', 'uid, gid and no supplementary groups but the domain gid');
  t.is(env.get('cwd'), join(w.vhome, 'domains/example.test/alice'));
  t.is(r.stderr, '', 'a success is not logged at the default level');
});

test('service by port and program name, denied by exactly the flag of that service', async (t) => {
  const w = await world(t);
  const imapName = join(w.root, 'fake-imapd');
  symlinkSync('/usr/bin/env', imapName);
  const trueName = join(w.root, 'auth-true');
  symlinkSync('/usr/bin/env', trueName);
  const cases: [string, Record<string, string>, string, 'pop' | 'imap' | 'smtp' | 'webmail'][] = [
    ['pop3', { TCPLOCALPORT: PORTS.pop3, TCPREMOTEIP: '192.0.2.1' }, '/usr/bin/env', 'pop'],
    ['pop3s', { TCPLOCALPORT: PORTS.pop3s, TCPREMOTEIP: '192.0.2.1' }, '/usr/bin/env', 'pop'],
    ['imap', { TCPLOCALPORT: PORTS.imap, TCPREMOTEIP: '192.0.2.1' }, '/usr/bin/env', 'imap'],
    ['imaps', { TCPLOCALPORT: PORTS.imaps, TCPREMOTEIP: '192.0.2.1' }, '/usr/bin/env', 'imap'],
    ['smtp', { TCPLOCALPORT: PORTS.smtp, TCPREMOTEIP: '192.0.2.1' }, '/usr/bin/env', 'smtp'],
    ['smtps', { TCPLOCALPORT: PORTS.smtps }, '/usr/bin/env', 'smtp'],
    ['submission', { TCPLOCALPORT: PORTS.submission }, '/usr/bin/env', 'smtp'],
    ['webmail (POP from 127.0.0.1)', { TCPLOCALPORT: PORTS.pop3, TCPREMOTEIP: '127.0.0.1' }, '/usr/bin/env', 'webmail'],
    ['webmail (IMAP from 127.0.0.1)', { TCPLOCALPORT: PORTS.imap, TCPREMOTEIP: '127.0.0.1' }, '/usr/bin/env', 'webmail'],
    ['unknown port, program named *true*', { TCPLOCALPORT: '2525' }, trueName, 'smtp'],
    ['unknown port, program named *imap*', { TCPLOCALPORT: '2143' }, imapName, 'imap'],
    ['no port, other program', {}, '/usr/bin/env', 'pop'],
  ];
  const denyingFlag = { pop: NO_POP, imap: NO_IMAP, smtp: NO_SMTP, webmail: NO_WEBMAIL };
  for (const flag of [0, NO_POP, NO_IMAP, NO_SMTP, NO_WEBMAIL, BOUNCE_MAIL | NO_RELAY]) {
    await setFlags(w, 'alice@example.test', flag);
    for (const [title, env, program, service] of cases) {
      const r = login(w, checkpassword('alice@example.test', 'alice-pw'), env, [program]);
      const expected = flag === denyingFlag[service] ? 1 : 0;
      t.is(r.status, expected, `${title} with flags 0x${flag.toString(16)}: ${r.stderr}`);
      if (expected === 1) t.regex(r.stderr, new RegExp(`${service} access denied user=alice domain=example.test`));
    }
  }
});

test('domain-wide limits deny a service unless the user has V_OVERRIDE', async (t) => {
  const w = await world(t);
  writeFileSync(join(w.vhome, 'domains/example.test/.qmailadmin-limits'), 'disable_pop\n');
  t.is(login(w, checkpassword('alice@example.test', 'alice-pw'), { TCPLOCALPORT: '110' }).status, 1);
  t.is(login(w, checkpassword('alice@example.test', 'alice-pw'), { TCPLOCALPORT: '143' }).status, 0);
  await setFlags(w, 'alice@example.test', 0x2000);
  t.is(login(w, checkpassword('alice@example.test', 'alice-pw'), { TCPLOCALPORT: '110' }).status, 0);
});

test('wrong password, unknown user, unknown domain and path-like names all answer 3 without a password in the log', async (t) => {
  const w = await world(t);
  for (const [login_, secret] of [
    ['alice@example.test', 'wrong-pw'],
    ['nobody@example.test', 'whatever'],
    ['alice@nosuch.test', 'alice-pw'],
    ['../alice@example.test', 'alice-pw'],
    ['.alice@example.test', 'alice-pw'],
    ['alice/x@example.test', 'alice-pw'],
  ] as const) {
    const r = login(w, checkpassword(login_, secret), { TCPLOCALPORT: '110' });
    t.is(r.status, 3, login_);
    t.is(r.stdout, '');
    t.notRegex(r.stderr, new RegExp(secret.replace(/\W/g, '.')), 'the offered password is never logged');
    t.regex(r.stderr, /^vchkpw-pop3: login failed /);
  }
});

test('C\'s codes for misuse: no fd 3 is 11, empty login 12, empty password 13, bad characters 20', async (t) => {
  const w = await world(t);
  const noFd3 = login(w, undefined, { TCPLOCALPORT: '110' });
  t.is(noFd3.status, 11);
  t.regex(noFd3.stderr, /^vchkpw-pop3: /);
  t.is(login(w, checkpassword('', 'x')).status, 12);
  t.is(login(w, checkpassword('alice@example.test', '')).status, 13);
  t.is(login(w, checkpassword('bad name@example.test', 'x')).status, 20);
  t.is(login(w, checkpassword('alice@exa_mple.test', 'x')).status, 20);
  t.is(login(w, Buffer.alloc(0)).status, 12, 'nothing at all on fd 3');
  t.is(login(w, Buffer.from('alice@example.test', 'latin1')).status, 13, 'no NUL at all: a login without a password');
});

test('more than 512 bytes on fd 3 and a missing program are misuse (2), not a crash', async (t) => {
  const w = await world(t);
  const big = login(w, Buffer.concat([checkpassword('alice@example.test', 'alice-pw'), Buffer.alloc(600, 0x41)]));
  t.is(big.status, 2);
  const r = runProgram(w, 'vchkpw', [], { fd3: checkpassword('alice@example.test', 'alice-pw') });
  t.is(r.status, 2);
  t.regex(r.stderr, /no program/);
});

test('a program that cannot be run is 111 with a log line (C says 0)', async (t) => {
  const w = await world(t);
  const r = login(w, checkpassword('alice@example.test', 'alice-pw'), { TCPLOCALPORT: '110' }, ['no-such-program-anywhere']);
  t.is(r.status, 111);
  t.regex(r.stderr, /exec failed user=alice domain=example\.test/);
});

test('the program is found on PATH as execvp would, and gets its arguments', async (t) => {
  const w = await world(t);
  const r = login(w, checkpassword('alice@example.test', 'alice-pw'), { TCPLOCALPORT: '25' }, ['printf', '%s|%s', 'one', 'two words']);
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, 'one|two words');
});

test('user%domain, an alias domain and the default domain log in, with VPOPUSER as given', async (t) => {
  const w = await world(t);
  const { addAliasDomain } = await import('../../lib/accounts/domains.ts');
  await addAliasDomain(w.ctx, 'example.test', 'alias.test');
  const percent = login(w, checkpassword('Alice%Example.TEST', 'alice-pw'), { TCPLOCALPORT: '25' });
  t.is(percent.status, 0, percent.stderr);
  t.is(envOutput(percent.stdout).get('VPOPUSER'), 'alice%example.test');
  const alias = login(w, checkpassword('alice@alias.test', 'alice-pw'), { TCPLOCALPORT: '25' });
  t.is(alias.status, 0, alias.stderr);
  t.is(envOutput(alias.stdout).get('VPOPUSER'), 'alice@alias.test');
  t.is(envOutput(alias.stdout).get('HOME'), join(w.vhome, 'domains/example.test/alice'));
  t.is(login(w, checkpassword('alice', 'alice-pw'), { TCPLOCALPORT: '25' }).status, 3, 'no default domain yet');
  writeFileSync(join(w.vhome, 'etc/defaultdomain'), 'example.test\n');
  const bare = login(w, checkpassword('alice', 'alice-pw'), { TCPLOCALPORT: '25' });
  t.is(bare.status, 0, bare.stderr);
  t.is(envOutput(bare.stdout).get('VPOPUSER'), 'alice');
  t.is(login(w, checkpassword('alice', 'alice-pw'), { TCPLOCALPORT: '25', VPOPMAIL_DOMAIN: 'other.test' }).status, 3);
});

test('the ip-alias map picks the domain from the server address, including an IPv4-mapped one', async (t) => {
  const w = await world(t);
  writeFileSync(join(w.vhome, 'etc/ip_alias_map'), '192.0.2.80 example.test\n');
  for (const local of ['192.0.2.80', '::ffff:192.0.2.80']) {
    const r = login(w, checkpassword('alice', 'alice-pw'), { TCPLOCALPORT: '25', TCPLOCALIP: local });
    t.is(r.status, 0, `${local}: ${r.stderr}`);
    t.is(envOutput(r.stdout).get('TCPLOCALIP'), local, 'the environment is passed on unchanged');
  }
});

test('CRAM-MD5 for SMTP and APOP for POP3 check the clear-text field', async (t) => {
  const w = await world(t);
  const challenge = '<1896.697170952@mail.test>';
  const cram = cramMd5Response('alice-pw', challenge);
  t.is(login(w, checkpassword('alice@example.test', cram, challenge), { TCPLOCALPORT: '25' }).status, 0);
  t.is(login(w, checkpassword('alice@example.test', '0'.repeat(32), challenge), { TCPLOCALPORT: '25' }).status, 3);
  t.is(login(w, checkpassword('alice@example.test', cram, challenge), { TCPLOCALPORT: '110' }).status, 3, 'no CRAM-MD5 over POP');
  const apop = apopDigest('alice-pw', challenge);
  t.is(login(w, checkpassword('alice@example.test', apop, challenge), { TCPLOCALPORT: '110', TCPREMOTEIP: '192.0.2.9' }).status, 0);
  t.is(login(w, checkpassword('alice@example.test', apop, challenge), { TCPLOCALPORT: '143' }).status, 3, 'no APOP over IMAP');
  w.settings('clear-passwords = no\n');
  t.is(login(w, checkpassword('alice@example.test', apop, challenge), { TCPLOCALPORT: '110', TCPREMOTEIP: '192.0.2.9' }).status, 3, 'no clear field, no APOP');
});

test('an account without a stored password is 15, unless learn-passwords is on', async (t) => {
  const w = await world(t);
  const entry = await w.ctx.backend.getUser('example.test', 'alice');
  await w.ctx.backend.setUser('example.test', { ...entry!, passwd: '', clear: '' });
  t.is(login(w, checkpassword('alice@example.test', 'first-pw'), { TCPLOCALPORT: '25' }).status, 15);
  w.settings('learn-passwords = yes\n');
  t.is(login(w, checkpassword('alice@example.test', 'first-pw'), { TCPLOCALPORT: '25' }).status, 0);
  t.is(login(w, checkpassword('alice@example.test', 'other-pw'), { TCPLOCALPORT: '25' }).status, 3, 'the learned password now counts');
});

test('an unreadable store is 111, never "wrong password"', async (t) => {
  const w = await world(t);
  const cdb = join(w.vhome, 'domains/example.test/vpasswd.cdb');
  writeFileSync(cdb, Buffer.alloc(100, 0xff));
  const r = login(w, checkpassword('alice@example.test', 'alice-pw'), { TCPLOCALPORT: '110' });
  t.is(r.status, 111, r.stderr);
  t.regex(r.stderr, /login deferred/);
  rmSync(cdb);
  writeFileSync(join(w.qhome, 'users/cdb'), 'garbage');
  t.is(login(w, checkpassword('alice@example.test', 'alice-pw'), { TCPLOCALPORT: '110' }).status, 111);
});

test('lastauth records the IP for every service; open-smtp only for POP/IMAP without NO_RELAY', async (t) => {
  const w = await world(t);
  const home = join(w.vhome, 'domains/example.test/alice');
  const openSmtp = join(w.vhome, 'etc/open-smtp');
  t.is(login(w, checkpassword('alice@example.test', 'alice-pw'), { TCPLOCALPORT: '25', TCPREMOTEIP: '192.0.2.25' }).status, 0);
  t.is(readFileSync(join(home, 'lastauth'), 'latin1'), '192.0.2.25');
  t.false(existsSync(openSmtp), 'SMTP logins never open the relay');
  t.is(login(w, checkpassword('alice@example.test', 'alice-pw'), { TCPLOCALPORT: '110', TCPREMOTEIP: '192.0.2.10' }).status, 0);
  t.regex(readFileSync(openSmtp, 'latin1'), /^192\.0\.2\.10:allow,RELAYCLIENT="",RBLSMTPD=""\t\d+\n$/);
  t.is(statSync(join(home, 'lastauth')).uid, 89);
  await setFlags(w, 'alice@example.test', NO_RELAY);
  t.is(login(w, checkpassword('alice@example.test', 'alice-pw'), { TCPLOCALPORT: '143', TCPREMOTEIP: '192.0.2.11' }).status, 0);
  t.notRegex(readFileSync(openSmtp, 'latin1'), /192\.0\.2\.11/);
  t.is(readFileSync(join(home, 'lastauth'), 'latin1'), '192.0.2.11');
});

test('a missing home is recreated with its Maildir as the domain owner before the session starts', async (t) => {
  const w = await world(t);
  const home = join(w.vhome, 'domains/example.test/alice');
  rmSync(home, { recursive: true });
  const r = login(w, checkpassword('alice@example.test', 'alice-pw'), { TCPLOCALPORT: '110' }, ['/bin/pwd']);
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout.trim(), home);
  for (const d of ['Maildir/cur', 'Maildir/new', 'Maildir/tmp']) t.true(statSync(join(home, d)).isDirectory());
  t.is(statSync(join(home, 'Maildir')).uid, 89);
});

// --- roaming users: tcprules / tcprulescheck from Debian's ucspi-tcp judge our rules --------------------

function tcprulescheck(prog: string, cdb: string, ip: string): string {
  return spawnSync(prog, [cdb], { env: { TCPREMOTEIP: ip }, encoding: 'utf8' }).stdout;
}

test('after a POP login from a new IPv4 address, tcprulescheck grants it RELAYCLIENT', async (t) => {
  const w = await world(t);
  writeFileSync(join(w.vhome, 'etc/tcp.smtp'), '127.:allow,RELAYCLIENT=""\n:allow\n');
  t.is(login(w, checkpassword('alice@example.test', 'alice-pw'), { TCPLOCALPORT: '110', TCPREMOTEIP: '192.0.2.77' }).status, 0);
  const cdb = join(w.vhome, 'etc/tcp.smtp.cdb');
  t.regex(tcprulescheck('/usr/bin/tcprulescheck', cdb, '192.0.2.77'), /RELAYCLIENT/);
  t.notRegex(tcprulescheck('/usr/bin/tcprulescheck', cdb, '192.0.2.78'), /RELAYCLIENT/);
  t.is(statSync(cdb).mode & 0o777, 0o644);
  t.is(statSync(cdb).uid, 89);
  // a known IP only refreshes its time: the cdb is not rebuilt
  const before = statSync(cdb).mtimeMs;
  rmSync(join(w.vhome, 'etc/tcp.smtp'));
  writeFileSync(join(w.vhome, 'etc/tcp.smtp'), '127.:allow,RELAYCLIENT=""\n:deny\n');
  t.is(login(w, checkpassword('alice@example.test', 'alice-pw'), { TCPLOCALPORT: '110', TCPREMOTEIP: '192.0.2.77' }).status, 0);
  t.is(statSync(cdb).mtimeMs, before);
});

test('::1, an empty address or garbage never produce a catch-all relay rule', async (t) => {
  const w = await world(t);
  writeFileSync(join(w.vhome, 'etc/tcp.smtp'), '127.:allow,RELAYCLIENT=""\n');
  for (const ip of ['::1', '', 'not-an-ip', '::ffff:', ':']) {
    t.is(login(w, checkpassword('alice@example.test', 'alice-pw'), { TCPLOCALPORT: '110', TCPREMOTEIP: ip }).status, 0, ip);
  }
  const lines = readFileSync(join(w.vhome, 'etc/open-smtp'), 'latin1').split('\n').filter((l) => l !== '');
  t.deepEqual(lines.map((l) => l.slice(0, l.indexOf(':allow'))), ['::1'], 'only the real address was recorded');
  for (const l of lines) t.not(isIP(l.slice(0, l.indexOf(':allow'))), 0);
  // the rules handed to the IPv4-only tcprules hold no catch-all: a stranger gets no relay
  const cdb = join(w.vhome, 'etc/tcp.smtp.cdb');
  t.true(existsSync(cdb));
  t.notRegex(tcprulescheck('/usr/bin/tcprulescheck', cdb, '198.51.100.1'), /RELAYCLIENT/);
  t.regex(tcprulescheck('/usr/bin/tcprulescheck', cdb, '127.0.0.1'), /RELAYCLIENT/, 'the static rules are still there');
});

const IPV6_TCPRULES = '/opt/vpopmail-ts-test/ucspi-tcp-ipv6/usr/bin';

test('with ucspi-tcp-ipv6 configured, an IPv6 client is granted RELAYCLIENT in its own rule syntax', async (t) => {
  if (!existsSync(join(IPV6_TCPRULES, 'tcprules'))) {
    t.fail(`${IPV6_TCPRULES}/tcprules is missing: .ci/run unpacks ucspi-tcp-ipv6 there`);
    return;
  }
  const w = await world(t, `tcprules-prog = ${IPV6_TCPRULES}/tcprules\ntcprules-ipv6 = yes\n`);
  writeFileSync(join(w.vhome, 'etc/tcp.smtp'), '127.:allow,RELAYCLIENT=""\n');
  t.is(login(w, checkpassword('alice@example.test', 'alice-pw'), { TCPLOCALPORT: '110', TCPREMOTEIP: '2001:DB8:0:0:0:0:0:5' }).status, 0);
  t.is(login(w, checkpassword('alice@example.test', 'alice-pw'), { TCPLOCALPORT: '110', TCPREMOTEIP: '192.0.2.5' }).status, 0);
  t.regex(readFileSync(join(w.vhome, 'etc/open-smtp'), 'latin1'), /^2001:db8::5:allow,RELAYCLIENT="",RBLSMTPD=""\t\d+$/m);
  const cdb = join(w.vhome, 'etc/tcp.smtp.cdb');
  const check = join(IPV6_TCPRULES, 'tcprulescheck');
  t.regex(tcprulescheck(check, cdb, '2001:db8::5'), /RELAYCLIENT/);
  t.regex(tcprulescheck(check, cdb, '192.0.2.5'), /RELAYCLIENT/);
  t.notRegex(tcprulescheck(check, cdb, '2001:db8::6'), /RELAYCLIENT/);
});

test('clearopensmtp drops entries older than the relay lifetime and rebuilds the rules', async (t) => {
  const w = await world(t);
  writeFileSync(join(w.vhome, 'etc/tcp.smtp'), '127.:allow,RELAYCLIENT=""\n');
  const now = Math.floor(Date.now() / 1000);
  writeFileSync(
    join(w.vhome, 'etc/open-smtp'),
    `192.0.2.1:allow,RELAYCLIENT="",RBLSMTPD=""\t${now - 181 * 60}\n192.0.2.2:allow,RELAYCLIENT="",RBLSMTPD=""\t${now - 60}\nno tab here\n`,
  );
  const r = runProgram(w, 'clearopensmtp', []);
  t.is(r.status, 0, r.stderr);
  t.is(readFileSync(join(w.vhome, 'etc/open-smtp'), 'latin1'), `192.0.2.2:allow,RELAYCLIENT="",RBLSMTPD=""\t${now - 60}\n`);
  const cdb = join(w.vhome, 'etc/tcp.smtp.cdb');
  t.regex(tcprulescheck('/usr/bin/tcprulescheck', cdb, '192.0.2.2'), /RELAYCLIENT/);
  t.notRegex(tcprulescheck('/usr/bin/tcprulescheck', cdb, '192.0.2.1'), /RELAYCLIENT/);
  t.is(statSync(join(w.vhome, 'etc/open-smtp')).uid, 89, 'chowned to the vpopmail user as C does');
});

test('a SMTP AUTH session keeps the caller\'s ids and working directory', async (t) => {
  const w = await world(t);
  const cwd = join(w.root, 'somewhere');
  mkdirSync(cwd);
  chmodSync(cwd, 0o755);
  const r = runProgram(w, 'vchkpw', ['/bin/sh', '-c', 'echo "$(id -u) $(pwd)"'], { fd3: checkpassword('alice@example.test', 'alice-pw'), env: { TCPLOCALPORT: '587' }, cwd });
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout.trim(), `0 ${cwd}`);
});
