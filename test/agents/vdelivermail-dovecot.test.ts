// Dovecot 2.3 (`quota = maildir`) reads the maildirsize the built vdelivermail keeps and reports the
// same usage; its own recount agrees with ours, and it reads every message we stored.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readMaildirsize } from '../../lib/maildir/maildirsize.ts';
import { deliveryWorld, maildirFiles, runVdelivermail } from '../helpers/qmail-env.ts';

function doveadm(conf: string, ...args: string[]): string {
  const r = spawnSync('doveadm', ['-c', conf, ...args], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`doveadm ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

function startDovecot(t: import('ava').ExecutionContext, root: string, homes: Record<string, string>): string {
  const passwd = join(root, 'dovecot-users');
  writeFileSync(passwd, Object.entries(homes).map(([u, home]) => `${u}:{PLAIN}x:89:89::${home}::\n`).join(''));
  const conf = join(root, 'dovecot.conf');
  writeFileSync(
    conf,
    [
      `base_dir = ${join(root, 'dovecot-run')}`,
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
  const r = spawnSync('dovecot', ['-c', conf], { stdio: 'ignore', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`dovecot did not start (exit ${r.status}); see ${join(root, 'dovecot.log')}`);
  t.teardown(() => void spawnSync('dovecot', ['-c', conf, 'stop'], { stdio: 'ignore', timeout: 20_000 }));
  const first = Object.keys(homes)[0]!;
  for (let i = 0; ; i++) {
    if (spawnSync('doveadm', ['-c', conf, 'user', first], { stdio: 'ignore', timeout: 20_000 }).status === 0) break;
    if (i > 100) throw new Error('dovecot auth never answered');
    spawnSync('sleep', ['0.1']);
  }
  return conf;
}

function quotaGet(conf: string, user: string): { storageKiB: number; messages: number; storageLimit: string; messageLimit: string } {
  const rows = doveadm(conf, '-f', 'tab', 'quota', 'get', '-u', user).trim().split('\n').slice(1).map((l) => l.split('\t'));
  const row = (type: string) => rows.find((x) => x[1] === type)!;
  return { storageKiB: Number(row('STORAGE')[2]), storageLimit: row('STORAGE')[3]!, messages: Number(row('MESSAGE')[2]), messageLimit: row('MESSAGE')[3]! };
}

test('after deliveries and a refusal, doveadm quota get reports our maildirsize usage and limits; its recount agrees', async (t) => {
  const w = await deliveryWorld(t);
  const dom = await w.addDomain('example.test');
  const users: Record<string, { quota: string; sizes: number[] }> = {
    bob: { quota: '1000000S', sizes: [309, 5000, 70_000] },
    tiny: { quota: '3000S', sizes: [1100, 1100, 1100] }, // the third is refused
    both: { quota: '10485760S,1000C', sizes: [10, 200_000, 3] },
    few: { quota: '2C', sizes: [50, 60, 70] }, // the third is refused
  };
  const homes: Record<string, string> = {};
  for (const [user, u] of Object.entries(users)) {
    await w.addUser(`${user}@example.test`, 'pw', { quota: u.quota });
    homes[user] = join(dom, user);
    u.sizes.forEach((size, i) => {
      const m = w.message(`${user}-${i}`, `Subject: ${user} ${i}\n\n${'m'.repeat(size)}\n`);
      runVdelivermail(w, user, 'example.test', 'bounce-no-mailbox', { file: m });
    });
  }
  const conf = startDovecot(t, w.root, homes);
  for (const [user, u] of Object.entries(users)) {
    const md = join(dom, user, 'Maildir');
    const ours = readMaildirsize(md);
    if (ours === undefined) {
      t.fail(`${user}: no readable maildirsize`);
      continue;
    }
    t.is(ours.count, maildirFiles(md).length, `${user}: maildirsize counts what is in new/`);
    const dove = quotaGet(conf, user);
    t.is(dove.storageKiB, Math.ceil(ours.bytes / 1024), `${user} storage`);
    t.is(dove.messages, ours.count, `${user} messages`);
    const bytes = /(\d+)S/.exec(u.quota)?.[1];
    const count = /(\d+)C/.exec(u.quota)?.[1];
    t.is(dove.storageLimit, bytes === undefined ? '-' : String(Math.ceil(Number(bytes) / 1024)), `${user} storage limit`);
    t.is(dove.messageLimit, count ?? '-', `${user} message limit`);
    doveadm(conf, 'quota', 'recalc', '-u', user);
    t.is(readFileSync(join(md, 'maildirsize'), 'latin1'), `${u.quota}\n${ours.bytes} ${ours.count}\n`, `${user}: Dovecot's recount`);
    const fetched = doveadm(conf, '-f', 'flow', 'fetch', '-u', user, 'size.physical', 'mailbox', 'INBOX');
    const sizes = [...fetched.matchAll(/size\.physical=(\d+)/g)].map((m) => Number(m[1]));
    t.is(sizes.reduce((a, b) => a + b, 0), ours.bytes, `${user}: Dovecot reads every byte we counted`);
  }
  t.is(readMaildirsize(join(dom, 'tiny', 'Maildir'))?.count, 2);
  t.is(readMaildirsize(join(dom, 'few', 'Maildir'))?.count, 2);
  t.false(existsSync(join(w.root, 'dovecot.log')) && /Error|Panic/.test(readFileSync(join(w.root, 'dovecot.log'), 'utf8')));
});
