import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CdbReader } from '../../lib/cdb/reader.ts';
import {
  addRcptHost,
  addVirtualDomain,
  compileMoreRcptHosts,
  controlPath,
  insertControlLine,
  joinControlLines,
  rebuildMoreRcptHostsCdb,
  removeLocals,
  removeRcptHosts,
  removeVirtualDomains,
  splitControlLines,
} from '../../lib/store/control-files.ts';
import { tempDir, tinycdbDump, tinycdbMake, tinycdbQuery } from '../helpers/cdb-tools.ts';
import { PROJECT_ROOT } from '../helpers/dist.ts';

const GOLDEN = join(PROJECT_ROOT, '..', 'shared', 'fixtures', 'golden');
const GOLDEN_CONTROL = join(GOLDEN, 'tree', 'qmail', 'control');
const CRASH_CHILD = join(PROJECT_ROOT, 'test', 'helpers', 'qmail-crash-child.ts');
const read = (path: string) => readFileSync(path, 'latin1');

function qmailHome(t: import('ava').ExecutionContext): string {
  const home = tempDir(t);
  mkdirSync(join(home, 'users'));
  mkdirSync(join(home, 'control'));
  return home;
}

function stateFile(title: string, path: string): string {
  const text = read(join(GOLDEN, 'transcript.md'));
  const start = text.indexOf(`#### state: ${title}`);
  const block = text.slice(start, text.indexOf('\n### ', start));
  for (const m of block.matchAll(/^(\/\S+):(?: \(empty\)|\n```\n([\s\S]*?)```)$/gm)) if (m[1] === path) return m[2] ?? '';
  throw new Error(`transcript state "${title}" has no ${path}`);
}

/** What vadddomain and vaddaliasdomain do to the control files, in C's order. */
function addDomainControl(home: string, name: string): void {
  const rcpt = addRcptHost(home, name);
  const virt = addVirtualDomain(home, name);
  if (!rcpt.inserted || rcpt.notice !== undefined || !virt.inserted || virt.notice !== undefined) throw new Error(`unexpected ${name}`);
  removeLocals(home, [name]);
}

function domains(from: number, to: number): string[] {
  const out: string[] = [];
  for (let i = from; i <= to; i++) out.push(`d${String(i).padStart(3, '0')}.test`);
  return out;
}

test('every control file of the golden tree splits and joins back byte for byte', (t) => {
  const names = readdirSync(GOLDEN_CONTROL).filter((n) => !n.endsWith('.lock'));
  t.deepEqual(names.sort(), ['locals', 'rcpthosts', 'virtualdomains']);
  for (const name of names) {
    const text = read(join(GOLDEN_CONTROL, name));
    t.is(joinControlLines(splitControlLines(text)), text, name);
  }
});

test('the golden transcript\'s domain adds and deletes give its rcpthosts and virtualdomains byte for byte', (t) => {
  const home = qmailHome(t);
  addDomainControl(home, 'example.test');
  t.is(read(controlPath(home, 'rcpthosts')), stateFile('files written for example.test', '/var/qmail/control/rcpthosts'));
  t.is(read(controlPath(home, 'virtualdomains')), stateFile('files written for example.test', '/var/qmail/control/virtualdomains'));
  for (const name of ['with-c.test', 'catch.test', 'path.test', 'big.test', 'gone.test', 'example-alias.test']) addDomainControl(home, name);
  t.is(read(controlPath(home, 'rcpthosts')), stateFile('qmail control after the alias domain', '/var/qmail/control/rcpthosts'));
  t.is(read(controlPath(home, 'virtualdomains')), stateFile('qmail control after the alias domain', '/var/qmail/control/virtualdomains'));
  for (const name of ['example-alias.test', 'gone.test', 'with-c.test']) {
    t.deepEqual(removeRcptHosts(home, [name]), { rcpthosts: 1, morercpthosts: 0 });
    t.is(removeVirtualDomains(home, [name]), 1);
  }
  for (const name of ['rcpthosts', 'virtualdomains'] as const) {
    t.is(read(controlPath(home, name)), read(join(GOLDEN_CONTROL, name)), name);
    t.is(read(controlPath(home, name)), stateFile('qmail control at the end', `/var/qmail/control/${name}`), name);
    t.is(statSync(controlPath(home, name)).mode & 0o777, 0o644);
  }
  // C created an empty locals here (tree/qmail/control/locals, 0 bytes): we deliberately do not.
  t.is(read(join(GOLDEN_CONTROL, 'locals')), '');
  t.false(existsSync(controlPath(home, 'locals')));
});

