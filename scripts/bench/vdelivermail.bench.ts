// vdelivermail as qmail-local runs it: deliveries of 4 KiB to 100 MiB into a Maildir and an
// unknown-user bounce, each against the bare runtime's start and against the raw I/O floor of the
// same bytes into the same file system (`dd conv=fsync`), with peak RSS.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addAssignDomain } from '../../lib/store/assign.ts';
import { replaceVpasswdEntries } from '../../lib/store/vpasswd.ts';
import type { Bench, Timing } from './harness.ts';

const DOMAIN = 'bench.test';
const KIB = 1024;
const MIB = 1024 * KIB;

const SIZES: readonly { readonly label: string; readonly bytes: number; readonly runs: number }[] = [
  { label: '4 KiB', bytes: 4 * KIB, runs: 30 },
  { label: '1 MiB', bytes: MIB, runs: 20 },
  { label: '10 MiB', bytes: 10 * MIB, runs: 10 },
  { label: '100 MiB', bytes: 100 * MIB, runs: 4 },
];

function message(path: string, bytes: number): void {
  const head = `From: bench@remote.test\nTo: alice@${DOMAIN}\nSubject: bench\n\n`;
  const line = `${'0123456789abcdef'.repeat(4)}\n`;
  const body = Buffer.alloc(bytes - head.length, line);
  writeFileSync(path, Buffer.concat([Buffer.from(head), body]));
}

/**
 * The least a Bun program can do for a 4 KiB delivery: the files a delivery has to read (the
 * configuration, users/cdb, vpasswd.cdb, the user's .qmail and maildirsize), the message into tmp/
 * with fsync, the link into new/, the fsync of new/ and the maildirsize line. No parsing, no checks.
 * Against it, what our code costs beyond the runtime and the I/O.
 */
const DELIVERY_FLOOR = `import { closeSync, fsyncSync, linkSync, openSync, readFileSync, readSync, unlinkSync, writeSync } from 'node:fs';
const env = process.env;
const dir = env.HOME + '/' + env.EXT;
const md = dir + '/Maildir';
const tryRead = (p) => { try { return readFileSync(p); } catch { return undefined; } };
tryRead(env.VPOPMAIL_HOME + '/etc/vpopmail.conf');
readFileSync(env.QMAIL_HOME + '/users/cdb');
readFileSync(env.HOME + '/vpasswd.cdb');
tryRead(dir + '/.qmail');
readFileSync(md + '/maildirsize');
const host = readFileSync('/proc/sys/kernel/hostname', 'latin1').trim();
const buf = Buffer.allocUnsafe(1 << 20);
let n = 0;
for (let k; (k = readSync(0, buf, n, buf.length - n, null)) > 0; ) n += k;
const name = Math.floor(Date.now() / 1000) + '.' + process.pid + '.' + host;
const fd = openSync(md + '/tmp/' + name, 'wx', 0o600);
writeSync(fd, env.RPLINE + env.DTLINE);
writeSync(fd, buf, 0, n);
fsyncSync(fd);
closeSync(fd);
linkSync(md + '/tmp/' + name, md + '/new/' + name + ',S=' + n);
unlinkSync(md + '/tmp/' + name);
const d = openSync(md + '/new', 'r');
fsyncSync(d);
closeSync(d);
const q = openSync(md + '/maildirsize', 'a');
writeSync(q, n + ' 1\\n');
closeSync(q);
`;

