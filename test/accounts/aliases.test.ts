import test, { type ExecutionContext } from 'ava';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AliasExistsError,
  AliasFileError,
  addAliasLine,
  aliasOfDotQmailFile,
  aliasStoreOf,
  deleteAlias,
  dotQmailFileName,
  getAliasLines,
  listAliasNames,
  listAliases,
  removeAliasLine,
} from '../../lib/accounts/aliases.ts';
import { accountsContext, type AccountsContext } from '../../lib/accounts/context.ts';
import { addAliasDomain, addDomain } from '../../lib/accounts/domains.ts';
import { NameError } from '../../lib/accounts/names.ts';
import { VA, VpopmailError } from '../../lib/exit.ts';
import { SQL_FACTORIES } from '../helpers/sql-db.ts';
import { domainDir, makeHome, type Home } from '../helpers/accounts-home.ts';

const ROOT = process.geteuid?.() === 0;

async function homeWithDomain(t: ExecutionContext): Promise<Home & { dir: string }> {
  const home = makeHome(t);
  await addDomain(home.ctx, { domain: 'example.test', postmaster: { password: { hash: '' } } });
  await addAliasDomain(home.ctx, 'example.test', 'alias.test');
  return { ...home, dir: domainDir(home, 'example.test') };
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const text = (path: string) => readFileSync(path, 'latin1');

/** A small deterministic generator (xorshift), so a failing case can be replayed from its seed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

// --- .qmail-<alias> files ------------------------------------------------------------------------------

test('a cdb build keeps aliases in .qmail files even with valias = yes (no table to put them in)', async (t) => {
  const h = makeHome(t, { conf: 'valias = yes\n' });
  t.is(aliasStoreOf(h.ctx), 'dotqmail');
});

test('addAliasLine writes .qmail-<alias> with dots as colons, mode 0600, owned by the domain, one line each', async (t) => {
  const h = await homeWithDomain(t);
  await addAliasLine(h.ctx, 'example.test', 'sales.team', 'fred@elsewhere.test');
  await addAliasLine(h.ctx, 'example.test', 'sales.team', '/home/vpopmail/domains/example.test/bob/Maildir/');
  const path = join(h.dir, '.qmail-sales:team');
  t.is(text(path), 'fred@elsewhere.test\n/home/vpopmail/domains/example.test/bob/Maildir/\n');
  const st = statSync(path);
  t.is(st.mode & 0o7777, 0o600);
  if (ROOT) t.deepEqual([st.uid, st.gid], [89, 89]);
  t.deepEqual(await getAliasLines(h.ctx, 'example.test', 'sales.team'), ['fred@elsewhere.test', '/home/vpopmail/domains/example.test/bob/Maildir/']);
  // no temp file is left beside it
  t.deepEqual(readdirSync(h.dir).filter((n) => n.includes('tmp')), []);
});

test('an alias domain reaches the real domain\'s files', async (t) => {
  const h = await homeWithDomain(t);
  await addAliasLine(h.ctx, 'alias.test', 'info', 'x@y.test');
  t.is(text(join(h.dir, '.qmail-info')), 'x@y.test\n');
  t.deepEqual(await getAliasLines(h.ctx, 'example.test', 'info'), ['x@y.test']);
});

test('an exact duplicate line is refused and the file is left as it was; a CR does not make it new', async (t) => {
  const h = await homeWithDomain(t);
  await addAliasLine(h.ctx, 'example.test', 'info', 'fred@elsewhere.test');
  const before = text(join(h.dir, '.qmail-info'));
  for (const dup of ['fred@elsewhere.test', 'fred@elsewhere.test\r']) {
    const err = await t.throwsAsync(addAliasLine(h.ctx, 'example.test', 'info', dup), { instanceOf: AliasExistsError });
    t.is(err?.exitCode, 255);
    t.is(err?.stream, 'stderr');
  }
  t.is(text(join(h.dir, '.qmail-info')), before);
  // a line that merely starts the same way is a different line
  await addAliasLine(h.ctx, 'example.test', 'info', 'fred@elsewhere.test.evil');
  t.deepEqual(await getAliasLines(h.ctx, 'example.test', 'info'), ['fred@elsewhere.test', 'fred@elsewhere.test.evil']);
});

test('removeAliasLine removes only equal lines, never lines it is a prefix of (C removes bob@x.com.evil with bob@x.com)', async (t) => {
  const h = await homeWithDomain(t);
  const lines = ['bob@x.com', 'bob@x.com.evil', 'bob@x.co', '&bob@x.com', 'bob@x.com '];
  for (const l of lines) await addAliasLine(h.ctx, 'example.test', 'team', l);
  t.true(await removeAliasLine(h.ctx, 'example.test', 'team', 'bob@x.com'));
  t.deepEqual(await getAliasLines(h.ctx, 'example.test', 'team'), ['bob@x.com.evil', 'bob@x.co', '&bob@x.com', 'bob@x.com ']);
  t.false(await removeAliasLine(h.ctx, 'example.test', 'team', 'bob@x.com'));
  t.false(await removeAliasLine(h.ctx, 'example.test', 'team', 'bob@x'));
  t.false(await removeAliasLine(h.ctx, 'example.test', 'nobody', 'bob@x.com'));
});

test('removing the last line of an alias removes its file (an empty .qmail file would deliver into the domain directory)', async (t) => {
  const h = await homeWithDomain(t);
  await addAliasLine(h.ctx, 'example.test', 'info', 'a@b.test');
  t.true(await removeAliasLine(h.ctx, 'example.test', 'info', 'a@b.test'));
  t.false(existsSync(join(h.dir, '.qmail-info')));
  t.is(await getAliasLines(h.ctx, 'example.test', 'info'), undefined);
});

test('deleteAlias removes the file, and says so only when there was one', async (t) => {
  const h = await homeWithDomain(t);
  await addAliasLine(h.ctx, 'example.test', 'info', 'a@b.test');
  t.true(await deleteAlias(h.ctx, 'example.test', 'info'));
  t.false(existsSync(join(h.dir, '.qmail-info')));
  t.false(await deleteAlias(h.ctx, 'example.test', 'info'));
});

test('a mailing list\'s symlinked .qmail file is read through the link, never rewritten; delete removes only the link', async (t) => {
  const h = await homeWithDomain(t);
  const listDir = join(h.dir, 'list');
  mkdirSync(listDir);
  writeFileSync(join(listDir, 'editor'), '|/usr/bin/ezmlm-send /x/list\n');
  symlinkSync(join(listDir, 'editor'), join(h.dir, '.qmail-list'));
  t.deepEqual(await getAliasLines(h.ctx, 'example.test', 'list'), ['|/usr/bin/ezmlm-send /x/list']);
  await t.throwsAsync(addAliasLine(h.ctx, 'example.test', 'list', 'a@b.test'), { instanceOf: AliasFileError });
  await t.throwsAsync(removeAliasLine(h.ctx, 'example.test', 'list', '|/usr/bin/ezmlm-send /x/list'), { instanceOf: AliasFileError });
  t.true(lstatSync(join(h.dir, '.qmail-list')).isSymbolicLink());
  t.is(text(join(listDir, 'editor')), '|/usr/bin/ezmlm-send /x/list\n');
  t.true(await deleteAlias(h.ctx, 'example.test', 'list'));
  t.false(existsSync(join(h.dir, '.qmail-list')));
  t.true(existsSync(join(listDir, 'editor')));
});

test('listings count every .qmail-* file but .qmail-default, a list\'s -default and -owner links once, sorted without regard to case', async (t) => {
  const h = await homeWithDomain(t);
  const listDir = join(h.dir, 'list');
  mkdirSync(listDir);
  for (const f of ['editor', 'manager', 'owner']) writeFileSync(join(listDir, f), `|/usr/bin/ezmlm-${f} x\n`);
  symlinkSync(join(listDir, 'editor'), join(h.dir, '.qmail-list'));
  symlinkSync(join(listDir, 'manager'), join(h.dir, '.qmail-list-default'));
  symlinkSync(join(listDir, 'owner'), join(h.dir, '.qmail-list-owner'));
  writeFileSync(join(h.dir, '.qmail-Zeta'), 'z@z.test\n');
  writeFileSync(join(h.dir, '.qmail-alpha'), 'a@a.test\r\nb@b.test\n\n');
  writeFileSync(join(h.dir, '.qmail-bob-owner'), 'owner@b.test\n'); // a regular file: an alias like any other
  writeFileSync(join(h.dir, '.qmail-first:last'), 'fl@x.test\n');
  writeFileSync(join(h.dir, '.qmail-empty'), '');
  mkdirSync(join(h.dir, '.qmail-adir'));
  writeFileSync(join(h.dir, '.qmail.tmp.123'), 'half a rewrite\n');
  t.deepEqual(await listAliasNames(h.ctx, 'example.test'), ['alpha', 'bob-owner', 'empty', 'first.last', 'list', 'Zeta']);
  t.deepEqual(await collect(listAliases(h.ctx, 'example.test')), [
    { alias: 'alpha', line: 'a@a.test' },
    { alias: 'alpha', line: 'b@b.test' },
    { alias: 'bob-owner', line: 'owner@b.test' },
    { alias: 'first.last', line: 'fl@x.test' },
    { alias: 'list', line: '|/usr/bin/ezmlm-editor x' },
    { alias: 'Zeta', line: 'z@z.test' },
  ]);
  t.is(await getAliasLines(h.ctx, 'example.test', 'empty'), undefined);
});

test('adding to a CRLF file leaves LF lines only (qmail-local would read the CR as part of the address)', async (t) => {
  const h = await homeWithDomain(t);
  writeFileSync(join(h.dir, '.qmail-info'), 'a@a.test\r\nb@b.test\r\n');
  await addAliasLine(h.ctx, 'example.test', 'info', 'c@c.test\r\n'.trimEnd());
  t.is(text(join(h.dir, '.qmail-info')), 'a@a.test\nb@b.test\nc@c.test\n');
});

const BAD_NAMES: readonly [string, number][] = [
  ['', VA.ILLEGAL_USERNAME],
  ['../etc', VA.ILLEGAL_USERNAME],
  ['a/b', VA.ILLEGAL_USERNAME],
  ['default', VA.ILLEGAL_USERNAME],
  ['x y', VA.ILLEGAL_USERNAME],
  ['a:b', VA.ILLEGAL_USERNAME],
  ['a'.repeat(65), VA.USER_NAME_TOO_LONG],
];

for (const [name, code] of BAD_NAMES) {
  test(`the alias name ${JSON.stringify(name.length > 20 ? `${name.slice(0, 8)}…(${name.length})` : name)} is refused (code ${code}) and nothing is written`, async (t) => {
    const h = await homeWithDomain(t);
    const before = readdirSync(h.dir).sort();
    const err = await t.throwsAsync(addAliasLine(h.ctx, 'example.test', name, 'a@b.test'), { instanceOf: NameError });
    t.is(err?.code, code);
    await t.throwsAsync(deleteAlias(h.ctx, 'example.test', name), { instanceOf: NameError });
    t.deepEqual(readdirSync(h.dir).sort(), before);
  });
}

const BAD_LINES: readonly [string, string, number][] = [
  ['empty', '', VA.INVALID_EMAIL_CHAR],
  ['only a CR', '\r', VA.INVALID_EMAIL_CHAR],
  ['a newline inside', 'a@b.test\nc@d.test', VA.INVALID_EMAIL_CHAR],
  ['a NUL', 'a@b\0.test', VA.INVALID_EMAIL_CHAR],
  ['160 bytes', `${'x'.repeat(150)}@b.test123`, VA.ALIAS_LINE_TOO_LONG],
];

for (const [what, line, code] of BAD_LINES) {
  test(`an alias line with ${what} is refused (code ${code}) before the file is touched`, async (t) => {
    const h = await homeWithDomain(t);
    const err = await t.throwsAsync(addAliasLine(h.ctx, 'example.test', 'info', line), { instanceOf: VpopmailError });
    t.is(err?.code, code);
    t.false(existsSync(join(h.dir, '.qmail-info')));
  });
}

test('a 159-byte line is the longest taken (C: shorter than 160)', async (t) => {
  const h = await homeWithDomain(t);
  const line = `${'x'.repeat(152)}@b.test`;
  t.is(line.length, 159);
  await addAliasLine(h.ctx, 'example.test', 'info', line);
  t.deepEqual(await getAliasLines(h.ctx, 'example.test', 'info'), [line]);
});

test('UTF-8 text in a line is stored as its bytes and read back the same', async (t) => {
  const h = await homeWithDomain(t);
  await addAliasLine(h.ctx, 'example.test', 'info', '|/usr/bin/printf été');
  t.deepEqual(readFileSync(join(h.dir, '.qmail-info')), Buffer.from('|/usr/bin/printf été\n', 'utf8'));
  const [line] = (await getAliasLines(h.ctx, 'example.test', 'info')) ?? [];
  t.is(Buffer.from(line!, 'latin1').toString('utf8'), '|/usr/bin/printf été');
});

test('an unknown domain is VA_DOMAIN_DOES_NOT_EXIST for every operation, and nothing is created', async (t) => {
  const h = await homeWithDomain(t);
  for (const op of [
    () => addAliasLine(h.ctx, 'nowhere.test', 'info', 'a@b.test'),
    () => removeAliasLine(h.ctx, 'nowhere.test', 'info', 'a@b.test'),
    () => deleteAlias(h.ctx, 'nowhere.test', 'info'),
    () => getAliasLines(h.ctx, 'nowhere.test', 'info'),
    () => listAliasNames(h.ctx, 'nowhere.test'),
    () => collect(listAliases(h.ctx, 'nowhere.test')),
  ]) {
    const err = await t.throwsAsync(op(), { instanceOf: VpopmailError });
    t.is(err?.code, VA.DOMAIN_DOES_NOT_EXIST);
  }
  t.false(existsSync(join(h.vhome, 'domains', 'nowhere.test')));
});

test('file names and alias names convert both ways, .qmail-default and .qmail- name no alias', (t) => {
  t.is(dotQmailFileName('a.b.c'), '.qmail-a:b:c');
  t.is(aliasOfDotQmailFile('.qmail-a:b:c'), 'a.b.c');
  t.is(aliasOfDotQmailFile('.qmail-default'), undefined);
  t.is(aliasOfDotQmailFile('.qmail-'), undefined);
  t.is(aliasOfDotQmailFile('.qmail'), undefined);
  t.is(aliasOfDotQmailFile('vpasswd'), undefined);
});

test('C\'s .qmail-info from the golden run reads as C listed it (steps 139 and 143)', async (t) => {
  const h = await homeWithDomain(t);
  writeFileSync(join(h.dir, '.qmail-info'), readFileSync(join(import.meta.dirname, '../../../shared/fixtures/golden/tree/vpopmail/domains/example.test/.qmail-info')));
  t.deepEqual(await getAliasLines(h.ctx, 'example.test', 'info'), ['fred@elsewhere.test', 'alice@example.test']);
});

// --- the same behaviour over every store: a model checked after each generated step ------------------

type Model = Map<string, string[]>;

async function checkAgainstModel(t: ExecutionContext, ctx: AccountsContext, model: Model, where: string): Promise<void> {
  const expectedNames = [...model.keys()].filter((k) => model.get(k)!.length > 0).sort();
  t.deepEqual((await listAliasNames(ctx, 'example.test')).slice().sort(), expectedNames, `${where}: names`);
  for (const name of expectedNames) t.deepEqual(await getAliasLines(ctx, 'example.test', name), model.get(name), `${where}: ${name}`);
  const all = await collect(listAliases(ctx, 'example.test'));
  t.is(all.length, expectedNames.reduce((n, k) => n + model.get(k)!.length, 0), `${where}: line count`);
}

/** 120 random adds, exact removes and deletes over a few names and prefix-related lines. */
async function runModel(t: ExecutionContext, ctx: AccountsContext, seed: number): Promise<void> {
  const next = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const names = ['info', 'sales', 'a.b', 'team-x'];
  const lines = ['bob@x.test', 'bob@x.test.evil', 'bob@x.tes', '&bob@x.test', '|/bin/true', '/m/Maildir/', '# note'];
  const model: Model = new Map();
  for (let i = 0; i < 120; i++) {
    const name = pick(names);
    const line = pick(lines);
    const current = model.get(name) ?? [];
    const r = next();
    const where = `seed ${seed} step ${i}`;
    if (r < 0.55) {
      if (current.includes(line)) {
        await t.throwsAsync(addAliasLine(ctx, 'example.test', name, line), { instanceOf: AliasExistsError }, where);
      } else {
        await addAliasLine(ctx, 'example.test', name, line);
        model.set(name, [...current, line]);
      }
    } else if (r < 0.9) {
      t.is(await removeAliasLine(ctx, 'example.test', name, line), current.includes(line), where);
      model.set(name, current.filter((l) => l !== line));
    } else {
      t.is(await deleteAlias(ctx, 'example.test', name), current.length > 0, where);
      model.delete(name);
    }
    if (i % 20 === 19) await checkAgainstModel(t, ctx, model, where);
  }
  await checkAgainstModel(t, ctx, model, `seed ${seed} end`);
}

for (const seed of [1, 2, 3]) {
  test(`.qmail files follow a model through 120 generated adds, exact removes and deletes (seed ${seed})`, async (t) => {
    const h = await homeWithDomain(t);
    await runModel(t, h.ctx, seed);
  });
}

for (const factory of SQL_FACTORIES.slice(0, 2)) {
  test(`${factory.name}: the valias table follows the same model (valias = yes), exact removal and refused duplicates included`, async (t) => {
    const fx = await factory.make(t);
    const ctx = accountsContext(fx.config, fx.backend, 'mail.test', { lockTimeoutMs: 20_000 });
    t.is(aliasStoreOf(ctx), 'valias');
    await runModel(t, ctx, 7);
  });

  test(`${factory.name}: an alias domain's aliases are kept under its real domain, and no .qmail file is written`, async (t) => {
    const fx = await factory.make(t);
    const ctx = accountsContext(fx.config, fx.backend, 'mail.test', { lockTimeoutMs: 20_000 });
    await addAliasLine(ctx, fx.alias, 'info', 'a@b.test\r');
    t.deepEqual(await fx.backend.getValias(fx.domain, 'info'), ['a@b.test']);
    t.deepEqual(await getAliasLines(ctx, fx.alias, 'info'), ['a@b.test']);
    t.false(existsSync(join(fx.config.domainsDir, fx.domain, '.qmail-info')));
  });
}
