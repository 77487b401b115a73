// No password or password hash reaches stdout, stderr (the log) or a process title unless the
// operator asked for it: the output of every program the test run started through a capturing
// helper (capture.ts: mail-world runProgram, qmail-env runVdelivermail, accounts-home run,
// reliability runBuilt) is searched, after every other test file has finished, for every password
// and hash the tests gave an account. Exempt: vuserinfo's, vpopmaild's and vmkpasswd's stdout, and
// the `Random password:` line of a tool that made one up.
import test from 'ava';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findLeaks, isUnderAva, noteSecret, readCaptured, recordOutput, waitForOtherWorkers, type CaptureRecord } from '../helpers/capture.ts';
import { binPath } from '../helpers/dist.ts';
import { checkpassword } from '../helpers/mail-world.ts';
import { makeWorld, readSummaries, runBuilt, summarize } from '../helpers/reliability.ts';

const record = (over: Partial<CaptureRecord>): CaptureRecord => ({
  file: 'test/x.test.ts',
  program: 'vchkpw',
  args: [],
  stdout: '',
  stderr: '',
  exemptions: ['random-password'],
  ownSecrets: [],
  truncated: false,
  ...over,
});

test('the secrets check finds a password or hash in a log line and ignores what the operator asked to see', (t) => {
  const secrets = [
    { file: 'a', secret: 'Sekrit-42' },
    { file: 'a', secret: '$6$salt$hashhashhash' },
    { file: 'a', secret: 'pw' }, // too short to tell from honest text: not looked for
  ];
  const leaks = findLeaks({
    secrets,
    records: [
      record({ stderr: 'vchkpw-pop3: login failed user=alice password=Sekrit-42\n' }),
      record({ program: 'vadduser', stdout: 'stored $6$salt$hashhashhash\n' }),
      record({ program: 'vadduser', stdout: 'Random password: Sekrit-42\n' }),
      record({ program: 'vuserinfo', stdout: '', exemptions: ['stdout', 'random-password'] }),
      record({ stderr: 'a pw in a word\n' }),
      record({ stderr: 'typed Other-secret-7 on fd 3\n', ownSecrets: ['Other-secret-7'] }),
    ],
  });
  t.deepEqual(
    leaks.map((l) => `${l.program} ${l.stream} ${l.secretFrom}: ${l.line}`),
    ['vchkpw stderr a: vchkpw-pop3: login failed user=alice password=<secret>', 'vadduser stdout a: stored <secret>', 'vchkpw stderr fd 3: typed <secret> on fd 3'],
  );
});

test('no password in the process title or environment of vpopmaild after a login, nor in those of the program vchkpw runs', async (t) => {
  const w = makeWorld(t);
  await w.addDomain('titles.test', 'Title-pm-pw-1');
  // vchkpw's next program reports its own command line and environment.
  const probe = join(w.root, 'probe.sh');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(probe, '#!/bin/sh\ntr "\\0" " " < /proc/$$/cmdline; echo; env\n', { mode: 0o755 });
  const r = await runBuilt('vchkpw', [probe, 'arg'], { fd3: checkpassword('postmaster@titles.test', 'Title-pm-pw-1'), env: { ...w.env, TCPLOCALPORT: '110', TCPREMOTEIP: '192.0.2.60' } });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /USER=postmaster/);
  t.false(r.stdout.includes('Title-pm-pw-1'), 'the next program sees no password');

  // vpopmaild holds a session open after login; its /proc entries must not show the password.
  const child = spawn(binPath('vpopmaild'), [], { env: w.env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('latin1')));
  child.stderr.on('data', (d: Buffer) => (err += d.toString('latin1')));
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  child.stdin.write('slogin postmaster@titles.test Title-pm-pw-1\r\n');
  for (let i = 0; i < 400 && !out.includes('+OK \r\n+OK'); i++) await new Promise((res) => setTimeout(res, 25));
  t.regex(out, /\+OK \r\n\+OK/, 'logged in');
  const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'latin1');
  const environ = readFileSync(`/proc/${child.pid}/environ`, 'latin1');
  child.stdin.end('quit\r\n');
  await closed;
  recordOutput('vpopmaild', [], out, err);
  t.false(cmdline.includes('Title-pm-pw-1') || environ.includes('Title-pm-pw-1'), 'process title and environment hold no password');
  t.false(err.includes('Title-pm-pw-1'), 'the log holds no password');
});

test('a wrong password offered on fd 3 is not logged, at any log level', async (t) => {
  for (const level of ['n', 'y', 'e', 'p', 'v']) {
    const w = makeWorld(t, { conf: `log-level = ${level}\n` });
    await w.addDomain('levels.test', 'Levels-pm-pw-1');
    for (const secret of ['Levels-pm-pw-1', 'Wrong-guess-77']) {
      noteSecret(secret);
      const r = await runBuilt('vchkpw', ['/bin/true'], { fd3: checkpassword('postmaster@levels.test', secret), env: { ...w.env, TCPLOCALPORT: '110', TCPREMOTEIP: '192.0.2.61' } });
      t.false(r.stderr.includes(secret), `log level ${level}: ${r.stderr}`);
    }
  }
});

test('finally: no test password or hash in any output of the whole run but where the operator asked for it', async (t) => {
  // ava runs files side by side; this one waits until it is the last worker of the run.
  t.timeout(50 * 60_000);
  const waited = isUnderAva() ? await waitForOtherWorkers() : { waitedMs: 0, quiet: true };
  const captured = readCaptured();
  const leaks = findLeaks(captured);
  const files = new Set(captured.records.map((r) => r.file));
  t.log(`checked ${captured.records.length} program runs from ${files.size} test files (${captured.workers} workers) against ${new Set(captured.secrets.map((s) => s.secret)).size} passwords and hashes; waited ${Math.round(waited.waitedMs / 1000)} s${waited.quiet ? '' : ' (gave up waiting)'}`);
  for (const s of readSummaries()) t.log(`${s.area}: ${s.trials} trials, ${s.failures} failures${s.detail === '' ? '' : ` (${s.detail})`}`);
  summarize(t, 'secrets in output', captured.records.length, leaks.length);
  t.deepEqual(
    leaks.slice(0, 30).map((l) => `${l.file}: ${l.program} ${l.args.join(' ')} ${l.stream} shows a secret set by ${l.secretFrom}: ${l.line}`),
    [],
    `${leaks.length} leaks`,
  );
  t.true(captured.records.length > 0, 'nothing was captured: are the helpers still recording?');
});
