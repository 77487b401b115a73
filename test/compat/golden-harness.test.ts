// Tests of the golden harness itself (test/helpers/golden.ts), without any of our programs: the
// golden run compared with itself passes, and each kind of difference is caught on small inputs.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  compareRun,
  compareTranscripts,
  compareTrees,
  finalTreeIndex,
  formatDifferences,
  GOLDEN_DIR,
  lineDiff,
  loadGolden,
  makeMasker,
  maskersFor,
  missingAnchors,
  parseTranscript,
  randomPasswordsOf,
  STRICT_EXPECTATIONS,
  type Difference,
  type Expectations,
  type TreeSide,
} from '../helpers/golden.ts';
import { EXPECTATIONS } from './golden-expectations.ts';

// --- synthetic transcripts in run.sh's format --------------------------------------------------

interface StepSpec {
  readonly title?: string;
  readonly cmd: string;
  readonly exit?: number;
  readonly stdout?: string;
  readonly stderr?: string;
  /** Raw Markdown after the step (state blocks, notes). */
  readonly after?: string;
}

/** A stream or file as run.sh's md_block writes it. */
function block(title: string, text: string): string {
  if (text === '') return `${title}: (empty)\n\n`;
  const note = text.endsWith('\n') ? '' : ' (no newline at end)';
  return `${title}${note}:\n\`\`\`\n${text}${text.endsWith('\n') ? '' : '\n'}\`\`\`\n\n`;
}

function transcript(steps: readonly StepSpec[], hostname = 'mail.golden.test'): string {
  let md = `# synthetic transcript\n\nhostname during the run: ${hostname}\n\n## Section\n\n`;
  steps.forEach((s, k) => {
    md += `### ${k + 1}. ${s.title ?? s.cmd}\n\n\`\`\`\n$ ${s.cmd}\n\`\`\`\n\nexit: ${s.exit ?? 0}\n\n`;
    md += block('stdout', s.stdout ?? '') + block('stderr', s.stderr ?? '') + (s.after ?? '');
  });
  return md;
}

function compare(goldenMd: string, oursMd: string, exp: Expectations = STRICT_EXPECTATIONS): Difference[] {
  const g = parseTranscript(goldenMd);
  const o = parseTranscript(oursMd);
  return [...compareTranscripts(g, o, exp, maskersFor(g, o, exp)).differences].filter((d) => d.allowedBy === undefined);
}

const HASH_A = `$6$abcdefgh$${'A'.repeat(86)}`;
const HASH_B = `$6$zyx./987$${'b'.repeat(43)}${'9'.repeat(43)}`;
const GIVEN = `$6$Gold3nSa$${'C'.repeat(86)}`;
const vuserinfo = (hash: string, uid = '1', clear = 'alicepw1') =>
  `name:   alice\npasswd: ${hash}\nclear passwd: ${clear}\nuid:    ${uid}\naccount created: Sun Nov 29 21:35:41 2026\n`;

// --- the real golden run with itself --------------------------------------------------------------

test('the golden transcript compared with itself has no differences', (t) => {
  const md = readFileSync(join(GOLDEN_DIR, 'transcript.md'), 'utf8');
  const g = parseTranscript(md);
  t.is(g.steps.length, 204);
  t.is(g.hostname, 'mail.golden.test');
  const gold = loadGolden();
  const run = compareRun({ transcript: md, listing: gold.listing, treeDir: gold.treeDir }, EXPECTATIONS);
  t.deepEqual(run.steps.differences, []);
  t.deepEqual(run.tree, []);
  t.true(run.steps.steps.every((s) => s.matches));
  t.is(run.steps.steps.length, 204);
});

test('the golden final tree compared with itself has no differences', (t) => {
  const g = loadGolden();
  const mask = makeMasker(randomPasswordsOf(g.transcript));
  const side: TreeSide = { listing: g.listing, treeDir: g.treeDir, mask };
  t.deepEqual(compareTrees(side, side, EXPECTATIONS), []);
});

