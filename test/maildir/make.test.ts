import test from 'ava';
import { existsSync, lstatSync, mkdirSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { PermError, VA, VpopmailError } from '../../lib/exit.ts';
import { DURABLE, type Durable } from '../../lib/fs/durable.ts';
import { componentsBelow, makeUserDir, remakeUserDir } from '../../lib/maildir/make.ts';
import { readWithPython, tempDir } from '../helpers/maildir-tools.ts';

const IS_ROOT = process.geteuid?.() === 0;
const DOMAIN_OWNER = { uid: 65534, gid: 65533 };

function modeOf(path: string): number {
  return lstatSync(path).mode & 0o7777;
}

function domainDir(t: import('ava').ExecutionContext): string {
  const dom = join(tempDir(t), 'example.test');
  mkdirSync(dom);
  return dom;
}

test('makeUserDir creates the user dir and Maildir/{new,cur,tmp}, all 0700', (t) => {
  const dom = domainDir(t);
  const home = makeUserDir(dom, join(dom, 'alice'), { euid: 1000 });
  t.is(home, join(dom, 'alice'));
  for (const p of ['alice', 'alice/Maildir', 'alice/Maildir/new', 'alice/Maildir/cur', 'alice/Maildir/tmp']) {
    t.true(lstatSync(join(dom, p)).isDirectory(), p);
    t.is(modeOf(join(dom, p)), 0o700, p);
  }
  t.deepEqual(readdirSync(join(dom, 'alice', 'Maildir')).sort(), ['cur', 'new', 'tmp']);
  t.is(readWithPython(join(home, 'Maildir')).count, 0);
});

test('as root, every directory created is owned by the domain uid/gid; existing ones are left alone', (t) => {
  if (!IS_ROOT) {
    t.pass('needs root');
    return;
  }
  const dom = domainDir(t);
  mkdirSync(join(dom, '0'));
  makeUserDir(dom, join(dom, '0', 'carol'), { owner: DOMAIN_OWNER });
  for (const p of ['0/carol', '0/carol/Maildir', '0/carol/Maildir/new', '0/carol/Maildir/cur', '0/carol/Maildir/tmp']) {
    const st = lstatSync(join(dom, p));
    t.deepEqual([st.uid, st.gid], [DOMAIN_OWNER.uid, DOMAIN_OWNER.gid], p);
  }
  t.is(lstatSync(join(dom, '0')).uid, 0, 'the existing bucket keeps its owner');
});

test('not root: no chown is attempted even with an owner', (t) => {
  const dom = domainDir(t);
  makeUserDir(dom, 'bob', { owner: DOMAIN_OWNER, euid: 1000 });
  t.is(lstatSync(join(dom, 'bob', 'Maildir')).uid, process.geteuid!());
});

test('makeUserDir creates missing bucket directories and accepts a path relative to the base', (t) => {
  const dom = domainDir(t);
  makeUserDir(dom, '1/2/dave', { euid: 1000 });
  t.true(existsSync(join(dom, '1', '2', 'dave', 'Maildir', 'tmp')));
  t.is(modeOf(join(dom, '1')), 0o700);
});

test('makeUserDir refuses an existing user directory with VA_EXIST_U_DIR', (t) => {
  const dom = domainDir(t);
  mkdirSync(join(dom, 'erin'));
  const err = t.throws(() => makeUserDir(dom, join(dom, 'erin')), { instanceOf: VpopmailError });
  t.is(err.code, VA.EXIST_U_DIR);
  t.is(err.message, `mkdir(${join(dom, 'erin')}) failed: EEXIST`);
  t.false(existsSync(join(dom, 'erin', 'Maildir')));
});

for (const bad of ['../escape', 'a/../../escape', './x', 'a//b', '', '/etc/evil', '..']) {
  test(`a user dir ${JSON.stringify(bad)} that could leave the domain directory is refused`, (t) => {
    const dom = domainDir(t);
    t.throws(() => makeUserDir(dom, bad), { instanceOf: PermError });
    t.throws(() => remakeUserDir(dom, bad), { instanceOf: PermError });
    t.false(existsSync(join(dom, '..', 'escape')));
  });
}

test('componentsBelow accepts a trailing slash and a base given with one', (t) => {
  t.deepEqual(componentsBelow('/d/example.test/', '/d/example.test/0/joe/'), ['0', 'joe']);
  t.throws(() => componentsBelow('/d/example.test', '/d/example.testing/joe'), { instanceOf: PermError });
  t.throws(() => componentsBelow('/d/example.test', '/d/example.test'), { instanceOf: PermError });
});

test('a symlink below the domain directory is refused, never followed', (t) => {
  const dom = domainDir(t);
  const outside = join(dom, '..', 'outside');
  mkdirSync(outside);
  symlinkSync(outside, join(dom, '0'));
  const err = t.throws(() => makeUserDir(dom, '0/frank'), { instanceOf: VpopmailError });
  t.is(err.code, VA.SUBDIR_CREATION);
  t.regex(err.message, /a symlink/);
  t.throws(() => remakeUserDir(dom, '0/frank'), { instanceOf: VpopmailError });
  t.deepEqual(readdirSync(outside), []);
  // A symlinked Maildir inside an existing user dir is refused too.
  mkdirSync(join(dom, 'gina'));
  symlinkSync(outside, join(dom, 'gina', 'Maildir'));
  t.throws(() => remakeUserDir(dom, 'gina'), { instanceOf: VpopmailError });
  t.deepEqual(readdirSync(outside), []);
});

test('remakeUserDir recreates what is missing and reports whether it made anything', (t) => {
  const dom = domainDir(t);
  t.true(remakeUserDir(dom, join(dom, '0', 'hank'), { euid: 1000 }));
  t.false(remakeUserDir(dom, join(dom, '0', 'hank'), { euid: 1000 }));
  rmSync(join(dom, '0', 'hank', 'Maildir', 'cur'), { recursive: true });
  t.true(remakeUserDir(dom, join(dom, '0', 'hank'), { euid: 1000 }));
  t.is(modeOf(join(dom, '0', 'hank', 'Maildir', 'cur')), 0o700);
  rmSync(join(dom, '0', 'hank'), { recursive: true });
  t.true(remakeUserDir(dom, join(dom, '0', 'hank'), { euid: 1000 }));
  t.is(readWithPython(join(dom, '0', 'hank', 'Maildir')).count, 0);
});

test('a missing domain directory is a VpopmailError naming mkdir and the path', (t) => {
  const dom = join(tempDir(t), 'gone.test');
  const err = t.throws(() => makeUserDir(dom, 'ivan'), { instanceOf: VpopmailError });
  t.is(err.message, `mkdir(${join(dom, 'ivan')}) failed: ENOENT`);
});

test('every directory whose entries changed is fsynced', (t) => {
  const dom = domainDir(t);
  let fsyncs = 0;
  const durable: Durable = { ...DURABLE, fsync: (fd) => (fsyncs++, DURABLE.fsync(fd)) };
  makeUserDir(dom, '0/jack', { euid: 1000, durable });
  // dom (got 0), 0 (got jack), jack (got Maildir), Maildir (got new, cur, tmp)
  t.is(fsyncs, 4);
});
