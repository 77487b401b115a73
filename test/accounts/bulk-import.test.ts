// vaddusers' library: the result of a bulk import, file for file, against adding the same users one
// at a time (cdb, MariaDB, PostgreSQL); refused lines with their numbers; dry runs; CSV input; the
// progress line. Crashes are in test/agents/vaddusers.test.ts (they need a process to kill).
import test from 'ava';
import { closeSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { runVaddusers } from '../../lib/accounts/bulk-cli.ts';
import { importUsers, looksLikeCryptHash, type BulkRefusal } from '../../lib/accounts/bulk-import.ts';
import { BulkInputReader, type BulkInputItem } from '../../lib/accounts/bulk-input.ts';
import { accountsContext, type AccountsContext } from '../../lib/accounts/context.ts';
import { addAliasDomain, addDomain } from '../../lib/accounts/domains.ts';
import { addUser } from '../../lib/accounts/users.ts';
import type { Backend } from '../../lib/backends/backend.ts';
import { createCdbBackend } from '../../lib/backends/cdb.ts';
import { captureIo } from '../../lib/cli/agent.ts';
import { loadConfig, type Config } from '../../lib/config.ts';
import { VA, VpopmailError } from '../../lib/exit.ts';
import { DURABLE, type Durable } from '../../lib/fs/durable.ts';
import { parseQuotaStrict } from '../../lib/quota.ts';
import { checkDomainStore } from '../helpers/accounts-home.ts';
import { tempDir } from '../helpers/cdb-tools.ts';
import { createTestDatabase, makeSqlHome, openSqlBackend } from '../helpers/sql-db.ts';

const HASH6 = '$6$Gold3nSa$tgzfiKEBlmebiYch15GKkrR5Tsfn03Mr7afOGTC7oSs3AYGKt6HY1BMJAgR6ODqjkkMawTHcVFzf7wYuwfII6/';
const HASH1 = '$1$Gold3nSa$SCZGo/u1MpOW7fVg02r6g.';
const NOW = 1_765_000_000_000;
/** Durability is not what these tests look at; the crash tests run with real fsyncs. */
const FAST: Durable = { ...DURABLE, fsync: () => {} };

interface World {
  readonly root: string;
  readonly vhome: string;
  readonly config: Config;
  readonly backend: Backend;
  readonly ctx: AccountsContext;
}

/** A ~vpopmail and /var/qmail with a.test (alias a-alias.test) and b.test, a default quota for b.test's users. */
async function world(t: ExecutionContext, policy = 'Length >= 1\n'): Promise<World> {
  const root = tempDir(t);
  const vhome = join(root, 'vpopmail');
  const qhome = join(root, 'qmail');
  for (const d of [join(vhome, 'etc'), join(vhome, 'domains'), join(vhome, 'bin'), join(qhome, 'users'), join(qhome, 'control')]) mkdirSync(d, { recursive: true });
  writeFileSync(join(vhome, 'etc', 'password_strength.conf'), policy);
  const config = loadConfig({ VPOPMAIL_HOME: vhome, QMAIL_HOME: qhome, TZ: 'UTC' });
  const backend = createCdbBackend(config, { durable: FAST });
  const ctx = accountsContext(config, backend, 'mail.test', { durable: FAST, now: () => NOW, hupQmailSend: () => {} });
  await addDomain(ctx, { domain: 'a.test', postmaster: { password: { hash: HASH1 } } });
  await addDomain(ctx, { domain: 'b.test', postmaster: { password: { hash: HASH1 } } });
  await addAliasDomain(ctx, 'a.test', 'a-alias.test');
  writeFileSync(join(vhome, 'domains', 'b.test', '.qmailadmin-limits'), 'default_quota: 3000000\n');
  return { root, vhome, config, backend, ctx };
}

/** Every entry below `dir`: type, mode, owner, path, and for files the content with the root masked (lastauth: and its mtime). */
function snapshot(dir: string, root: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    const st = lstatSync(path);
    const rel = `${prefix}${name}`;
    let line = `${st.isDirectory() ? 'd' : 'f'}${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${rel}`;
    if (st.isFile()) {
      line += ` ${readFileSync(path, 'latin1').split(root).join('<root>')}`;
      if (name === 'lastauth') line += ` mtime=${Math.floor(st.mtimeMs / 1000)}`;
    }
    out.push(line);
    if (st.isDirectory()) out.push(...snapshot(path, root, `${rel}/`));
  }
  return out;
}