test('a domain listed in locals is removed from it; other lines stay', (t) => {
  const home = qmailHome(t);
  writeFileSync(controlPath(home, 'locals'), 'localhost\nexample.test\nmail.example.test\n', { mode: 0o644 });
  t.is(removeLocals(home, ['example.test']), 1);
  t.is(read(controlPath(home, 'locals')), 'localhost\nmail.example.test\n');
});

test('locals without the domain is not rewritten at all', (t) => {
  const home = qmailHome(t);
  writeFileSync(controlPath(home, 'locals'), 'localhost\n', { mode: 0o640 });
  const before = statSync(controlPath(home, 'locals'));
  t.is(removeLocals(home, ['example.test']), 0);
  const after = statSync(controlPath(home, 'locals'));
  t.is(after.ino, before.ino);
  t.is(after.mode & 0o777, 0o640);
});

test('control files are created 0644 whatever the umask', (t) => {
  const home = qmailHome(t);
  const old = process.umask(0o077);
  try {
    addDomainControl(home, 'a.test');
  } finally {
    process.umask(old);
  }
  t.is(statSync(controlPath(home, 'rcpthosts')).mode & 0o777, 0o644);
  t.is(statSync(controlPath(home, 'virtualdomains')).mode & 0o777, 0o644);
  t.deepEqual(readdirSync(join(home, 'control')).sort(), ['locals.lock', 'rcpthosts', 'rcpthosts.lock', 'virtualdomains', 'virtualdomains.lock']);
});

test('an existing domain is not added twice to rcpthosts or virtualdomains', (t) => {
  const home = qmailHome(t);
  addDomainControl(home, 'a.test');
  t.deepEqual(addRcptHost(home, 'a.test'), { file: 'rcpthosts', inserted: false });
  t.deepEqual(addVirtualDomain(home, 'a.test'), { inserted: false });
  t.is(read(controlPath(home, 'rcpthosts')), 'a.test\n');
});

test('an out-of-order control file is re-sorted with C\'s notice', (t) => {
  const home = qmailHome(t);
  writeFileSync(controlPath(home, 'rcpthosts'), 'z.test\na.test\n');
  const result = insertControlLine(controlPath(home, 'rcpthosts'), 'm.test');
  t.deepEqual(result, { inserted: true, notice: `NOTICE: Out of order entries found in ${controlPath(home, 'rcpthosts')}\n   Sorting...\n\n` });
  t.is(read(controlPath(home, 'rcpthosts')), 'a.test\nm.test\nz.test\n');
});

test('from the 50th rcpthosts line on, domains go to morercpthosts and its cdb', (t) => {
  const home = qmailHome(t);
  for (const name of domains(1, 49)) addRcptHost(home, name);
  // Blank lines count as C's fgets loop counts them: 49 domains + 1 blank = 50.
  writeFileSync(controlPath(home, 'rcpthosts'), `${read(controlPath(home, 'rcpthosts'))}\n`);
  t.deepEqual(addRcptHost(home, 'd050.test'), { file: 'morercpthosts', inserted: true });
  t.deepEqual(addRcptHost(home, 'd051.test'), { file: 'morercpthosts', inserted: true });
  t.is(read(controlPath(home, 'morercpthosts')), 'd050.test\nd051.test\n');
  t.is(statSync(controlPath(home, 'morercpthosts')).mode & 0o777, 0o644);
  t.is(statSync(controlPath(home, 'morercpthosts.cdb')).mode & 0o777, 0o644);
  t.deepEqual(tinycdbDump(controlPath(home, 'morercpthosts.cdb')).map(([k, d]) => [k.toString(), d.toString()]), [
    ['d050.test', ''],
    ['d051.test', ''],
  ]);
  t.deepEqual(tinycdbQuery(controlPath(home, 'morercpthosts.cdb'), 'd051.test'), Buffer.alloc(0));
  t.deepEqual(addRcptHost(home, 'd050.test'), { file: 'morercpthosts', inserted: false });
});

test('adding a domain already in morercpthosts compiles a cdb a crash left behind', (t) => {
  const home = qmailHome(t);
  writeFileSync(controlPath(home, 'rcpthosts'), domains(1, 50).join('\n') + '\n');
  addRcptHost(home, 'a.test', { compileMoreRcptHosts: false });
  t.deepEqual(addRcptHost(home, 'a.test'), { file: 'morercpthosts', inserted: false });
  t.deepEqual(tinycdbDump(controlPath(home, 'morercpthosts.cdb')).map(([k]) => k.toString()), ['a.test']);
  // Not re-added to rcpthosts either, once deletions brought it under 50 lines.
  writeFileSync(controlPath(home, 'rcpthosts'), 'x.test\n');
  t.deepEqual(addRcptHost(home, 'a.test'), { file: 'morercpthosts', inserted: false });
  t.is(read(controlPath(home, 'rcpthosts')), 'x.test\n');
});

