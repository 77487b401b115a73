// npm run demo: the whole job on an embedded demo home under the repo (demo-home/, git-ignored),
// with the built programs from dist/bin. No root, no server: everything runs as the caller, the
// domain is owned by the caller's uid/gid, and paths are given through VPOPMAIL_HOME / QMAIL_HOME.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const bin = join(root, 'dist', 'bin');
const demo = join(root, 'demo-home');
const vhome = join(demo, 'vpopmail');
const qhome = join(demo, 'qmail');
const uid = process.getuid?.() ?? 0;
const gid = process.getgid?.() ?? 0;
const env = { PATH: '/usr/bin:/bin', VPOPMAIL_HOME: vhome, QMAIL_HOME: qhome };
const DOMAIN = 'demo.test';

let failures = 0;
let skipped = 0;

function has(program: string): boolean {
  return existsSync(join(bin, program));
}

function run(program: string, args: string[]) {
  return spawnSync(join(bin, program), args, { env, cwd: demo, encoding: 'utf8' });
}

function step(title: string, program: string, fn: () => string): void {
  if (!has(program)) {
    process.stdout.write(`- ${title}: skipped (${program} is not built yet)\n`);
    skipped++;
    return;
  }
  try {
    const result = fn();
    process.stdout.write(`- ${title}: ${result}\n`);
  } catch (err) {
    failures++;
    process.stdout.write(`- ${title}: FAILED: ${(err as Error).message}\n`);
  }
}

function expectOk(r: ReturnType<typeof run>, what: string, code = 0): string {
  if (r.error) throw r.error;
  if (r.status !== code) throw new Error(`${what} exited ${r.status} (wanted ${code}): ${(r.stdout + r.stderr).trim()}`);
  return r.stdout;
}

process.stdout.write(`vpopmail-ts demo: a fresh demo home in ${demo}\n`);
rmSync(demo, { recursive: true, force: true });
for (const d of [join(vhome, 'bin'), join(vhome, 'etc'), join(vhome, 'domains'), join(qhome, 'users'), join(qhome, 'control'), join(qhome, 'bin')]) {
  mkdirSync(d, { recursive: true });
}
// The programs' own directory, where .qmail-default points vdelivermail.
for (const p of readdirSync(bin)) spawnSync('ln', ['-f', join(bin, p), join(vhome, 'bin', p)]);
writeFileSync(join(vhome, 'etc', 'vlimits.default'), 'maxpopaccounts: -1\nmaxaliases: -1\nmaxforwards: -1\nmaxautoresponders: -1\nmaxmailinglists: -1\n');

const version = spawnSync(join(root, 'dist', 'vpopmail'), ['--version'], { encoding: 'utf8' });
process.stdout.write(`- built programs: ${readdirSync(bin).sort().join(' ') || '(none yet)'} — ${version.stdout.trim()}\n`);

step(`add the domain ${DOMAIN} (owned by uid ${uid}, gid ${gid})`, 'vadddomain', () => {
  expectOk(run('vadddomain', ['-i', String(uid), '-g', String(gid), DOMAIN, 'postmaster-secret']), 'vadddomain');
  return `created ${join(vhome, 'domains', DOMAIN)} with a postmaster mailbox`;
});

step('add two users', 'vadduser', () => {
  expectOk(run('vadduser', ['-q', '1M', `alice@${DOMAIN}`, 'alice-secret']), 'vadduser alice');
  expectOk(run('vadduser', [`bob@${DOMAIN}`, 'bob-secret']), 'vadduser bob');
  return 'alice (quota 1 MiB) and bob';
});

step('show alice', 'vuserinfo', () => {
  const out = expectOk(run('vuserinfo', ['-n', '-d', '-q', `alice@${DOMAIN}`]), 'vuserinfo');
  return out.trim().split('\n').join(' | ');
});

