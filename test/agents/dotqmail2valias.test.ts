// dotqmail2valias: .qmail-<alias> files into the valias table of MariaDB and PostgreSQL, as built and in-process.
import test, { type ExecutionContext } from 'ava';
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { accountsContext } from '../../lib/accounts/context.ts';
import { convertDotQmailFiles, isMailingListFile } from '../../lib/accounts/dotqmail-convert.ts';
import { findDomain } from '../../lib/accounts/lookup.ts';
import type { Backend } from '../../lib/backends/backend.ts';
import { TempError } from '../../lib/exit.ts';
import { makeHome, run, type Home } from '../helpers/accounts-home.ts';
import { createTestDatabase, makeSqlHome, openSqlBackend } from '../helpers/sql-db.ts';

type Dialect = 'mysql' | 'pgsql';

/** A valias build on a fresh database: example.test (alias alias.test) and other.test, with alias files. */
async function sqlHome(t: ExecutionContext, dialect: Dialect) {
  const db = await createTestDatabase(t, dialect);
  const home = makeSqlHome(t, { [dialect]: db }, { valias: true, backend: dialect });
  writeFileSync(join(home.config.etcDir, 'vpopmail.conf'), `backend = ${dialect}\nvalias = yes\n`);
  const dir = home.addDomain('example.test', ['alias.test']);
  const other = home.addDomain('other.test');
  const backend = openSqlBackend(dialect, home.config);
  t.teardown(() => backend.close());
  for (const d of ['example.test', 'other.test']) await backend.addDomain(d);
  writeFileSync(join(dir, '.qmail-default'), "| /home/vpopmail/bin/vdelivermail '' delete\n");
  writeFileSync(join(dir, '.qmail-info'), 'fred@elsewhere.test\r\n# a comment\n\nalice@example.test\n');
  writeFileSync(join(dir, '.qmail-sales:team'), '/home/vpopmail/domains/example.test/bob/Maildir/\n');
  writeFileSync(join(dir, '.qmail-kept'), 'file@x.test\n');
  await backend.addValiasLine('example.test', 'kept', 'table@x.test');
  mkdirSync(join(dir, 'list'));
  writeFileSync(join(dir, 'list', 'editor'), '|/usr/bin/ezmlm-reject /x\n|/usr/bin/ezmlm-send /x/list\n');
  symlinkSync(join(dir, 'list', 'editor'), join(dir, '.qmail-list'));
  writeFileSync(join(other, '.qmail-x'), 'y@z.test\n');
  const env = { PATH: '/usr/bin:/bin', VPOPMAIL_HOME: home.config.vpopmailHome, QMAIL_HOME: home.config.qmailHome };
  return { home, dir, other, backend, h: { env, root: home.root } as unknown as Home };
}

for (const dialect of ['mysql', 'pgsql'] as const) {
  test(`${dialect}: files become rows and go; a list and an alias the table has stay; the alias domain is skipped`, async (t) => {
    const { dir, backend, h } = await sqlHome(t, dialect);
    const r = run(h, 'dotqmail2valias', ['example.test', 'alias.test']);
    t.is(r.status, 0, r.stdout + r.stderr);
    t.is(
      r.stdout,
      [
        'converting example.test',
        '  checking info@example.test... converted 3 entries.',
        '  checking kept@example.test... the valias table already has this alias, file left as it is.',
        '  checking list@example.test... a mailing list, left as a file.',
        '  checking sales.team@example.test... converted 1 entry.',
        'converting alias.test',
        '',
      ].join('\n'),
    );
    t.regex(r.stderr, /skipping alias\.test, an alias of example\.test/);
    t.deepEqual(await backend.getValias('example.test', 'info'), ['fred@elsewhere.test', '# a comment', 'alice@example.test']);
    t.deepEqual(await backend.getValias('example.test', 'sales.team'), ['/home/vpopmail/domains/example.test/bob/Maildir/']);
    t.deepEqual(await backend.getValias('example.test', 'kept'), ['table@x.test']);
    t.is(await backend.getValias('example.test', 'list'), undefined);
    t.deepEqual(readdirSync(dir).filter((n) => n.startsWith('.qmail')).sort(), ['.qmail-default', '.qmail-kept', '.qmail-list']);
    t.is(readFileSync(join(dir, 'list', 'editor'), 'latin1'), '|/usr/bin/ezmlm-reject /x\n|/usr/bin/ezmlm-send /x/list\n');
    // run again: nothing left to move, nothing doubled
    const again = run(h, 'dotqmail2valias', ['example.test']);
    t.is(again.status, 0);
    t.deepEqual(await backend.getValias('example.test', 'info'), ['fred@elsewhere.test', '# a comment', 'alice@example.test']);
  });
}