test('the golden transcript parses into steps with program, exit code, streams and state blocks', (t) => {
  const g = loadGolden().transcript;
  const s3 = g.steps[2]!;
  t.is(s3.program, 'vadddomain');
  t.deepEqual(s3.argv, ['example.test', 'pmpass']);
  t.is(s3.exit, 243);
  t.is(s3.stdout.text, 'Error: Domain already exists\n');
  t.is(s3.stderr.text, '');
  const s1 = g.steps[0]!;
  t.deepEqual(s1.states.map((b) => b.kind), ['files', 'listing']);
  const lastauth = s1.states[0]!.kind === 'files' ? s1.states[0]!.files.find((f) => f.path.endsWith('/lastauth')) : undefined;
  t.deepEqual(lastauth?.content, { text: '0.0.0.0', noNewline: true, catV: false });
  const s171 = g.steps[170]!;
  t.is(s171.program, 'vdelivermail');
  t.deepEqual(s171.argv, ['', 'bounce-no-mailbox']);
  t.is(g.steps.reduce((n, s) => n + s.states.length, 0), 39);
  t.deepEqual(randomPasswordsOf(g), ['Bx%Hjcby%n', 'MWa2Ed#L']);
});

// --- steps ---------------------------------------------------------------------------------------

const BASE: StepSpec[] = [
  { cmd: 'vadddomain example.test pw' },
  { cmd: 'vadddomain example.test pw', exit: 243, stdout: 'Error: Domain already exists\n' },
  { cmd: 'vuserinfo alice@example.test', stdout: vuserinfo(HASH_A) },
];

test('a perturbed exit code is a difference of that step', (t) => {
  const ours = BASE.map((s, k) => (k === 1 ? { ...s, exit: 255 } : s));
  const d = compare(transcript(BASE), transcript(ours));
  t.is(d.length, 1);
  t.like(d[0], { step: 2, program: 'vadddomain', aspect: 'exit', expected: '243', actual: '255' });
});

test('a perturbed stdout line is a difference, and the report shows it', (t) => {
  const ours = BASE.map((s, k) => (k === 2 ? { ...s, stdout: s.stdout!.replace('name:   alice', 'name:   alicia') } : s));
  const d = compare(transcript(BASE), transcript(ours));
  t.is(d.length, 1);
  t.like(d[0], { step: 3, program: 'vuserinfo', aspect: 'stdout' });
  t.deepEqual(lineDiff(d[0]!.expected, d[0]!.actual), ['- name:   alice', '+ name:   alicia']);
  const text = formatDifferences(d, undefined);
  t.regex(text, /step 3 "vuserinfo alice@example.test"/);
  t.regex(text, /\+ name: {3}alicia/);
});

test('output on the other stream is a difference even where only the stream is compared', (t) => {
  const exp: Expectations = { ...STRICT_EXPECTATIONS, stepRules: { 2: { program: 'vadddomain', stdout: { kind: 'stream', reason: 'human error' }, stderr: { kind: 'stream', reason: 'human error' } } } };
  const swapped = BASE.map((s, k) => (k === 1 ? { ...s, stdout: '', stderr: s.stdout! } : s));
  const d = compare(transcript(BASE), transcript(swapped), exp);
  t.deepEqual(d.map((x) => x.aspect).sort(), ['stderr', 'stdout']);
  // Other wording on the right stream passes under the same rule.
  const reworded = BASE.map((s, k) => (k === 1 ? { ...s, stdout: 'vadddomain: example.test exists already\n' } : s));
  t.deepEqual(compare(transcript(BASE), transcript(reworded), exp), []);
  // ... and fails under the default exact rule.
  t.is(compare(transcript(BASE), transcript(reworded)).length, 1);
});

test('a hash with another random salt is masked, a changed uid beside it is not', (t) => {
  const other = BASE.map((s, k) => (k === 2 ? { ...s, stdout: vuserinfo(HASH_B) } : s));
  t.deepEqual(compare(transcript(BASE), transcript(other)), []);
  const uid = BASE.map((s, k) => (k === 2 ? { ...s, stdout: vuserinfo(HASH_B, '2') } : s));
  const d = compare(transcript(BASE), transcript(uid));
  t.is(d.length, 1);
  t.deepEqual(lineDiff(d[0]!.expected, d[0]!.actual), ['@ line 4', '- uid:    1', '+ uid:    2']);
});

