// Our tools on the tree C left at the end of the golden run: they read C's vpasswd, .dir-control
// (with its "0 2 2" reader quirk), .dir_control_free, lastauth and maildirsize, and change them the
// way C would. The cdb files are rebuilt by tinycdb after the home paths are moved to the temp home.
import test from 'ava';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { verifyPassword } from '../../lib/crypt/index.ts';
import { goldenStdout, goldenSteps, maskVarying } from '../helpers/admin-golden.ts';
import { checkAssign, checkDomainStore, makeHome, run, vpasswdText, type Home } from '../helpers/accounts-home.ts';
import { tinycdbMake } from '../helpers/cdb-tools.ts';
import { GOLDEN_DIR } from '../helpers/golden.ts';

const steps = goldenSteps();
const TREE = join(GOLDEN_DIR, 'tree');

function makeWritable(dir: string): void {
  chmodSync(dir, 0o700);
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) makeWritable(path);
    else chmodSync(path, 0o600);
  }
}

/** users/cdb records by qmail-newu's rules, written by tinycdb. */
function tinycdbUsers(qhome: string): void {
  const records: [Buffer, Buffer][] = [];
  let wild = '';
  for (const line of readFileSync(join(qhome, 'users', 'assign'), 'latin1').split('\n')) {
    if (line.startsWith('.') || line === '') break;
    const colon = line.indexOf(':');
    records.push([Buffer.from(`!${line.slice(1, colon)}`, 'latin1'), Buffer.from(line.slice(colon + 1).split(':').slice(0, 6).join('\0'), 'latin1')]);
    if (!wild.includes(line[colon - 1]!)) wild += line[colon - 1];
  }
  records.push([Buffer.alloc(0), Buffer.from(wild, 'latin1')]);
  tinycdbMake(join(qhome, 'users', 'cdb'), records);
}

function tinycdbVpasswd(dir: string): void {
  tinycdbMake(
    join(dir, 'vpasswd.cdb'),
    vpasswdText(dir).map((l) => [Buffer.from(l.slice(0, l.indexOf(':')), 'latin1'), Buffer.from(l.slice(l.indexOf(':') + 1), 'latin1')] as const),
  );
}

/** The golden final tree in a temp home, with /home/vpopmail moved there and the empty directories of tree-listing.txt made. */
function goldenTree(t: Parameters<typeof makeHome>[0]): Home {
  const h = makeHome(t);
  cpSync(join(TREE, 'vpopmail', 'domains'), join(h.vhome, 'domains'), { recursive: true, preserveTimestamps: true });
  cpSync(join(TREE, 'qmail', 'users'), join(h.qhome, 'users'), { recursive: true });
  cpSync(join(TREE, 'qmail', 'control'), join(h.qhome, 'control'), { recursive: true });
  makeWritable(h.vhome);
  makeWritable(h.qhome);
  for (const line of readFileSync(join(GOLDEN_DIR, 'tree-listing.txt'), 'utf8').split('\n')) {
    const m = /^d\d+ \S+ \S+ - - \/home\/vpopmail\/(domains\/.*)$/.exec(line);
    if (m !== null) mkdirSync(join(h.vhome, m[1]!), { recursive: true });
  }
  const move = (path: string) => writeFileSync(path, readFileSync(path, 'latin1').replaceAll('/home/vpopmail', h.vhome), 'latin1');
  move(join(h.qhome, 'users', 'assign'));
  tinycdbUsers(h.qhome);
  for (const domain of readdirSync(join(h.vhome, 'domains'))) {
    const dir = join(h.vhome, 'domains', domain);
    if (!existsSync(join(dir, 'vpasswd'))) continue;
    move(join(dir, 'vpasswd'));
    move(join(dir, '.qmail-default'));
    tinycdbVpasswd(dir);
  }
  return h;
}

test('vuserinfo -D and vdominfo read C\'s final tree as C did (golden steps 203, 204)', (t) => {
  const h = goldenTree(t);
  const users = run(h, 'vuserinfo', ['-D', 'example.test']);
  t.is(users.status, 0);
  t.is(maskVarying(users.stdout), maskVarying(goldenStdout(steps, 204, h.vhome)));
  const domains = run(h, 'vdominfo', []);
  t.is(domains.status, 0);
  t.is(domains.stdout, goldenStdout(steps, 203, h.vhome));
});

