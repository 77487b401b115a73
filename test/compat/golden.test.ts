// The golden compatibility test: replay the scripted C vpopmail 5.6.13 run (golden/run.sh) with
// our programs from dist/bin, in a private mount namespace, and compare every step and the final
// tree with C's. One test per program, so each developer sees which of their steps differ; it
// fails until every program matches. Details: `node --import tsx scripts/golden-diff.ts --program X`.
// GOLDEN_KEEP=1 keeps the replay's temp folder (its path is logged).
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildInfo, DIST, PROJECT_ROOT } from '../helpers/dist.ts';
import {
  compareRun,
  formatDifferences,
  formatSummary,
  loadGolden,
  missingAnchors,
  REPLAY_TIMEOUT_MS,
  replayGolden,
  type Difference,
  type GoldenRun,
  type Replay,
} from '../helpers/golden.ts';
import { EXPECTATIONS } from './golden-expectations.ts';

const golden = loadGolden();
const programs = [...new Set(golden.transcript.steps.map((s) => s.program))];
const keep = process.env['GOLDEN_KEEP'] === '1';
/**
 * Each test waits for the one replay: run.sh's limit plus the install step and the comparison.
 * t.timeout also lifts ava's global inactivity timeout (package.json) for that long.
 */
const TEST_TIMEOUT_MS = REPLAY_TIMEOUT_MS + 120_000;

let replay: Replay | undefined;
let outcome: Promise<GoldenRun> | undefined;

function run(): Promise<GoldenRun> {
  outcome ??= (async () => {
    replay = await replayGolden({ projectRoot: PROJECT_ROOT, distDir: DIST, keep, timeoutMs: REPLAY_TIMEOUT_MS });
    return compareRun(replay, EXPECTATIONS);
  })();
  return outcome;
}

test.before(() => {
  // Start the replay once; every test awaits it (a failure to replay fails each test with its reason).
  run().catch(() => {});
});

test.after.always(() => {
  replay?.cleanup();
});

const failing = (diffs: readonly Difference[]) => diffs.filter((d) => d.allowedBy === undefined);
/** ava prints the message after the title: start the report on a line of its own. */
const report = (text: string) => `\n${text}`;
const built = () => new Set(buildInfo().programs);

test(`the replay runs all ${golden.transcript.steps.length} golden steps with the golden commands and host name`, async (t) => {
  t.timeout(TEST_TIMEOUT_MS);
  const r = await run();
  t.log(`replay took ${replay!.seconds.toFixed(1)} s${keep ? `; kept in ${replay!.root}` : ''}`);
  t.log(formatSummary(r.steps, r.tree));
  const stale = EXPECTATIONS.deliberate.filter((x) => ![...r.steps.differences, ...r.tree].some((d) => d.allowedBy === x));
  for (const x of stale) t.log(`deliberate difference no longer seen (remove it?): COMPATIBILITY.md#${x.anchor}: ${x.reason}`);
  t.false(replay!.timedOut, `run.sh was stopped by the time limit; the step after the last recorded one hung\n${replay!.output.slice(-2000)}`);
  t.not(replay!.transcript, '', `run.sh wrote no transcript:\n${replay!.output.slice(-2000)}`);
  const mine = failing(r.steps.differences.filter((d) => d.program === 'run.sh'));
  if (mine.length > 0) t.fail(report(formatDifferences(mine, r.steps)));
  t.is(r.ours.steps.length, golden.transcript.steps.length);
});

for (const program of programs) {
  const count = golden.transcript.steps.filter((s) => s.program === program).length;
  test(`${program}: its ${count} golden steps give C's exit codes, output streams, outputs and recorded state`, async (t) => {
    t.timeout(TEST_TIMEOUT_MS);
    const r = await run();
    const mine = failing(r.steps.differences.filter((d) => d.program === program));
    if (mine.length > 0) t.fail(report(formatDifferences(mine, r.steps, { maxPerProgram: 30, maxLines: 6, built: built() })));
    else t.pass();
  });
}

test('the final tree matches C: masked contents, decoded cdb files, types, modes, owners, sizes, symlinks', async (t) => {
  t.timeout(TEST_TIMEOUT_MS);
  const r = await run();
  const mine = failing(r.tree);
  if (mine.length > 0) t.fail(report(formatDifferences(mine, r.steps, { maxPerProgram: 40, maxLines: 6 })));
  else t.pass();
});

test('every deliberate difference cites a section that exists in COMPATIBILITY.md', (t) => {
  const compatibility = readFileSync(join(PROJECT_ROOT, 'COMPATIBILITY.md'), 'utf8');
  t.deepEqual(missingAnchors(EXPECTATIONS, compatibility), [], 'add the section to COMPATIBILITY.md, or fix the anchor');
  for (const d of [...EXPECTATIONS.deliberate, ...EXPECTATIONS.oursMasks]) t.not(d.reason.trim(), '', `COMPATIBILITY.md#${d.anchor} needs a reason`);
});

test('every step rule names the program its golden step runs and gives a reason when not exact', (t) => {
  for (const [n, rule] of Object.entries(EXPECTATIONS.stepRules)) {
    const step = golden.transcript.steps.find((s) => s.number === Number(n));
    t.is(step?.program, rule.program, `golden-expectations.ts: step ${n} is not a ${rule.program} step`);
    for (const s of [rule.stdout, rule.stderr]) {
      if (s !== undefined && s.kind !== 'exact') t.not(s.reason.trim(), '', `step ${n}: a ${s.kind} rule needs a reason`);
    }
  }
  for (const rule of EXPECTATIONS.stateRules) {
    const step = golden.transcript.steps.find((s) => s.number === rule.step);
    t.true(step?.states.some((b) => b.title === rule.title) ?? false, `golden step ${rule.step} has no state "${rule.title}"`);
  }
});