test('a hash with the salt run.sh gave is compared exactly, and so is the hash scheme', (t) => {
  const given = (h: string) => [{ cmd: 'vuserinfo -p dave@example.test', stdout: `${h}\n` }];
  t.is(compare(transcript(given(GIVEN)), transcript(given(GIVEN.replace('CCC', 'DDD')))).length, 1);
  t.is(compare(transcript(given(HASH_A)), transcript(given(`$1$abcdefgh$${'A'.repeat(22)}`))).length, 1);
});

test('random passwords are masked wherever they appear, but not when stored in another place', (t) => {
  const run = (pw: string, clear: string) => transcript([
    { cmd: 'vadduser -r8 erin@example.test', stdout: `Random password: ${pw}\n` },
    { cmd: 'vuserinfo erin@example.test', stdout: vuserinfo(HASH_A, '1', clear) },
  ]);
  t.deepEqual(compare(run('MWa2Ed#L', 'MWa2Ed#L'), run('q$9Z!x.w', 'q$9Z!x.w')), []);
  t.is(compare(run('MWa2Ed#L', 'MWa2Ed#L'), run('q$9Z!x.w', '')).length, 1);
  // Another length is another behaviour.
  t.is(compare(run('MWa2Ed#L', 'MWa2Ed#L'), run('q$9Z!x.w1', 'q$9Z!x.w1')).length, 2);
});

test('asctime lines, open-smtp times and inserted Date headers are masked; the given Date is not', (t) => {
  const shown = (time: string, date: string, given: string) => transcript([{
    cmd: 'vuserinfo -l alice@example.test',
    stdout: `last auth: ${time}\nlast auth ip: 192.0.2.10\n`,
    after: '#### state: files\n\n' +
      block('/home/vpopmail/etc/open-smtp', `192.0.2.10:allow,RELAYCLIENT="",RBLSMTPD=""\t${time === 'Sun Nov 29 21:35:44 2026' ? '1795988144' : '1795990000'}\n`) +
      block('/home/vpopmail/domains/example.test/carol/Maildir/new/1795988144.27546.mail.golden.test', `To: carol@example.test\nDate: ${date}\n\nBody\n`) +
      block('/home/vpopmail/domains/example.test/alice/Maildir/new/1795988145.27578.mail.golden.test', `Date: ${given}\n\nBody\n`),
  }]);
  const golden = shown('Sun Nov 29 21:35:44 2026', 'Sun, 29 Nov 2026 21:35:44 +0000', 'Mon, 01 Jan 2024 00:00:00 +0000');
  t.deepEqual(compare(golden, shown('Tue Dec  1 09:02:03 2026', 'Tue, 01 Dec 2026 09:02:03 +0000', 'Mon, 01 Jan 2024 00:00:00 +0000')), []);
  const d = compare(golden, shown('Sun Nov 29 21:35:44 2026', 'Sun, 29 Nov 2026 21:35:44 +0000', 'Tue, 01 Dec 2026 09:02:03 +0000'));
  t.is(d.length, 1);
  t.regex(d[0]!.subject, /alice\/Maildir\/new\/<time>\.<pid>\.mail\.golden\.test$/);
});

test('a listing state block matches message files by name pattern and count', (t) => {
  const listing = (names: readonly string[]) => ({
    cmd: 'vpopbull -f b.txt example.test',
    after: `#### state: new\n\n\`\`\`\nd700 89 89 - /d/new\n${names.map((n) => `f600 89 89 156 /d/new/${n}`).join('\n')}\n\`\`\`\n\n`,
  });
  const golden = transcript([listing(['1795988144.27175.mail.golden.test', '1795988144.27546.mail.golden.test'])]);
  t.deepEqual(compare(golden, transcript([listing(['1800000000.9.mail.golden.test', '1799999999.123456.mail.golden.test'])])), []);
  const d = compare(golden, transcript([listing(['1800000000.9.mail.golden.test'])]));
  t.is(d.length, 1);
  t.like(d[0], { aspect: 'state', style: 'multiset' });
  t.is(compare(golden, transcript([listing(['1800000000.9.otherhost', '1799999999.1.mail.golden.test'])])).length, 1);
});

