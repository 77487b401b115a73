// valias as built: the golden steps, C's final tree, errors, a crash mid-rewrite, and a valias build on MariaDB.
import test from 'ava';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addDomain } from '../../lib/accounts/domains.ts';
import { rebuildUsersCdb } from '../../lib/store/assign.ts';
import { goldenSteps } from '../helpers/admin-golden.ts';
import { domainDir, makeHome, programPath, run, type Home } from '../helpers/accounts-home.ts';
import { GOLDEN_DIR } from '../helpers/golden.ts';
import { createTestDatabase, makeSqlHome, openSqlBackend } from '../helpers/sql-db.ts';

const steps = goldenSteps();
const ROOT = process.geteuid?.() === 0;

async function homeWithDomain(t: Parameters<typeof makeHome>[0]): Promise<Home & { dir: string }> {
  const h = makeHome(t);
  await addDomain(h.ctx, { domain: 'example.test', postmaster: { password: { hash: '' } } });
  return { ...h, dir: domainDir(h, 'example.test') };
}

test('golden steps 136-143 give C\'s exit codes, stdout, stderr and alias files', async (t) => {
  const h = await homeWithDomain(t);
  for (let n = 136; n <= 143; n++) {
    const step = steps.get(n)!;
    const r = run(h, 'valias', step.argv);
    t.deepEqual([r.status, r.stdout, r.stderr], [step.exit, step.stdout.text, step.stderr.text], `step ${n}: valias ${step.argv.join(' ')}`);
    if (n === 138) {
      const state = step.states[0]!;
      if (state.kind !== 'files') throw new Error('step 138 records the alias files');
      for (const f of state.files) {
        const path = f.path.replace('/home/vpopmail/domains/example.test', h.dir);
        t.is(readFileSync(path, 'latin1'), f.content.text, path);
        t.is(statSync(path).mode & 0o7777, 0o600);
        if (ROOT) t.is(`${statSync(path).uid}:${statSync(path).gid}`, '89:89');
      }
    }
  }
});

test('C\'s final tree: its .qmail-info lists as C left it, takes a line and loses it again', (t) => {
  const h = makeHome(t);
  cpSync(join(GOLDEN_DIR, 'tree', 'vpopmail', 'domains'), join(h.vhome, 'domains'), { recursive: true });
  cpSync(join(GOLDEN_DIR, 'tree', 'qmail', 'users'), join(h.qhome, 'users'), { recursive: true });
  const assign = join(h.qhome, 'users', 'assign');
  writeFileSync(assign, readFileSync(assign, 'latin1').replaceAll('/home/vpopmail', h.vhome), { encoding: 'latin1', mode: 0o644 });
  rebuildUsersCdb(h.qhome);
  const dir = join(h.vhome, 'domains', 'example.test');
  const listed = run(h, 'valias', ['example.test']);
  t.deepEqual([listed.status, listed.stdout], [0, 'info@example.test -> fred@elsewhere.test\ninfo@example.test -> alice@example.test\n']);
  t.is(run(h, 'valias', ['-n', 'example.test']).stdout, 'info\n');
  t.is(run(h, 'valias', ['-i', 'carol@example.test', 'info@example.test']).status, 0);
  t.is(readFileSync(join(dir, '.qmail-info'), 'latin1'), 'fred@elsewhere.test\nalice@example.test\ncarol@example.test\n');
  t.is(run(h, 'valias', ['-d', 'info@example.test']).status, 0);
  t.false(existsSync(join(dir, '.qmail-info')));
  const none = run(h, 'valias', ['-s', 'example.test']);
  t.deepEqual([none.status, none.stdout], [255, 'No aliases found for domain example.test\n']);
  const catchAll = run(h, 'valias', ['-s', 'catch.test']);
  t.is(catchAll.status, 255); // .qmail-default is not an alias
});

