// The built vdelivermail as qmail-local runs it: uid/gid 89, cwd the domain dir, qmail-local's
// environment, the message on a seekable stdin (or a pipe). Every stored message is read back by
// Python's mailbox.Maildir; the golden run's vdelivermail steps are replayed and compared.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { modifyUser } from '../../lib/accounts/users.ts';
import { PW_FLAG } from '../../lib/backends/backend.ts';
import { readWithPython } from '../helpers/maildir-tools.ts';
import {
  deliveryWorld,
  giveTo89,
  goldenMessage,
  goldenMessage900,
  maildirFiles,
  modeLine,
  runVdelivermail,
  storedPrefix,
  type DeliveryWorld,
} from '../helpers/qmail-env.ts';

const NAME = /^\d{10}\.\d+\.[^,/]+,S=(\d+)$/;

/** Python's mailbox.Maildir sees exactly these messages (by content), no more, no fewer. */
function assertPythonReads(t: import('ava').ExecutionContext, maildir: string, expected: readonly (string | Buffer)[]): void {
  const py = readWithPython(maildir);
  t.is(py.count, expected.length, `Python's message count in ${maildir}`);
  const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');
  t.deepEqual(py.messages.map((m) => m.sha256).sort(), expected.map(sha).sort(), `Python reads the same bytes in ${maildir}`);
}

interface Golden extends DeliveryWorld {
  readonly ex: string;
  readonly path: string;
  readonly catchDir: string;
}

/** The golden run's domains and users, made with lib/accounts. */
async function goldenWorld(t: import('ava').ExecutionContext): Promise<Golden> {
  const w = await deliveryWorld(t);
  const ex = await w.addDomain('example.test');
  const catchDir = await w.addDomain('catch.test');
  const path = await w.addDomain('path.test');
  await w.addUser('alice@example.test', 'alicepw');
  await w.addUser('bob@example.test', 'bobpw', { quota: '1000000S' });
  await w.addUser('carol@example.test', 'carolpw');
  await w.addUser('frank@example.test', 'frankpw');
  await w.addUser('tiny@example.test', 'tinypw', { quota: '3000S' });
  await modifyUser(w.ctx, 'path.test', 'postmaster', { quota: '4000000S' });
  return Object.assign(w, { ex, path, catchDir });
}

