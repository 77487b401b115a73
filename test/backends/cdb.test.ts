// What only the cdb backend does: the golden tree read through it, its open-smtp file, the files a
// change leaves, and openBackend's choice.
import test from 'ava';
import { chmodSync, chownSync, copyFileSync, existsSync, linkSync, lstatSync, readFileSync, readdirSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { userFlags } from '../../lib/backends/backend.ts';
import { createCdbBackend } from '../../lib/backends/cdb.ts';
import { openBackend } from '../../lib/backends/open.ts';
import { loadConfig } from '../../lib/config.ts';
import { PermError, TempError } from '../../lib/exit.ts';
import { lookupAssignDomain } from '../../lib/store/assign.ts';
import {
  expireOpenSmtp,
  formatOpenSmtpLine,
  ipOfOpenSmtpLine,
  isRelayIp,
  parseOpenSmtpLine,
  readOpenSmtp,
  ruleOfOpenSmtpLine,
  touchOpenSmtp,
} from '../../lib/store/open-smtp.ts';
import { iterateVpasswd } from '../../lib/store/vpasswd.ts';
import { cdbFactory } from '../helpers/backend-fixtures.ts';
import { tempDir } from '../helpers/cdb-tools.ts';
import { GOLDEN, GOLDEN_DOMAINS } from '../helpers/vpasswd-tree.ts';

const GOLDEN_ETC = join(GOLDEN, 'tree', 'vpopmail', 'etc');
const GOLDEN_QMAIL = join(GOLDEN, 'tree', 'qmail');

function goldenBackend(t: Parameters<typeof tempDir>[0]) {
  const config = loadConfig({ VPOPMAIL_HOME: tempDir(t), QMAIL_HOME: GOLDEN_QMAIL });
  return createCdbBackend(config, {
    // The golden users/cdb names /home/vpopmail/domains; read the copy in the fixture instead.
    resolveDomain: (d) => {
      const info = lookupAssignDomain(GOLDEN_QMAIL, d);
      return info && { ...info, dir: info.dir.replace('/home/vpopmail/domains', GOLDEN_DOMAINS) };
    },
  });
}

test('every golden user reads through the backend as its vpasswd line says', async (t) => {
  const backend = goldenBackend(t);
  for (const domain of ['example.test', 'big.test', 'catch.test', 'path.test']) {
    let n = 0;
    for await (const e of backend.listUsers(domain)) {
      t.deepEqual(await backend.getUser(domain, e.name), e);
      n++;
    }
    t.is(n, [...iterateVpasswd(join(GOLDEN_DOMAINS, domain))].length);
  }
  t.is((await backend.getUser('big.test', 'u261'))?.dir, '/home/vpopmail/domains/big.test/0/u261');
  t.is(await backend.getUser('example.test', 'u261'), undefined);
});

test('the golden domain counter and a golden user\'s flags read through the backend', async (t) => {
  const backend = goldenBackend(t);
  t.is((await backend.getDirControl({ domain: 'big.test' }))?.curUsers, 261);
  t.is((await backend.getDirControl({ uid: 89, gid: 89, domainsDir: GOLDEN_DOMAINS }))?.curUsers, 4);
  const frank = (await backend.getUser('example.test', 'frank'))!;
  t.is(await userFlags(backend, { etcDir: join(tempDir(t), 'etc') }, 'example.test', frank), frank.gid);
});

test('adding, changing and deleting users leaves only C\'s files in the domain directory', async (t) => {
  const f = await cdbFactory.make(t);
  const dir = join(f.config.domainsDir, f.domain);
  const e = { name: 'alice', passwd: '', uid: 1, gid: 0, gecos: 'alice', dir: join(dir, 'alice'), quota: 'NOQUOTA', clear: 'pw' };
  await f.backend.addUser(f.domain, e);
  await f.backend.addUser(f.domain, { ...e, name: 'bob', dir: join(dir, 'bob') });
  await f.backend.setUser(f.domain, { ...e, gecos: 'Alice' });
  await f.backend.delUser(f.domain, 'bob');
  await f.backend.updateDirControl({ domain: f.domain }, (s) => ({ state: s, result: undefined }));
  t.deepEqual(readdirSync(dir).sort(), ['.dir-control', '.vpasswd.lock', 'vpasswd', 'vpasswd.cdb']);
  t.is(readFileSync(join(dir, 'vpasswd'), 'latin1'), `alice::1:0:Alice:${dir}/alice:NOQUOTA:pw\n`);
  if (process.geteuid?.() === 0) t.is(statSync(join(dir, '.dir-control')).uid, 89);
});

test('openBackend picks cdb, and refuses a SQL backend this build does not have', async (t) => {
  const config = loadConfig({ VPOPMAIL_HOME: tempDir(t), QMAIL_HOME: tempDir(t) });
  t.is((await openBackend(config)).name, 'cdb');
  await t.throwsAsync(openBackend({ ...config, backend: 'mysql' }), { instanceOf: TempError });
});

// --- open-smtp ----------------------------------------------------------------------------------

test('open-smtp lines are C\'s, and the golden file parses line for line', (t) => {
  const text = readFileSync(join(GOLDEN_ETC, 'open-smtp'), 'latin1');
  const entries = readOpenSmtp(join(GOLDEN_ETC, 'open-smtp'));
  t.is(entries.length, 7);
  t.is(entries.map(formatOpenSmtpLine).join('\n') + '\n', text);
  t.deepEqual(parseOpenSmtpLine('192.0.2.10:allow,RELAYCLIENT="",RBLSMTPD=""\t1795988144'), { ip: '192.0.2.10', timeSec: 1795988144 });
  t.is(ruleOfOpenSmtpLine('192.0.2.10:allow,RELAYCLIENT="",RBLSMTPD=""\t1'), '192.0.2.10:allow,RELAYCLIENT="",RBLSMTPD=""');
  t.is(ipOfOpenSmtpLine('2001:db8::1:allow,RELAYCLIENT="",RBLSMTPD=""\t1'), '2001:db8::1');
  t.is(ipOfOpenSmtpLine('10.1.2.3:deny'), '10.1.2.3');
});

test('a relay login from a known IP on a copy of the golden file changes only that line\'s digits, in place', (t) => {
  const etc = tempDir(t);
  const path = join(etc, 'open-smtp');
  copyFileSync(join(GOLDEN_ETC, 'open-smtp'), path);
  chmodSync(path, 0o644);
  const before = readFileSync(path, 'latin1');
  const inode = statSync(path).ino;
  let seen: [boolean, readonly string[]] | undefined;
  t.false(touchOpenSmtp(etc, '192.0.2.13', 1795990000, { whileLocked: (isNew, lines) => (seen = [isNew, lines]) }));
  const after = readFileSync(path, 'latin1');
  t.is(after, before.replace(/^(192\.0\.2\.13:allow,RELAYCLIENT="",RBLSMTPD=""\t)[0-9]+$/m, '$11795990000'));
  t.not(after, before);
  t.is(statSync(path).ino, inode);
  // whileLocked runs either way (the caller rebuilds only when the IP is new), with the file's lines
  t.deepEqual(seen, [false, after.trimEnd().split('\n')]);
  t.true(touchOpenSmtp(etc, '192.0.2.99', 1795990001));
  t.is(readFileSync(path, 'latin1'), after + '192.0.2.99:allow,RELAYCLIENT="",RBLSMTPD=""\t1795990001\n');
  t.is(statSync(path).mode & 0o777, 0o644);
  t.true(existsSync(join(etc, 'open-smtp.lock')));
});

test('a known IP is rewritten C\'s way, moved to the end as one line, when the file is not one to update in place', (t) => {
  const line = (ip: string, time: number | string) => `${ip}:allow,RELAYCLIENT="",RBLSMTPD=""\t${time}`;
  const cases: { name: string; text: string; prepare?: (path: string) => void }[] = [
    { name: 'the IP twice', text: `${line('192.0.2.1', 1000000000)}\n${line('192.0.2.2', 1000000000)}\n${line('192.0.2.1', 1000000001)}\n` },
    { name: 'a hand-written rule for the IP', text: `192.0.2.1:deny\n${line('192.0.2.2', 1000000000)}\n${line('192.0.2.1', 1000000000)}\n` },
    { name: 'a time of another length', text: `${line('192.0.2.1', 999)}\n${line('192.0.2.2', 1000000000)}\n` },
    { name: 'no LF at the end', text: `${line('192.0.2.1', 1000000000)}\n${line('192.0.2.2', 1000000000)}` },
    { name: 'writable by its group', text: `${line('192.0.2.1', 1000000000)}\n${line('192.0.2.2', 1000000000)}\n`, prepare: (p) => chmodSync(p, 0o664) },
    { name: 'set-id bits', text: `${line('192.0.2.1', 1000000000)}\n${line('192.0.2.2', 1000000000)}\n`, prepare: (p) => chmodSync(p, 0o4644) },
    { name: 'a second name', text: `${line('192.0.2.1', 1000000000)}\n${line('192.0.2.2', 1000000000)}\n`, prepare: (p) => linkSync(p, `${p}.other`) },
    // only root can give a file another owner (the suite runs as root in CI)
    ...(process.geteuid?.() === 0
      ? [{ name: 'another owner', text: `${line('192.0.2.1', 1000000000)}\n${line('192.0.2.2', 1000000000)}\n`, prepare: (p: string) => chownSync(p, 1234, 1234) }]
      : []),
    {
      name: 'a symlink',
      text: `${line('192.0.2.1', 1000000000)}\n${line('192.0.2.2', 1000000000)}\n`,
      prepare: (p) => {
        renameSync(p, `${p}.target`);
        symlinkSync(`${p}.target`, p);
      },
    },
  ];
  for (const c of cases) {
    const etc = tempDir(t);
    const path = join(etc, 'open-smtp');
    writeFileSync(path, c.text, { mode: 0o644 });
    chmodSync(path, 0o644);
    c.prepare?.(path);
    const inode = statSync(path).ino;
    t.false(touchOpenSmtp(etc, '192.0.2.1', 1795990000), c.name);
    // every line of the IP goes (a hand-written one too, as in C), and one new line ends the file
    t.is(readFileSync(path, 'latin1'), `${line('192.0.2.2', 1000000000)}\n${line('192.0.2.1', 1795990000)}\n`, c.name);
    t.not(statSync(path).ino, inode, c.name);
    t.true(lstatSync(path).isFile(), c.name);
    t.is(lstatSync(path).mode & 0o7777, 0o644, c.name);
    if (c.name === 'a symlink') t.is(readFileSync(`${path}.target`, 'latin1'), c.text, 'the target is left alone');
    if (c.name === 'a second name') t.is(readFileSync(`${path}.other`, 'latin1'), c.text, 'the other name is left alone');
  }
});

test('IPv6 addresses are kept whole and match themselves only; empty and odd addresses are refused', (t) => {
  const etc = tempDir(t);
  t.true(touchOpenSmtp(etc, '2001:db8::1', 10));
  t.true(touchOpenSmtp(etc, '2001:db8::', 11));
  t.false(touchOpenSmtp(etc, '2001:db8::1', 12));
  t.deepEqual(readOpenSmtp(join(etc, 'open-smtp')), [
    { ip: '2001:db8::1', timeSec: 12 },
    { ip: '2001:db8::', timeSec: 11 },
  ]);
  t.false(touchOpenSmtp(etc, '2001:db8::1', 100)); // a time of another length: rewritten, to the end
  t.deepEqual(readOpenSmtp(join(etc, 'open-smtp')), [
    { ip: '2001:db8::', timeSec: 11 },
    { ip: '2001:db8::1', timeSec: 100 },
  ]);
  for (const bad of ['', ' ', '192.0.2', '1.2.3.4 ', 'host.example', '::ffff:1.2.3.4%eth0', '1.2.3.4:allow']) {
    t.false(isRelayIp(bad), bad);
    t.throws(() => touchOpenSmtp(etc, bad, 1), { instanceOf: PermError });
  }
});

test('expiry keeps lines whose time plus the age is later than now, drops lines without a TAB, under the lock', (t) => {
  const etc = tempDir(t);
  writeFileSync(
    join(etc, 'open-smtp'),
    '192.0.2.1:allow,RELAYCLIENT="",RBLSMTPD=""\t1000\n' +
      '192.0.2.2:allow,RELAYCLIENT="",RBLSMTPD=""\t1001\n' +
      '192.0.2.3:allow,RELAYCLIENT="",RBLSMTPD=""\n' +
      '192.0.2.4:allow,RELAYCLIENT="",RBLSMTPD=""\tjunk\n',
  );
  let rules: readonly string[] = [];
  t.is(expireOpenSmtp(etc, 1000 + 10800, 10800, { whileLocked: (lines) => (rules = lines) }), 3);
  t.is(readFileSync(join(etc, 'open-smtp'), 'latin1'), '192.0.2.2:allow,RELAYCLIENT="",RBLSMTPD=""\t1001\n');
  t.deepEqual(rules, ['192.0.2.2:allow,RELAYCLIENT="",RBLSMTPD=""\t1001']);
  const empty = tempDir(t);
  t.is(expireOpenSmtp(empty, 1, 1), 0);
  t.false(existsSync(join(empty, 'open-smtp')));
});
