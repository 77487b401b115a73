import test from 'ava';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CdbReader } from '../../lib/cdb/reader.ts';
import { writeCdbSync } from '../../lib/cdb/writer.ts';
import { MailError, TempError, VA, VpopmailError } from '../../lib/exit.ts';
import {
  AssignFormatError,
  addAssignDomain,
  assignPath,
  compileUsersCdb,
  formatAssignLine,
  formatAssignText,
  insertAssignLine,
  listAssignDomains,
  lookupAssignDomain,
  parseAssignLine,
  parseAssignText,
  rebuildUsersCdb,
  removeAssignDomains,
  removeAssignLines,
  usersCdbPath,
  type AssignEntry,
} from '../../lib/store/assign.ts';
import { insertSorted, sortKeyOf } from '../../lib/store/sort-key.ts';
import { tempDir, tinycdbDump } from '../helpers/cdb-tools.ts';
import { PROJECT_ROOT } from '../helpers/dist.ts';

const GOLDEN = join(PROJECT_ROOT, '..', 'shared', 'fixtures', 'golden');
const GOLDEN_QMAIL = join(GOLDEN, 'tree', 'qmail');
const CRASH_CHILD = join(PROJECT_ROOT, 'test', 'helpers', 'qmail-crash-child.ts');

function qmailHome(t: import('ava').ExecutionContext): string {
  const home = tempDir(t);
  mkdirSync(join(home, 'users'));
  mkdirSync(join(home, 'control'));
  return home;
}

function domain(name: string, real = name): AssignEntry {
  return { name, domain: real, uid: 89, gid: 89, dir: `/home/vpopmail/domains/${real}` };
}

const read = (path: string) => readFileSync(path, 'latin1');

/** The `state:` blocks of transcript.md: file path → content. */
function transcriptState(title: string): Map<string, string> {
  const text = read(join(GOLDEN, 'transcript.md'));
  const start = text.indexOf(`#### state: ${title}`);
  const end = text.indexOf('\n### ', start);
  const block = text.slice(start, end);
  const out = new Map<string, string>();
  for (const m of block.matchAll(/^(\/\S+):(?: \(empty\)|\n```\n([\s\S]*?)```)$/gm)) out.set(m[1]!, m[2] ?? '');
  return out;
}

/** One file of a transcript state block; a missing one fails the test that asked. */
function stateFile(title: string, path: string): string {
  const text = transcriptState(title).get(path);
  if (text === undefined) throw new Error(`transcript state "${title}" has no ${path}`);
  return text;
}

// --- line and file formats ---------------------------------------------------------------------------

test('every domain line of the golden assign parses and formats back byte for byte', (t) => {
  const text = read(join(GOLDEN_QMAIL, 'users', 'assign'));
  const parsed = parseAssignText(text);
  t.is(formatAssignText(parsed), text);
  t.is(parsed.lines.length, 4);
  for (const line of parsed.lines) t.is(formatAssignLine(parseAssignLine(line)!), line);
  t.deepEqual(parseAssignLine(parsed.lines[1]!), domain('catch.test'));
});

test('the assign states of the golden transcript round-trip byte for byte', (t) => {
  for (const title of ['files written for example.test', 'qmail control after the alias domain', 'qmail control at the end']) {
    const text = stateFile(title, '/var/qmail/users/assign');
    t.is(formatAssignText(parseAssignText(text)), text);
  }
});

test('lines that are not vpopmail domain lines are not parsed as domains', (t) => {
  t.is(parseAssignLine('=joe:joe:1001:1001:/home/joe:::'), undefined);
  t.is(parseAssignLine('+list-:alias:7790:2108:/var/qmail/alias:-::'), undefined, 'no dot in the name');
  t.is(parseAssignLine('+example.test:example.test:89:89:/d:-::'), undefined, 'no trailing -');
  t.is(parseAssignLine('+example.test-:example.test:x:89:/d:-::'), undefined, 'uid not decimal');
  t.is(parseAssignLine('.'), undefined);
});

test('text after the terminating dot line is kept verbatim, and a missing dot is supplied', (t) => {
  const text = '+a.test-:a.test:1:1:/a:-::\n.\n# notes qmail never reads\n';
  t.deepEqual(parseAssignText(text), { lines: ['+a.test-:a.test:1:1:/a:-::'], trailer: '.\n# notes qmail never reads\n' });
  t.is(formatAssignText(parseAssignText('+a.test-:a.test:1:1:/a:-::')), '+a.test-:a.test:1:1:/a:-::\n.\n');
  t.is(formatAssignText(parseAssignText('')), '.\n');
});