test('with 49 lines rcpthosts still takes the next domain', (t) => {
  const home = qmailHome(t);
  for (const name of domains(1, 49)) addRcptHost(home, name);
  t.deepEqual(addRcptHost(home, 'd050.test'), { file: 'rcpthosts', inserted: true });
  t.false(existsSync(controlPath(home, 'morercpthosts')));
});

test('compileMoreRcptHosts: false adds to morercpthosts without compiling (vadddomain -O)', (t) => {
  const home = qmailHome(t);
  writeFileSync(controlPath(home, 'rcpthosts'), domains(1, 50).join('\n') + '\n');
  addRcptHost(home, 'late.test', { compileMoreRcptHosts: false });
  t.is(read(controlPath(home, 'morercpthosts')), 'late.test\n');
  t.false(existsSync(controlPath(home, 'morercpthosts.cdb')));
  rebuildMoreRcptHostsCdb(home);
  t.deepEqual(tinycdbDump(controlPath(home, 'morercpthosts.cdb')).map(([k]) => k.toString()), ['late.test']);
});

test('qmail-newmrh rules: lower-cased, trailing blanks cut, comments and empty lines skipped, bytes as tinycdb', (t) => {
  const dir = tempDir(t);
  const text = 'A.Test\n#comment\n\nb.test \t\n  c.test\n# x\nlast.test';
  const records = compileMoreRcptHosts(text);
  t.deepEqual(records.map(([k, d]) => [k.toString(), d.length]), [
    ['a.test', 0],
    ['b.test', 0],
    ['  c.test', 0],
    ['last.test', 0],
  ]);
  t.deepEqual(compileMoreRcptHosts(''), []);
  const home = qmailHome(t);
  writeFileSync(controlPath(home, 'morercpthosts'), text);
  rebuildMoreRcptHostsCdb(home);
  tinycdbMake(join(dir, 'theirs.cdb'), records);
  t.true(readFileSync(controlPath(home, 'morercpthosts.cdb')).equals(readFileSync(join(dir, 'theirs.cdb'))));
});

test('removing a domain found only in morercpthosts recompiles its cdb', (t) => {
  const home = qmailHome(t);
  writeFileSync(controlPath(home, 'rcpthosts'), domains(1, 50).join('\n') + '\n');
  addRcptHost(home, 'm1.test');
  addRcptHost(home, 'm2.test');
  t.deepEqual(removeRcptHosts(home, ['m1.test']), { rcpthosts: 0, morercpthosts: 1 });
  t.is(read(controlPath(home, 'morercpthosts')), 'm2.test\n');
  t.deepEqual(tinycdbDump(controlPath(home, 'morercpthosts.cdb')).map(([k]) => k.toString()), ['m2.test']);
});

test('emptying morercpthosts removes it and its cdb', (t) => {
  const home = qmailHome(t);
  writeFileSync(controlPath(home, 'rcpthosts'), domains(1, 50).join('\n') + '\n');
  addRcptHost(home, 'only.test');
  t.true(existsSync(controlPath(home, 'morercpthosts.cdb')));
  t.deepEqual(removeRcptHosts(home, ['only.test']), { rcpthosts: 0, morercpthosts: 1 });
  t.false(existsSync(controlPath(home, 'morercpthosts')));
  t.false(existsSync(controlPath(home, 'morercpthosts.cdb')));
  t.is(read(controlPath(home, 'rcpthosts')), domains(1, 50).join('\n') + '\n');
});

test('a domain and its alias split over rcpthosts and morercpthosts both go (C stops at rcpthosts)', (t) => {
  const home = qmailHome(t);
  writeFileSync(controlPath(home, 'rcpthosts'), [...domains(1, 49), 'real.test'].join('\n') + '\n');
  addRcptHost(home, 'alias.test');
  addRcptHost(home, 'other.test');
  t.deepEqual(removeRcptHosts(home, ['real.test', 'alias.test']), { rcpthosts: 1, morercpthosts: 1 });
  t.is(read(controlPath(home, 'morercpthosts')), 'other.test\n');
  t.false(read(controlPath(home, 'rcpthosts')).includes('real.test'));
});

