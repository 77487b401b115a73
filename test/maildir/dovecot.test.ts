// Dovecot 2.3's Maildir++ quota (`quota = maildir`) reads the maildirsize files we write and agrees
// with our usage, and its own recount writes the very bytes ours does.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deliverToMaildir, type Owner } from '../../lib/maildir/deliver.ts';
import { appendMaildirsize, readMaildirsize, recalculateMaildirsize, writeMaildirsize } from '../../lib/maildir/maildirsize.ts';
import { makeUserDir } from '../../lib/maildir/make.ts';
import { tempDir } from '../helpers/maildir-tools.ts';

const MAIL_USER: Owner = { uid: 65534, gid: 65534 };

interface Instance {
  readonly conf: string;
  readonly root: string;
}

function doveadm(inst: Instance, ...args: string[]): string {
  const r = spawnSync('doveadm', ['-c', inst.conf, ...args], { encoding: 'utf8', timeout: 20_000 });
  if (r.error !== undefined) throw r.error;
  if (r.status !== 0) throw new Error(`doveadm ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** A private Dovecot master with no protocols: only its auth service, for doveadm's userdb lookups. */
function startDovecot(t: import('ava').ExecutionContext, root: string, users: readonly string[]): Instance {
  const passwd = join(root, 'users');
  writeFileSync(passwd, users.map((u) => `${u}:{PLAIN}x:${MAIL_USER.uid}:${MAIL_USER.gid}::${join(root, u)}::\n`).join(''));
  const conf = join(root, 'dovecot.conf');
  writeFileSync(
    conf,
    [
      `base_dir = ${join(root, 'run')}`,
      `log_path = ${join(root, 'dovecot.log')}`,
      'protocols =',
      'ssl = no',
      'first_valid_uid = 1',
      'mail_location = maildir:~/Maildir',
      'mail_plugins = quota',
      `passdb {\n  driver = passwd-file\n  args = ${passwd}\n}`,
      `userdb {\n  driver = passwd-file\n  args = ${passwd}\n}`,
      'plugin {\n  quota = maildir:User quota\n}',
      '',
    ].join('\n'),
  );
  // The master daemonizes and keeps inherited descriptors open: give it none to hold.
  const r = spawnSync('dovecot', ['-c', conf], { stdio: 'ignore', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`dovecot did not start (exit ${r.status}); see ${join(root, 'dovecot.log')}`);
  const inst = { conf, root };
  t.teardown(() => {
    spawnSync('dovecot', ['-c', conf, 'stop'], { stdio: 'ignore', timeout: 20_000 });
  });
  // The master forks its auth service; wait until doveadm can look a user up.
  for (let i = 0; ; i++) {
    const probe = spawnSync('doveadm', ['-c', conf, 'user', users[0]!], { encoding: 'utf8', timeout: 20_000 });
    if (probe.status === 0) break;
    if (i > 100) throw new Error(`dovecot auth never answered: ${probe.stderr}`);
    spawnSync('sleep', ['0.1']);
  }
  return inst;
}

interface QuotaRow {
  readonly value: number;
  readonly limit: string;
}

function quotaGet(inst: Instance, user: string): { storage: QuotaRow; messages: QuotaRow } {
  const rows = doveadm(inst, '-f', 'tab', 'quota', 'get', '-u', user).trim().split('\n').slice(1).map((l) => l.split('\t'));
  const row = (type: string): QuotaRow => {
    const r = rows.find((x) => x[1] === type);
    if (r === undefined) throw new Error(`no ${type} row for ${user}`);
    return { value: Number(r[2]), limit: r[3]! };
  };
  return { storage: row('STORAGE'), messages: row('MESSAGE') };
}

const HOST = 'mail.dovecot.test';

/** Set a user up as vadduser would, then deliver `sizes` as vdelivermail would (quota file appended). */
function userWithMail(root: string, user: string, quota: string, sizes: readonly number[], nowMs: number): void {
  const home = makeUserDir(root, user, { owner: MAIL_USER, euid: 0 });
  const md = join(home, 'Maildir');
  const write = { nowMs, pid: 4000, host: HOST, owner: MAIL_USER, euid: 0 };
  writeMaildirsize(md, quota, { bytes: 0, count: 0 }, { ...write, mode: 0o600 });
  sizes.forEach((size, seq) => {
    const src = join(root, `src-${user}-${seq}`);
    writeFileSync(src, `Subject: ${seq}\n\n${'x'.repeat(size)}\n`);
    const fd = openSync(src, 'r');
    const d = deliverToMaildir(md, { fd, offset: 0 }, {
      headers: Buffer.from(`Delivered-To: ${user}@dovecot.test\n`),
      nowMs,
      pid: 5000,
      seq,
      host: HOST,
      owner: MAIL_USER,
      euid: 0,
    });
    closeSync(fd);
    appendMaildirsize(md, quota, { bytes: d.sizeBytes, count: 1 }, write);
  });
}

test('doveadm quota get reports the usage and limits of our maildirsize; its recount writes our bytes', (t) => {
  if (process.geteuid?.() !== 0) {
    t.fail('this test runs a private Dovecot master and needs root');
    return;
  }
  const root = tempDir(t);
  chmodSync(root, 0o755); // Dovecot works as the mail user, who must reach the homes
  const now = Date.now();
  const users = {
    alice: { quota: '10485760S,1000C', sizes: [100, 5000, 70_000, 1] },
    bob: { quota: '5000S', sizes: [1200, 1300] },
    carol: { quota: '500C', sizes: [10, 20, 30] },
  };
  for (const [user, u] of Object.entries(users)) userWithMail(root, user, u.quota, u.sizes, now);
  const inst = startDovecot(t, root, Object.keys(users));

  for (const [user, u] of Object.entries(users)) {
    const md = join(root, user, 'Maildir');
    const ours = readMaildirsize(md);
    if (ours === undefined) {
      t.fail(`${user}: our own maildirsize does not read back`);
      continue;
    }
    t.is(ours.count, u.sizes.length);
    const dove = quotaGet(inst, user);
    t.is(dove.storage.value, Math.ceil(ours.bytes / 1024), `${user} storage KiB`);
    t.is(dove.messages.value, ours.count, `${user} messages`);
    const [bytesLimit, countLimit] = [/(\d+)S/.exec(u.quota)?.[1], /(\d+)C/.exec(u.quota)?.[1]];
    t.is(dove.storage.limit, bytesLimit === undefined ? '-' : String(Math.ceil(Number(bytesLimit) / 1024)), `${user} storage limit`);
    t.is(dove.messages.limit, countLimit ?? '-', `${user} message limit`);
    // Reading must not have made Dovecot rebuild the file: it trusted it.
    t.is(readFileSync(join(md, 'maildirsize'), 'latin1').split('\n').length, u.sizes.length + 3, `${user}: file untouched`);

    // Dovecot's own recount, then ours: the same bytes.
    doveadm(inst, 'quota', 'recalc', '-u', user);
    const dovecotText = readFileSync(join(md, 'maildirsize'), 'latin1');
    recalculateMaildirsize(md, u.quota, { nowMs: now, pid: 4001, host: HOST });
    t.is(readFileSync(join(md, 'maildirsize'), 'latin1'), dovecotText, `${user}: recount`);
    t.is(dovecotText, `${u.quota}\n${ours.bytes} ${ours.count}\n`);
  }
  t.false(existsSync(join(root, 'dovecot.log')) && /Error|Panic/.test(readFileSync(join(root, 'dovecot.log'), 'utf8')));
});