// --- sort order ---------------------------------------------------------------------------------------

test('the sort key moves the last two labels to the front', (t) => {
  t.is(sortKeyOf('+a.b.example.com-:x', 'assign'), 'example.com.a.b');
  t.is(sortKeyOf('mail.example.co.uk', 'control'), 'co.uk.mail.example');
  t.is(sortKeyOf('example.test:example.test', 'control'), 'example.test');
  t.is(sortKeyOf('a..b.c', 'control'), 'b.c.a', 'empty labels vanish');
  t.is(sortKeyOf('localhost', 'control'), 'localhost');
  t.is(sortKeyOf('.x.', 'control'), '.x.', 'one label: the text as it is');
  t.is(sortKeyOf('=joe:joe:1:1:/h:::', 'assign'), 'jo', 'assign drops the first and last character');
  t.is(sortKeyOf('1.2.3.4.5.6.7.8.9.10.11.12', 'control'), '9.10.1.2.3.4.5.6.7.8', 'ten labels at most');
});

test('insertion goes before the first greater key and re-sorts out-of-order files', (t) => {
  t.deepEqual(insertSorted(['a.test', 'c.test'], 'b.test', 'control'), { lines: ['a.test', 'b.test', 'c.test'], inserted: true, resorted: false });
  t.deepEqual(insertSorted(['c.test', 'a.test'], 'b.test', 'control'), {
    lines: ['a.test', 'b.test', 'c.test'],
    inserted: true,
    resorted: true,
  });
  t.deepEqual(insertSorted(['a.test'], 'a.test', 'control').inserted, false);
  // "example-alias" < "example." because '-' (0x2d) sorts before '.' (0x2e).
  t.deepEqual(insertSorted(['example.test'], 'example-alias.test', 'control').lines, ['example-alias.test', 'example.test']);
});

test('an out-of-order assign is re-sorted with C\'s notice, returned rather than printed', (t) => {
  const home = qmailHome(t);
  writeFileSync(assignPath(home), `${formatAssignLine(domain('c.test'))}\n${formatAssignLine(domain('a.test'))}\n.\n`);
  const result = addAssignDomain(home, domain('b.test'));
  t.deepEqual(result, { inserted: true, notice: `NOTICE: Out of order entries found in ${assignPath(home)}\n   Sorting...\n\n` });
  t.is(read(assignPath(home)), ['a.test', 'b.test', 'c.test'].map((d) => `${formatAssignLine(domain(d))}\n`).join('') + '.\n');
});

// --- qmail-newu ---------------------------------------------------------------------------------------

test('users/cdb compiled from the golden assign is the golden users/cdb byte for byte', (t) => {
  const home = qmailHome(t);
  cpSync(join(GOLDEN_QMAIL, 'users', 'assign'), assignPath(home));
  rebuildUsersCdb(home);
  t.true(readFileSync(usersCdbPath(home)).equals(readFileSync(join(GOLDEN_QMAIL, 'users', 'cdb'))));
  t.is(statSync(usersCdbPath(home)).mode & 0o777, 0o644);
});

test('qmail-newu rules: = lines keyed with NUL, + prefixes lower-cased, six fields of data, wildchars once', (t) => {
  const text = ['=Joe:joe:1001:1002:/home/joe:::', '+Ex.Test-:ex.test:89:89:/d:-::', '+lists.test.:x:1:2:/l:-:extra:', '+other-:o:3:4:/o:a:b:c:d', '.', 'junk after the dot'].join('\n');
  const records = compileUsersCdb(text).map(([k, d]) => [k.toString('latin1'), d.toString('latin1')]);
  t.deepEqual(records, [
    ['!joe\0', 'joe\x001001\x001002\0/home/joe\0\0'],
    ['!ex.test-', 'ex.test\x0089\x0089\0/d\0-\0'],
    ['!lists.test.', 'x\x001\x002\0/l\0-\0extra'],
    ['!other-', 'o\x003\x004\0/o\0a\0b'],
    ['', '-.'],
  ]);
});

