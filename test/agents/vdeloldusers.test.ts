// vdeloldusers: selection by lastauth or, without a login record, by the home's birth time (T8),
// in-process and as built; dry run, -D, alias domains skipped, failures reported.
import test from 'ava';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { addAliasDomain, addDomain } from '../../lib/accounts/domains.ts';
import { findOldAccounts, homeCreatedSec } from '../../lib/accounts/old-users.ts';
import { addUser, modifyUser } from '../../lib/accounts/users.ts';
import { writeQmailDefault } from '../../lib/accounts/qmail-default.ts';
import { unlinkQuiet } from '../../lib/fs/durable.ts';
import { domainDir, makeHome, run, vpasswdText, type Home, type HomeOptions } from '../helpers/accounts-home.ts';

const DAY = 86400;
const now = () => Math.floor(Date.now() / 1000);

/** example.test (alias alias.test): alice last in 200 days ago, bob 10 days ago, carol never (no record), postmaster 400 days ago. */
async function setup(t: Parameters<typeof makeHome>[0], options: HomeOptions = {}): Promise<Home & { dir: string }> {
  const h = makeHome(t, options);
  await addDomain(h.ctx, { domain: 'example.test', postmaster: { password: { hash: '' } } });
  await addAliasDomain(h.ctx, 'example.test', 'alias.test');
  for (const user of ['alice', 'bob', 'carol']) await addUser(h.ctx, { domain: 'example.test', user, password: { hash: '' } });
  const dir = domainDir(h, 'example.test');
  const at = async (user: string, ageDays: number) => {
    const entry = (await h.backend.getUser('example.test', user))!;
    await h.backend.setLastauth('example.test', entry, '192.0.2.1', now() - ageDays * DAY);
  };
  await at('alice', 200);
  await at('bob', 10);
  await at('postmaster', 400);
  unlinkQuiet(join(dir, 'carol', 'lastauth')); // an account older than auth logging
  return { ...h, dir };
}

const users = (h: Home & { dir: string }) => vpasswdText(h.dir).map((l) => l.split(':')[0]);

test('findOldAccounts selects by last login, never postmaster, and dates an account without a record by its home\'s birth', async (t) => {
  const h = await setup(t);
  const scan = await findOldAccounts(h.ctx, 'example.test', now() - 180 * DAY);
  t.deepEqual(scan.old.map((a) => [a.user, a.source]), [['alice', 'lastauth']]);
  t.true(scan.hasPostmaster);
  const born = homeCreatedSec({ dir: join(h.dir, 'carol') });
  // a cutoff after everything was made: carol ages from her home's birth where the file system keeps one
  const later = await findOldAccounts(h.ctx, 'alias.test', now() + 2 * DAY);
  if (born === undefined) {
    t.log('this file system keeps no birth times: carol cannot be dated');
    t.deepEqual(later.undated, ['carol']);
    t.deepEqual(later.old.map((a) => a.user), ['alice', 'bob']);
  } else {
    t.true(Math.abs(born - Math.floor(statSync(join(h.dir, 'carol')).mtimeMs / 1000)) < DAY);
    t.deepEqual(later.old.map((a) => [a.user, a.source]), [['alice', 'lastauth'], ['bob', 'lastauth'], ['carol', 'created']]);
  }
});

test('a dry run lists what it would delete with -V and deletes nothing', async (t) => {
  const h = await setup(t);
  const before = users(h);
  const r = run(h, 'vdeloldusers', ['-d', 'example.test', '-V']);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /^skipping postmaster@example\.test\nalice@example\.test\n \*\* .*dry run.*\n \*\* .*-D.*\n$/);
  t.deepEqual(users(h), before);
  const quiet = run(h, 'vdeloldusers', ['-d', 'example.test']);
  t.regex(quiet.stdout, /^ \*\* .*\n \*\* .*\n$/);
});

