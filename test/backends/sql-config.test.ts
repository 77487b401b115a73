// vpopmail.mysql and vpopmail.pgsql as C reads them, with Q1 fixed: empty fields are fields, and a
// malformed file is one line naming the file and the line, never the password.
import test from 'ava';
import { loadConfig, parseConfigFile } from '../../lib/config.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqlConfigError, describeServer, isSameServer, parseMysqlConfig, parsePgsqlConfig, readMysqlConfig, sqlLayoutOf } from '../../lib/backends/sql-config.ts';
import { domainTableName, quoteIdent } from '../../lib/backends/sql-schema.ts';
import { PermError, TempError } from '../../lib/exit.ts';

test('line 1 alone serves both roles; comments and empty lines are skipped', (t) => {
  const s = parseMysqlConfig('# host|port|user|password|database\n\nlocalhost|0|vpopmailuser|secret|vpopmail\n');
  t.deepEqual(s.read, { host: 'localhost', port: 0, user: 'vpopmailuser', password: 'secret', database: 'vpopmail' });
  t.is(s.update, s.read);
});

test('line 2 is the update server and later lines are ignored', (t) => {
  const s = parseMysqlConfig('replica|3307|ro|pw1|vpopmail\nmaster|3306|rw|pw2|vpopmail\nignored|1|x|y|z\n');
  t.is(s.read.host, 'replica');
  t.is(s.read.port, 3307);
  t.is(s.update.host, 'master');
  t.is(s.update.user, 'rw');
  t.false(isSameServer(s.read, s.update));
});

test('an empty password is a password, not a shifted database (Q1)', (t) => {
  const s = parseMysqlConfig('db.example|3306|vpopmail||vpopmail\n');
  t.is(s.read.password, '');
  t.is(s.read.database, 'vpopmail');
});

test('a port field starting with / is the socket path', (t) => {
  const s = parseMysqlConfig('localhost|/run/mysqld/mysqld.sock|u|p|vpopmail\n');
  t.is(s.read.socketPath, '/run/mysqld/mysqld.sock');
  t.is(s.read.port, 0);
});

test('a wrong number of fields is an error naming the file and the line, not the password', (t) => {
  const err = t.throws(() => parseMysqlConfig('# comment\nlocalhost|0|user|hunter2\n', '/home/vpopmail/etc/vpopmail.mysql'), { instanceOf: SqlConfigError });
  t.is(err?.message, '/home/vpopmail/etc/vpopmail.mysql line 2: expected host|port|user|password|database, found 4 fields');
  t.true(err instanceof TempError);
  t.false(err?.message.includes('hunter2'));
});

test('a line starting with a space is data, as in C, and so a bad line', (t) => {
  t.throws(() => parseMysqlConfig(' # indented comment\n'), { message: /line 1: expected host\|port/ });
});

test('a bad port and an empty database are errors naming the line', (t) => {
  t.throws(() => parseMysqlConfig('\nh|33o6|u|p|d\n'), { message: 'vpopmail.mysql line 2: port must be a number from 0 to 65535 or a socket path' });
  t.throws(() => parseMysqlConfig('h|0|u|p|\n'), { message: 'vpopmail.mysql line 1: the database field is empty' });
  t.throws(() => parseMysqlConfig('# only comments\n'), { message: 'vpopmail.mysql: no host|port|user|password|database line' });
});

test('a missing vpopmail.mysql is a TempError naming the path', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vpop-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.throws(() => readMysqlConfig({ etcDir: dir }), { instanceOf: TempError, message: `unable to read ${join(dir, 'vpopmail.mysql')}: ENOENT` });
  writeFileSync(join(dir, 'vpopmail.mysql'), 'h|0|u|p|d\n');
  t.is(readMysqlConfig({ etcDir: dir }).update.host, 'h');
});

test('vpopmail.pgsql fills empty fields with C\'s defaults and never port 0 (Q5)', (t) => {
  t.deepEqual(parsePgsqlConfig('||||\n'), { host: 'localhost', port: 5432, user: 'postgres', password: '', database: 'vpopmail' });
  t.deepEqual(parsePgsqlConfig('# c\ndb|5433|vpop|pw|mail\n'), { host: 'db', port: 5433, user: 'vpop', password: 'pw', database: 'mail' });
  t.is(parsePgsqlConfig('/run/postgresql|0|u||d\n').socketPath, '/run/postgresql');
  t.throws(() => parsePgsqlConfig('db|0|u|p\n', 'vpopmail.pgsql'), { message: 'vpopmail.pgsql line 1: expected host|port|user|password|database, found 4 fields' });
});

test('server descriptions for messages carry no password', (t) => {
  const s = parseMysqlConfig('db.example|3306|vpopmail|hunter2|mail\n').read;
  t.is(describeServer(s), 'vpopmail@db.example:3306/mail');
  t.false(describeServer(s).includes('hunter2'));
});

test('the layout defaults to C\'s: many domains, limits in files; vpopmail.conf switches both', (t) => {
  t.deepEqual(sqlLayoutOf(loadConfig({ VPOPMAIL_HOME: '/nonexistent-vpop' })), { manyDomains: true, limitsInTable: false });
  t.deepEqual(sqlLayoutOf({ ...parseConfigFile('many-domains = no\nsql-limits = yes\n', 'f'), sqlLimits: true, manyDomains: false }), { manyDomains: false, limitsInTable: true });
  t.deepEqual(parseConfigFile('many-domains = no\nsql-limits = yes\n', 'f'), { manyDomains: false, sqlLimits: true });
  t.deepEqual(sqlLayoutOf({ manyDomains: false, sqlLimits: false }, { manyDomains: true }), { manyDomains: true, limitsInTable: false });
});

test('per-domain table names replace . and - and pass only [a-z0-9_]', (t) => {
  t.is(domainTableName('my-site.example.com', 'mysql'), 'my_site_example_com');
  t.is(domainTableName('a-b.com', 'pgsql'), domainTableName('a.b.com', 'pgsql'));
  t.throws(() => domainTableName('x`; DROP TABLE vpopmail; --', 'mysql'), { instanceOf: PermError });
  t.throws(() => domainTableName('Upper.test', 'mysql'), { instanceOf: PermError });
  t.throws(() => domainTableName(`${'a'.repeat(60)}.test`, 'pgsql'), { instanceOf: PermError, message: /too long/ });
  t.is(quoteIdent('a_b', 'mysql'), '`a_b`');
  t.is(quoteIdent('a_b', 'pgsql'), '"a_b"');
  t.throws(() => quoteIdent('a"b', 'pgsql'), { instanceOf: PermError });
});
