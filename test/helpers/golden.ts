// The golden compatibility harness: parse run.sh transcripts, mask what VARIES.md says varies,
// compare our run with C's step by step and tree by tree, and replay run.sh with our programs in a
// private mount namespace. The rules for each step live in test/compat/golden-expectations.ts;
// nothing here knows about particular steps, so test/compat/golden-harness.test.ts can prove the
// machinery on small synthetic inputs.
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CdbReader } from '../../lib/cdb/reader.ts';

export const FIXTURES_DIR = process.env['GOLDEN_FIXTURES'] ?? '/work/shared/fixtures';
export const GOLDEN_DIR = join(FIXTURES_DIR, 'golden');

// ---------------------------------------------------------------------------------------------
// Transcript
// ---------------------------------------------------------------------------------------------

/** A file or stream as run.sh's md_block shows it. `text` is '' for an empty file. */
export interface Shown {
  readonly text: string;
  readonly noNewline: boolean;
  readonly catV: boolean;
}

export interface FileState {
  readonly path: string;
  readonly absent: boolean;
  readonly content: Shown;
}

export type StateBlock =
  | { readonly kind: 'files'; readonly title: string; readonly files: readonly FileState[] }
  | { readonly kind: 'listing'; readonly title: string; readonly lines: readonly string[] };

export interface Step {
  readonly number: number;
  readonly title: string;
  readonly section: string;
  /** The lines of the command block (`# run as …`, `$ cd …`, `$ VAR=… prog args…`). */
  readonly commandLines: readonly string[];
  /** The program's bare name as run.sh shows it, and its arguments. */
  readonly program: string;
  readonly argv: readonly string[];
  readonly fd3?: string;
  readonly exit: number;
  readonly stdout: Shown;
  readonly stderr: Shown;
  readonly states: readonly StateBlock[];
  /** Free-text paragraphs (section headings, run.sh notes such as `vadduser … failed: 127`) after the step. */
  readonly notesAfter: readonly string[];
}

export interface Transcript {
  readonly title: string;
  readonly preamble: readonly string[];
  readonly hostname: string | undefined;
  readonly notesBefore: readonly string[];
  readonly steps: readonly Step[];
}

export class TranscriptParseError extends Error {
  override name = 'TranscriptParseError';
}

const EMPTY: Shown = { text: '', noNewline: false, catV: false };
const FLAGS = '((?: \\((?:no newline at end|shown with cat -v)\\))*)';
const STREAM_HEADER = new RegExp(`^(stdout|stderr)${FLAGS}:( \\(empty\\))?$`);
const FILE_HEADER = new RegExp(`^(/.*?)${FLAGS}:(?: \\((empty|absent)\\))?$`);