export default async function vdelivermail(b: Bench): Promise<void> {
  b.section('vdelivermail');
  const exe = join(b.dist, 'bin', 'vdelivermail');
  const vhome = join(b.root, 'vpopmail');
  const qhome = join(b.root, 'qmail');
  const dir = join(vhome, 'domains', DOMAIN);
  for (const d of [join(vhome, 'etc'), join(qhome, 'users'), join(qhome, 'control'), join(qhome, 'bin'), dir]) mkdirSync(d, { recursive: true });
  addAssignDomain(qhome, { name: DOMAIN, domain: DOMAIN, uid: 89, gid: 89, dir });
  const home = join(dir, 'alice');
  const maildir = join(home, 'Maildir');
  for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(maildir, sub), { recursive: true });
  replaceVpasswdEntries(dir, [{ name: 'alice', passwd: 'x', uid: 1, gid: 0, gecos: 'alice', dir: home, quota: '1099511627776S', clear: '' }]);
  writeFileSync(join(maildir, 'maildirsize'), '1099511627776S\n0 0\n');

  const env = {
    PATH: '/usr/bin:/bin',
    VPOPMAIL_HOME: vhome,
    QMAIL_HOME: qhome,
    USER: DOMAIN,
    HOME: dir,
    HOST: DOMAIN,
    SENDER: 'bench@remote.test',
    RPLINE: 'Return-Path: <bench@remote.test>\n',
  };
  const forUser = (ext: string) => ({ ...env, EXT: ext, LOCAL: `${DOMAIN}-${ext}`, DTLINE: `Delivered-To: ${DOMAIN}-${ext}@${DOMAIN}\n` });
  // Every run starts from an empty Maildir with a one-line maildirsize: no recount, no growth.
  const reset = ['/bin/sh', '-c', `rm -f ${maildir}/new/* ${maildir}/tmp/*; printf '1099511627776S\\n0 0\\n' > ${maildir}/maildirsize`];
  const runtime = b.baselines.get('runtime');
  const floorExe = b.compileBun('delivery-floor', DELIVERY_FLOOR);
  const fsOnlyExe = b.nodeFsOnly();

  for (const size of SIZES) {
    const file = join(b.root, `msg-${size.bytes}`);
    message(file, size.bytes);
    const isSmall = size.bytes <= 4 * KIB;
    // In turns: the I/O floor, our delivery and, for a small message, the runtime's bare start, the
    // program of a delivery's system calls and the one that only loads node:fs, so each ratio
    // compares runs of the same moments.
    const [floor, t, bare, least, fsOnly] = b.timeTogether(
      [
        { name: `dd conv=fsync ${size.label} (I/O floor)`, argv: ['/usr/bin/dd', `if=${file}`, `of=${join(maildir, 'tmp', 'dd')}`, 'bs=64k', 'conv=fsync', 'status=none'], setup: reset },
        { name: `vdelivermail ${size.label} to a Maildir`, argv: [exe, '', 'bounce-no-mailbox'], env: forUser('alice'), cwd: dir, stdin: file, setup: reset },
        ...(isSmall
          ? [
              { name: 'bare Bun (bun -e 0), in the same rounds', argv: [b.bun, '-e', '0'] },
              { name: `Bun program of a delivery's system calls ${size.label}`, argv: [floorExe], env: forUser('alice'), cwd: dir, stdin: file, setup: reset },
              { name: 'Bun program that only loads node:fs', argv: [fsOnlyExe] },
            ]
          : []),
      ],
      size.runs,
      1,
    );
    b.report(floor!, ['true']);
    const start = bare ?? runtime;
    b.report(t!, [...(start === undefined ? [] : [start]), floor!]);
    if (bare !== undefined && least !== undefined && fsOnly !== undefined) {
      b.report(bare, ['true']);
      b.report(least, [bare]);
      b.print(`  vdelivermail = ${(t!.medianMs / least.medianMs).toFixed(2)}x that program; the goal (1.3x the runtime's start) is below it when the program alone reads over 1.3x`);
      b.report(fsOnly, [bare]);
    }
    if (start !== undefined) {
      const over = t!.medianMs - floor!.medianMs;
      b.print(`  = I/O floor + ${over.toFixed(2)} ms (${(over / start.medianMs).toFixed(2)}x the runtime's start); goal ${isSmall ? `<= 1.3x runtime: ${(t!.medianMs / start.medianMs).toFixed(2)}x` : `<= 2x floor + runtime: ${(t!.medianMs / (2 * floor!.medianMs + start.medianMs)).toFixed(2)} of it`}`);
    }
  }
  const small = join(b.root, `msg-${4 * KIB}`);
  const t = b.time('vdelivermail unknown user, bounce-no-mailbox', { argv: [exe, '', 'bounce-no-mailbox'], env: forUser('nobody'), cwd: dir, stdin: small, runs: 30, expectCode: 100 });
  b.report(t, ['true', 'runtime']);
}
