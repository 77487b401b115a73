import test from 'ava';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AccountsContext } from '../../lib/accounts/context.ts';
import {
  AddDomainError,
  AliasDomainError,
  AliasesExistError,
  addAliasDomain,
  addDomain,
  deleteDomain,
  describeDomain,
  listDomains,
} from '../../lib/accounts/domains.ts';
import { addUser } from '../../lib/accounts/users.ts';
import type { Backend } from '../../lib/backends/backend.ts';
import { TempError, VA, VpopmailError } from '../../lib/exit.ts';
import { lookupAssignDomain } from '../../lib/store/assign.ts';
import { checkAssign, checkDomainStore, domainDir, listTree, makeHome, tinycdbReads } from '../helpers/accounts-home.ts';

const HASH = '$1$Gold3nSa$SCZGo/u1MpOW7fVg02r6g.';
const ROOT = process.geteuid?.() === 0;
const OWNER = ROOT ? '89:89' : `${process.getuid?.()}:${process.getgid?.()}`;

const text = (path: string) => (existsSync(path) ? readFileSync(path, 'latin1') : undefined);

function failingAt(ctx: AccountsContext, method: keyof Backend): AccountsContext {
  const backend = new Proxy(ctx.backend, {
    get(target, prop, receiver) {
      if (prop === method) return async () => Promise.reject(new TempError(`injected ${String(method)} failure`));
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { ...ctx, backend };
}

/** Everything a domain add can touch, for before/after comparisons. */
function snapshot(h: ReturnType<typeof makeHome>): unknown {
  const q = (f: string) => text(join(h.qhome, f));
  return {
    tree: listTree(join(h.vhome, 'domains')),
    assign: q('users/assign'),
    rcpthosts: q('control/rcpthosts'),
    more: q('control/morercpthosts'),
    virtualdomains: q('control/virtualdomains'),
    locals: q('control/locals'),
  };
}

test('addDomain leaves the files of golden step 1, with their modes and owners', async (t) => {
  const h = makeHome(t);
  await addDomain(h.ctx, { domain: 'example.test', postmaster: { password: { clear: 'pmpass' }, quota: '5000000S' } });
  const dir = domainDir(h, 'example.test');
  t.is(text(join(h.qhome, 'users', 'assign')), `+example.test-:example.test:89:89:${dir}:-::\n.\n`);
  t.is(text(join(h.qhome, 'control', 'rcpthosts')), 'example.test\n');
  t.is(text(join(h.qhome, 'control', 'virtualdomains')), 'example.test:example.test\n');
  t.is(text(join(dir, '.qmail-default')), `| ${h.vhome}/bin/vdelivermail '' delete\n`);
  const counter = '1\n0\n3\n0 0 0\n61 61 61\n0 2 4\n0 0 0\n\n';
  t.is(text(join(dir, '.dir-control')), counter);
  t.is(text(join(h.vhome, 'domains', '.dir-control')), counter);
  t.is(text(join(dir, 'postmaster', 'Maildir', 'maildirsize')), '5000000S\n0 0\n');
  t.is(text(join(dir, 'postmaster', 'lastauth')), '0.0.0.0');
  t.regex(text(join(dir, 'vpasswd'))!, /^postmaster:\$6\$[^:]+:1:0:Postmaster:.*\/postmaster:5000000S:pmpass\n$/);
  t.deepEqual(
    listTree(join(h.vhome, 'domains')).map((l) => l.replace(`${OWNER} `, '')),
    [
      'f600 .dir-control',
      'd700 example.test',
      'f600 example.test/.dir-control',
      'f600 example.test/.qmail-default',
      'f600 example.test/.vpasswd.lock',
      'd700 example.test/postmaster',
      'd700 example.test/postmaster/Maildir',
      'd700 example.test/postmaster/Maildir/cur',
      'f600 example.test/postmaster/Maildir/maildirsize',
      'd700 example.test/postmaster/Maildir/new',
      'd700 example.test/postmaster/Maildir/tmp',
      'f600 example.test/postmaster/lastauth',
      'f600 example.test/vpasswd',
      'f600 example.test/vpasswd.cdb',
    ],
  );
  t.true(listTree(join(h.vhome, 'domains')).every((l) => l.includes(` ${OWNER} `)));
  t.is(statSync(join(h.qhome, 'users', 'assign')).mode & 0o777, 0o644);
  t.true(tinycdbReads(join(h.qhome, 'users', 'cdb')));
  t.true(tinycdbReads(join(dir, 'vpasswd.cdb')));
  checkAssign(h.qhome);
  t.is(h.hups.count, 1);
});

test('the catch-all goes into .qmail-default at creation: an address, or a mailbox path', async (t) => {
  const h = makeHome(t);
  await addDomain(h.ctx, { domain: 'catch.test', catchAll: 'catchall@elsewhere.test', postmaster: { password: { clear: 'pw' } } });
  await addDomain(h.ctx, { domain: 'path.test', catchAll: 'postmaster', postmaster: { password: { clear: 'pw' } } });
  t.is(text(join(domainDir(h, 'catch.test'), '.qmail-default')), `| ${h.vhome}/bin/vdelivermail '' catchall@elsewhere.test\n`);
  t.is(text(join(domainDir(h, 'path.test'), '.qmail-default')), `| ${h.vhome}/bin/vdelivermail '' ${domainDir(h, 'path.test')}/postmaster\n`);
});

test('a catch-all the shell running .qmail-default could misread is refused before anything is made', async (t) => {
  const h = makeHome(t);
  const before = snapshot(h);
  for (const catchAll of ['$(reboot)@x.test', 'a b@x.test', '`id`', '../x', 'a;b', 'x@', 'x@y@z']) {
    await t.throwsAsync(addDomain(h.ctx, { domain: 'evil.test', catchAll, postmaster: { password: { clear: 'pw' } } }), undefined, catchAll);
  }
  t.deepEqual(snapshot(h), before);
});

test('an existing domain and an invalid name are refused with C codes', async (t) => {
  const h = makeHome(t);
  await addDomain(h.ctx, { domain: 'example.test', postmaster: { password: { clear: 'pw' } } });
  t.is((await t.throwsAsync(addDomain(h.ctx, { domain: 'example.test', postmaster: { password: { clear: 'pw' } } }), { instanceOf: VpopmailError }))?.code, VA.DOMAIN_ALREADY_EXISTS);
  t.is((await t.throwsAsync(addDomain(h.ctx, { domain: 'nodot', postmaster: { password: { clear: 'pw' } } }), { instanceOf: VpopmailError }))?.code, VA.INVALID_DOMAIN_NAME);
});

for (const method of ['addUser', 'addDomain', 'setLastauth'] as const) {
  test(`a ${method} failure undoes the whole domain: assign, control files, directory and counter`, async (t) => {
    const h = makeHome(t);
    await addDomain(h.ctx, { domain: 'first.test', postmaster: { password: { clear: 'pw' } } });
    const before = snapshot(h);
    const err = await t.throwsAsync(
      addDomain(failingAt(h.ctx, method), { domain: 'second.test', postmaster: { password: { clear: 'pw' } } }),
      { instanceOf: AddDomainError },
    );
    t.is(err?.stage, method === 'addDomain' ? 'domain' : 'postmaster');
    const after = snapshot(h) as { tree: string[] };
    // the counter file is rewritten in C's reader form ("0 2 2"); its count must be back to 1
    t.deepEqual({ ...after, tree: after.tree }, before);
    t.true(text(join(h.vhome, 'domains', '.dir-control'))!.startsWith('1\n'));
    t.is(lookupAssignDomain(h.qhome, 'second.test'), undefined);
    checkAssign(h.qhome);
  });
}

test('from the 51st domain on, names go to morercpthosts and its cdb; -O leaves the cdb and the HUP for later', async (t) => {
  const h = makeHome(t);
  for (let i = 0; i < 52; i++) {
    const optimize = i === 50;
    await addDomain(h.ctx, { domain: `d${String(i).padStart(2, '0')}.test`, optimize, postmaster: { password: { hash: HASH } } });
    if (i === 50) {
      t.true(text(join(h.qhome, 'control', 'morercpthosts'))!.includes('d50.test'));
      t.false(existsSync(join(h.qhome, 'control', 'morercpthosts.cdb')));
    }
  }
  t.is(text(join(h.qhome, 'control', 'rcpthosts'))!.split('\n').length - 1, 50);
  t.is(text(join(h.qhome, 'control', 'morercpthosts')), 'd50.test\nd51.test\n');
  t.true(tinycdbReads(join(h.qhome, 'control', 'morercpthosts.cdb')));
  t.is(h.hups.count, 51);
});

test('the 100th domain of a domains directory goes into bucket 0, as the domain counter says', async (t) => {
  const h = makeHome(t);
  for (let i = 1; i <= 100; i++) await addDomain(h.ctx, { domain: `n${i}.test`, optimize: true, postmaster: { password: { hash: HASH } } });
  t.is(lookupAssignDomain(h.qhome, 'n99.test')?.dir, join(h.vhome, 'domains', 'n99.test'));
  t.is(lookupAssignDomain(h.qhome, 'n100.test')?.dir, join(h.vhome, 'domains', '0', 'n100.test'));
  await deleteDomain(h.ctx, 'n100.test');
  t.false(existsSync(join(h.vhome, 'domains', '0', 'n100.test')));
  t.true(text(join(h.vhome, 'domains', '.dir-control'))!.startsWith('99\n'));
});

test('addAliasDomain takes either order and attaches an alias of an alias to the real domain', async (t) => {
  const h = makeHome(t);
  await addDomain(h.ctx, { domain: 'example.test', postmaster: { password: { clear: 'pw' } } });
  const r1 = await addAliasDomain(h.ctx, 'example.test', 'alias1.test');
  t.is(r1.alias, 'alias1.test');
  const r2 = await addAliasDomain(h.ctx, 'Alias2.TEST', 'alias1.test');
  t.is(r2.alias, 'alias2.test');
  t.is(r2.domain.domain, 'example.test');
  const dir = domainDir(h, 'example.test');
  t.is(
    text(join(h.qhome, 'users', 'assign')),
    [`+alias1.test-:example.test:89:89:${dir}:-::`, `+alias2.test-:example.test:89:89:${dir}:-::`, `+example.test-:example.test:89:89:${dir}:-::`, '.', ''].join('\n'),
  );
  t.is(text(join(h.qhome, 'control', 'virtualdomains')), 'alias1.test:alias1.test\nalias2.test:alias2.test\nexample.test:example.test\n');
  checkAssign(h.qhome);
});

test("addAliasDomain's refusals carry C's texts and change nothing", async (t) => {
  const h = makeHome(t);
  await addDomain(h.ctx, { domain: 'example.test', postmaster: { password: { clear: 'pw' } } });
  await addDomain(h.ctx, { domain: 'other.test', postmaster: { password: { clear: 'pw' } } });
  const before = snapshot(h);
  const msg = async (a: string, b: string) => (await t.throwsAsync(addAliasDomain(h.ctx, a, b)))?.message;
  t.is(await msg('nosuch.test', 'alias2.test'), "Neither 'nosuch.test' or 'alias2.test'  exist, unable to create alias.");
  t.is(await msg('example.test', 'other.test'), 'Both domains already exist, unable to create alias.');
  t.is(await msg('example.test', 'EXAMPLE.test'), 'real domain and alias domain are the same!');
  await t.throwsAsync(addAliasDomain(h.ctx, 'example.test', 'nodot'), { instanceOf: VpopmailError });
  await t.throwsAsync(addAliasDomain(h.ctx, 'example.test', 'bad_name.test'), { instanceOf: VpopmailError });
  t.true((await t.throwsAsync(addAliasDomain(h.ctx, 'nosuch.test', 'x.test'))) instanceof AliasDomainError);
  t.deepEqual(snapshot(h), before);
});

test('deleteDomain of an alias removes only its lines', async (t) => {
  const h = makeHome(t);
  await addDomain(h.ctx, { domain: 'example.test', postmaster: { password: { clear: 'pw' } } });
  await addAliasDomain(h.ctx, 'example.test', 'alias.test');
  const r = await deleteDomain(h.ctx, 'ALIAS.test');
  t.is(r.kind, 'alias');
  t.is(lookupAssignDomain(h.qhome, 'alias.test'), undefined);
  t.truthy(lookupAssignDomain(h.qhome, 'example.test'));
  t.true(existsSync(domainDir(h, 'example.test')));
  t.is(text(join(h.qhome, 'control', 'rcpthosts')), 'example.test\n');
});

test('a real domain with aliases is deleted only with force, whatever the case of the name', async (t) => {
  const h = makeHome(t);
  await addDomain(h.ctx, { domain: 'example.test', postmaster: { password: { clear: 'pw' } } });
  await addAliasDomain(h.ctx, 'example.test', 'alias.test');
  const before = snapshot(h);
  const err = await t.throwsAsync(deleteDomain(h.ctx, 'EXAMPLE.test'), { instanceOf: AliasesExistError });
  t.deepEqual(err?.aliases, ['alias.test']);
  t.deepEqual(snapshot(h), before);
  const r = await deleteDomain(h.ctx, 'Example.Test', { force: true });
  t.deepEqual(r.aliases, ['alias.test']);
  t.deepEqual(r.warnings, []);
  t.false(existsSync(domainDir(h, 'example.test')));
  t.is(text(join(h.qhome, 'users', 'assign')), '.\n');
  t.is(text(join(h.qhome, 'control', 'rcpthosts')), '');
  t.is(text(join(h.qhome, 'control', 'virtualdomains')), '');
  t.true(text(join(h.vhome, 'domains', '.dir-control'))!.startsWith('0\n'));
  checkAssign(h.qhome);
});

test('deleting an unknown domain is VA_DOMAIN_DOES_NOT_EXIST', async (t) => {
  const h = makeHome(t);
  t.is((await t.throwsAsync(deleteDomain(h.ctx, 'nosuch.test'), { instanceOf: VpopmailError }))?.code, VA.DOMAIN_DOES_NOT_EXIST);
});

test('a domain whose directory is not in a domains directory loses its lines but not the directory', async (t) => {
  const h = makeHome(t);
  await addDomain(h.ctx, { domain: 'example.test', postmaster: { password: { clear: 'pw' } } });
  const dir = domainDir(h, 'example.test');
  // hand-edit assign so the domain points at some other directory, then compile it
  const assign = join(h.qhome, 'users', 'assign');
  const other = join(h.root, 'precious');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(other);
  writeFileSync(join(other, 'keep'), 'data');
  writeFileSync(assign, text(assign)!.replace(`:${dir}:`, `:${other}:`));
  const { rebuildUsersCdb } = await import('../../lib/store/assign.ts');
  rebuildUsersCdb(h.qhome);
  const r = await deleteDomain(h.ctx, 'example.test');
  t.is(r.warnings.length, 1);
  t.is(text(join(other, 'keep')), 'data');
  t.is(lookupAssignDomain(h.qhome, 'example.test'), undefined);
});

test('listDomains and describeDomain show assign order and the users counter without writing anything', async (t) => {
  const h = makeHome(t);
  await addDomain(h.ctx, { domain: 'example.test', postmaster: { password: { clear: 'pw' } } });
  await addDomain(h.ctx, { domain: 'big.test', postmaster: { password: { clear: 'pw' } } });
  await addAliasDomain(h.ctx, 'example.test', 'example-alias.test');
  await addUser(h.ctx, { domain: 'example.test', user: 'alice', password: { clear: 'pw' } });
  const before = listTree(join(h.vhome, 'domains')).concat(text(join(domainDir(h, 'example.test'), '.dir-control'))!);
  const mtime = statSync(join(domainDir(h, 'example.test'), '.dir-control')).mtimeMs;
  const list = await listDomains(h.ctx);
  t.deepEqual(
    list.map((d) => [d.name, d.domain, d.users]),
    [
      ['big.test', 'big.test', 1],
      ['example-alias.test', 'example.test', 2],
      ['example.test', 'example.test', 2],
    ],
  );
  const details = await describeDomain(h.ctx, 'example-alias.test');
  t.is(details?.domain.name, 'example.test');
  t.deepEqual(details?.aliases, ['example-alias.test']);
  t.is(await describeDomain(h.ctx, 'nosuch.test'), undefined);
  t.deepEqual(listTree(join(h.vhome, 'domains')).concat(text(join(domainDir(h, 'example.test'), '.dir-control'))!), before);
  t.is(statSync(join(domainDir(h, 'example.test'), '.dir-control')).mtimeMs, mtime);
});

test('domains and users added through the layer leave every vpasswd.cdb and users/cdb readable by tinycdb', async (t) => {
  const h = makeHome(t);
  for (const d of ['a.test', 'b.test', 'c.test']) {
    await addDomain(h.ctx, { domain: d, postmaster: { password: { clear: 'pw' } } });
    for (let i = 0; i < 5; i++) await addUser(h.ctx, { domain: d, user: `user${i}`, password: { hash: HASH } });
    t.deepEqual(checkDomainStore(domainDir(h, d)), ['postmaster', 'user0', 'user1', 'user2', 'user3', 'user4']);
  }
  checkAssign(h.qhome);
  const assign = text(join(h.qhome, 'users', 'assign'))!;
  t.is(assign.split('\n').filter((l) => l.startsWith('+')).length, 3);
});

test('an uppercase domain name is added in lower case', async (t) => {
  const h = makeHome(t);
  const r = await addDomain(h.ctx, { domain: 'Mixed.TEST', postmaster: { password: { clear: 'pw' } } });
  t.is(r.domain.domain, 'mixed.test');
  t.truthy(lookupAssignDomain(h.qhome, 'mixed.test'));
});