for (const [why, text, line] of [
  ['no terminating dot', '+a.test-:a.test:1:1:/a:-::\n', 2],
  ['a last line without newline', '+a.test-:a.test:1:1:/a:-::', 1],
  ['a line without a colon', '+a.test-:a.test:1:1:/a:-::\nnonsense\n.\n', 2],
  ['a line starting with a colon', ':x:1:1:/a:-::\n.\n', 1],
  ['too few fields', '+a.test-:a.test:1:1:/a\n.\n', 1],
  ['a blank line', '\n.\n', 1],
  ['a NUL byte', '+a.test-:a.te\0st:1:1:/a:-::\n.\n', 1],
] as const) {
  test(`assign with ${why} does not compile: AssignFormatError naming line ${line}`, (t) => {
    const error = t.throws(() => compileUsersCdb(text, '/q/users/assign'), { instanceOf: AssignFormatError });
    t.is(error.line, line);
    t.regex(error.message, /^bad format in \/q\/users\/assign line \d+: /);
    t.true(error instanceof TempError);
  });
}

test('a malformed assign keeps the old users/cdb on rebuild and refuses edits without touching anything', (t) => {
  const home = qmailHome(t);
  addAssignDomain(home, domain('good.test'));
  const cdbBefore = readFileSync(usersCdbPath(home));
  const broken = `${read(assignPath(home)).slice(0, -2)}oops no colon\n.\n`;
  writeFileSync(assignPath(home), broken);
  t.throws(() => rebuildUsersCdb(home), { instanceOf: AssignFormatError, message: /line 2/ });
  t.true(readFileSync(usersCdbPath(home)).equals(cdbBefore));
  t.throws(() => addAssignDomain(home, domain('new.test')), { instanceOf: AssignFormatError });
  t.throws(() => removeAssignDomains(home, ['good.test']), { instanceOf: AssignFormatError });
  t.is(read(assignPath(home)), broken, 'no line was dropped or added');
  t.true(readFileSync(usersCdbPath(home)).equals(cdbBefore));
});

// --- edits ----------------------------------------------------------------------------------------------

function addDomainAssign(home: string, entry: AssignEntry): void {
  const result = addAssignDomain(home, entry);
  if (!result.inserted || result.notice !== undefined) throw new Error(`unexpected ${JSON.stringify(result)}`);
}

test('the golden transcript\'s domain adds and deletes give its assign states and final users/cdb byte for byte', (t) => {
  const home = qmailHome(t);
  addDomainAssign(home, domain('example.test'));
  t.is(read(assignPath(home)), stateFile('files written for example.test', '/var/qmail/users/assign'));
  for (const name of ['with-c.test', 'catch.test', 'path.test', 'big.test', 'gone.test']) addDomainAssign(home, domain(name));
  addDomainAssign(home, domain('example-alias.test', 'example.test'));
  t.is(read(assignPath(home)), stateFile('qmail control after the alias domain', '/var/qmail/users/assign'));
  // vdeldomain: an alias by its exact line; real domains by the lines built from their entries.
  t.is(removeAssignLines(home, [formatAssignLine(domain('example-alias.test', 'example.test'))]), 1);
  t.is(removeAssignLines(home, [formatAssignLine(domain('gone.test'))]), 1);
  t.is(removeAssignLines(home, [formatAssignLine(domain('with-c.test'))]), 1);
  t.is(read(assignPath(home)), read(join(GOLDEN_QMAIL, 'users', 'assign')));
  t.is(read(assignPath(home)), stateFile('qmail control at the end', '/var/qmail/users/assign'));
  t.true(readFileSync(usersCdbPath(home)).equals(readFileSync(join(GOLDEN_QMAIL, 'users', 'cdb'))));
});

test('a new assign and users/cdb are created 0644 whatever the umask', (t) => {
  const home = qmailHome(t);
  const old = process.umask(0o077);
  try {
    addAssignDomain(home, domain('a.test'));
  } finally {
    process.umask(old);
  }
  t.is(statSync(assignPath(home)).mode & 0o777, 0o644);
  t.is(statSync(usersCdbPath(home)).mode & 0o777, 0o644);
  t.is(read(assignPath(home)), `${formatAssignLine(domain('a.test'))}\n.\n`);
});

test('adding an existing line changes nothing in assign (C would duplicate it) but rebuilds users/cdb', (t) => {
  const home = qmailHome(t);
  addAssignDomain(home, domain('a.test'));
  const before = read(assignPath(home));
  writeCdbSync(usersCdbPath(home), [], { mode: 0o644 }); // a users/cdb left stale by a crash
  t.deepEqual(addAssignDomain(home, domain('a.test')), { inserted: false });
  t.is(read(assignPath(home)), before);
  t.deepEqual(lookupAssignDomain(home, 'a.test'), { domain: 'a.test', uid: 89, gid: 89, dir: '/home/vpopmail/domains/a.test' });
});