test('-D deletes the old accounts with their homes and keeps the rest; -a sets the age', async (t) => {
  const h = await setup(t);
  const r = run(h, 'vdeloldusers', ['-d', 'example.test', '-D']);
  t.deepEqual([r.status, r.stdout, r.stderr], [0, '', '']);
  t.deepEqual(users(h).sort(), ['bob', 'carol', 'postmaster']);
  t.false(existsSync(join(h.dir, 'alice')));
  const none = run(h, 'vdeloldusers', ['-d', 'example.test', '-a', '30', '-D']);
  t.deepEqual([none.status, none.stdout], [0, 'no old users found\n']);
  t.true(users(h).includes('bob')); // 10 days old: kept at 30 days
  t.is(run(h, 'vdeloldusers', ['-d', 'example.test', '-a', '5', '-D']).status, 0);
  t.false(users(h).includes('bob'));
  t.true(users(h).includes('postmaster'));
});

test('-e looks at every real domain once: alias domains are skipped, not processed as second copies', async (t) => {
  const h = await setup(t);
  await addDomain(h.ctx, { domain: 'other.test', postmaster: { password: { hash: '' } } });
  await addUser(h.ctx, { domain: 'other.test', user: 'olga', password: { hash: '' } });
  const olga = (await h.backend.getUser('other.test', 'olga'))!;
  await h.backend.setLastauth('other.test', olga, '192.0.2.2', now() - 365 * DAY);
  const r = run(h, 'vdeloldusers', ['-e', '-V']);
  t.is(r.status, 0);
  t.deepEqual(r.stdout.split('\n').filter((l) => l.includes('@') && !l.startsWith('skipping')), ['alice@example.test', 'olga@other.test']);
  t.false(r.stdout.includes('alias.test'));
});

test('the catch-all is kept with a note; an account whose home cannot be removed is reported and the exit is 255', async (t) => {
  const h = await setup(t);
  writeQmailDefault(h.dir, `| ${h.config.binDir}/vdelivermail '' ${h.dir}/alice\n`, { durable: h.ctx.durable });
  const kept = run(h, 'vdeloldusers', ['-d', 'example.test', '-D']);
  t.is(kept.status, 0);
  t.regex(kept.stderr, /alice@example\.test kept: .*catch-all/);
  t.true(users(h).includes('alice'));
  // bob's home outside the domain directory: the account goes, the directory is left and reported
  const { entry: moved } = await modifyUser(h.ctx, 'example.test', 'bob', { dir: h.root });
  await h.backend.setLastauth('example.test', moved, '192.0.2.1', now() - 10 * DAY);
  const failed = run(h, 'vdeloldusers', ['-d', 'example.test', '-a', '5', '-D']);
  t.is(failed.status, 255);
  t.regex(failed.stderr, /bob@example\.test: .*home directory/);
  t.true(existsSync(h.root));
});

test('usage and refusals: no arguments, -v, neither -d nor -e, a bad -a, an unknown domain, no auth logging', async (t) => {
  const h = await setup(t);
  const none = run(h, 'vdeloldusers', []);
  t.is(none.status, 255);
  t.regex(none.stdout, /^usage: vdeloldusers/);
  t.deepEqual([run(h, 'vdeloldusers', ['-v', '-e']).status, run(h, 'vdeloldusers', ['-v', '-e']).stdout], [255, 'version: 5.6.13\n']);
  const which = run(h, 'vdeloldusers', ['-V']);
  t.is(which.status, 255);
  t.regex(which.stdout, /^Error: .*-d domain.*-e/);
  t.is(run(h, 'vdeloldusers', ['-d', 'example.test', '-a', 'lots']).status, 255);
  const bad = run(h, 'vdeloldusers', ['-h']);
  t.is(bad.status, 255);
  t.regex(bad.stderr, /invalid option -- 'h'/);
  const unknown = run(h, 'vdeloldusers', ['-d', 'nowhere.test']);
  t.deepEqual([unknown.status, unknown.stdout], [245, 'Error: Domain does not exist\n']);
  const off = makeHome(t, { conf: 'auth-logging = no\n' });
  const r = run(off, 'vdeloldusers', ['-e']);
  t.is(r.status, 255);
  t.regex(r.stdout, /auth-logging/);
});