test('-a converts every real domain of users/assign and lists each once', async (t) => {
  const { other, backend, h } = await sqlHome(t, 'mysql');
  const r = run(h, 'dotqmail2valias', ['-a']);
  t.is(r.status, 0, r.stdout + r.stderr);
  t.deepEqual(r.stdout.split('\n').filter((l) => l.startsWith('converting')), ['converting example.test', 'converting other.test']);
  t.deepEqual(await backend.getValias('other.test', 'x'), ['y@z.test']);
  t.false(existsSync(join(other, '.qmail-x')));
});

test('an unknown domain is reported, the others are converted, and the exit is 255', async (t) => {
  const { backend, h } = await sqlHome(t, 'mysql');
  const r = run(h, 'dotqmail2valias', ['nowhere.test', 'other.test']);
  t.is(r.status, 255);
  t.regex(r.stdout, /conversion of nowhere\.test failed: Domain does not exist/);
  t.deepEqual(await backend.getValias('other.test', 'x'), ['y@z.test']);
});

test('no domain and no -a: usage and 255, nothing converted', async (t) => {
  const { dir, h } = await sqlHome(t, 'mysql');
  const r = run(h, 'dotqmail2valias', []);
  t.is(r.status, 255);
  t.regex(r.stdout, /^usage: dotqmail2valias/);
  t.true(existsSync(join(dir, '.qmail-info')));
});

test('a build without the valias table says so on stderr and exits 255: valias = no, or the cdb backend', async (t) => {
  for (const conf of ['', 'valias = yes\n']) {
    const h = makeHome(t, { conf });
    const r = run(h, 'dotqmail2valias', ['-a']);
    t.deepEqual([r.status, r.stdout], [255, ''], conf);
    t.regex(r.stderr, conf === '' ? /valias = no/ : /cdb backend has no valias table/);
  }
});

test('a failure half-way through a file takes back the rows it added and leaves the file', async (t) => {
  const { home, dir, backend } = await sqlHome(t, 'pgsql');
  let calls = 0;
  const flaky = new Proxy(backend, {
    get(target, prop, receiver) {
      if (prop === 'addValiasLine') {
        return async (...args: Parameters<Backend['addValiasLine']>) => {
          if (++calls === 2) throw new TempError('injected insert failure');
          return target.addValiasLine(...args);
        };
      }
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  }) as Backend;
  const ctx = accountsContext(home.config, flaky, 'mail.test', { lockTimeoutMs: 20_000 });
  const outcomes: [string, string][] = [];
  const result = await convertDotQmailFiles(ctx, findDomain(ctx, 'example.test')!, { onOutcome: (a, o) => outcomes.push([a, o.kind]) });
  t.is(result.failed, 1);
  t.deepEqual(outcomes, [['info', 'failed'], ['kept', 'exists'], ['list', 'mailing-list'], ['sales.team', 'converted']]);
  t.is(await backend.getValias('example.test', 'info'), undefined);
  t.is(readFileSync(join(dir, '.qmail-info'), 'latin1'), 'fred@elsewhere.test\r\n# a comment\n\nalice@example.test\n');
});

test('a mailing list is a file with an ezmlm program line, by the command before its first space', (t) => {
  t.true(isMailingListFile(['|/usr/local/bin/ezmlm/ezmlm-send /home/x/list']));
  t.true(isMailingListFile(['#x', '| /usr/bin/ezmlm-manage /home/x/list']));
  t.false(isMailingListFile(['|/usr/bin/preline /usr/bin/ezmlm-send x']));
  t.false(isMailingListFile(['/home/ezmlm-send/Maildir/', '&ezmlm-send@x.test']));
  t.false(isMailingListFile([]));
});