test('hand-written lines, and text after the dot, survive edits', (t) => {
  const home = qmailHome(t);
  const hand = '=joe:joe:1001:1001:/home/joe:::';
  writeFileSync(assignPath(home), `${hand}\n+z.test-:z.test:89:89:/z:-::\n.\nkept\n`);
  addAssignDomain(home, domain('m.test'));
  t.is(read(assignPath(home)), `${hand}\n${formatAssignLine(domain('m.test'))}\n+z.test-:z.test:89:89:/z:-::\n.\nkept\n`);
  t.is(Buffer.from(CdbReader.open(usersCdbPath(home)).get('!joe\0')!).toString(), 'joe\x001001\x001001\0/home/joe\0\0');
});

test('removal by exact line misses a hand-edited line; removal by name takes it', (t) => {
  const home = qmailHome(t);
  addAssignDomain(home, domain('a.test'));
  addAssignDomain(home, { ...domain('b.test'), uid: 1234 });
  addAssignDomain(home, domain('b-alias.test', 'b.test'));
  t.is(removeAssignLines(home, [formatAssignLine(domain('b.test'))]), 0);
  t.deepEqual(removeAssignDomains(home, ['B.test', 'b-alias.test']), [
    formatAssignLine(domain('b-alias.test', 'b.test')),
    formatAssignLine({ ...domain('b.test'), uid: 1234 }),
  ]);
  t.is(read(assignPath(home)), `${formatAssignLine(domain('a.test'))}\n.\n`);
  t.is(lookupAssignDomain(home, 'b.test'), undefined);
  t.deepEqual(tinycdbDump(usersCdbPath(home)).map(([k]) => k.toString()), ['!a.test-', '']);
});

test('removing from a missing assign creates nothing', (t) => {
  const home = qmailHome(t);
  t.is(removeAssignLines(home, ['+a.test-:a.test:1:1:/a:-::']), 0);
  t.deepEqual(removeAssignDomains(home, ['a.test']), []);
  t.false(existsSync(assignPath(home)));
  t.false(existsSync(usersCdbPath(home)));
});

test('rebuildUsersCdb of a missing assign is a TempError', (t) => {
  const home = qmailHome(t);
  t.throws(() => rebuildUsersCdb(home), { instanceOf: TempError, message: /does not exist/ });
});

// --- lookup and listing ----------------------------------------------------------------------------------

test('lookup lower-cases the name and resolves an alias to its real domain', (t) => {
  const home = qmailHome(t);
  cpSync(join(GOLDEN_QMAIL, 'users', 'cdb'), usersCdbPath(home));
  t.deepEqual(lookupAssignDomain(home, 'Example.TEST'), { domain: 'example.test', uid: 89, gid: 89, dir: '/home/vpopmail/domains/example.test' });
  addAssignDomain(home, domain('a.test'));
  addAssignDomain(home, { name: 'alias.test', domain: 'a.test', uid: 7, gid: 8, dir: '/x/a.test' });
  t.deepEqual(lookupAssignDomain(home, 'alias.test'), { domain: 'a.test', uid: 7, gid: 8, dir: '/x/a.test' });
  t.is(lookupAssignDomain(home, 'nosuch.test'), undefined);
});

test('lookup with no users/cdb yet is "no such domain"; a damaged or unreadable one is a TempError', (t) => {
  const home = qmailHome(t);
  t.is(lookupAssignDomain(home, 'a.test'), undefined);
  writeFileSync(usersCdbPath(home), Buffer.alloc(100));
  t.throws(() => lookupAssignDomain(home, 'a.test'), { instanceOf: TempError, message: /users\/cdb/ });
  const dirHome = qmailHome(t);
  mkdirSync(usersCdbPath(dirHome));
  t.throws(() => lookupAssignDomain(dirHome, 'a.test'), { instanceOf: TempError, message: /EISDIR/ });
});

test('a users/cdb entry without numeric ids is a TempError, not uid 0', (t) => {
  const home = qmailHome(t);
  writeCdbSync(usersCdbPath(home), [[Buffer.from('!bad.test-'), Buffer.from('bad.test\0root\0x\0/d\0-\0')]]);
  t.throws(() => lookupAssignDomain(home, 'bad.test'), { instanceOf: TempError });
});