interface UserLine {
  readonly address: string;
  readonly hash: string;
  readonly quota?: string;
  readonly gecos?: string;
}

function colonText(users: readonly UserLine[]): string {
  return users.map((u) => `${u.address}:${u.hash}:${u.quota ?? ''}:${u.gecos ?? ''}\n`).join('');
}

function items(users: readonly UserLine[]): BulkInputItem[] {
  return users.map((u, i) => ({ kind: 'user', line: i + 1, address: u.address, password: u.hash, passwordKind: 'auto', quota: u.quota, gecos: u.gecos }));
}

/** vadduser's work for each line, in order; the lines it refuses, by number. */
async function oneByOne(ctx: AccountsContext, users: readonly UserLine[]): Promise<number[]> {
  const refused: number[] = [];
  for (const [i, u] of users.entries()) {
    const [user, domain] = u.address.split('@') as [string, string];
    try {
      await addUser(ctx, {
        domain,
        user,
        password: { hash: u.hash },
        ...(u.gecos === undefined ? {} : { gecos: u.gecos }),
        ...(u.quota === undefined ? {} : { quota: parseQuotaStrict(u.quota) }),
      });
    } catch (err) {
      if (!(err instanceof VpopmailError)) throw err;
      refused.push(i + 1);
    }
  }
  return refused;
}

/** 260 users over both domains and the alias: buckets '', 0, 1, 2; quotas, comments, both hash kinds. */
function sampleUsers(): UserLine[] {
  const users: UserLine[] = [];
  for (let i = 0; i < 260; i++) {
    const domain = i % 3 === 0 ? 'b.test' : i % 3 === 1 ? 'a.test' : 'a-alias.test';
    users.push({
      address: `user${(i * 37) % 260}-${i % 7}@${domain}`,
      hash: i % 2 === 0 ? HASH6 : HASH1,
      ...(i % 5 === 0 ? { quota: '10M' } : i % 11 === 0 ? { quota: 'NOQUOTA' } : {}),
      ...(i % 4 === 0 ? { gecos: `User Number ${i}` } : {}),
    });
  }
  return users;
}

function freeListAt(w: World): void {
  // Two usable freed buckets among comments and a line that is no bucket name, as vdeluser leaves them.
  writeFileSync(join(w.vhome, 'domains', 'a.test', '.dir_control_free'), '# freed\n1\nnot a bucket\n\n0  # again\n', { mode: 0o644 });
}