const message = 'From: Carol <carol@example.net>\nTo: alice@demo.test\nSubject: hello\n\nHello Alice, this came through vdelivermail.\n';
step('deliver a message to alice as qmail-local would', 'vdelivermail', () => {
  const domainDir = join(vhome, 'domains', DOMAIN);
  const msgFile = join(demo, 'message.eml');
  writeFileSync(msgFile, message);
  const r = spawnSync(join(bin, 'vdelivermail'), ['', 'bounce-no-mailbox'], {
    env: {
      ...env, USER: DOMAIN, HOME: domainDir, LOCAL: `${DOMAIN}-alice`, HOST: DOMAIN, EXT: 'alice',
      RECIPIENT: `${DOMAIN}-alice@${DOMAIN}`, SENDER: 'carol@example.net', NEWSENDER: 'carol@example.net',
      DTLINE: `Delivered-To: ${DOMAIN}-alice@${DOMAIN}\n`, RPLINE: 'Return-Path: <carol@example.net>\n',
    },
    cwd: domainDir,
    stdio: ['pipe', 'pipe', 'pipe'],
    input: readFileSync(msgFile),
    encoding: 'utf8',
  });
  expectOk(r, 'vdelivermail');
  const fresh = readdirSync(join(domainDir, 'alice', 'Maildir', 'new'));
  return `stored as Maildir/new/${fresh[0] ?? '(nothing!)'}`;
});

step('deliver to a user who does not exist (bounce-no-mailbox)', 'vdelivermail', () => {
  const domainDir = join(vhome, 'domains', DOMAIN);
  const r = spawnSync(join(bin, 'vdelivermail'), ['', 'bounce-no-mailbox'], {
    env: { ...env, HOST: DOMAIN, EXT: 'nobody', RPLINE: 'Return-Path: <carol@example.net>\n', DTLINE: `Delivered-To: ${DOMAIN}-nobody@${DOMAIN}\n` },
    cwd: domainDir,
    input: message,
    encoding: 'utf8',
  });
  expectOk(r, 'vdelivermail', 100);
  return `exit 100 (qmail bounces it): ${r.stdout.trim()}`;
});

step('log alice in over POP3 with vchkpw (checkpassword on fd 3)', 'vchkpw', () => {
  const login = spawnSync('/bin/sh', ['-c', `printf 'alice@${DOMAIN}\\0alice-secret\\0\\0' | "$0" /usr/bin/env 3<&0 0</dev/null`, join(bin, 'vchkpw')], {
    env: { ...env, TCPLOCALPORT: '110', TCPREMOTEIP: '192.0.2.7' },
    encoding: 'utf8',
  });
  expectOk(login, 'vchkpw');
  const user = /^USER=(.*)$/m.exec(login.stdout)?.[1];
  const home = /^HOME=(.*)$/m.exec(login.stdout)?.[1];
  const bad = spawnSync('/bin/sh', ['-c', `printf 'alice@${DOMAIN}\\0wrong\\0\\0' | "$0" /usr/bin/env 3<&0 0</dev/null`, join(bin, 'vchkpw')], {
    env: { ...env, TCPLOCALPORT: '110', TCPREMOTEIP: '192.0.2.7' },
    encoding: 'utf8',
  });
  return `good password: session started as USER=${user} HOME=${home}; wrong password: exit ${bad.status}`;
});

step('send a bulletin to every mailbox with vpopbull', 'vpopbull', () => {
  const bulletin = join(demo, 'bulletin.txt');
  writeFileSync(bulletin, 'From: postmaster@demo.test\nSubject: maintenance tonight\n\nThe server restarts at 22:00.\n');
  const out = expectOk(run('vpopbull', ['-V', '-f', bulletin, DOMAIN]), 'vpopbull');
  return `delivered to ${out.trim().split('\n').filter((l) => l.includes('@')).length} mailboxes`;
});

step("show alice's quota use", 'vuserinfo', () => {
  const out = expectOk(run('vuserinfo', ['-q', '-Q', `alice@${DOMAIN}`]), 'vuserinfo -Q');
  return out.trim().split('\n').join(' | ');
});

process.stdout.write(`demo finished: ${failures} failed, ${skipped} skipped (programs not built yet)\n`);
process.exit(failures === 0 ? 0 : 1);