test('a missing address: a complaint on stderr, the usage on stdout, 255; an unknown option 254 as C', async (t) => {
  const h = await homeWithDomain(t);
  const none = run(h, 'valias', []);
  t.is(none.status, 255);
  t.regex(none.stdout, /^usage: valias/);
  t.not(none.stderr, '');
  const bad = run(h, 'valias', ['-h']);
  t.is(bad.status, 254);
  t.regex(bad.stderr, /invalid option -- 'h'/);
  t.regex(bad.stdout, /^usage: valias/);
  const version = run(h, 'valias', ['-v', 'example.test']);
  t.regex(version.stdout, /^version: 5\.6\.13\nNo aliases found for domain example\.test\n$/);
});

test('an exact duplicate is refused on stderr with 255 and the file is unchanged; a longer line is a new line', async (t) => {
  const h = await homeWithDomain(t);
  t.is(run(h, 'valias', ['-i', 'bob@x.test', 'info@example.test']).status, 0);
  const dup = run(h, 'valias', ['-i', 'bob@x.test', 'info@example.test']);
  t.deepEqual([dup.status, dup.stdout], [255, '']);
  t.regex(dup.stderr, /info@example\.test.*bob@x\.test/);
  t.is(run(h, 'valias', ['-i', 'bob@x.test.evil', 'info@example.test']).status, 0);
  t.is(readFileSync(join(h.dir, '.qmail-info'), 'latin1'), 'bob@x.test\nbob@x.test.evil\n');
});

test('unknown domains and aliases: C\'s "No aliases" lines with 255; Error: Domain does not exist with 245 for changes', async (t) => {
  const h = await homeWithDomain(t);
  const one = run(h, 'valias', ['nobody@example.test']);
  t.deepEqual([one.status, one.stdout, one.stderr], [255, 'No aliases nobody@example.test found\n', '']);
  const del = run(h, 'valias', ['-d', 'nobody@example.test']);
  t.deepEqual([del.status, del.stdout], [255, 'No aliases nobody@example.test found\n']);
  for (const args of [['-i', 'a@b.test', 'info@nowhere.test'], ['-d', 'info@nowhere.test'], ['info@nowhere.test'], ['-s', 'nowhere.test'], ['-n', 'nowhere.test']]) {
    const r = run(h, 'valias', args);
    t.deepEqual([r.status, r.stdout], [245, 'Error: Domain does not exist\n'], args.join(' '));
  }
  t.false(existsSync(join(h.vhome, 'domains', 'nowhere.test')));
  const names = run(h, 'valias', ['-n', 'info@example.test']);
  t.is(names.status, 255);
  t.not(names.stderr, '');
  t.is(run(h, 'valias', ['-n', 'example.test']).status, 255); // no names: C's silent 255
});

test('names that would leave the domain directory or replace .qmail-default are refused before anything is written', async (t) => {
  const h = await homeWithDomain(t);
  const before = readdirSync(h.dir).sort();
  const defaultBefore = readFileSync(join(h.dir, '.qmail-default'), 'latin1');
  for (const address of ['../../etc/x@example.test', 'default@example.test', 'a b@example.test']) {
    const r = run(h, 'valias', ['-i', 'x@y.test', address]);
    t.not(r.status, 0, address);
    t.regex(r.stderr + r.stdout, /invalid|Illegal/, address);
  }
  const long = run(h, 'valias', ['-i', 'x'.repeat(200), 'info@example.test']);
  t.deepEqual([long.status, long.stdout], [224, 'Error: alias line too long (max=160)\n']);
  t.deepEqual(readdirSync(h.dir).sort(), before);
  t.is(readFileSync(join(h.dir, '.qmail-default'), 'latin1'), defaultBefore);
});

test('without a domain the address takes the default domain (VPOPMAIL_DOMAIN), as C\'s parse_email does', async (t) => {
  const h = await homeWithDomain(t);
  t.is(run(h, 'valias', ['-i', 'a@b.test', 'info'], { env: { VPOPMAIL_DOMAIN: 'example.test' } }).status, 0);
  t.is(readFileSync(join(h.dir, '.qmail-info'), 'latin1'), 'a@b.test\n');
  t.is(run(h, 'valias', ['info@EXAMPLE.test']).stdout, 'info@example.test -> a@b.test\n');
});

