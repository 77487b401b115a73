// The SQL backends as whole processes: vconvert of a 100,000-user domain in every direction between
// cdb, MariaDB and PostgreSQL (peak RSS shows the streaming), then vchkpw and vdelivermail on each
// backend. Each run works in its own vpopts_bench_<pid> databases, dropped at the end.
import { chmodSync, chownSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { MYSQL_DRIVER } from '../../lib/backends/mysql.ts';
import { PGSQL_DRIVER } from '../../lib/backends/pgsql.ts';
import type { SqlServer } from '../../lib/backends/sql-config.ts';
import type { SqlDriver } from '../../lib/backends/sql-link.ts';
import { hashPassword } from '../../lib/crypt/index.ts';
import { addAssignDomain } from '../../lib/store/assign.ts';
import { replaceVpasswdEntries, type VpasswdEntry } from '../../lib/store/vpasswd.ts';
import type { Bench } from './harness.ts';

const USERS = Number(process.env.VPOPMAIL_BENCH_SQL_USERS ?? 100_000);
const DOMAIN = 'big.test';
const PASSWORD = 'bench-pw';
const BENCH_INDEX = Math.min(4242, USERS - 1);
const BENCH_USER = `user${String(BENCH_INDEX).padStart(5, '0')}`;

const MARIADB: SqlServer = { host: '127.0.0.1', port: 3306, user: 'root', password: '', database: 'mysql' };
const POSTGRES: SqlServer = { host: '127.0.0.1', port: 5432, user: 'postgres', password: '', database: 'postgres' };
const TIMEOUTS = { connectTimeoutMs: 5_000, queryTimeoutMs: 120_000 };

async function admin(driver: SqlDriver, server: SqlServer, sql: string): Promise<void> {
  const c = await driver.connect(server, TIMEOUTS);
  try {
    await c.run(sql);
  } finally {
    await c.end();
  }
}

export default async function sql(b: Bench): Promise<void> {
  b.section(`SQL backends (${USERS.toLocaleString('en')} users)`);
  const database = `vpopts_${process.pid}_bench`;
  try {
    await admin(MYSQL_DRIVER, MARIADB, `CREATE DATABASE \`${database}\``);
    await admin(PGSQL_DRIVER, POSTGRES, `CREATE DATABASE "${database}" TEMPLATE template0 ENCODING 'UTF8'`);
  } catch (err) {
    b.print(`skipped: no database server (${(err as Error).message})`);
    return;
  }
  try {
    // vchkpw runs as the domain owner (89) and must reach the home: the bench dirs are 0700.
    for (const d of [dirname(b.root), b.root]) chmodSync(d, 0o755);
    const vhome = join(b.root, 'vpopmail');
    const qhome = join(b.root, 'qmail');
    for (const d of [join(vhome, 'etc'), join(vhome, 'domains'), join(qhome, 'users'), join(qhome, 'control')]) mkdirSync(d, { recursive: true });
    writeFileSync(join(vhome, 'etc', 'vpopmail.mysql'), `127.0.0.1|3306|root||${database}\n`);
    writeFileSync(join(vhome, 'etc', 'vpopmail.pgsql'), `127.0.0.1|5432|postgres||${database}\n`);
    const dir = join(vhome, 'domains', DOMAIN);
    mkdirSync(dir, { recursive: true });
    addAssignDomain(qhome, { name: DOMAIN, domain: DOMAIN, uid: 89, gid: 89, dir });
    const hash = hashPassword(PASSWORD, 'sha512');
    function* users(): Generator<VpasswdEntry> {
      for (let i = 0; i < USERS; i++) {
        const name = `user${String(i).padStart(5, '0')}`;
        yield { name, passwd: hash, uid: 0, gid: 0, gecos: `User ${i}`, dir: join(dir, String(i % 62), name), quota: 'NOQUOTA', clear: '' };
      }
    }
    replaceVpasswdEntries(dir, users());
    const home = join(dir, String(BENCH_INDEX % 62), BENCH_USER);
    for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(home, 'Maildir', sub), { recursive: true });
    if (process.geteuid?.() === 0) for (const p of [dir, join(dir, String(BENCH_INDEX % 62)), home, join(home, 'Maildir'), ...['cur', 'new', 'tmp'].map((s) => join(home, 'Maildir', s))]) chownSync(p, 89, 89);

    const env = { PATH: '/usr/bin:/bin', VPOPMAIL_HOME: vhome, QMAIL_HOME: qhome };
    const vconvert = join(b.dist, 'bin', 'vconvert');
    if (!existsSync(vconvert)) {
      b.print('vconvert: skipped (not built)');
    } else {
      const letter = { cdb: '-c', mysql: '-M', pgsql: '-G' } as const;
      // Each direction leaves its target filled, so the next one's source is ready.
      const order: (readonly ['cdb' | 'mysql' | 'pgsql', 'cdb' | 'mysql' | 'pgsql'])[] = [
        ['cdb', 'mysql'],
        ['mysql', 'pgsql'],
        ['pgsql', 'cdb'],
        ['cdb', 'pgsql'],
        ['pgsql', 'mysql'],
        ['mysql', 'cdb'],
      ];
      for (const [from, to] of order) {
        const t = b.time(`vconvert ${from} -> ${to}, ${USERS / 1000}k users`, { argv: [vconvert, letter[from], letter[to], DOMAIN], env, runs: 3, warmup: 0 });
        b.report(t, ['runtime']);
      }
    }

    const fd3 = Buffer.from(`${BENCH_USER}@${DOMAIN}\0${PASSWORD}\0\0`, 'latin1');
    const message = join(b.root, 'message');
    writeFileSync(message, `From: bench@example.test\nTo: ${BENCH_USER}@${DOMAIN}\nSubject: bench\n\n${'hello\n'.repeat(200)}`);
    for (const backend of ['cdb', 'mysql', 'pgsql'] as const) {
      writeFileSync(join(vhome, 'etc', 'backend'), `${backend}\n`);
      const vchkpw = join(b.dist, 'bin', 'vchkpw');
      if (existsSync(vchkpw)) {
        const t = b.time(`vchkpw pop3 login, ${backend}`, { argv: [vchkpw, '/bin/true'], env: { ...env, TCPLOCALPORT: '110', TCPREMOTEIP: '192.0.2.7' }, fd3, runs: 20 });
        b.report(t, ['true', 'runtime']);
      } else b.print(`vchkpw (${backend}): skipped (not built)`);
      const vdelivermail = join(b.dist, 'bin', 'vdelivermail');
      if (existsSync(vdelivermail)) {
        const t = b.time(`vdelivermail 1 KiB message, ${backend}`, {
          argv: [vdelivermail, '', 'bounce-no-mailbox'],
          env: { ...env, EXT: BENCH_USER, HOST: DOMAIN, USER: DOMAIN, LOCAL: `${DOMAIN}-${BENCH_USER}`, SENDER: 'bench@example.test', RPLINE: 'Return-Path: <bench@example.test>\n', DTLINE: `Delivered-To: ${DOMAIN}-${BENCH_USER}@${DOMAIN}\n` },
          stdin: message,
          runs: 20,
        });
        b.report(t, ['true', 'runtime']);
      } else b.print(`vdelivermail (${backend}): skipped (not built)`);
    }
  } finally {
    await admin(MYSQL_DRIVER, MARIADB, `DROP DATABASE IF EXISTS \`${database}\``).catch(() => undefined);
    await admin(PGSQL_DRIVER, POSTGRES, `DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`).catch(() => undefined);
  }
}