test('vchkpw environment lines compare in any order under the unordered rule, not their content', (t) => {
  const env = (lines: readonly string[]) => transcript([{ cmd: 'vchkpw /usr/bin/env', stdout: `${lines.join('\n')}\n` }]);
  const exp: Expectations = { ...STRICT_EXPECTATIONS, stepRules: { 1: { program: 'vchkpw', stdout: { kind: 'unordered', reason: 'a set' } } } };
  t.deepEqual(compare(env(['USER=alice', 'HOME=/h', 'SHELL=NOLOGIN']), env(['HOME=/h', 'SHELL=NOLOGIN', 'USER=alice']), exp), []);
  t.is(compare(env(['USER=alice', 'HOME=/h']), env(['HOME=/h', 'USER=alice@example.test']), exp).length, 1);
});

test('a match rule wants its pattern in our text', (t) => {
  const bounce = (text: string) => transcript([{ cmd: "vdelivermail '' bounce-no-mailbox", exit: 100, stdout: text }]);
  const exp: Expectations = { ...STRICT_EXPECTATIONS, stepRules: { 1: { program: 'vdelivermail', stdout: { kind: 'match', pattern: /\(#5\.1\.1\)/, reason: 'status code' } } } };
  t.deepEqual(compare(bounce('Sorry, no mailbox here by that name. (#5.1.1)\n'), bounce('no such user here (#5.1.1)\n'), exp), []);
  t.is(compare(bounce('Sorry, no mailbox here by that name. (#5.1.1)\n'), bounce('no such user here\n'), exp).length, 1);
});

test('a missing final newline is a difference of an exact stream', (t) => {
  const s = (text: string) => transcript([{ cmd: 'vdominfo -t example.test', stdout: text }]);
  const d = compare(s('1\n'), s('1'));
  t.is(d.length, 1);
  t.deepEqual(lineDiff(d[0]!.expected, d[0]!.actual), ['- (ends with a newline)', '+ (no newline at end)']);
});

test('steps our run never reached and run.sh notes about failing programs are reported', (t) => {
  const golden = transcript(BASE);
  const ours = transcript(BASE.slice(0, 2).map((s, k) => (k === 0 ? { ...s, after: 'vadduser u001@big.test failed: 127\n\n' } : s)));
  const d = compare(golden, ours);
  t.true(d.some((x) => x.step === 3 && x.aspect === 'missing'));
  t.true(d.some((x) => x.aspect === 'notes' && x.program === 'vadduser'));
});

test('a replay under another host name is reported as a harness problem', (t) => {
  const d = compare(transcript(BASE), transcript(BASE, 'buildhost'));
  t.like(d[0], { program: 'run.sh', subject: 'hostname during the run' });
});

test('a deliberate difference is allowed only where it says and with the value it pins', (t) => {
  const ours = BASE.map((s, k) => (k === 1 ? { ...s, exit: 100 } : s));
  const exp = (actual: string): Expectations => ({
    ...STRICT_EXPECTATIONS,
    deliberate: [{ step: 2, aspect: 'exit', actual, anchor: 'exit-codes', reason: 'we exit 100 for a permanent error' }],
  });
  t.deepEqual(compare(transcript(BASE), transcript(ours), exp('100')), []);
  t.is(compare(transcript(BASE), transcript(ours), exp('111')).length, 1);
});

test('a deliberate difference can pin the changed lines of a long output instead of all of it', (t) => {
  const ours = BASE.map((s, k) => (k === 2 ? { ...s, stdout: vuserinfo(HASH_B, '2') } : s));
  const exp = (changes: readonly string[]): Expectations => ({
    ...STRICT_EXPECTATIONS,
    deliberate: [{ step: 3, aspect: 'stdout', changes, anchor: 'exit-codes', reason: 'uid 2 on purpose' }],
  });
  t.deepEqual(compare(transcript(BASE), transcript(ours), exp(['@ line 4', '- uid:    1', '+ uid:    2'])), []);
  t.is(compare(transcript(BASE), transcript(ours), exp(['@ line 4', '- uid:    1', '+ uid:    3'])).length, 1);
  // A further change beside the pinned one is not allowed.
  const more = BASE.map((s, k) => (k === 2 ? { ...s, stdout: vuserinfo(HASH_B, '2', 'other') } : s));
  t.is(compare(transcript(BASE), transcript(more), exp(['@ line 4', '- uid:    1', '+ uid:    2'])).length, 1);
});

test("our 16-character-salt hashes are masked like C's, and so are the 8 bytes they add to a cdb record", (t) => {
  const ours16 = `$6$abcdefghABCDEFGH$${'Z'.repeat(86)}`;
  const oursTranscript = BASE.map((s, k) => (k === 2 ? { ...s, stdout: vuserinfo(ours16) } : s));
  t.is(compare(transcript(BASE), transcript(oursTranscript)).length, 1);
  t.deepEqual(compare(transcript(BASE), transcript(oursTranscript), { ...STRICT_EXPECTATIONS, oursMasks: EXPECTATIONS.oursMasks }), []);
  const listing = 'f600 89 89 2258 x /home/vpopmail/domains/example.test/vpasswd.cdb';
  const golden = makeTree(t, [{ listing, cdb: [['alice', vpasswdLine(HASH_A)]] }]);
  const oursMask = makeMasker([], EXPECTATIONS.oursMasks);
  const ours = (line: string) => makeTree(t, [{ listing, cdb: [['alice', line]] }], oursMask);
  t.deepEqual(compareTrees(golden, ours(vpasswdLine(ours16)), STRICT_EXPECTATIONS), []);
  const d = compareTrees(golden, ours(vpasswdLine(ours16, '7')), STRICT_EXPECTATIONS);
  t.is(d.length, 1);
  t.like(d[0], { aspect: 'content' });
  // C's 8-character form on our side keeps its own length: only the 16-character form is shortened.
  t.deepEqual(compareTrees(golden, ours(vpasswdLine(HASH_B)), STRICT_EXPECTATIONS), []);
});

test('deliberate differences whose anchor is not a COMPATIBILITY.md heading are named', (t) => {
  const exp: Expectations = {
    ...STRICT_EXPECTATIONS,
    deliberate: [
      { step: 2, aspect: 'exit', anchor: 'locking', reason: 'r' },
      { step: 3, aspect: 'stdout', anchor: '#quota-suffixes-k-m-and-g', reason: 'r' },
      { tree: '/x', field: 'mode', anchor: 'no-such-section', reason: 'r' },
    ],
  };
  const md = '# Title\n\n## Locking\ntext\n\n## Quota suffixes: K, M and G\n```\n## not a heading\n```\n';
  t.deepEqual(missingAnchors(exp, md), ['no-such-section']);
});

test('a state block that shows a file picked by a varying name may show any matching golden file', (t) => {
  const dir = '/home/vpopmail/domains/example.test/carol/Maildir/new';
  const state = (name: string, body: string) => transcript([{ cmd: 'vpopbull -f b.txt example.test', after: `#### state: a copied bulletin\n\n${block(`${dir}/${name}`, body)}` }]);
  const golden = parseTranscript(state('1795988144.27414.mail.golden.test,S=311', 'delivered\n'));
  const index = new Map([
    [`${dir}/<time>.<pid>.mail.golden.test,S=311`, ['delivered\n']],
    [`${dir}/<time>.<pid>.mail.golden.test`, ['bulletin\n']],
  ]);
  const exp: Expectations = { ...STRICT_EXPECTATIONS, stateRules: [{ step: 1, title: 'a copied bulletin', kind: 'one-of-final-tree', reason: 'ls | head -1' }] };
  const run = (md: string) => {
    const o = parseTranscript(md);
    return compareTranscripts(golden, o, exp, { ...maskersFor(golden, o, exp), goldenFinalTree: index }).differences;
  };
  t.deepEqual(run(state('1795990000.5.mail.golden.test', 'bulletin\n')), []);
  t.is(run(state('1795990000.5.mail.golden.test', 'bulletin without its To:\n')).length, 1);
  t.true(finalTreeIndex({ listing: loadGolden().listing, treeDir: loadGolden().treeDir, mask: makeMasker([]) }).has(`${dir}/<time>.<pid>.mail.golden.test`));
});

// --- trees ---------------------------------------------------------------------------------------

interface TreeFile {
  readonly listing: string;
  readonly content?: string;
  /** tinycdb dump records (`+klen,dlen:key->data` lines) to build a cdb with `cdb -c`. */
  readonly cdb?: readonly [string, string][];
}

function makeTree(t: { teardown(fn: () => void): void }, files: readonly TreeFile[], mask = makeMasker([])): TreeSide {
  const dir = mkdtempSync(join(tmpdir(), 'golden-harness-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const treeDir = join(dir, 'tree');
  for (const f of files) {
    const path = f.listing.split(' ')[5]!;
    const rel = path.startsWith('/home/vpopmail/') ? join('vpopmail', path.slice(15)) : join('qmail', path.slice(11));
    const file = join(treeDir, rel);
    if (f.content !== undefined) {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, f.content);
    }
    if (f.cdb !== undefined) {
      mkdirSync(dirname(file), { recursive: true });
      const dump = `${f.cdb.map(([k, v]) => `+${k.length},${v.length}:${k}->${v}\n`).join('')}\n`;
      const r = spawnSync('cdb', ['-c', file], { input: dump });
      if (r.status !== 0) throw new Error(`cdb -c failed: ${r.stderr}`);
    }
  }
  return { listing: `# header\n${files.map((f) => f.listing).join('\n')}\n`, treeDir, mask };
}

const DOMAIN = 'd700 89 89 - - /home/vpopmail/domains/example.test';
const DIRCONTROL = 'f644 89 89 2 x /home/vpopmail/domains/example.test/.dir-control';
const vpasswdLine = (hash: string, uid = '1') => `alice:${hash}:${uid}:0:alice:/home/vpopmail/domains/example.test/alice:NOQUOTA:alicepw1`;

test('a tree entry with another mode, owner or size is a difference', (t) => {
  const golden = makeTree(t, [{ listing: DOMAIN }, { listing: DIRCONTROL, content: '1\n' }]);
  t.deepEqual(compareTrees(golden, golden, STRICT_EXPECTATIONS), []);
  const ours = makeTree(t, [{ listing: DOMAIN.replace('d700', 'd755') }, { listing: DIRCONTROL.replace('89 89 2', '0 89 2'), content: '1\n' }]);
  const d = compareTrees(golden, ours, STRICT_EXPECTATIONS);
  t.deepEqual(d.map((x) => `${x.aspect} ${x.subject}`), ['mode /home/vpopmail/domains/example.test', 'uid /home/vpopmail/domains/example.test/.dir-control']);
  t.like(d[0], { expected: 'd700', actual: 'd755' });
});

test('tree file contents are compared masked, and a missing directory is reported once', (t) => {
  const golden = makeTree(t, [
    { listing: DOMAIN },
    { listing: 'f600 89 89 170 x /home/vpopmail/domains/example.test/vpasswd', content: `${vpasswdLine(HASH_A)}\n` },
    { listing: 'd700 89 89 - - /home/vpopmail/domains/example.test/alice' },
    { listing: 'f600 89 89 7 x /home/vpopmail/domains/example.test/alice/lastauth', content: '0.0.0.0' },
  ]);
  const same = makeTree(t, [
    { listing: DOMAIN },
    { listing: 'f600 89 89 170 x /home/vpopmail/domains/example.test/vpasswd', content: `${vpasswdLine(HASH_B)}\n` },
    { listing: 'd700 89 89 - - /home/vpopmail/domains/example.test/alice' },
    { listing: 'f600 89 89 7 x /home/vpopmail/domains/example.test/alice/lastauth', content: '0.0.0.0' },
  ]);
  t.deepEqual(compareTrees(golden, same, STRICT_EXPECTATIONS), []);
  const other = makeTree(t, [{ listing: DOMAIN }, { listing: 'f600 89 89 170 x /home/vpopmail/domains/example.test/vpasswd', content: `${vpasswdLine(HASH_B, '2')}\n` }]);
  const d = compareTrees(golden, other, STRICT_EXPECTATIONS);
  t.deepEqual(d.map((x) => `${x.aspect} ${x.subject}`), ['presence /home/vpopmail/domains/example.test/alice', 'content /home/vpopmail/domains/example.test/vpasswd']);
  t.is(d[0]!.note, 'and 1 entries below it');
});

test('cdb files are compared decoded and masked', (t) => {
  const listing = 'f600 89 89 2258 x /home/vpopmail/domains/example.test/vpasswd.cdb';
  const golden = makeTree(t, [{ listing, cdb: [['alice', vpasswdLine(HASH_A)]] }]);
  t.deepEqual(compareTrees(golden, makeTree(t, [{ listing, cdb: [['alice', vpasswdLine(HASH_B)]] }]), STRICT_EXPECTATIONS), []);
  const d = compareTrees(golden, makeTree(t, [{ listing, cdb: [['alice', vpasswdLine(HASH_B, '7')]] }]), STRICT_EXPECTATIONS);
  t.is(d.length, 1);
  t.like(d[0], { aspect: 'content' });
  t.regex(d[0]!.actual, /^\+5,\d+:alice->alice:\$6\$<random salt>\$<hash>:7:0:/);
});

test('message files in the tree match by name pattern and count; symlink targets are compared', (t) => {
  const msg = (name: string, body: string) => ({ listing: `f600 89 89 ${body.length} x /home/vpopmail/domains/example.test/alice/Maildir/new/${name}`, content: body });
  const golden = makeTree(t, [msg('1795988144.27175.mail.golden.test,S=5', 'one\n\n'), msg('1795988144.27546.mail.golden.test', 'two\n')]);
  t.deepEqual(compareTrees(golden, makeTree(t, [msg('1795990000.4.mail.golden.test', 'two\n'), msg('1795990001.77.mail.golden.test,S=5', 'one\n\n')]), STRICT_EXPECTATIONS), []);
  const d = compareTrees(golden, makeTree(t, [msg('1795990001.77.mail.golden.test,S=5', 'one\n\n')]), STRICT_EXPECTATIONS);
  t.deepEqual(d.map((x) => x.aspect), ['presence']);
  const link = (target: string) => makeTree(t, [{ listing: `l777 0 0 39 - /home/vpopmail/domains/catch.test/new/1795988144.27572.mail.golden.test -> ${target}` }]);
  t.deepEqual(compareTrees(link('/home/vpopmail/golden-work/bulletin.txt'), link('/home/vpopmail/golden-work/bulletin.txt'), STRICT_EXPECTATIONS), []);
  t.like(compareTrees(link('/home/vpopmail/golden-work/bulletin.txt'), link('/tmp/bulletin.txt'), STRICT_EXPECTATIONS)[0], { aspect: 'target' });
});

test('verbatim install files are only required when our install step made them', (t) => {
  const listing = 'f644 0 0 2115 x /home/vpopmail/etc/password_strength.conf';
  const exp: Expectations = { ...STRICT_EXPECTATIONS, verbatimInstallFiles: ['/home/vpopmail/etc/password_strength.conf'] };
  const golden = makeTree(t, [{ listing }]);
  const none = makeTree(t, []);
  t.deepEqual(compareTrees(golden, none, exp), []);
  t.is(compareTrees(golden, { ...none, installed: ['/home/vpopmail/etc/password_strength.conf'] }, exp).length, 1);
  // Present with our own content and mode: fine, its content is ours.
  t.deepEqual(compareTrees(golden, makeTree(t, [{ listing: listing.replace('f644 0 0 2115', 'f600 89 89 40') }]), exp), []);
  // Without the verbatim rule the same file would be compared.
  t.true(compareTrees(golden, none, STRICT_EXPECTATIONS).length > 0);
});