test('a bulk import leaves the files adding the same users one at a time leaves, including refusals and reused homes', async (t) => {
  const users = sampleUsers();
  // Where one-by-one puts users 5 and 40, learnt on a scratch world: a bare leftover of an
  // interrupted vadduser goes at the first, a home holding mail at the second.
  const scout = await world(t);
  freeListAt(scout);
  await oneByOne(scout.ctx, users);
  const homeOf = (w: World, n: number) => {
    const [user, domain] = users[n - 1]!.address.split('@') as [string, string];
    const real = domain === 'a-alias.test' ? 'a.test' : domain;
    const line = readFileSync(join(w.vhome, 'domains', real, 'vpasswd'), 'latin1').split('\n').find((l) => l.startsWith(`${user}:`))!;
    return line.split(':')[5]!.replace(scout.root, '');
  };
  const leftover = homeOf(scout, 5);
  const occupied = homeOf(scout, 40);

  const one = await world(t);
  const bulk = await world(t);
  for (const w of [one, bulk]) {
    freeListAt(w);
    mkdirSync(join(w.root, occupied), { recursive: true });
    writeFileSync(join(w.root, occupied, 'mail'), 'not a leftover\n');
  }
  for (const sub of ['new', 'cur', 'tmp']) mkdirSync(join(bulk.root, leftover, 'Maildir', sub), { recursive: true });

  const refusedOne = await oneByOne(one.ctx, users);
  const refusals: BulkRefusal[] = [];
  const summary = await importUsers(bulk.ctx, items(users), { onRefused: (r) => refusals.push(r) });

  t.deepEqual(refusedOne, [40]);
  t.deepEqual(refusals.map((r) => r.line), [40]);
  t.regex(refusals[0]!.reason, /exists/);
  t.is(summary.added, users.length - 1);
  const inB = users.filter((u, i) => u.address.endsWith('@b.test') && i !== 39).length;
  t.deepEqual(summary.domains.map((d) => [d.domain, d.added, d.error, d.warning]).sort(), [['a.test', users.length - 1 - inB, undefined, undefined], ['b.test', inB, undefined, undefined]]);
  const a = snapshot(join(one.vhome, 'domains'), one.root);
  const b = snapshot(join(bulk.vhome, 'domains'), bulk.root);
  t.is(a.length, b.length);
  t.deepEqual(b, a);
  // Buckets were crossed and the freed ones taken first, and tinycdb reads what we wrote.
  for (const bucket of ['0', '1']) t.true(a.some((l) => l.startsWith('d700') && l.includes(` a.test/${bucket}/user`)), bucket);
  t.true(a.some((l) => l.endsWith(' a.test/.dir_control_free # freed\nnot a bucket\n\n')));
  t.is(checkDomainStore(join(bulk.vhome, 'domains', 'a.test')).length, users.length - inB);
  t.is(checkDomainStore(join(bulk.vhome, 'domains', 'b.test')).length, inB + 1);
});

test('bad lines are refused with their numbers and reasons, and every other line is imported', async (t) => {
  const w = await world(t, 'Policy = at least 8 characters\nLength >= 8\n');
  await addUser(w.ctx, { domain: 'a.test', user: 'taken', password: { hash: HASH1 } });
  const file = join(w.root, 'users.txt');
  writeFileSync(
    file,
    [
      '# a comment, then a blank line',
      '',
      `good1@a.test:${HASH6}`,
      `bad name@a.test:${HASH6}`,
      `nobody@nosuch.test:${HASH6}`,
      `taken@a.test:${HASH6}`,
      'short@b.test:abc',
      'longenough@b.test:abcdefgh12:5M:Long Enough',
      `quota@b.test:${HASH6}:lots`,
      `good1@a-alias.test:${HASH1}`,
      `x@a.test:${HASH6}`,
      'fields@a.test:pw:1M:a:b',
      'nodomain:password1',
      `colon@a.test:${HASH6}::Smith, John`,
      '',
    ].join('\n'),
  );
  const refusals: BulkRefusal[] = [];
  const fd = openSync(file, 'r');
  t.teardown(() => closeSync(fd));
  const summary = await importUsers(w.ctx, new BulkInputReader(fd, file).items(), { onRefused: (r) => refusals.push(r) });
  const byLine = Object.fromEntries(refusals.map((r) => [r.line, r.reason]));
  t.deepEqual(Object.keys(byLine).map(Number).sort((x, y) => x - y), [4, 5, 6, 7, 9, 10, 11, 12, 13]);
  t.regex(byLine[4]!, /Illegal username \(user invalid bad name\)/);
  t.regex(byLine[5]!, /Domain does not exist/i);
  t.regex(byLine[6]!, /User already exists/);
  t.regex(byLine[7]!, /password/i);
  t.regex(byLine[9]!, /invalid quota "lots"/);
  t.is(byLine[10], 'repeats line 3');
  t.regex(byLine[11]!, /Illegal username/);
  t.regex(byLine[12]!, /more than 4 fields/);
  t.regex(byLine[13]!, /not a full address/);
  t.is(summary.added, 3);
  t.is(summary.refused, 9);
  const lines = readFileSync(join(w.vhome, 'domains', 'b.test', 'vpasswd'), 'latin1');
  t.regex(lines, /^longenough:\$6\$[^:]+:1:0:Long Enough:[^:]+\/longenough:5242880S:abcdefgh12$/m);
  t.regex(readFileSync(join(w.vhome, 'domains', 'a.test', 'vpasswd'), 'latin1'), /^colon:[^:]+:1:0:Smith, John:/m);
  t.notRegex(lines, /^short:/m);
});