test('listing gives the domain lines in file order, optionally of one real domain', (t) => {
  const home = qmailHome(t);
  writeFileSync(
    assignPath(home),
    ['=joe:joe:1:1:/home/joe:::', '+b.test-:b.test:89:89:/d/b.test:-::', '+list-:alias:7790:2108:/var/qmail/alias:-::', '+a-b.test-:b.test:89:89:/d/b.test:-::', '+a.test-:a.test:89:89:/d/a.test:-::', '.', '+after.test-:after.test:1:1:/x:-::', ''].join('\n'),
  );
  t.deepEqual(listAssignDomains(home).map((e) => e.name), ['b.test', 'a-b.test', 'a.test']);
  t.deepEqual(listAssignDomains(home, 'b.test').map((e) => e.name), ['b.test', 'a-b.test']);
});

test('listing without an assign file is VA_CANNOT_READ_ASSIGN', (t) => {
  const home = qmailHome(t);
  const error = t.throws(() => listAssignDomains(home), { instanceOf: VpopmailError });
  t.is(error.code, VA.CANNOT_READ_ASSIGN);
  t.is(error.message, "can't read users/assign file");
  t.true(error instanceof MailError);
});

// --- crash safety -----------------------------------------------------------------------------------------

interface Snapshot {
  readonly assign: string;
  readonly cdb: Buffer;
}

function snapshot(home: string): Snapshot {
  return { assign: read(assignPath(home)), cdb: readFileSync(usersCdbPath(home)) };
}

/** What users/cdb must hold for this assign, as comparable text. */
function recordsOfAssign(assign: string): string {
  return JSON.stringify(compileUsersCdb(assign).map(([k, d]) => [k.toString('latin1'), d.toString('latin1')]));
}

function recordsOfCdb(path: string): string {
  const db = CdbReader.open(path);
  try {
    return JSON.stringify([...db.entries()].map(([k, d]) => [Buffer.from(k).toString('latin1'), Buffer.from(d).toString('latin1')]));
  } finally {
    db.close();
  }
}

/**
 * Run one edit in a child killed at its n-th durable operation, for n = 1, 2, ... until the child
 * finishes, and check after each: assign is the old or the new text, users/cdb is a complete old
 * or new file and never newer than assign; after rebuildUsersCdb both agree.
 */
function crashEveryStep(t: import('ava').ExecutionContext, op: string, setup: (home: string) => void): void {
  let before: Snapshot | undefined;
  let after: Snapshot | undefined;
  {
    const home = qmailHome(t);
    setup(home);
    before = snapshot(home);
    const done = spawnSync(process.execPath, ['--import', 'tsx', CRASH_CHILD, home, op, '0'], { cwd: PROJECT_ROOT, encoding: 'utf8' });
    t.is(done.status, 0, done.stderr);
    after = snapshot(home);
  }
  t.not(after.assign, before.assign);
  let sawHalfway = false;
  let n = 1;
  for (; n < 60; n++) {
    const home = qmailHome(t);
    setup(home);
    const child = spawnSync(process.execPath, ['--import', 'tsx', CRASH_CHILD, home, op, String(n)], { cwd: PROJECT_ROOT, encoding: 'utf8' });
    const state = snapshot(home);
    t.true(state.assign === before.assign || state.assign === after.assign, `n=${n}: assign is neither old nor new`);
    t.true(state.cdb.equals(before.cdb) || state.cdb.equals(after.cdb), `n=${n}: users/cdb is neither old nor new`);
    t.false(state.assign === before.assign && !state.cdb.equals(before.cdb), `n=${n}: users/cdb is newer than assign`);
    if (state.assign === after.assign && state.cdb.equals(before.cdb)) sawHalfway = true;
    rebuildUsersCdb(home, { lockTimeoutMs: 5000 }); // breaks the dead child's lock
    t.is(recordsOfCdb(usersCdbPath(home)), recordsOfAssign(state.assign), `n=${n}: assign and users/cdb disagree after rebuild`);
    if (child.signal === null) {
      t.is(child.status, 0, child.stderr);
      break;
    }
    t.is(child.signal, 'SIGKILL');
  }
  t.true(n > 5 && n < 60, `the edit took ${n - 1} durable steps`);
  t.true(sawHalfway, 'some crash fell between the assign rename and the users/cdb rename');
}

const threeDomains = (home: string) => {
  for (const d of ['a.test', 'b.test', 'c.test']) addAssignDomain(home, domain(d));
};

test('a crash at any step of an insert leaves assign and users/cdb whole, never cdb ahead of assign', (t) => {
  crashEveryStep(t, 'assign-insert', threeDomains);
});

test('a crash at any step of a removal leaves assign and users/cdb whole, never cdb ahead of assign', (t) => {
  crashEveryStep(t, 'assign-remove', threeDomains);
});