test('adding and deleting users in C\'s big.test continues its .dir-control where C left it', (t) => {
  const h = goldenTree(t);
  const dir = join(h.vhome, 'domains', 'big.test');
  const before = vpasswdText(dir);
  t.is(run(h, 'vadduser', ['u262@big.test', 'pw262']).status, 0);
  t.is(readFileSync(join(dir, '.dir-control'), 'latin1'), '262\n0\n3\n0 0 0\n61 61 61\n0 2 2\n1 0 0\n1\n');
  t.true(existsSync(join(dir, '1', 'u262', 'Maildir', 'new')));
  t.is(run(h, 'vdeluser', ['u001@big.test']).status, 0);
  t.false(existsSync(join(dir, 'u001')));
  t.is(readFileSync(join(dir, '.dir_control_free'), 'latin1'), ''); // u001 was not in a bucket
  t.is(run(h, 'vdeluser', ['u150@big.test']).status, 246); // C deleted it at step 61
  t.is(run(h, 'vdeluser', ['u151@big.test']).status, 0);
  t.is(readFileSync(join(dir, '.dir_control_free'), 'latin1'), '0\n');
  const after = vpasswdText(dir);
  // every line C wrote that we did not touch is byte for byte as it was
  t.deepEqual(after.filter((l) => !l.startsWith('u262:')), before.filter((l) => !l.startsWith('u001:') && !l.startsWith('u151:')));
  checkDomainStore(dir);
});

test('changes to C\'s example.test touch only the changed fields and keep every cdb readable by tinycdb', (t) => {
  const h = goldenTree(t);
  const dir = join(h.vhome, 'domains', 'example.test');
  const before = vpasswdText(dir);
  t.is(run(h, 'vmoduser', ['-q', '2000000', '-p', 'alice@example.test']).status, 0);
  t.is(run(h, 'vpasswd', ['bob@example.test', 'bobpw-new']).status, 0);
  t.is(run(h, 'vsetuserquota', ['catch.test', '8000000']).status, 0);
  const after = vpasswdText(dir);
  const fields = (lines: string[], user: string) => lines.find((l) => l.startsWith(`${user}:`))!.split(':');
  t.deepEqual(fields(after, 'alice'), fields(before, 'alice').map((f, i) => (i === 3 ? '2' : i === 6 ? '2000000S' : f)));
  t.true(verifyPassword('bobpw-new', fields(after, 'bob')[1]!));
  t.deepEqual(after.filter((l) => !/^(alice|bob):/.test(l)), before.filter((l) => !/^(alice|bob):/.test(l)));
  t.is(readFileSync(join(dir, 'alice', 'Maildir', 'maildirsize'), 'latin1').split('\n')[0], '2000000S');
  t.true(vpasswdText(join(h.vhome, 'domains', 'catch.test')).every((l) => l.split(':')[6] === '8000000S'));
  for (const d of ['example.test', 'catch.test', 'big.test', 'path.test']) checkDomainStore(join(h.vhome, 'domains', d));
});

test('domains can be added, aliased and deleted on C\'s assign and control files', (t) => {
  const h = goldenTree(t);
  t.is(run(h, 'vaddaliasdomain', ['example.test', 'new-alias.test']).status, 0);
  t.is(run(h, 'vadddomain', ['added.test', 'pw']).status, 0);
  t.is(run(h, 'vdeldomain', ['path.test']).status, 0);
  t.false(existsSync(join(h.vhome, 'domains', 'path.test')));
  const assign = readFileSync(join(h.qhome, 'users', 'assign'), 'latin1');
  t.is(
    assign,
    [
      `+added.test-:added.test:89:89:${h.vhome}/domains/added.test:-::`,
      `+big.test-:big.test:89:89:${h.vhome}/domains/big.test:-::`,
      `+catch.test-:catch.test:89:89:${h.vhome}/domains/catch.test:-::`,
      `+example.test-:example.test:89:89:${h.vhome}/domains/example.test:-::`,
      `+new-alias.test-:example.test:89:89:${h.vhome}/domains/example.test:-::`,
      '.',
      '',
    ].join('\n'),
  );
  t.is(readFileSync(join(h.qhome, 'control', 'rcpthosts'), 'latin1'), 'added.test\nbig.test\ncatch.test\nexample.test\nnew-alias.test\n');
  // C's domain counter says 4 (6 real domains added, 2 deleted); one more and one less leaves 4
  t.true(readFileSync(join(h.vhome, 'domains', '.dir-control'), 'latin1').startsWith('4\n'));
  checkAssign(h.qhome);
});
