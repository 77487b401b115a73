// vconvert between cdb, MariaDB and PostgreSQL: a 10,000-user round trip gives back the same
// vpasswd, a failed import leaves the target as it was (D10), re-runs change nothing, and the built
// program draws a progress bar on a terminal.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import vconvert from '../../agents/vconvert.ts';
import type { VpasswdEntry } from '../../lib/backends/backend.ts';
import { createCdbBackend } from '../../lib/backends/cdb.ts';
import { captureIo, runAgent } from '../../lib/cli/agent.ts';
import type { Config } from '../../lib/config.ts';
import { INITIAL_DIR_CONTROL, dirControlPath, readDirControlFile } from '../../lib/store/dir-control.ts';
import { replaceVpasswdEntries } from '../../lib/store/vpasswd.ts';
import { binPath } from '../helpers/dist.ts';
import { createTestDatabase, makeSqlHome, openSqlBackend } from '../helpers/sql-db.ts';

const DOMAIN = 'big.test';

/** Users of every shape the stores must carry: flags, quotas, empty and UTF-8 fields, clear passwords. */
function makeUsers(dir: string, n: number): VpasswdEntry[] {
  const users: VpasswdEntry[] = [];
  for (let i = 0; i < n; i++) {
    const name = `user${String(i).padStart(5, '0')}`;
    users.push({
      name,
      passwd: i % 7 === 0 ? '' : `$6$s${i}$${'x'.repeat(40)}${i}`,
      uid: i % 3 === 0 ? 2 : 1,
      gid: i % 5 === 0 ? 0x2008 : 0,
      gecos: i % 11 === 0 ? '' : i % 13 === 0 ? Buffer.from(`Jürgen ${i}`, 'utf8').toString('latin1') : `User ${i}`,
      dir: join(dir, String(i % 62), name),
      quota: i % 4 === 0 ? 'NOQUOTA' : i % 4 === 1 ? `${i * 1024}S` : i % 4 === 2 ? '500C' : `${i}S,10C`,
      clear: i % 2 === 0 ? `pw'${i}"\\` : '',
    });
  }
  return users;
}

async function run(config: Config, ...argv: string[]) {
  const io = captureIo();
  const code = await runAgent(vconvert, {
    name: 'vconvert',
    argv0: 'vconvert',
    argv,
    env: { VPOPMAIL_HOME: config.vpopmailHome, QMAIL_HOME: config.qmailHome },
    io,
  });
  return { code, out: io.out, err: io.err };
}

async function world(t: import('ava').ExecutionContext, users = 10_000) {
  const [mysql, pgsql] = await Promise.all([createTestDatabase(t, 'mysql'), createTestDatabase(t, 'pgsql')]);
  const home = makeSqlHome(t, { mysql, pgsql });
  const dir = home.addDomain(DOMAIN, ['alias-of-big.test']);
  const entries = makeUsers(dir, users);
  replaceVpasswdEntries(dir, entries);
  return { home, dir, entries, config: home.config };
}

test('cdb -> MariaDB -> PostgreSQL -> cdb of 10,000 users gives back the same vpasswd and vpasswd.cdb', async (t) => {
  const { config, dir } = await world(t);
  const state = { ...INITIAL_DIR_CONTROL, curUsers: 10_000, levelIndex: [4, 0, 0] as const, theDir: '4' };
  await createCdbBackend(config).setDirControl({ domain: DOMAIN }, state);
  const vpasswd = readFileSync(join(dir, 'vpasswd'));
  const vpasswdCdb = readFileSync(join(dir, 'vpasswd.cdb'));

  const toMaria = await run(config, '-c', '-M', DOMAIN);
  t.is(toMaria.code, 0, toMaria.err);
  t.is(toMaria.out, `converting ${DOMAIN} done\nvconvert: 10000 users in 1 domain converted from cdb to mysql\n`);
  const toPg = await run(config, '-M', '-G');
  t.is(toPg.code, 0, toPg.err);
  t.is(toPg.out, `alias-of-big.test is an alias of ${DOMAIN}.\nconverting ${DOMAIN} done\nvconvert: 10000 users in 1 domain converted from mysql to pgsql\n`);

  rmSync(join(dir, 'vpasswd'));
  rmSync(join(dir, 'vpasswd.cdb'));
  rmSync(dirControlPath(dir));
  const back = await run(config, '-G', '-c', DOMAIN);
  t.is(back.code, 0, back.err);
  t.true(readFileSync(join(dir, 'vpasswd')).equals(vpasswd), 'vpasswd is byte for byte the original');
  t.true(readFileSync(join(dir, 'vpasswd.cdb')).equals(vpasswdCdb), 'and so is vpasswd.cdb');
  t.is(readDirControlFile(dirControlPath(dir))?.curUsers, 10_000, 'the allocator state made the trip too');
  t.false(existsSync(join(dir, `.vpasswd.vconvert.${process.pid}`)), 'no staging file is left behind');
});