/** Split shell words as run.sh's `q` (printf %q) writes them: \x, '…', $'…', "…". */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let i = 0;
  const ansiEscapes: Record<string, string> = { n: '\n', t: '\t', r: '\r', e: '\x1b', a: '\x07', b: '\b', f: '\f', v: '\v' };
  while (i < line.length) {
    const c = line[i]!;
    if (c === ' ' || c === '\t') {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
      i++;
      continue;
    }
    inWord = true;
    if (c === '\\') {
      cur += line[i + 1] ?? '';
      i += 2;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      const stop = end < 0 ? line.length : end;
      cur += line.slice(i + 1, stop);
      i = stop + 1;
    } else if (c === '$' && line[i + 1] === "'") {
      i += 2;
      while (i < line.length && line[i] !== "'") {
        if (line[i] === '\\' && i + 1 < line.length) {
          const e = line[i + 1]!;
          cur += ansiEscapes[e] ?? e;
          i += 2;
        } else {
          cur += line[i];
          i++;
        }
      }
      i++;
    } else if (c === '"') {
      i++;
      while (i < line.length && line[i] !== '"') {
        if (line[i] === '\\' && '"\\$`'.includes(line[i + 1] ?? '')) {
          cur += line[i + 1];
          i += 2;
        } else {
          cur += line[i];
          i++;
        }
      }
      i++;
    } else {
      cur += c;
      i++;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/** The program and its arguments from a step's command lines (assignments and redirections dropped). */
export function commandOf(commandLines: readonly string[]): { program: string; argv: string[] } {
  const run = [...commandLines].reverse().find((l) => l.startsWith('$ ') && !l.startsWith('$ cd '));
  if (run === undefined) return { program: '', argv: [] };
  const words = shellWords(run.slice(2));
  let k = 0;
  while (k < words.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[k]!)) k++;
  const rest = words.slice(k);
  const redirect = rest.findIndex((w) => w === '<' || w === '3<');
  const cmd = redirect < 0 ? rest : rest.slice(0, redirect);
  return { program: cmd[0] ?? '', argv: cmd.slice(1) };
}

/** Parse a transcript.md written by run.sh (golden or ours). Throws TranscriptParseError on a shape it does not know. */
export function parseTranscript(md: string): Transcript {
  const lines = md.split('\n');
  let i = 0;
  const fail = (what: string): never => {
    throw new TranscriptParseError(`transcript line ${i + 1}: ${what} (found ${JSON.stringify(lines[i] ?? '<end>')})`);
  };
  const skipBlank = () => {
    while (i < lines.length && lines[i] === '') i++;
  };
  const fence = (): string[] => {
    if (lines[i] !== '```') fail('expected a ``` block');
    i++;
    const body: string[] = [];
    while (i < lines.length && lines[i] !== '```') body.push(lines[i++]!);
    if (i >= lines.length) fail('unterminated ``` block');
    i++;
    return body;
  };
  const shownFrom = (flags: string, isEmpty: boolean): Shown => {
    const noNewline = flags.includes('no newline at end');
    const catV = flags.includes('shown with cat -v');
    if (isEmpty) return EMPTY;
    const body = fence();
    return { text: body.join('\n') + (noNewline ? '' : '\n'), noNewline, catV };
  };

  const title = lines[0]?.startsWith('# ') ? lines[0].slice(2) : '';
  if (title !== '') i = 1;
  const preamble: string[] = [];
  while (i < lines.length && !lines[i]!.startsWith('## ') && !lines[i]!.startsWith('### ')) {
    if (lines[i] !== '') preamble.push(lines[i]!);
    i++;
  }
  const hostLine = preamble.find((l) => l.startsWith('hostname during the run: '));
  const hostname = hostLine?.slice('hostname during the run: '.length);

  const notesBefore: string[] = [];
  const steps: Step[] = [];
  let section = '';
  type Mutable = { -readonly [K in keyof Step]: Step[K] } & { states: StateBlock[]; notesAfter: string[] };
  let cur: Mutable | undefined;

  while (i < lines.length) {
    const line = lines[i]!;
    if (line === '') {
      i++;
      continue;
    }
    const stepHead = /^### (\d+)\. (.*)$/.exec(line);
    if (stepHead !== null) {
      i++;
      skipBlank();
      const commandLines = fence();
      skipBlank();
      let fd3: string | undefined;
      if (lines[i] === 'fd 3 bytes (od -c):') {
        i++;
        fd3 = fence().join('\n');
        skipBlank();
      }
      const exitLine = /^exit: (\d+)$/.exec(lines[i] ?? '');
      if (exitLine === null) fail('expected "exit: N"');
      i++;
      skipBlank();
      const streams: Record<string, Shown> = {};
      for (const name of ['stdout', 'stderr']) {
        const h = STREAM_HEADER.exec(lines[i] ?? '');
        if (h === null || h[1] !== name) fail(`expected the ${name} header`);
        i++;
        streams[name] = shownFrom(h![2] ?? '', h![3] !== undefined);
        skipBlank();
      }
      const { program, argv } = commandOf(commandLines);
      cur = {
        number: Number(stepHead[1]),
        title: stepHead[2]!,
        section,
        commandLines,
        program,
        argv,
        ...(fd3 === undefined ? {} : { fd3 }),
        exit: Number(exitLine![1]),
        stdout: streams['stdout']!,
        stderr: streams['stderr']!,
        states: [],
        notesAfter: [],
      };
      steps.push(cur);
      continue;
    }
    if (line.startsWith('#### state: ')) {
      const stateTitle = line.slice('#### state: '.length);
      i++;
      skipBlank();
      let block: StateBlock;
      if (lines[i] === '```') {
        block = { kind: 'listing', title: stateTitle, lines: fence() };
      } else {
        const files: FileState[] = [];
        for (;;) {
          const h = FILE_HEADER.exec(lines[i] ?? '');
          if (h === null) break;
          i++;
          const absent = h[3] === 'absent';
          files.push({ path: h[1]!, absent, content: shownFrom(h[2] ?? '', h[3] !== undefined) });
          skipBlank();
        }
        // No files at all: run.sh's `show` was given an empty list (a glob or `ls | head` found nothing).
        block = { kind: 'files', title: stateTitle, files };
      }
      if (cur === undefined) fail('state block before the first step');
      cur!.states.push(block);
      continue;
    }
    // A free-text paragraph (run.sh's `note`): a section heading or a remark.
    const para: string[] = [];
    while (i < lines.length && lines[i] !== '') para.push(lines[i++]!);
    const text = para.join('\n');
    if (text.startsWith('## ')) section = text.slice(3);
    (cur?.notesAfter ?? notesBefore).push(text);
  }
  return { title, preamble, hostname, notesBefore, steps };
}

// ---------------------------------------------------------------------------------------------
// Masking (golden/VARIES.md)
// ---------------------------------------------------------------------------------------------

export interface MaskRule {
  readonly name: string;
  readonly pattern: RegExp;
  readonly replacement: string | ((match: string, ...groups: string[]) => string);
}

/** Salts that run.sh hands to the programs with -e: hashes with these salts do not vary. */
const GIVEN_SALTS = ['Gold3nSa'];
/** The Date header of run.sh's bulletin-dated.txt: given, so it must survive unmasked. */
const GIVEN_DATE = 'Mon, 01 Jan 2024 00:00:00 +0000';
export const MESSAGE_NAME_MASK = '<time>.<pid>.mail.golden.test';

/** One rule per row of VARIES.md's table (the random passwords are learned per run: randomPasswordsOf). */
export const VARIES_MASKS: readonly MaskRule[] = [
  {
    name: 'SHA-512 hash with a random salt',
    pattern: new RegExp(`\\$6\\$(?!(?:${GIVEN_SALTS.join('|')})\\$)[./0-9A-Za-z]{8}\\$[./0-9A-Za-z]{86}`, 'g'),
    replacement: '$6$<random salt>$<hash>',
  },
  { name: 'Maildir message file name', pattern: /\b\d{10}\.\d+\.mail\.golden\.test\b/g, replacement: MESSAGE_NAME_MASK },
  { name: 'open-smtp login time', pattern: /(RBLSMTPD="")\t\d+$/gm, replacement: '$1\t<unix time>' },
  {
    name: 'vuserinfo asctime',
    pattern: /^(account created|last auth): \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/gm,
    replacement: '$1: <asctime>',
  },
  {
    name: 'Date header inserted by vpopbull -c',
    pattern: new RegExp(`^Date: (?!${GIVEN_DATE.replace(/\+/g, '\\+')}$)\\w{3}, \\d\\d \\w{3} \\d{4} \\d\\d:\\d\\d:\\d\\d [+-]\\d{4}$`, 'gm'),
    replacement: 'Date: <date>',
  },
  { name: 'getopt error prefixed with the program path', pattern: /^\S+\/(\w+): invalid option/gm, replacement: '$1: invalid option' },
  {
    name: 'Random password line',
    pattern: /^Random password: (.+)$/gm,
    replacement: (_m: string, pw: string) => `Random password: <random password, ${pw.length} chars>`,
  },
];

/** Shorter "random passwords" would mask ordinary text; VARIES.md's are 8 and 10 characters. */
const MIN_LEARNED_PASSWORD = 4;

/** The random passwords a run printed (`Random password: X` lines): they vary, wherever they are stored. */
export function randomPasswordsOf(t: Transcript): string[] {
  const found = new Set<string>();
  for (const s of t.steps) {
    for (const m of s.stdout.text.matchAll(/^Random password: (.+)$/gm)) {
      if (m[1]!.length >= MIN_LEARNED_PASSWORD) found.add(m[1]!);
    }
  }
  return [...found].sort((a, b) => b.length - a.length);
}

export type Masker = (text: string) => string;

/**
 * A masker for one run: `extra` rules first (deliberate, documented alternatives for our side), then
 * VARIES.md's patterns, then the run's own random passwords wherever they appear (a vpasswd field,
 * a `clear passwd:` line), each replaced by its length.
 */
export function makeMasker(randomPasswords: readonly string[], extra: readonly MaskRule[] = []): Masker {
  const rules = [...extra, ...VARIES_MASKS];
  return (text: string) => {
    let s = text;
    for (const r of rules) {
      s = typeof r.replacement === 'string' ? s.replace(r.pattern, r.replacement) : s.replace(r.pattern, r.replacement);
    }
    for (const pw of randomPasswords) s = s.split(pw).join(`<random password, ${pw.length} chars>`);
    return s;
  };
}

// ---------------------------------------------------------------------------------------------
// Rules and deliberate differences (the data lives in test/compat/golden-expectations.ts)
// ---------------------------------------------------------------------------------------------

export type StreamRule =
  | { readonly kind: 'exact' }
  /** Only which stream carries output (empty or not) is C's: wording is ours. */
  | { readonly kind: 'stream'; readonly reason: string }
  /** Same lines in any order. */
  | { readonly kind: 'unordered'; readonly reason: string }
  /** Stream as C's, and our text must match this pattern. */
  | { readonly kind: 'match'; readonly pattern: RegExp; readonly reason: string };

export interface StepRule {
  /** The program the golden step runs (checked against the transcript, so renumbering is caught). */
  readonly program: string;
  readonly stdout?: StreamRule;
  readonly stderr?: StreamRule;
}

/** A state block whose file run.sh picks by a name that varies (`ls | head -1`). */
export interface StateRule {
  readonly step: number;
  readonly title: string;
  /** Our file must equal (masked path and content) one of the golden final tree's files. */
  readonly kind: 'one-of-final-tree';
  readonly reason: string;
}

export type StepAspect = 'exit' | 'stdout' | 'stderr' | 'state' | 'notes' | 'command' | 'missing';
export type TreeField = 'presence' | 'count' | 'type' | 'mode' | 'uid' | 'gid' | 'size' | 'target' | 'content';

/**
 * A difference from C that we keep on purpose. It must name the COMPATIBILITY.md section that says
 * so (`anchor`: the heading's GitHub anchor, e.g. `locking`). Give `actual` (masked) to pin what we
 * do instead, or `changes` to pin how our text differs from C's (for a long output of which a few
 * lines differ); without either any value is allowed at that place.
 */
export type DeliberateDifference =
  | {
      readonly anchor: string;
      readonly reason: string;
      readonly step: number;
      readonly aspect: StepAspect;
      /** For state differences: the subject as reports show it (`<state title>: <masked path>`). */
      readonly subject?: string;
      readonly actual?: string;
      readonly changes?: readonly string[];
    }
  | {
      readonly anchor: string;
      readonly reason: string;
      /** Masked final-tree path (message names as MESSAGE_NAME_MASK). */
      readonly tree: string;
      readonly field: TreeField;
      readonly actual?: string;
      readonly changes?: readonly string[];
    };

/** Another form of a varying value that our programs use on purpose (applied to our side only). */
export interface DeliberateMask extends MaskRule {
  readonly anchor: string;
  readonly reason: string;
}

export interface Expectations {
  readonly stepRules: Readonly<Record<number, StepRule>>;
  readonly stateRules: readonly StateRule[];
  readonly deliberate: readonly DeliberateDifference[];
  readonly oursMasks: readonly DeliberateMask[];
  /** Files `make install` copies verbatim (VARIES.md): only their presence is checked, and only if our install made them. */
  readonly verbatimInstallFiles: readonly string[];
}

export const EXACT: StreamRule = { kind: 'exact' };

/** Every step exact, nothing deliberate: what the harness tests use. */
export const STRICT_EXPECTATIONS: Expectations = {
  stepRules: {},
  stateRules: [],
  deliberate: [],
  oursMasks: [],
  verbatimInstallFiles: [],
};

// ---------------------------------------------------------------------------------------------
// Differences
// ---------------------------------------------------------------------------------------------

/** How a difference is rendered: a line diff, missing/extra lines of a set, or two short values. */
export type DiffStyle = 'text' | 'multiset' | 'value';

export interface Difference {
  readonly kind: 'step' | 'tree';
  /** The program whose behaviour differs; `run.sh` for the run's own shape, `tree` for the final tree. */
  readonly program: string;
  readonly step?: number;
  readonly title?: string;
  readonly command?: string;
  readonly aspect: StepAspect | TreeField;
  /** Where: `exit`, `stdout`, `state "alias files": /home/…`, a tree path, ... */
  readonly subject: string;
  readonly style: DiffStyle;
  /** Masked, whole. */
  readonly expected: string;
  readonly actual: string;
  readonly note?: string;
  allowedBy?: DeliberateDifference;
}

export interface StepResult {
  readonly number: number;
  readonly title: string;
  readonly program: string;
  readonly matches: boolean;
}

export interface Comparison {
  readonly steps: readonly StepResult[];
  readonly differences: readonly Difference[];
}

function splitLines(text: string): string[] {
  if (text === '') return [];
  return (text.endsWith('\n') ? text.slice(0, -1) : text).split('\n');
}

function showLine(line: string): string {
  return /[\x00-\x08\x0a-\x1f\x7f]|\t|\s$/.test(line) ? JSON.stringify(line) : line;
}

/** Changed lines of a line diff (LCS), `- expected` / `+ actual`, at most `max` of them. */
export function lineDiff(expected: string, actual: string, max = 8): string[] {
  const a = splitLines(expected);
  const b = splitLines(actual);
  const out: string[] = [];
  if (a.length === 0 && b.length === 0) {
    return expected === actual ? [] : [`- ${JSON.stringify(expected)}`, `+ ${JSON.stringify(actual)}`];
  }
  type Op = { op: '-' | '+' | ' '; line: string; at: number };
  const ops: Op[] = [];
  if (a.length * b.length > 4_000_000) {
    for (let k = 0; k < Math.max(a.length, b.length); k++) {
      if (a[k] === b[k]) continue;
      if (k < a.length) ops.push({ op: '-', line: a[k]!, at: k + 1 });
      if (k < b.length) ops.push({ op: '+', line: b[k]!, at: k + 1 });
    }
  } else {
    const w = b.length + 1;
    const lcs = new Uint32Array((a.length + 1) * w);
    for (let x = a.length - 1; x >= 0; x--) {
      for (let y = b.length - 1; y >= 0; y--) {
        lcs[x * w + y] = a[x] === b[y] ? lcs[(x + 1) * w + y + 1]! + 1 : Math.max(lcs[(x + 1) * w + y]!, lcs[x * w + y + 1]!);
      }
    }
    let x = 0;
    let y = 0;
    while (x < a.length || y < b.length) {
      if (x < a.length && y < b.length && a[x] === b[y]) {
        ops.push({ op: ' ', line: a[x]!, at: x + 1 });
        x++;
        y++;
      } else if (x < a.length && (y === b.length || lcs[(x + 1) * w + y]! >= lcs[x * w + y + 1]!)) {
        ops.push({ op: '-', line: a[x]!, at: x + 1 });
        x++;
      } else {
        ops.push({ op: '+', line: b[y]!, at: x + 1 });
        y++;
      }
    }
  }
  const changed = ops.filter((o) => o.op !== ' ');
  // `@ line N` before each run of changes, unless the only run starts at line 1.
  const oneRunFromTop = changed.length > 0 && changed[0]!.at === 1 && changed.every((o, k) => k === 0 || o.at - changed[k - 1]!.at <= 1);
  let lastAt = -2;
  let shown = 0;
  for (const o of changed) {
    if (shown >= max) break;
    if (!oneRunFromTop && o.at !== lastAt && o.at !== lastAt + 1) out.push(`@ line ${o.at}`);
    lastAt = o.at;
    out.push(`${o.op} ${showLine(o.line)}`);
    shown++;
  }
  if (changed.length > shown) out.push(`… ${changed.length - shown} more changed lines`);
  if (changed.length === 0) {
    // Same lines: only the final newline differs.
    out.push(`- ${expected.endsWith('\n') ? '(ends with a newline)' : '(no newline at end)'}`);
    out.push(`+ ${actual.endsWith('\n') ? '(ends with a newline)' : '(no newline at end)'}`);
  }
  return out;
}

/** Lines only in expected (`-`) and only in actual (`+`), as multisets. */
export function multisetDiff(expected: readonly string[], actual: readonly string[], max = 8): string[] {
  const count = new Map<string, number>();
  for (const l of expected) count.set(l, (count.get(l) ?? 0) + 1);
  const extra: string[] = [];
  for (const l of actual) {
    const n = count.get(l) ?? 0;
    if (n > 0) count.set(l, n - 1);
    else extra.push(l);
  }
  const missing: string[] = [];
  for (const l of expected) {
    const n = count.get(l) ?? 0;
    if (n > 0) {
      missing.push(l);
      count.set(l, n - 1);
    }
  }
  const out = [...missing.map((l) => `- ${showLine(l)}`), ...extra.map((l) => `+ ${showLine(l)}`)];
  return out.length > max ? [...out.slice(0, max), `… ${out.length - max} more`] : out;
}

/** Render a difference's expected vs actual for reports. */
export function renderDifference(d: Difference, max = 8): string[] {
  switch (d.style) {
    case 'value':
      return [`expected ${d.expected}, got ${d.actual}`];
    case 'multiset':
      return multisetDiff(splitLines(d.expected), splitLines(d.actual), max);
    case 'text':
      return lineDiff(d.expected, d.actual, max);
  }
}

// ---------------------------------------------------------------------------------------------
// Step comparison
// ---------------------------------------------------------------------------------------------

function describeShown(s: Shown, mask: Masker): string {
  if (s.text === '') return '';
  return mask(s.text) + (s.catV ? '\n(shown with cat -v)\n' : '');
}

function quoteWord(w: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

/** The command as reports show it: program and arguments, without the environment run.sh gave it. */
function commandText(step: Step): string {
  const run = [...step.commandLines].reverse().find((l) => l.startsWith('$ ') && !l.startsWith('$ cd '));
  const redirect = run === undefined ? '' : (/( <| 3<) \S+(?: 3< \S+)?$/.exec(run)?.[0] ?? '');
  return `${[step.program, ...step.argv].map(quoteWord).join(' ')}${redirect}`;
}

/** Paths and contents of the golden final tree, masked, for StateRule 'one-of-final-tree'. */
export type FinalTreeIndex = ReadonlyMap<string, readonly string[]>;

export interface CompareContext {
  readonly goldenMask: Masker;
  readonly oursMask: Masker;
  readonly goldenFinalTree?: FinalTreeIndex;
}

/** Masker pair for two transcripts: each learns its own random passwords; our side adds the deliberate masks. */
export function maskersFor(golden: Transcript, ours: Transcript, exp: Expectations): { goldenMask: Masker; oursMask: Masker } {
  return {
    goldenMask: makeMasker(randomPasswordsOf(golden)),
    oursMask: makeMasker(randomPasswordsOf(ours), exp.oursMasks),
  };
}

function compareStream(
  name: 'stdout' | 'stderr',
  rule: StreamRule,
  g: Shown,
  o: Shown,
  ctx: CompareContext,
  push: (aspect: StepAspect, subject: string, style: DiffStyle, expected: string, actual: string, note?: string) => void,
): void {
  const ge = g.text === '';
  const oe = o.text === '';
  const gm = describeShown(g, ctx.goldenMask);
  const om = describeShown(o, ctx.oursMask);
  if (ge !== oe) {
    // Always compared: C often writes errors to stdout, and callers read the stream they expect.
    push(name, name, 'text', gm, om, ge ? `C writes nothing on ${name}` : `C writes this on ${name}; ours writes nothing there`);
    return;
  }
  switch (rule.kind) {
    case 'exact':
      if (gm !== om || g.noNewline !== o.noNewline) push(name, name, 'text', gm, om);
      return;
    case 'stream':
      return;
    case 'unordered': {
      const gs = [...splitLines(gm)].sort();
      const os = [...splitLines(om)].sort();
      if (gs.join('\n') !== os.join('\n')) push(name, name, 'multiset', gs.join('\n'), os.join('\n'), `compared in any order: ${rule.reason}`);
      return;
    }
    case 'match':
      if (!rule.pattern.test(om)) push(name, name, 'text', gm, om, `ours must match ${rule.pattern} (${rule.reason})`);
      return;
  }
}

function fileKey(f: FileState, mask: Masker): { path: string; body: string } {
  if (f.absent) return { path: mask(f.path), body: '(absent)' };
  const flags = `${f.content.noNewline ? ' (no newline at end)' : ''}${f.content.catV ? ' (shown with cat -v)' : ''}`;
  return { path: mask(f.path), body: f.content.text === '' ? '(empty)' : `${mask(f.content.text)}${flags}` };
}

function compareState(
  step: number,
  g: StateBlock,
  o: StateBlock,
  ctx: CompareContext,
  rules: readonly StateRule[],
  push: (aspect: StepAspect, subject: string, style: DiffStyle, expected: string, actual: string, note?: string) => void,
): void {
  const subject = `state "${g.title}"`;
  if (g.kind === 'listing' || o.kind === 'listing') {
    if (g.kind !== o.kind) {
      push('state', subject, 'value', g.kind, o.kind, 'the state block has another shape');
      return;
    }
    const gl = (g as { lines: readonly string[] }).lines.map(ctx.goldenMask).sort();
    const ol = (o as { lines: readonly string[] }).lines.map(ctx.oursMask).sort();
    if (gl.join('\n') !== ol.join('\n')) push('state', subject, 'multiset', gl.join('\n'), ol.join('\n'));
    return;
  }
  const rule = rules.find((r) => r.step === step && r.title === g.title);
  const sortKeys = (files: readonly FileState[], mask: Masker) =>
    files.map((f) => fileKey(f, mask)).sort((x, y) => (x.path === y.path ? (x.body < y.body ? -1 : x.body > y.body ? 1 : 0) : x.path < y.path ? -1 : 1));
  const gk = sortKeys(g.files, ctx.goldenMask);
  const ok = sortKeys(o.files, ctx.oursMask);
  // Without the golden final tree to pick from, such a state is compared exactly like any other.
  if (rule?.kind === 'one-of-final-tree' && ctx.goldenFinalTree !== undefined) {
    for (const f of ok) {
      const candidates = ctx.goldenFinalTree.get(f.path) ?? [];
      if (!candidates.includes(f.body)) {
        push('state', `${subject}: ${f.path}`, 'text', gk.map((x) => `${x.path}:\n${x.body}`).join('\n'), `${f.path}:\n${f.body}`,
          `must equal one of the golden final tree's files at that path (${rule.reason})`);
      }
    }
    if (ok.length !== gk.length) push('state', subject, 'value', `${gk.length} files`, `${ok.length} files`);
    return;
  }
  const whole = (keys: readonly { path: string; body: string }[]) => keys.map((x) => `== ${x.path}\n${x.body}`).join('\n');
  if (gk.map((x) => x.path).join('\n') !== ok.map((x) => x.path).join('\n')) {
    push('state', subject, 'text', whole(gk), whole(ok), 'other files');
    return;
  }
  const paths = [...new Set(gk.map((x) => x.path))];
  for (const p of paths) {
    const gb = gk.filter((x) => x.path === p).map((x) => x.body);
    const ob = ok.filter((x) => x.path === p).map((x) => x.body);
    if (gb.length !== ob.length) {
      push('state', `${subject}: ${p}`, 'value', `${gb.length} file(s)`, `${ob.length} file(s)`);
      continue;
    }
    for (let k = 0; k < gb.length; k++) {
      if (gb[k] !== ob[k]) push('state', `${subject}: ${p}`, 'text', gb[k]!, ob[k]!);
    }
  }
}

/** First line of a stream, for the exit-code line of a report (why a program failed to start). */
function firstLine(s: Shown): string {
  const l = s.text.split('\n')[0] ?? '';
  return l.length > 120 ? `${l.slice(0, 117)}...` : l;
}

/** The program a run.sh note is about (`vadduser u001@big.test failed: 127`), else undefined. */
function programOfNote(note: string): string | undefined {
  return /^(\w+) \S+ failed: \d+$/.exec(note)?.[1];
}

/** Compare our transcript with the golden one, step by step. */
export function compareTranscripts(golden: Transcript, ours: Transcript, exp: Expectations, ctx: CompareContext): Comparison {
  const differences: Difference[] = [];
  const steps: StepResult[] = [];

  if (golden.hostname !== ours.hostname) {
    differences.push({
      kind: 'step', program: 'run.sh', aspect: 'command', subject: 'hostname during the run', style: 'value',
      expected: String(golden.hostname), actual: String(ours.hostname),
      note: 'run.sh could not fix the host name: Maildir file names will differ',
    });
  }
  const compareNotes = (after: number | undefined, gn: readonly string[], on: readonly string[], fallback: string) => {
    if (gn.join('\n\n') === on.join('\n\n')) return;
    const extra = on.filter((n) => !gn.includes(n));
    const byProgram = new Map<string, string[]>();
    for (const n of extra.length > 0 ? extra : on) {
      const p = programOfNote(n) ?? fallback;
      byProgram.set(p, [...(byProgram.get(p) ?? []), n]);
    }
    if (byProgram.size === 0) byProgram.set(fallback, []);
    for (const [program, notes] of byProgram) {
      differences.push({
        kind: 'step', program, ...(after === undefined ? {} : { step: after }),
        aspect: 'notes', subject: after === undefined ? 'notes before the first step' : `notes after step ${after}`,
        style: 'multiset', expected: gn.join('\n'), actual: on.join('\n'),
        note: notes.length > 0 ? `${notes.length} note(s) from run.sh` : undefined,
      });
    }
  };
  compareNotes(undefined, golden.notesBefore, ours.notesBefore, 'run.sh');

  for (const g of golden.steps) {
    const o = ours.steps.find((s) => s.number === g.number);
    const before = differences.length;
    const base = { kind: 'step' as const, program: g.program, step: g.number, title: g.title, command: commandText(g) };
    const push = (aspect: StepAspect, subject: string, style: DiffStyle, expected: string, actual: string, note?: string) => {
      differences.push({ ...base, aspect, subject, style, expected, actual, ...(note === undefined ? {} : { note }) });
    };
    if (o === undefined) {
      push('missing', 'step', 'value', 'the step', 'nothing: our run stopped before it');
      steps.push({ number: g.number, title: g.title, program: g.program, matches: false });
      continue;
    }
    if (o.title !== g.title || o.commandLines.join('\n') !== g.commandLines.join('\n')) {
      differences.push({ ...base, program: 'run.sh', aspect: 'command', subject: 'command', style: 'text',
        expected: `${g.title}\n${g.commandLines.join('\n')}\n`, actual: `${o.title}\n${o.commandLines.join('\n')}\n`,
        note: 'our run.sh ran another command here: the replay is not comparable' });
    }
    if (o.exit !== g.exit) {
      const cd = o.commandLines.find((l) => l.startsWith('$ cd '));
      let why = '';
      if (o.exit !== 0 && o.stderr.text !== '') why = ` (stderr: ${firstLine(o.stderr)})`;
      else if (o.exit === 1 && cd !== undefined && o.stdout.text === '') why = ` (nothing printed: run.sh could not ${cd.slice(2)}? an earlier step should have made it)`;
      push('exit', 'exit', 'value', String(g.exit), `${o.exit}${why}`);
    }
    const rule = exp.stepRules[g.number];
    compareStream('stdout', rule?.stdout ?? EXACT, g.stdout, o.stdout, ctx, push);
    compareStream('stderr', rule?.stderr ?? EXACT, g.stderr, o.stderr, ctx, push);
    const n = Math.max(g.states.length, o.states.length);
    for (let k = 0; k < n; k++) {
      const gs = g.states[k];
      const os = o.states[k];
      if (gs === undefined || os === undefined || gs.title !== os.title) {
        push('state', `state #${k + 1}`, 'value', gs === undefined ? 'no state block' : `"${gs.title}"`, os === undefined ? 'no state block' : `"${os.title}"`);
        continue;
      }
      compareState(g.number, gs, os, ctx, exp.stateRules, push);
    }
    compareNotes(g.number, g.notesAfter, o.notesAfter, g.program);
    const mine = differences.slice(before);
    applyDeliberate(mine, exp.deliberate);
    // run.sh notes about other programs (the silent vadduser loop) do not count against this step.
    const failing = mine.filter((d) => d.allowedBy === undefined && !(d.aspect === 'notes' && d.program !== g.program));
    steps.push({ number: g.number, title: g.title, program: g.program, matches: failing.length === 0 });
  }
  for (const o of ours.steps) {
    if (!golden.steps.some((g) => g.number === o.number)) {
      differences.push({ kind: 'step', program: 'run.sh', step: o.number, title: o.title, aspect: 'command', subject: 'extra step', style: 'value', expected: 'no such step', actual: commandText(o) });
    }
  }
  return { steps, differences };
}

/**
 * Every changed line of a difference as reports show it (`- C's line`, `+ ours`, `@ line N` before
 * a run of changes): what a deliberate difference's `changes` must equal, line for line.
 */
export function changedLines(d: Difference): string[] {
  return renderDifference(d, Infinity);
}

function pinsValue(x: DeliberateDifference, d: Difference): boolean {
  if (x.actual !== undefined && x.actual !== d.actual) return false;
  return x.changes === undefined || changedLines(d).join('\n') === x.changes.join('\n');
}

function applyDeliberate(diffs: readonly Difference[], deliberate: readonly DeliberateDifference[]): void {
  for (const d of diffs) {
    d.allowedBy = deliberate.find((x) => {
      if ('tree' in x) return d.kind === 'tree' && x.tree === d.subject && x.field === d.aspect && pinsValue(x, d);
      return d.kind === 'step' && x.step === d.step && x.aspect === d.aspect &&
        (x.subject === undefined || x.subject === d.subject) && pinsValue(x, d);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Final tree
// ---------------------------------------------------------------------------------------------

export interface ListingEntry {
  readonly type: string; // f d l ...
  readonly mode: string; // octal, e.g. 600
  readonly uid: string;
  readonly gid: string;
  readonly size: string; // '-' for dirs
  readonly path: string;
  readonly target?: string;
}

/** tree-listing.txt: `<type><mode> uid gid size sha256 path [-> target]`. */
export function parseListing(text: string): ListingEntry[] {
  const out: ListingEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\w)(\d+) (\S+) (\S+) (\S+) (\S+) (.*?)(?: -> (.*))?$/.exec(line);
    if (m === null) throw new TranscriptParseError(`tree listing: cannot read ${JSON.stringify(line)}`);
    out.push({ type: m[1]!, mode: m[2]!, uid: m[3]!, gid: m[4]!, size: m[5]!, path: m[7]!, ...(m[8] === undefined ? {} : { target: m[8] }) });
  }
  return out;
}

/** Where run.sh's snapshot puts a file of the listing (only plain files are copied). */
export function treeFileOf(treeDir: string, path: string): string | undefined {
  if (path.startsWith('/home/vpopmail/')) return join(treeDir, 'vpopmail', path.slice('/home/vpopmail/'.length));
  if (path.startsWith('/var/qmail/')) return join(treeDir, 'qmail', path.slice('/var/qmail/'.length));
  return undefined;
}

/** cat -v's view of bytes (control characters as ^X, high bytes as M-x), as run.sh shows them. */
export function catV(bytes: Uint8Array): string {
  let s = '';
  for (const b0 of bytes) {
    let b = b0;
    if (b >= 128) {
      s += 'M-';
      b -= 128;
    }
    if (b === 10 || b === 9) s += String.fromCharCode(b);
    else if (b < 32) s += `^${String.fromCharCode(b + 64)}`;
    else if (b === 127) s += '^?';
    else s += String.fromCharCode(b);
  }
  return s;
}

function isCdbPath(path: string): boolean {
  return path.endsWith('.cdb') || path.endsWith('/users/cdb');
}

let tinycdb: boolean | undefined;

/**
 * A cdb as text: every record in file order as `+klen,dlen:key->data` (tinycdb's dump format),
 * bytes shown as cat -v does. Read with our lib/cdb/reader.ts; when tinycdb's `cdb` is installed
 * its `cdb -d` must read the same records, so a file only our reader accepts is caught too.
 */
export function dumpCdb(file: string): string {
  let ours: string;
  try {
    const db = CdbReader.open(file);
    try {
      const parts: string[] = [];
      for (const [k, v] of db.entries()) parts.push(`+${k.length},${v.length}:${catV(k)}->${catV(v)}\n`);
      ours = parts.join('');
    } finally {
      db.close();
    }
  } catch (err) {
    return `(unreadable cdb: ${(err as Error).message})\n`;
  }
  tinycdb ??= spawnSync('cdb', ['-h'], { stdio: 'ignore' }).error === undefined;
  if (tinycdb) {
    const r = spawnSync('cdb', ['-d', file], { maxBuffer: 64 << 20 });
    const peer = r.status === 0 ? catV(r.stdout).replace(/\n$/, '') : undefined;
    if (peer !== ours) {
      return `${ours}(tinycdb's cdb -d reads it differently: ${peer === undefined ? r.stderr.toString().trim() : 'other records'})\n`;
    }
  }
  return ours;
}

/** A file of the final tree as compared: cdb files decoded, everything masked. */
export function treeContent(file: string, listedPath: string, mask: Masker): string {
  if (isCdbPath(listedPath)) return mask(dumpCdb(file));
  return mask(catV(readFileSync(file)));
}

export interface TreeSide {
  readonly listing: string;
  readonly treeDir: string;
  readonly mask: Masker;
  /** Verbatim install files our install step created (our side only). */
  readonly installed?: readonly string[];
}

/** Masked path → masked contents of every plain file in a final tree (for StateRule 'one-of-final-tree'). */
export function finalTreeIndex(side: TreeSide): FinalTreeIndex {
  const index = new Map<string, string[]>();
  for (const e of parseListing(side.listing)) {
    if (e.type !== 'f') continue;
    const file = treeFileOf(side.treeDir, e.path);
    if (file === undefined || !existsSync(file)) continue;
    const key = side.mask(e.path);
    index.set(key, [...(index.get(key) ?? []), treeContent(file, e.path, side.mask)]);
  }
  return index;
}

interface Item {
  readonly entry: ListingEntry;
  readonly content: string | undefined;
}

function loadItems(side: TreeSide): Map<string, Item[]> {
  const groups = new Map<string, Item[]>();
  for (const e of parseListing(side.listing)) {
    const key = side.mask(e.path);
    const file = e.type === 'f' ? treeFileOf(side.treeDir, e.path) : undefined;
    const content = file !== undefined && existsSync(file) ? treeContent(file, e.path, side.mask) : undefined;
    const entry = e.target === undefined ? e : { ...e, target: side.mask(e.target) };
    groups.set(key, [...(groups.get(key) ?? []), { entry, content }]);
  }
  for (const items of groups.values()) {
    items.sort((x, y) => {
      const a = `${x.entry.size}\n${x.content ?? ''}`;
      const b = `${y.entry.size}\n${y.content ?? ''}`;
      return a < b ? -1 : a > b ? 1 : 0;
    });
  }
  return groups;
}

function describeEntry(e: ListingEntry): string {
  return `${e.type}${e.mode} ${e.uid}:${e.gid} size ${e.size}${e.target === undefined ? '' : ` -> ${e.target}`}`;
}

/** Compare our final tree (listing + copied files) with the golden one. */
export function compareTrees(golden: TreeSide, ours: TreeSide, exp: Expectations): Difference[] {
  const diffs: Difference[] = [];
  const g = loadItems(golden);
  const o = loadItems(ours);
  const push = (subject: string, field: TreeField, style: DiffStyle, expected: string, actual: string, note?: string) => {
    diffs.push({ kind: 'tree', program: 'tree', aspect: field, subject, style, expected, actual, ...(note === undefined ? {} : { note }) });
  };
  const verbatim = new Set(exp.verbatimInstallFiles);
  const installed = new Set(ours.installed ?? []);
  const keys = [...new Set([...g.keys(), ...o.keys()])].sort();
  const missingDirs: string[] = [];
  const extraDirs: string[] = [];
  const under = (dirs: readonly string[], p: string) => dirs.some((d) => p.startsWith(`${d}/`));
  for (const key of keys) {
    const gi = g.get(key) ?? [];
    const oi = o.get(key) ?? [];
    if (verbatim.has(key)) {
      if (installed.has(key) && oi.length === 0) push(key, 'presence', 'value', 'present (our install step created it)', 'missing');
      continue;
    }
    if (oi.length === 0) {
      if (under(missingDirs, key)) continue;
      if (gi[0]!.entry.type === 'd') missingDirs.push(key);
      push(key, 'presence', 'value', describeEntry(gi[0]!.entry), 'missing');
      continue;
    }
    if (gi.length === 0) {
      if (under(extraDirs, key)) continue;
      if (oi[0]!.entry.type === 'd') extraDirs.push(key);
      push(key, 'presence', 'value', 'nothing', describeEntry(oi[0]!.entry), 'not in the C tree');
      continue;
    }
    if (gi.length !== oi.length) {
      push(key, 'count', 'value', `${gi.length} entries named like this`, `${oi.length}`, 'message files are matched by name pattern and count');
    }
    for (let k = 0; k < Math.min(gi.length, oi.length); k++) {
      const ge = gi[k]!.entry;
      const oe = oi[k]!.entry;
      if (ge.type !== oe.type) {
        push(key, 'type', 'value', describeEntry(ge), describeEntry(oe));
        continue;
      }
      if (ge.mode !== oe.mode) push(key, 'mode', 'value', `${ge.type}${ge.mode}`, `${oe.type}${oe.mode}`);
      if (ge.uid !== oe.uid) push(key, 'uid', 'value', ge.uid, oe.uid);
      if (ge.gid !== oe.gid) push(key, 'gid', 'value', ge.gid, oe.gid);
      if (ge.size !== oe.size) push(key, 'size', 'value', ge.size, oe.size);
      if (ge.target !== oe.target) push(key, 'target', 'value', String(ge.target), String(oe.target));
      const gc = gi[k]!.content;
      const oc = oi[k]!.content;
      if (gc !== undefined && gc !== oc) push(key, 'content', 'text', gc, oc ?? '(not copied by the snapshot)');
    }
  }
  for (const d of diffs) {
    if (d.aspect !== 'presence') continue;
    const dirs = d.actual === 'missing' ? missingDirs : extraDirs;
    if (!dirs.includes(d.subject)) continue;
    const below = [...(d.actual === 'missing' ? g : o).keys()].filter((k) => k.startsWith(`${d.subject}/`)).length;
    if (below > 0) (d as { note?: string }).note = `and ${below} entries below it`;
  }
  applyDeliberate(diffs, exp.deliberate);
  return diffs;
}

// ---------------------------------------------------------------------------------------------
// COMPATIBILITY.md anchors
// ---------------------------------------------------------------------------------------------

/** GitHub's anchors for a Markdown file's headings (lower case, punctuation dropped, spaces to -, -1 for repeats). */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let inFence = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) inFence = !inFence;
    if (inFence) continue;
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (m === null) continue;
    const base = m[1]!.toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** Deliberate differences and masks whose anchor is not a heading of COMPATIBILITY.md. */
export function missingAnchors(exp: Expectations, compatibilityMd: string): string[] {
  const anchors = headingAnchors(compatibilityMd);
  const all = [...exp.deliberate.map((d) => d.anchor), ...exp.oursMasks.map((m) => m.anchor)];
  return [...new Set(all.map((a) => a.replace(/^#/, '')).filter((a) => !anchors.has(a)))];
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

export interface ReportOptions {
  /** Changed lines per difference. */
  readonly maxLines?: number;
  /** Differences per program before "… N more". */
  readonly maxPerProgram?: number;
  readonly program?: string;
  readonly step?: number;
  /** Programs dist/bin holds (build-info.json): the others are reported as not built, without details. */
  readonly built?: ReadonlySet<string>;
}

/** Every golden step of the program exits 127 in our run: the program is not in dist/bin. */
function isNotBuilt(program: string, diffs: readonly Difference[], cmp: Comparison): boolean {
  const numbers = cmp.steps.filter((s) => s.program === program).map((s) => s.number);
  return numbers.length > 0 && numbers.every((n) => diffs.some((d) => d.step === n && d.aspect === 'exit' && /^127\b/.test(d.actual)));
}

/** Per program: how many of its golden steps match. */
export function countsByProgram(cmp: Comparison): Map<string, { steps: number; matching: number }> {
  const counts = new Map<string, { steps: number; matching: number }>();
  for (const s of cmp.steps) {
    const c = counts.get(s.program) ?? { steps: 0, matching: 0 };
    c.steps++;
    if (s.matches) c.matching++;
    counts.set(s.program, c);
  }
  return counts;
}

function renderOne(d: Difference, maxLines: number, indent: string): string[] {
  const out: string[] = [];
  const allowed = d.allowedBy === undefined ? '' : ` [allowed: COMPATIBILITY.md#${d.allowedBy.anchor.replace(/^#/, '')}]`;
  const note = d.note === undefined ? '' : ` (${d.note})`;
  if (d.style === 'value') return [`${indent}${d.subject}: expected ${d.expected}, got ${d.actual}${note}${allowed}`];
  out.push(`${indent}${d.subject}${note}${allowed}:`);
  for (const l of renderDifference(d, maxLines)) out.push(`${indent}  ${l}`);
  return out;
}

/** The differences of the given programs as readable text, grouped by program and step. */
export function formatDifferences(diffs: readonly Difference[], cmp: Comparison | undefined, opts: ReportOptions = {}): string {
  const maxLines = opts.maxLines ?? 6;
  const maxPer = opts.maxPerProgram ?? 40;
  let selected = diffs;
  if (opts.program !== undefined) selected = selected.filter((d) => d.program === opts.program);
  if (opts.step !== undefined) selected = selected.filter((d) => d.step === opts.step);
  const out: string[] = [];
  const programs = [...new Set(selected.map((d) => d.program))];
  const counts = cmp === undefined ? undefined : countsByProgram(cmp);
  for (const program of programs) {
    const mine = selected.filter((d) => d.program === program);
    const failing = mine.filter((d) => d.allowedBy === undefined);
    const c = counts?.get(program);
    const head = c === undefined ? `${program}: ${failing.length} differences` : `${program}: ${c.matching} of ${c.steps} steps match C`;
    if (c !== undefined && opts.built !== undefined && !opts.built.has(program)) {
      out.push(`${head} — not built (dist/bin has no ${program}: agents/${program}.ts does not exist yet)`);
      continue;
    }
    if (cmp !== undefined && c !== undefined && c.matching === 0 && isNotBuilt(program, failing, cmp)) {
      const first = failing.find((d) => d.aspect === 'exit');
      out.push(`${head} — not built? every step exits ${first?.actual ?? '127'}`);
      continue;
    }
    out.push(head);
    let shown = 0;
    let lastStep: number | undefined = -1;
    for (const d of mine) {
      if (shown >= maxPer) break;
      if (d.kind === 'step' && d.step !== lastStep) {
        out.push(d.step === undefined ? '  (before the first step)' : `  step ${d.step} "${d.title ?? ''}"${d.command === undefined ? '' : `  $ ${d.command}`}`);
        lastStep = d.step;
      }
      out.push(...renderOne(d, maxLines, d.kind === 'step' ? '    ' : '  '));
      shown++;
    }
    if (mine.length > shown) out.push(`  … ${mine.length - shown} more differences (scripts/golden-diff.ts --program ${program})`);
  }
  return out.join('\n');
}

/** A one-screen summary: steps matching per program, tree differences. */
export function formatSummary(cmp: Comparison, tree: readonly Difference[]): string {
  const counts = countsByProgram(cmp);
  const matching = cmp.steps.filter((s) => s.matches).length;
  const allowed = [...cmp.differences, ...tree].filter((d) => d.allowedBy !== undefined).length;
  const lines = [`golden replay: ${matching} of ${cmp.steps.length} steps match C; final tree: ${tree.filter((d) => d.allowedBy === undefined).length} differences; ${allowed} deliberate differences allowed`];
  for (const [p, c] of [...counts].sort((a, b) => (a[0] < b[0] ? -1 : 1))) lines.push(`  ${p.padEnd(16)} ${String(c.matching).padStart(3)} of ${String(c.steps).padStart(3)} steps match`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Replay (root, private mount namespace)
// ---------------------------------------------------------------------------------------------

export interface ReplayOptions {
  readonly projectRoot: string;
  /** The build to test: the project's dist/ (installed by scripts/install-bin.ts), or another `build.mjs --out` folder. */
  readonly distDir: string;
  readonly goldenDir?: string;
  readonly keep?: boolean;
  /** How long run.sh may take before it is killed (default REPLAY_TIMEOUT_MS). */
  readonly timeoutMs?: number;
}

/**
 * run.sh's 204 steps have taken 2.5 to 5 minutes on a shared, heavily loaded build machine (so a
 * 150 s limit cut replays short). Ten minutes is safe under load and still stops a step that hangs.
 */
export const REPLAY_TIMEOUT_MS = 600_000;

export interface Replay {
  readonly root: string;
  readonly outDir: string;
  /** '' when run.sh wrote nothing. */
  readonly transcript: string;
  readonly treeDir: string;
  /** undefined when run.sh did not reach its snapshot. */
  readonly listing: string | undefined;
  /** Verbatim install files (masked paths as /home/vpopmail/etc/…) our install step created. */
  readonly installed: readonly string[];
  readonly timedOut: boolean;
  readonly exitCode: number | null;
  readonly output: string;
  readonly seconds: number;
  cleanup(): void;
}

const VPOPMAIL_ID = 89;

function chownTree(path: string, uid: number, gid: number, skip: (path: string) => boolean = () => false): void {
  if (skip(path)) return;
  chownSync(path, uid, gid);
  if (!lstatSync(path).isDirectory()) return;
  for (const name of readdirSync(path)) chownTree(join(path, name), uid, gid, skip);
}

/**
 * Put another build's executables into bin (what install-bin does for dist/: each executable once,
 * mode 0711, one hard link per program), for a build made with `node build.mjs --out DIR`.
 */
function installOtherBuild(distDir: string, bin: string): void {
  const info = JSON.parse(readFileSync(join(distDir, 'build-info.json'), 'utf8')) as {
    executables: readonly { file: string; programs: readonly string[] }[];
  };
  rmSync(bin, { recursive: true, force: true });
  mkdirSync(bin, { mode: 0o755 });
  for (const e of info.executables) {
    const target = join(bin, e.file);
    copyFileSync(join(distDir, e.file), target);
    chmodSync(target, 0o711);
    for (const p of e.programs) if (p !== e.file) linkSync(target, join(bin, p));
  }
}

/** Is anything mounted at or below `dir` in our own mount namespace? */
function mountedBelow(dir: string): boolean {
  const info = readFileSync('/proc/self/mountinfo', 'utf8');
  return info.split('\n').some((l) => {
    const mp = l.split(' ')[4];
    return mp !== undefined && (mp === dir || mp.startsWith(`${dir}/`));
  });
}

// Runs inside `unshare --mount --propagation private`: nothing it mounts is seen outside. A mount
// point that does not exist (/home/vpopmail, /var/qmail on a machine without vpopmail) is made in
// an overlay over its parent whose upper layer is a tmpfs of this namespace: the real / is never
// written. The overlay is checked before mkdir, so a failed mount can never mkdir on the real disk.
const NAMESPACE_SCRIPT = String.raw`
set -eu
umask 022
OVL=0
ensure_dir() {
  local dir=$1 parent
  [ -d "$dir" ] && return 0
  parent=$(dirname "$dir")
  ensure_dir "$parent"
  OVL=$((OVL + 1))
  local s="$GOLDEN_SCRATCH/$OVL"
  mkdir -p "$s"
  mount -t tmpfs -o mode=0755 golden-scratch "$s"
  mkdir "$s/upper" "$s/work"
  mount -t overlay -o "lowerdir=$parent,upperdir=$s/upper,workdir=$s/work" golden-overlay "$parent"
  if [ "$(findmnt -n -o FSTYPE -T "$parent")" != overlay ]; then
    echo "golden: could not put an overlay on $parent; not creating $dir" >&2
    exit 97
  fi
  mkdir "$dir"
}
ensure_dir /home/vpopmail
ensure_dir /var/qmail
mount --bind "$GOLDEN_ROOT/vpopmail" /home/vpopmail
mount --bind "$GOLDEN_ROOT/qmail" /var/qmail
if [ "$(stat -c %d:%i /home/vpopmail)" != "$(stat -c %d:%i "$GOLDEN_ROOT/vpopmail")" ] ||
   [ "$(stat -c %d:%i /var/qmail)" != "$(stat -c %d:%i "$GOLDEN_ROOT/qmail")" ]; then
  echo "golden: the bind mounts are not in place" >&2
  exit 98
fi
cd "$GOLDEN_ROOT"
exec env VBIN=/home/vpopmail/bin bash "$GOLDEN_RUNSH" "$GOLDEN_ROOT/out"
`;

/**
 * Replay golden/run.sh with our programs: a fresh ~vpopmail and /var/qmail in a temp dir (our
 * install step, the qmail stand-ins, owner 89:89 as the fixtures README says), bind-mounted in a
 * private mount namespace. Needs root. Resolves when run.sh ends or the time limit kills it (a
 * hanging program leaves a partial transcript: the next step is the one that hung).
 */
export async function replayGolden(opts: ReplayOptions): Promise<Replay> {
  const goldenDir = opts.goldenDir ?? GOLDEN_DIR;
  if (process.geteuid?.() !== 0) throw new Error('the golden replay needs root (mount namespace, bind mounts, chown 89:89)');
  if (!existsSync(join(opts.distDir, 'build-info.json'))) throw new Error(`${opts.distDir}/build-info.json is missing: run node build.mjs first`);
  const started = Date.now();
  const root = mkdtempSync(join(tmpdir(), 'vpopmail-golden-'));
  const cleanup = () => {
    if (opts.keep === true) return;
    if (mountedBelow(root)) throw new Error(`not removing ${root}: something is still mounted below it`);
    rmSync(root, { recursive: true, force: true });
  };
  try {
    const vhome = join(root, 'vpopmail');
    const qhome = join(root, 'qmail');
    mkdirSync(join(vhome, 'etc'), { recursive: true, mode: 0o755 });
    // C's install leaves domains/ 0700 (golden listing); the programs create everything below it.
    mkdirSync(join(vhome, 'domains'), { mode: 0o700 });
    chmodSync(join(vhome, 'domains'), 0o700);
    for (const d of ['users', 'control', 'bin']) mkdirSync(join(qhome, d), { recursive: true, mode: 0o755 });
    mkdirSync(join(root, 'scratch'));

    const install = spawnSync(process.execPath, ['--import', 'tsx', join(opts.projectRoot, 'scripts', 'install-bin.ts'),
      '--prefix', vhome, '--owner', `${VPOPMAIL_ID}:${VPOPMAIL_ID}`], { cwd: opts.projectRoot, encoding: 'utf8' });
    if (install.status !== 0) throw new Error(`our install step failed (exit ${install.status}):\n${install.stdout}${install.stderr}${install.error?.message ?? ''}`);
    const installed = readdirSync(join(vhome, 'etc')).map((f) => `/home/vpopmail/etc/${f}`);
    if (resolve(opts.distDir) !== resolve(opts.projectRoot, 'dist')) installOtherBuild(opts.distDir, join(vhome, 'bin'));

    const standins = join(goldenDir, 'qmail-standins');
    for (const f of readdirSync(standins)) {
      copyFileSync(join(standins, f), join(qhome, 'bin', f));
      chmodSync(join(qhome, 'bin', f), f.endsWith('.py') ? 0o644 : 0o755);
    }
    // The files our install step put into etc/ keep the owners it gave them (C's install leaves
    // some of them root's); everything else is vpopmail's, as the fixtures README does it.
    const etc = join(vhome, 'etc');
    chownTree(vhome, VPOPMAIL_ID, VPOPMAIL_ID, (p) => p.startsWith(`${etc}/`));

    const child = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'bash', '-c', NAMESPACE_SCRIPT], {
      cwd: root,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        GOLDEN_ROOT: root,
        GOLDEN_SCRATCH: join(root, 'scratch'),
        GOLDEN_RUNSH: join(goldenDir, 'run.sh'),
      },
    });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL'); // the whole process group we started
      } catch {
        // already gone
      }
    }, opts.timeoutMs ?? REPLAY_TIMEOUT_MS);
    const exitCode = await new Promise<number | null>((resolve) => {
      child.on('error', (err) => {
        output += `${err.message}\n`;
        resolve(null);
      });
      child.on('close', (code) => resolve(code));
    });
    clearTimeout(timer);
    const outDir = join(root, 'out');
    const read = (f: string) => (existsSync(join(outDir, f)) ? readFileSync(join(outDir, f), 'utf8') : undefined);
    return {
      root,
      outDir,
      transcript: read('transcript.md') ?? '',
      treeDir: join(outDir, 'tree'),
      listing: read('tree-listing.txt'),
      installed,
      timedOut,
      exitCode,
      output,
      seconds: (Date.now() - started) / 1000,
      cleanup,
    };
  } catch (err) {
    cleanup();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// The whole comparison
// ---------------------------------------------------------------------------------------------

export interface GoldenRun {
  readonly golden: Transcript;
  readonly ours: Transcript;
  readonly steps: Comparison;
  readonly tree: readonly Difference[];
}

/** The golden side, parsed (transcript, listing, tree dir). */
export function loadGolden(goldenDir = GOLDEN_DIR): { transcript: Transcript; listing: string; treeDir: string } {
  return {
    transcript: parseTranscript(readFileSync(join(goldenDir, 'transcript.md'), 'utf8')),
    listing: readFileSync(join(goldenDir, 'tree-listing.txt'), 'utf8'),
    treeDir: join(goldenDir, 'tree'),
  };
}

/** Compare a replay output folder (transcript.md, tree/, tree-listing.txt) with the golden run. */
export function compareRun(
  out: { transcript: string; listing: string | undefined; treeDir: string; installed?: readonly string[] },
  exp: Expectations,
  goldenDir = GOLDEN_DIR,
): GoldenRun {
  const g = loadGolden(goldenDir);
  const ours = out.transcript === '' ? { title: '', preamble: [], hostname: undefined, notesBefore: [], steps: [] } : parseTranscript(out.transcript);
  const { goldenMask, oursMask } = maskersFor(g.transcript, ours, exp);
  const goldenSide: TreeSide = { listing: g.listing, treeDir: g.treeDir, mask: goldenMask };
  const steps = compareTranscripts(g.transcript, ours, exp, { goldenMask, oursMask, goldenFinalTree: finalTreeIndex(goldenSide) });
  const tree: Difference[] = out.listing === undefined
    ? [{ kind: 'tree', program: 'tree', aspect: 'presence', subject: '(whole tree)', style: 'value', expected: 'the final tree', actual: 'nothing: run.sh did not reach its snapshot' }]
    : compareTrees(goldenSide, { listing: out.listing, treeDir: out.treeDir, mask: oursMask, installed: out.installed ?? [] }, exp);
  return { golden: g.transcript, ours, steps, tree };
}
