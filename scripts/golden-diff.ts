// Replays the golden C run with our programs (dist/bin) and prints where we differ from C.
//
//   node --import tsx scripts/golden-diff.ts [--step N] [--program NAME] [--tree] [--from DIR] [--keep] [--dist DIR] [--lines N]
//
//   --step N        only step N, every changed line, with both sides in full
//   --program NAME  only NAME's steps (vadduser, vchkpw, ...; `run.sh` for the run's own shape)
//   --tree          only the final tree
//   --from DIR      compare an earlier replay's output (DIR/transcript.md, tree/, tree-listing.txt;
//                   GOLDEN_KEEP=1 or --keep leaves one) instead of replaying
//   --keep          keep the replay's temp folder and print its path
//   --dist DIR      replay another build (`node build.mjs --out DIR`) instead of dist/
//   --lines N       changed lines shown per difference (default 12)
// Needs root (the replay uses a private mount namespace) and `node build.mjs` first. Exit 0 when
// nothing differs beyond the documented deliberate differences, 1 otherwise, 2 on misuse.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXPECTATIONS } from '../test/compat/golden-expectations.ts';
import { compareRun, formatDifferences, formatSummary, lineDiff, replayGolden, type Difference, type Shown } from '../test/helpers/golden.ts';

const ROOT = join(import.meta.dirname, '..');

function builtPrograms(dist: string): Set<string> {
  const info = join(dist, 'build-info.json');
  return new Set(existsSync(info) ? (JSON.parse(readFileSync(info, 'utf8')) as { programs: string[] }).programs : []);
}

function usage(msg: string): never {
  process.stderr.write(`golden-diff: ${msg}\nusage: node --import tsx scripts/golden-diff.ts [--step N] [--program NAME] [--tree] [--from DIR] [--keep] [--dist DIR] [--lines N]\n`);
  process.exit(2);
}

interface Args {
  step?: number;
  program?: string;
  tree: boolean;
  from?: string;
  keep: boolean;
  lines: number;
  dist: string;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { tree: false, keep: process.env['GOLDEN_KEEP'] === '1', lines: 12, dist: join(ROOT, 'dist') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => argv[++i] ?? usage(`${a} needs a value`);
    switch (a) {
      case '--step': {
        const v = value();
        if (!/^\d+$/.test(v)) usage(`--step wants a step number, not ${v}`);
        args.step = Number(v);
        break;
      }
      case '--program': args.program = value(); break;
      case '--tree': args.tree = true; break;
      case '--from': args.from = value(); break;
      case '--keep': args.keep = true; break;
      case '--dist': args.dist = value(); break;
      case '--lines': {
        const v = value();
        if (!/^\d+$/.test(v)) usage(`--lines wants a number, not ${v}`);
        args.lines = Number(v);
        break;
      }
      case '-h': case '--help': usage('help');
      default: usage(`unknown option ${a}`);
    }
  }
  return args;
}

function showBlock(label: string, s: Shown | undefined): string {
  if (s === undefined) return `${label}: (no such step in our run)`;
  if (s.text === '') return `${label}: (empty)`;
  return `${label}${s.noNewline ? ' (no newline at end)' : ''}:\n${s.text.replace(/\n$/, '').split('\n').map((l) => `  | ${l}`).join('\n')}`;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  let out: { transcript: string; listing: string | undefined; treeDir: string; installed: readonly string[] };
  let cleanup = () => {};
  if (args.from !== undefined) {
    const dir = args.from;
    if (!existsSync(join(dir, 'transcript.md'))) usage(`${dir}/transcript.md does not exist`);
    const listing = join(dir, 'tree-listing.txt');
    const etc = join(dir, '..', 'vpopmail', 'etc');
    out = {
      transcript: readFileSync(join(dir, 'transcript.md'), 'utf8'),
      listing: existsSync(listing) ? readFileSync(listing, 'utf8') : undefined,
      treeDir: join(dir, 'tree'),
      // A kept replay has its install dir beside out/: what the install step left in etc.
      installed: existsSync(etc) ? readdirSync(etc).map((f) => `/home/vpopmail/etc/${f}`) : [],
    };
  } else {
    process.stderr.write(`golden-diff: replaying golden/run.sh with ${args.dist}/bin ...\n`);
    const replay = await replayGolden({ projectRoot: ROOT, distDir: args.dist, keep: args.keep });
    cleanup = replay.cleanup;
    process.stderr.write(`golden-diff: replay took ${replay.seconds.toFixed(1)} s${replay.timedOut ? ' and was stopped by the time limit' : ''}${args.keep ? `; kept in ${replay.root} (use --from ${replay.outDir})` : ''}\n`);
    if (replay.transcript === '') process.stderr.write(`golden-diff: run.sh wrote no transcript:\n${replay.output}\n`);
    out = replay;
  }
  try {
    const run = compareRun(out, EXPECTATIONS);
    const all: Difference[] = [...run.steps.differences, ...run.tree];
    let selected: readonly Difference[] = all;
    if (args.tree) selected = run.tree;
    const text = formatDifferences(selected, run.steps, {
      maxLines: args.lines,
      maxPerProgram: args.step !== undefined || args.program !== undefined ? Infinity : 60,
      // Asking for one program or step: show its differences even when it is not built.
      ...(args.step !== undefined || args.program !== undefined ? {} : { built: builtPrograms(args.dist) }),
      ...(args.program === undefined ? {} : { program: args.program }),
      ...(args.step === undefined ? {} : { step: args.step }),
    });
    if (args.step !== undefined) {
      const g = run.golden.steps.find((s) => s.number === args.step);
      if (g === undefined) usage(`the golden run has no step ${args.step}`);
      const o = run.ours.steps.find((s) => s.number === args.step);
      process.stdout.write(`step ${g.number} "${g.title}" (${g.program})\n${g.commandLines.map((l) => `  ${l}`).join('\n')}\n`);
      process.stdout.write(`exit: C ${g.exit}, ours ${o?.exit ?? '-'}\n`);
      process.stdout.write(`${showBlock('C stdout', g.stdout)}\n${showBlock('our stdout', o?.stdout)}\n`);
      process.stdout.write(`${showBlock('C stderr', g.stderr)}\n${showBlock('our stderr', o?.stderr)}\n`);
      const rule = EXPECTATIONS.stepRules[g.number];
      process.stdout.write(`rule: stdout ${rule?.stdout?.kind ?? 'exact'}, stderr ${rule?.stderr?.kind ?? 'exact'}\n\n`);
      for (const d of all.filter((x) => x.step === args.step && x.style === 'text' && x.aspect === 'state')) {
        process.stdout.write(`${d.subject}, whole diff:\n${lineDiff(d.expected, d.actual, Infinity).map((l) => `  ${l}`).join('\n')}\n`);
      }
    }
    process.stdout.write(text === '' ? 'no differences\n' : `${text}\n`);
    if (args.step === undefined && args.program === undefined) process.stdout.write(`\n${formatSummary(run.steps, run.tree)}\n`);
    const failing = selected.filter((d) => d.allowedBy === undefined &&
      (args.program === undefined || d.program === args.program) && (args.step === undefined || d.step === args.step));
    process.exitCode = failing.length === 0 ? 0 : 1;
  } finally {
    cleanup();
  }
}

await main();
