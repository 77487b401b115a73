// SECURITY.md names, for every defence it claims, the tests that prove it (`file` › "title"). These
// tests keep the document honest: each named file exists, each named title is a test in it, and no
// defence goes without a test.
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../helpers/dist.ts';

const DOC = join(PROJECT_ROOT, 'SECURITY.md');

export interface Reference {
  readonly file: string;
  readonly title: string;
  readonly line: number;
}

/** `test/x.test.ts` › "title" on a line of its own, ending in `;`, `.` or nothing. */
const REFERENCE = /^`(test\/[^`]+\.test\.ts)` › "(.*)"[;.]?$/;

export function referencesIn(doc: string): Reference[] {
  return doc.split('\n').flatMap((text, i) => {
    const m = REFERENCE.exec(text.trim());
    return m === null ? [] : [{ file: m[1]!, title: m[2]!, line: i + 1 }];
  });
}

/** The titles of `test(...)` and `test.serial(...)` calls in a test file, as written (templates raw). */
export function titlesIn(source: string): { text: string; isTemplate: boolean }[] {
  const out: { text: string; isTemplate: boolean }[] = [];
  const start = /\btest(?:\.serial)?\(\s*(['"`])/g;
  for (let m = start.exec(source); m !== null; m = start.exec(source)) {
    const quote = m[1]!;
    let i = start.lastIndex;
    let text = '';
    for (; i < source.length && source[i] !== quote; i++) {
      if (source[i] === '\\' && quote !== '`') {
        text += source[++i];
        continue;
      }
      text += source[i];
    }
    out.push({ text, isTemplate: quote === '`' && text.includes('${') });
  }
  return out;
}

/** A template title as a pattern: its `${...}` parts match anything. */
function templatePattern(template: string): RegExp {
  const parts = template.split(/\$\{[^}]*\}/).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('.+?')}$`);
}

export function isNamedTest(titles: readonly { text: string; isTemplate: boolean }[], title: string): boolean {
  return titles.some((t) => t.text === title || (t.isTemplate && templatePattern(t.text).test(title)));
}

test('every test SECURITY.md names exists: the file, and a test of that title in it', (t) => {
  const refs = referencesIn(readFileSync(DOC, 'utf8'));
  t.true(refs.length >= 40, `only ${refs.length} test references found: has the format changed?`);
  const missing: string[] = [];
  const sources = new Map<string, ReturnType<typeof titlesIn>>();
  for (const r of refs) {
    const path = join(PROJECT_ROOT, r.file);
    if (!existsSync(path)) {
      missing.push(`line ${r.line}: no file ${r.file}`);
      continue;
    }
    if (!sources.has(r.file)) sources.set(r.file, titlesIn(readFileSync(path, 'utf8')));
    if (!isNamedTest(sources.get(r.file)!, r.title)) missing.push(`line ${r.line}: ${r.file} has no test "${r.title}"`);
  }
  t.deepEqual(missing, []);
});

/** The claims (`- **...` bullets) of the "## Defences" section that name no test; undefined without the section. */
export function bareClaims(doc: string): string[] | undefined {
  const lines = doc.split('\n');
  const from = lines.findIndex((l) => l === '## Defences');
  if (from < 0) return undefined;
  const end = lines.findIndex((l, i) => i > from && l.startsWith('## '));
  const bare: string[] = [];
  let claim: string | undefined;
  let named = 0;
  const close = () => {
    if (claim !== undefined && named === 0) bare.push(claim);
  };
  for (const line of lines.slice(from + 1, end < 0 ? undefined : end)) {
    if (line.startsWith('- **') || line.startsWith('### ')) {
      close();
      claim = line.startsWith('- **') ? line.slice(0, 100) : undefined;
      named = 0;
    }
    if (REFERENCE.test(line.trim())) named++;
  }
  close();
  return bare;
}

test('every defence SECURITY.md claims names at least one test', (t) => {
  t.deepEqual(bareClaims(readFileSync(DOC, 'utf8')), []);
});

test('the reference checks can fail: a missing title, a missing file and a bare claim are caught', (t) => {
  const titles = titlesIn("test('plain title', () => {});\ntest(`${x} templated title`, () => {});\ntest('it\\'s escaped', () => {});");
  t.true(isNamedTest(titles, 'plain title'));
  t.true(isNamedTest(titles, 'vadduser templated title'));
  t.true(isNamedTest(titles, "it's escaped"));
  t.false(isNamedTest(titles, 'plain title, changed'));
  t.false(isNamedTest(titles, 'templated title'));
  t.deepEqual(referencesIn('`test/a.test.ts` › "x";\nno reference here\n'), [{ file: 'test/a.test.ts', title: 'x', line: 1 }]);
  t.deepEqual(bareClaims('## Defences\n### A\n- **named.**\n  `test/a.test.ts` › "x".\n- **bare.** no test\n## Next\n'), ['- **bare.** no test']);
});