test('a dry run reports what it would refuse and writes nothing', async (t) => {
  const w = await world(t);
  const before = snapshot(w.vhome, w.root);
  const refusals: BulkRefusal[] = [];
  const users = [...sampleUsers().slice(0, 30), { address: 'bad/name@a.test', hash: HASH6 }];
  const summary = await importUsers(w.ctx, items(users), { dryRun: true, onRefused: (r) => refusals.push(r) });
  t.is(summary.added, 30);
  t.deepEqual(refusals.map((r) => r.line), [31]);
  t.deepEqual(snapshot(w.vhome, w.root), before);
});

test('users that exist are skipped, not refused, when asked; the others are added', async (t) => {
  const w = await world(t);
  const users = sampleUsers().slice(0, 20);
  await importUsers(w.ctx, items(users.slice(0, 8)));
  const summary = await importUsers(w.ctx, items(users), { skipExisting: true });
  t.deepEqual([summary.added, summary.skipped, summary.refused], [12, 8, 0]);
});

test('CSV with a header reads like the colon format, quotes and commas included', async (t) => {
  const w = await world(t);
  const file = join(w.root, 'users.csv');
  writeFileSync(file, `\ufeffEmail,Hash,Quota,Comment\r\none@a.test,${HASH6},10M,"Smith, John"\r\ntwo@b.test,${HASH1},,"Quote "" inside"\r\n`);
  const fd = openSync(file, 'r');
  t.teardown(() => closeSync(fd));
  const reader = new BulkInputReader(fd, file);
  const summary = await importUsers(w.ctx, reader.items());
  t.is(reader.format, 'csv');
  t.is(summary.added, 2);
  t.regex(readFileSync(join(w.vhome, 'domains', 'a.test', 'vpasswd'), 'latin1'), /^one:\$6\$Gold3nSa\$[^:]+:1:0:Smith, John:[^:]+:10485760S:$/m);
  t.regex(readFileSync(join(w.vhome, 'domains', 'b.test', 'vpasswd'), 'latin1'), /^two:\$1\$Gold3nSa\$[^:]+:1:0:Quote " inside:[^:]+:3000000S:$/m);
});

test('the password field is a hash only when it has a complete hash shape or a {SCHEME} prefix', (t) => {
  t.true(looksLikeCryptHash(HASH6));
  t.true(looksLikeCryptHash(HASH1));
  t.true(looksLikeCryptHash('{CRYPT}ab01FAX.bQRSU'));
  t.true(looksLikeCryptHash(`{SHA512-CRYPT}${HASH6}`));
  t.false(looksLikeCryptHash('ab01FAX.bQRSU')); // 13 characters: DES, or somebody's password
  t.false(looksLikeCryptHash('$6$salt$tooshort'));
  t.false(looksLikeCryptHash('correct horse battery staple'));
});

test('on a terminal a progress line is drawn on stderr and cleared before the summary', async (t) => {
  const w = await world(t);
  const file = join(w.root, 'users.txt');
  writeFileSync(file, colonText(sampleUsers().slice(0, 40)));
  const io = captureIo();
  let clock = 0;
  const code = await runVaddusers(w.ctx, { file, passwordKind: 'auto', dryRun: false, skipExisting: false }, { io, isTerminal: true, stdinFd: 0, now: () => (clock += 1000) });
  t.is(code, 0);
  t.regex(io.err, /\r\x1b\[Kvaddusers: (checking|mailboxes|writing)/);
  t.true(io.err.endsWith('\r\x1b[K'));
  t.is(io.out, 'vaddusers: 40 users added to 2 domains, 0 lines refused\n');
});

for (const dialect of ['mysql', 'pgsql'] as const) {
  test(`on ${dialect === 'mysql' ? 'MariaDB' : 'PostgreSQL'} the bulk path leaves the rows, homes and counter adding one at a time leaves`, async (t) => {
    const users = sampleUsers()
      .slice(0, 120)
      .map((u) => ({ ...u, address: u.address.replace('a-alias.test', 'a.test') }));
    const worlds = [];
    for (let k = 0; k < 2; k++) {
      const server = await createTestDatabase(t, dialect);
      const home = makeSqlHome(t, { [dialect]: server }, { backend: dialect });
      const backend = openSqlBackend(dialect, home.config);
      t.teardown(() => backend.close());
      for (const d of ['a.test', 'b.test']) {
        home.addDomain(d);
        await backend.addDomain(d);
      }
      const ctx = accountsContext(home.config, backend, 'mail.test', { durable: FAST, now: () => NOW, hupQmailSend: () => {} });
      worlds.push({ home, backend, ctx });
    }
    const [one, bulk] = worlds as [(typeof worlds)[0], (typeof worlds)[0]];
    await addUser(one.ctx, { domain: 'a.test', user: 'early', password: { hash: HASH1 } });
    await addUser(bulk.ctx, { domain: 'a.test', user: 'early', password: { hash: HASH1 } });
    t.deepEqual(await oneByOne(one.ctx, users), []);
    const summary = await importUsers(bulk.ctx, items(users));
    t.is(summary.added, 120);
    for (const d of ['a.test', 'b.test']) {
      const rows = async (w: typeof one) => {
        const out: string[] = [];
        for await (const e of w.backend.listUsers(d)) {
          const last = await w.backend.getLastauth(d, e);
          out.push(`${JSON.stringify({ ...e, dir: e.dir.replace(w.home.root, '<root>') })} ${last?.ip} ${last?.timeSec}`);
        }
        return out;
      };
      t.deepEqual(await rows(bulk), await rows(one), d);
      t.deepEqual(await bulk.backend.getDirControl({ domain: d }), await one.backend.getDirControl({ domain: d }), d);
      t.deepEqual(snapshot(join(bulk.home.config.domainsDir, d), bulk.home.root), snapshot(join(one.home.config.domainsDir, d), one.home.root), d);
    }
  });
}

test('an existing user refuses its line, and a name vpasswd.cdb lacks stops the domain before anything is half done', async (t) => {
  const w = await world(t);
  // A hand-edited vpasswd whose cdb was not rebuilt: the line is invisible to look-ups, not to the merge.
  const dir = join(w.vhome, 'domains', 'b.test');
  const vpasswd = readFileSync(join(dir, 'vpasswd'), 'latin1');
  writeFileSync(join(dir, 'vpasswd'), `${vpasswd}hidden:x:1:0:hidden:${dir}/hidden:NOQUOTA:\n`);
  const before = snapshot(dir, w.root);
  const summary = await importUsers(w.ctx, items([{ address: 'new1@b.test', hash: HASH6 }, { address: 'hidden@b.test', hash: HASH6 }, { address: 'new2@a.test', hash: HASH6 }]));
  const b = summary.domains.find((d) => d.domain === 'b.test')!;
  t.true(b.error instanceof VpopmailError && b.error.code === VA.USERNAME_EXISTS);
  t.is(b.added, 0);
  t.deepEqual(snapshot(dir, w.root), before);
  t.is(summary.domains.find((d) => d.domain === 'a.test')!.added, 1);
});