test('the golden vdelivermail steps 171-187 give C results: codes, texts, names, sizes, modes, maildirsize', async (t) => {
  const w = await goldenWorld(t);
  const msg = (file: string, to: string, subject: string, extra?: string) => w.message(file, goldenMessage(file, to, subject, extra));
  const alice = msg('msg-alice.eml', 'alice@example.test', 'hello alice');
  const bob = msg('msg-bob.eml', 'bob@example.test', 'hello bob');
  const nobody = msg('msg-nobody.eml', 'nobody@example.test', 'to nobody');
  const ghostCatch = msg('msg-catch.eml', 'ghost@catch.test', 'catch-all by address');
  const ghostPath = msg('msg-path.eml', 'ghost@path.test', 'catch-all by path');
  const loop = msg('msg-loop.eml', 'alice@example.test', 'looping', 'Delivered-To: alice@example.test');
  const frank = msg('msg-frank.eml', 'frank@example.test', 'to a bounced account');
  const m900 = w.message('msg-900.eml', goldenMessage900('tiny@example.test'));
  const step = (ext: string, host: string, action: string, file: string, args?: string[]) => {
    const r = runVdelivermail(w, ext, host, action, { file, ...(args === undefined ? {} : { args }) });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const ok = { code: 0, out: '', err: '' };
  const aliceMd = join(w.ex, 'alice', 'Maildir');

  t.deepEqual(step('alice', 'example.test', 'bounce-no-mailbox', alice), ok, '171');
  const [first] = maildirFiles(aliceMd);
  t.is(NAME.exec(first!)?.[1], '319');
  t.is(modeLine(join(aliceMd, 'new', first!)), 'f600 89:89 319');
  t.is(readFileSync(join(aliceMd, 'new', first!), 'latin1'), storedPrefix('alice@example.test') + readFileSync(alice, 'latin1'));

  t.deepEqual(step('bob', 'example.test', 'bounce-no-mailbox', bob), ok, '172');
  t.is(readFileSync(join(w.ex, 'bob', 'Maildir', 'maildirsize'), 'latin1'), '1000000S\n0 0\n309 1\n');
  t.deepEqual(step('ALICE', 'example.test', 'bounce-no-mailbox', alice), ok, '174');
  t.deepEqual(step('nobody', 'example.test', 'bounce-no-mailbox', nobody), { code: 100, out: 'Sorry, no mailbox here by that name. (#5.1.1)\n', err: '' }, '175');
  t.deepEqual(step('nobody', 'example.test', 'delete', nobody), ok, '176');

  t.deepEqual(step('ghost', 'catch.test', 'catchall@elsewhere.test', ghostCatch), ok, '177');
  t.is(
    readFileSync(w.injectLog, 'latin1'),
    `=== qmail-inject [--] [catchall@elsewhere.test]\n${storedPrefix('ghost@catch.test')}${readFileSync(ghostCatch, 'latin1')}=== end\n`,
  );
  writeFileSync(w.injectLog, '');

  const pm = join(w.path, 'postmaster');
  t.deepEqual(step('ghost', 'path.test', pm, ghostPath), { code: 0, out: `user does not exist, but will deliver to ${pm}/\n`, err: '' }, '178');
  const pmFiles = maildirFiles(join(pm, 'Maildir'));
  t.is(pmFiles.length, 1);
  t.is(NAME.exec(pmFiles[0]!)?.[1], '315');
  t.is(readFileSync(join(pm, 'Maildir', 'new', pmFiles[0]!), 'latin1'), storedPrefix('ghost@path.test') + readFileSync(ghostPath, 'latin1'));
  t.is(modeLine(join(pm, 'Maildir', 'maildirsize')), 'f600 89:89 19');
  t.is(readFileSync(join(pm, 'Maildir', 'maildirsize'), 'latin1'), '4000000S\n0 0\n315 1\n');

  const tinyMd = join(w.ex, 'tiny', 'Maildir');
  t.deepEqual(step('tiny', 'example.test', 'bounce-no-mailbox', m900), ok, '179');
  t.is(readFileSync(join(tinyMd, 'maildirsize'), 'latin1'), '3000S\n0 0\n1168 1\n');
  t.deepEqual(step('tiny', 'example.test', 'bounce-no-mailbox', m900), ok, '180');
  t.is(readFileSync(join(tinyMd, 'maildirsize'), 'latin1'), '3000S\n0 0\n1168 1\n1168 1\n');
  t.deepEqual(step('tiny', 'example.test', 'bounce-no-mailbox', m900), { code: 100, out: 'user is over quota\n\n', err: '' }, '181');
  t.is(readFileSync(join(tinyMd, 'maildirsize'), 'latin1'), '3000S\n2336 2\n');
  t.is(modeLine(join(tinyMd, 'maildirsize')), 'f644 89:89 13');
  t.is(modeLine(join(tinyMd, 'quotawarn')), 'f644 89:89 0');
  t.deepEqual(maildirFiles(tinyMd).map((f) => NAME.exec(f)?.[1]), ['1168', '1168']);

  const carolQmail = join(w.ex, 'carol', '.qmail');
  writeFileSync(carolQmail, '&carol@elsewhere.test\n./Maildir/\n');
  giveTo89(carolQmail);
  t.deepEqual(step('carol', 'example.test', 'bounce-no-mailbox', bob), ok, '182');
  t.is(readFileSync(w.injectLog, 'latin1'), `=== qmail-inject [--] [carol@elsewhere.test]\n${storedPrefix('carol@example.test')}${readFileSync(bob, 'latin1')}=== end\n`);
  const carolFiles = maildirFiles(join(w.ex, 'carol', 'Maildir'));
  t.is(carolFiles.length, 1);
  t.is(NAME.exec(carolFiles[0]!)?.[1], '311');
  rmSync(carolQmail);

  t.deepEqual(step('alice', 'example.test', 'bounce-no-mailbox', loop), { code: 100, out: 'mail is looping\n', err: '' }, '183');
  await modifyUser(w.ctx, 'example.test', 'frank', { addFlags: PW_FLAG.BOUNCE_MAIL });
  t.deepEqual(step('frank', 'example.test', 'bounce-no-mailbox', frank), { code: 100, out: 'vdelivermail: account is locked email bounced frank@example.test\n', err: '' }, '185');
  t.deepEqual(step('frank', 'example.test', 'bounce-no-mailbox', frank, ['']), { code: 111, out: 'vdelivermail: invalid syntax in .qmail-default file\n', err: '' }, '186');
  const noExt = runVdelivermail(w, 'frank', 'example.test', 'bounce-no-mailbox', { file: frank, env: Object.fromEntries(['USER', 'HOME', 'LOCAL', 'RECIPIENT', 'SENDER', 'NEWSENDER', 'EXT', 'DEFAULT', 'DTLINE', 'RPLINE'].map((k) => [k, undefined])) });
  t.deepEqual({ code: noExt.status, out: noExt.stdout, err: noExt.stderr }, { code: 100, out: 'vdelivermail: no EXT environment varilable\n', err: '' }, '187');

  assertPythonReads(t, aliceMd, [storedPrefix('alice@example.test') + readFileSync(alice, 'latin1'), storedPrefix('alice@example.test') + readFileSync(alice, 'latin1')]);
  assertPythonReads(t, join(w.ex, 'bob', 'Maildir'), [storedPrefix('bob@example.test') + readFileSync(bob, 'latin1')]);
  assertPythonReads(t, join(pm, 'Maildir'), [storedPrefix('ghost@path.test') + readFileSync(ghostPath, 'latin1')]);
  const tinyStored = storedPrefix('tiny@example.test') + readFileSync(m900, 'latin1');
  assertPythonReads(t, tinyMd, [tinyStored, tinyStored]);
  assertPythonReads(t, join(w.ex, 'carol', 'Maildir'), [storedPrefix('carol@example.test') + readFileSync(bob, 'latin1')]);
  assertPythonReads(t, join(w.ex, 'frank', 'Maildir'), []);
  for (const d of [aliceMd, tinyMd, join(pm, 'Maildir')]) t.deepEqual(maildirFiles(d, 'tmp'), [], `${d}/tmp is empty`);
});

test('a message on a pipe is delivered whole, to several targets, with the temp copy gone afterwards', async (t) => {
  const w = await goldenWorld(t);
  const qm = join(w.ex, 'alice', '.qmail');
  writeFileSync(qm, `./Maildir/\n|cat > ${join(w.root, 'prog.out')}\n&copy@elsewhere.test\n./Maildir/\n`);
  giveTo89(qm);
  chmodSync(w.root, 0o777); // the program (uid 89) writes its output here
  const body = Buffer.concat([Buffer.from('Subject: piped\n\n'), Buffer.alloc(3 * 1024 * 1024 + 11, 0x7a), Buffer.from('\nend\n')]);
  const r = runVdelivermail(w, 'alice', 'example.test', 'bounce-no-mailbox', { pipe: body, env: { TMPDIR: w.root } });
  t.deepEqual([r.status, r.stdout, r.stderr], [0, '', '']);
  const md = join(w.ex, 'alice', 'Maildir');
  const stored = Buffer.concat([Buffer.from(storedPrefix('alice@example.test')), body]);
  assertPythonReads(t, md, [stored, stored]);
  t.true(readFileSync(join(w.root, 'prog.out')).equals(body), 'the program read it from byte 0');
  const log = readFileSync(w.injectLog);
  t.true(log.includes(body), 'qmail-inject got it whole');
  t.deepEqual(readdirSync(w.root).filter((f) => f.startsWith('vdelivermail.')), [], 'no temp copy left');
});

test('a queue file the domain user may not re-open (root, 0600) still reaches programs whole, through one copy', async (t) => {
  const w = await goldenWorld(t);
  const body = `Subject: private\n\n${'p'.repeat(100_000)}\n`;
  const file = w.message('private', body);
  chmodSync(file, 0o600); // root's; vdelivermail (uid 89) only has the descriptor it was given
  const out = join(w.root, 'prog');
  writeFileSync(out, '');
  chmodSync(out, 0o666);
  const qm = join(w.ex, 'alice', '.qmail');
  writeFileSync(qm, `|cat > ${out}\n./Maildir/\n|cat >> ${out}\n`);
  giveTo89(qm);
  chmodSync(w.root, 0o777); // the copy goes to TMPDIR
  const r = runVdelivermail(w, 'alice', 'example.test', 'bounce-no-mailbox', { file, env: { TMPDIR: w.root } });
  t.deepEqual([r.status, r.stdout, r.stderr], [0, '', '']);
  t.is(readFileSync(out, 'latin1'), body + body, 'both programs read it from byte 0');
  assertPythonReads(t, join(w.ex, 'alice', 'Maildir'), [storedPrefix('alice@example.test') + body]);
  t.deepEqual(readdirSync(w.root).filter((f) => f.startsWith('vdelivermail.')), []);
});

test('a read-only Maildir defers (111) with our reason and leaves no message in new/ or tmp/', async (t) => {
  const w = await goldenWorld(t);
  const md = join(w.ex, 'alice', 'Maildir');
  const m = w.message('m', 'Subject: ro\n\nx\n');
  chmodSync(join(md, 'tmp'), 0o500);
  let r = runVdelivermail(w, 'alice', 'example.test', 'bounce-no-mailbox', { file: m });
  t.is(r.status, 111);
  t.regex(r.stdout, /^vdelivermail: unable to deliver to \S+\/Maildir\/: open\(\S+\/tmp\/\S+\) failed: EACCES \(#4\.3\.0\)\n$/);
  chmodSync(join(md, 'tmp'), 0o700);
  chmodSync(join(md, 'new'), 0o500);
  r = runVdelivermail(w, 'alice', 'example.test', 'bounce-no-mailbox', { file: m });
  t.is(r.status, 111);
  t.regex(r.stdout, /link\(.*\) failed: EACCES \(#4\.3\.0\)\n$/);
  chmodSync(join(md, 'new'), 0o700);
  t.deepEqual([maildirFiles(md), maildirFiles(md, 'tmp')], [[], []]);
  assertPythonReads(t, md, []);
  // a read-only .qmail is fine, an unreadable one defers rather than bypass it
  const qm = join(w.ex, 'alice', '.qmail');
  writeFileSync(qm, '&fwd@elsewhere.test\n');
  chmodSync(qm, 0o000);
  r = runVdelivermail(w, 'alice', 'example.test', 'bounce-no-mailbox', { file: m });
  t.deepEqual([r.status, r.stdout], [111, `vdelivermail: unable to read ${qm}: EACCES (#4.3.0)\n`]);
  t.deepEqual(maildirFiles(md), []);
});

/** Run a shell script in a private mount namespace (the tmpfs mounts vanish with it). */
function inMountNamespace(script: string, env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-ec', script], { env: { PATH: '/usr/bin:/bin', ...env }, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('a full disk (2 MiB tmpfs) defers with ENOSPC, leaves nothing in new/ or tmp/, and mail that fits still goes in', async (t) => {
  const w = await goldenWorld(t);
  const md = join(w.ex, 'alice', 'Maildir');
  const big = w.message('big', Buffer.concat([Buffer.from('Subject: big\n\n'), Buffer.alloc(3 * 1024 * 1024, 0x61)]));
  const small = w.message('small', Buffer.concat([Buffer.from('Subject: small\n\n'), Buffer.alloc(1024 * 1024, 0x62)]));
  const exe = join(import.meta.dirname, '..', '..', 'dist', 'bin', 'vdelivermail');
  const qenv = (ext: string) =>
    `env -i PATH=/usr/bin:/bin VPOPMAIL_HOME=${w.vhome} QMAIL_HOME=${w.qhome} EXT=${ext} HOST=example.test "DTLINE=$DT" "RPLINE=$RP" setpriv --reuid=89 --regid=89 --groups=89 ${exe} '' bounce-no-mailbox`;
  const r = inMountNamespace(
    [
      `mount -t tmpfs -o size=2m,mode=0700,uid=89,gid=89 tmpfs ${md}`,
      `mkdir ${md}/new ${md}/cur ${md}/tmp && chown 89:89 ${md}/new ${md}/cur ${md}/tmp && chmod 700 ${md}/new ${md}/cur ${md}/tmp`,
      `cd ${w.ex}`,
      `set +e; ${qenv('alice')} < ${big}; echo "big=$?"`,
      `echo "new=$(ls -A ${md}/new | wc -l) tmp=$(ls -A ${md}/tmp | wc -l)"`,
      `${qenv('alice')} < ${small}; echo "small=$?"`,
      `python3 -c 'import mailbox,sys; mb=mailbox.Maildir(sys.argv[1], factory=None, create=False); print("python=%d size=%d" % (len(mb), sum(len(mb.get_bytes(k)) for k in mb.keys())))' ${md}`,
    ].join('\n'),
    { DT: 'Delivered-To: example.test-alice@example.test\n', RP: 'Return-Path: <sender@remote.test>\n' },
  );
  t.is(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.regex(lines[0]!, /^vdelivermail: unable to deliver to \S+: write\(\S+\/tmp\/\S+\) failed: ENOSPC \(#4\.3\.0\)$/);
  t.deepEqual(lines.slice(1), ['big=111', 'new=0 tmp=0', 'small=0', `python=1 size=${storedPrefix('alice@example.test').length + 16 + 1024 * 1024}`]);
  t.false(existsSync(join(md, 'new', 'x')));
});

test('killed (SIGKILL) at every write, fsync and link of a delivery: new/ holds nothing or the whole message', async (t) => {
  const w = await goldenWorld(t);
  const md = join(w.ex, 'bob', 'Maildir');
  const body = Buffer.concat([Buffer.from('Subject: crash\n\n'), Buffer.alloc(300 * 1024, 0x63)]);
  const m = w.message('crash', body);
  const whole = Buffer.concat([Buffer.from(storedPrefix('bob@example.test')), body]);
  let delivered = 0;
  let killed = 0;
  for (const op of ['write', 'fsync', 'rename'] as const) {
    for (let n = 1; n < 40; n++) {
      const r = runVdelivermail(w, 'bob', 'example.test', 'bounce-no-mailbox', { file: m, env: { VPOPMAIL_FAULT: `${op}:${n}` } });
      const files = maildirFiles(md);
      for (const f of files) t.true(readFileSync(join(md, 'new', f)).equals(whole), `${op}:${n}: ${f} is whole`);
      if (r.signal === 'SIGKILL') {
        killed++;
        // killed after the link (new/'s fsync, the maildirsize append): the message is there, whole
        t.true(files.length === delivered || files.length === delivered + 1, `${op}:${n}: ${files.length} messages after ${delivered}`);
        delivered = files.length;
      } else {
        t.is(r.status, 0, `${op}:${n} ${r.stdout}`);
        t.is(files.length, ++delivered, `${op}:${n}`);
        break; // past the last operation of this kind
      }
    }
  }
  t.true(killed >= 8, `killed at ${killed} points`);
  assertPythonReads(t, md, Array.from({ length: delivered }, () => whole));
});

test('a 100 MiB message is streamed: delivered whole with peak memory far below its size', async (t) => {
  const w = await goldenWorld(t);
  const path = join(w.root, 'msgs', 'huge');
  writeFileSync(path, 'Subject: huge\n\n');
  spawnSync('sh', ['-c', `head -c 104857600 /dev/zero | tr '\\0' 'h' >> ${path}`]);
  chmodSync(path, 0o644);
  const timeFile = join(w.root, 'time.out');
  writeFileSync(timeFile, '');
  chmodSync(timeFile, 0o666); // GNU time runs as uid 89 here
  const exe = join(import.meta.dirname, '..', '..', 'dist', 'bin', 'vdelivermail');
  const fd = openSync(path, 'r');
  t.teardown(() => closeSync(fd));
  const r = spawnSync('/usr/bin/time', ['-f', '%M', '-o', timeFile, exe, '', 'bounce-no-mailbox'], {
    env: { ...w.env, EXT: 'alice', HOST: 'example.test', RPLINE: 'Return-Path: <s@r.test>\n' },
    cwd: w.ex,
    stdio: [fd, 'pipe', 'pipe'],
    uid: 89,
    gid: 89,
    encoding: 'utf8',
  });
  t.is(r.status, 0, r.stdout + r.stderr);
  const peakKiB = Number(readFileSync(timeFile, 'utf8').trim().split('\n').pop());
  t.log(`peak RSS ${(peakKiB / 1024).toFixed(1)} MiB for a 100 MiB message`);
  t.true(peakKiB < 96 * 1024, `peak RSS ${peakKiB} KiB for a 100 MiB message`);
  const files = maildirFiles(join(w.ex, 'alice', 'Maildir'));
  t.is(files.length, 1);
  t.is(Number(NAME.exec(files[0]!)?.[1]), 'Return-Path: <s@r.test>\nDelivered-To: alice@example.test\n'.length + 15 + 104857600);
});