test('killed at the rename of a rewrite, the alias file is the old one whole; the next add completes it', async (t) => {
  const h = await homeWithDomain(t);
  t.is(run(h, 'valias', ['-i', 'first@x.test', 'info@example.test']).status, 0);
  const killed = run(h, 'valias', ['-i', 'second@x.test', 'info@example.test'], { env: { VPOPMAIL_FAULT: 'rename:1' } });
  t.is(killed.signal, 'SIGKILL');
  t.is(readFileSync(join(h.dir, '.qmail-info'), 'latin1'), 'first@x.test\n');
  t.is(run(h, 'valias', ['-s', 'example.test']).stdout, 'info@example.test -> first@x.test\n'); // the temp file is no alias
  t.is(run(h, 'valias', ['-i', 'second@x.test', 'info@example.test']).status, 0);
  t.is(readFileSync(join(h.dir, '.qmail-info'), 'latin1'), 'first@x.test\nsecond@x.test\n');
});

test('a valias build on MariaDB keeps the lines in the table and writes no .qmail file', async (t) => {
  const db = await createTestDatabase(t, 'mysql');
  const home = makeSqlHome(t, { mysql: db }, { valias: true, backend: 'mysql' });
  writeFileSync(join(home.config.etcDir, 'vpopmail.conf'), 'backend = mysql\nvalias = yes\n');
  const dir = home.addDomain('example.test', ['alias.test']);
  const backend = openSqlBackend('mysql', home.config);
  t.teardown(() => backend.close());
  await backend.addDomain('example.test');
  const env = { PATH: '/usr/bin:/bin', VPOPMAIL_HOME: home.config.vpopmailHome, QMAIL_HOME: home.config.qmailHome };
  const h = { env, root: home.root } as unknown as Home;
  t.is(run(h, 'valias', ['-i', 'fred@elsewhere.test', 'info@example.test']).status, 0);
  t.is(run(h, 'valias', ['-i', 'alice@example.test', 'info@alias.test']).status, 0);
  t.is(run(h, 'valias', ['-i', 'alice@example.test', 'info@example.test']).status, 255);
  t.is(run(h, 'valias', ['-i', 'x@y.test', 'sales@example.test']).status, 0);
  t.deepEqual(await backend.getValias('example.test', 'info'), ['fred@elsewhere.test', 'alice@example.test']);
  t.false(existsSync(join(dir, '.qmail-info')));
  t.is(run(h, 'valias', ['-s', 'example.test']).stdout, 'info@example.test -> fred@elsewhere.test\ninfo@example.test -> alice@example.test\nsales@example.test -> x@y.test\n');
  t.is(run(h, 'valias', ['-n', 'example.test']).stdout, 'info\nsales\n');
  t.is(run(h, 'valias', ['-d', 'info@example.test']).status, 0);
  t.is(await backend.getValias('example.test', 'info'), undefined);
});

test('twelve valias -i at once on one alias: every line is there once (the domain lock orders the rewrites)', async (t) => {
  const h = await homeWithDomain(t);
  const lines = Array.from({ length: 12 }, (_, i) => `user${i}@x.test`);
  const codes = await Promise.all(
    lines.map(
      (line) =>
        new Promise<number | null>((resolve) => {
          const child = spawn(programPath('valias'), ['-i', line, 'info@example.test'], { env: h.env, stdio: 'ignore' });
          child.on('close', resolve);
        }),
    ),
  );
  t.deepEqual(codes, lines.map(() => 0));
  t.deepEqual(readFileSync(join(h.dir, '.qmail-info'), 'latin1').split('\n').filter((l) => l !== '').sort(), lines.slice().sort());
});