test('converting again changes nothing: the target holds the same users once', async (t) => {
  const { config } = await world(t, 300);
  for (let i = 0; i < 2; i++) t.is((await run(config, '-c', '-G', DOMAIN)).code, 0);
  const pg = openSqlBackend('pgsql', config);
  t.teardown(() => pg.close());
  t.is(await pg.countUsers(DOMAIN), 300);
  const first = await pg.getUser(DOMAIN, 'user00000');
  t.is(first?.clear, `pw'0"\\`);
  t.is(first?.gid, 0x2008);
});

test('a source that breaks half-way leaves the target\'s users as they were (D10: no drop before import)', async (t) => {
  const { config, dir } = await world(t, 2_000);
  t.is((await run(config, '-c', '-M', DOMAIN)).code, 0);
  // Damage the source after line 2000: the next import reads 2000 good lines, then fails.
  appendFileSync(join(dir, 'vpasswd'), 'broken line without fields\n');
  const maria = openSqlBackend('mysql', config);
  t.teardown(() => maria.close());
  await maria.delUser(DOMAIN, 'user00001');
  const r = await run(config, '-c', '-M', DOMAIN);
  t.is(r.code, 111);
  t.is(r.out, `converting ${DOMAIN} domain conversion failed\nvconvert: 0 users in 0 domains converted from cdb to mysql, 1 failed\n`);
  t.regex(r.err, /^vconvert: big\.test: .*vpasswd line 2001: expected 7 or 8 fields/);
  t.is(await maria.countUsers(DOMAIN), 1_999, 'the target still holds what it held');
  t.is(await maria.getUser(DOMAIN, 'user00001'), undefined);
});

test('a missing or repeated store, or an import C has and we do not, is refused with the usage', async (t) => {
  const { config } = await world(t, 1);
  for (const argv of [[], ['-c'], ['-c', '-c', DOMAIN], ['-M', '-m']]) {
    const r = await run(config, ...argv);
    t.is(r.code, 255, argv.join(' '));
    t.true(r.out.startsWith('usage: vconvert FROM TO [domain ...]'));
  }
  const e = await run(config, '-e', '-c');
  t.is(e.code, 255);
  t.is(e.err, 'vconvert: -e (/etc/passwd import) is not supported by this version\n');
});

test('an unreadable connection file is one line and 111', async (t) => {
  const { config } = await world(t, 1);
  rmSync(join(config.etcDir, 'vpopmail.pgsql'));
  const r = await run(config, '-c', '-G', DOMAIN);
  t.is(r.code, 111);
  t.is(r.err, `vconvert: unable to read ${join(config.etcDir, 'vpopmail.pgsql')}: ENOENT\n`);
});

test('the built program draws a progress bar when stderr is a terminal', async (t) => {
  const program = binPath('vconvert');
  t.true(existsSync(program), `${program} is built by npm test`);
  const { config } = await world(t, 1_000);
  const cmd = `${program} -c -M ${DOMAIN}`;
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], {
    encoding: 'utf8',
    env: { PATH: '/usr/bin:/bin', VPOPMAIL_HOME: config.vpopmailHome, QMAIL_HOME: config.qmailHome, TERM: 'dumb' },
    timeout: 60_000,
  });
  t.is(r.status, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /big\.test \[#{30}\] 1000\/1000/);
  t.regex(r.stdout, /vconvert: 1000 users in 1 domain converted from cdb to mysql/);
  // Without a terminal, no bar: only C's lines and the summary.
  const plain = spawnSync(program, ['-M', '-c', DOMAIN], { encoding: 'utf8', env: { VPOPMAIL_HOME: config.vpopmailHome, QMAIL_HOME: config.qmailHome } });
  t.is(plain.status, 0, plain.stderr);
  t.is(plain.stderr, '');
});