test('removing a domain from missing files creates none of them', (t) => {
  const home = qmailHome(t);
  t.deepEqual(removeRcptHosts(home, ['a.test']), { rcpthosts: 0, morercpthosts: 0 });
  t.is(removeVirtualDomains(home, ['a.test']), 0);
  t.is(removeLocals(home, ['a.test']), 0);
  t.deepEqual(
    readdirSync(join(home, 'control')).filter((n) => !n.endsWith('.lock')),
    [],
  );
});

// --- crash safety ---------------------------------------------------------------------------------

interface MoreState {
  readonly text: string | undefined;
  readonly cdb: Buffer | undefined;
}

function moreState(home: string): MoreState {
  const get = (path: string) => (existsSync(path) ? readFileSync(path) : undefined);
  return { text: get(controlPath(home, 'morercpthosts'))?.toString('latin1'), cdb: get(controlPath(home, 'morercpthosts.cdb')) };
}

function keysOfCdb(path: string): string[] {
  const db = CdbReader.open(path);
  try {
    return [...db.entries()].map(([k]) => Buffer.from(k).toString('latin1'));
  } finally {
    db.close();
  }
}

const sameBytes = (a: Buffer | undefined, b: Buffer | undefined) => (a === undefined ? b === undefined : b !== undefined && a.equals(b));

/** Kill the child at every durable step of `op`; `check` judges each state left behind. */
function crashEveryStep(
  t: import('ava').ExecutionContext,
  op: string,
  setup: (home: string) => void,
  check: (home: string, state: MoreState, before: MoreState, after: MoreState, n: number) => void,
): void {
  const run = (home: string, n: number) =>
    spawnSync(process.execPath, ['--import', 'tsx', CRASH_CHILD, home, op, String(n)], { cwd: PROJECT_ROOT, encoding: 'utf8' });
  const fresh = () => {
    const home = qmailHome(t);
    setup(home);
    return home;
  };
  const home0 = fresh();
  const before = moreState(home0);
  const done = run(home0, 0);
  t.is(done.status, 0, done.stderr);
  const after = moreState(home0);
  let n = 1;
  for (; n < 60; n++) {
    const home = fresh();
    const child = run(home, n);
    check(home, moreState(home), before, after, n);
    if (child.signal === null) {
      t.is(child.status, 0, child.stderr);
      break;
    }
    t.is(child.signal, 'SIGKILL');
  }
  t.true(n > 3 && n < 60, `the edit took ${n - 1} durable steps`);
}

test('a crash at any step of adding to morercpthosts never leaves its cdb ahead of the text', (t) => {
  crashEveryStep(
    t,
    'morercpthosts-add',
    (home) => {
      writeFileSync(controlPath(home, 'rcpthosts'), domains(1, 50).join('\n') + '\n');
      addRcptHost(home, 'first.test');
    },
    (home, state, before, after, n) => {
      t.true(state.text === before.text || state.text === after.text, `n=${n}: text neither old nor new`);
      t.true(sameBytes(state.cdb, before.cdb) || sameBytes(state.cdb, after.cdb), `n=${n}: cdb neither old nor new`);
      t.false(state.text === before.text && !sameBytes(state.cdb, before.cdb), `n=${n}: cdb ahead of the text`);
      rebuildMoreRcptHostsCdb(home, { lockTimeoutMs: 5000 }); // breaks the dead child's lock
      t.deepEqual(keysOfCdb(controlPath(home, 'morercpthosts.cdb')), splitControlLines(state.text!), `n=${n}: disagree after rebuild`);
    },
  );
});

test('a crash at any step of emptying morercpthosts leaves old, emptied or removed files, never a cdb without its text', (t) => {
  crashEveryStep(
    t,
    'morercpthosts-remove-last',
    (home) => {
      writeFileSync(controlPath(home, 'rcpthosts'), domains(1, 50).join('\n') + '\n');
      addRcptHost(home, 'only.test');
    },
    (_home, state, before, _after, n) => {
      const allowed =
        (state.text === before.text && sameBytes(state.cdb, before.cdb)) || // nothing happened yet
        (state.text === '' && sameBytes(state.cdb, before.cdb)) || // emptied, not yet compiled or removed
        (state.text === '' && state.cdb === undefined) ||
        (state.text === undefined && state.cdb === undefined);
      t.true(allowed, `n=${n}: text ${JSON.stringify(state.text)}, cdb ${state.cdb === undefined ? 'absent' : 'present'}`);
    },
  );
});
