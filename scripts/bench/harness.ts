// The bench harness: whole-process timings (median, min, max, peak RSS) and ratios to baselines
// measured in the same run. Cases live in scripts/bench/*.bench.ts, each a default-exported
// `async (b: Bench) => void`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ProcessCase {
  /** Absolute path of the program (no PATH search). */
  readonly argv: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** File to give as stdin (default /dev/null). */
  readonly stdin?: string;
  /** Bytes for fd 3 (checkpassword). */
  readonly fd3?: Uint8Array;
  /** Untimed command run before every timed run (e.g. reset a tree). */
  readonly setup?: readonly string[];
  readonly runs?: number;
  readonly warmup?: number;
  /** The exit code every run must give (default 0): a run that failed is not a timing of the work. */
  readonly expectCode?: number;
}

/** A case of timeTogether: the process and the name it is reported under. */
export interface NamedCase extends ProcessCase {
  readonly name: string;
}

export interface Timing {
  readonly name: string;
  readonly medianMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  readonly peakRssMiB: number;
  readonly codes: readonly number[];
  readonly expectCode: number;
}

export interface InProcessTiming {
  readonly name: string;
  readonly perOpUs: number;
  readonly totalMs: number;
  readonly ops: number;
}

/** The parts of dist/build-info.json the bench reads. */
export interface BuildInfo {
  /** The runtime of the multi-call executable. */
  readonly runtime: 'bun' | 'node';
  /** The `bun build` flags of the Bun executable (absent from builds made before they were recorded). */
  readonly bunCompileFlags?: readonly string[];
}

const RUNNER = join(import.meta.dirname, 'runner.py');

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export class Bench {
  readonly baselines = new Map<string, Timing>();
  readonly lines: string[] = [];
  /** Fewer runs for a quick look (`npm run bench -- --quick`). */
  readonly runsScale: number;

  constructor(
    readonly root: string,
    readonly dist: string,
    readonly projectRoot: string,
    quick: boolean,
  ) {
    this.runsScale = quick ? 0.25 : 1;
  }

  /** The Bun binary of the npm package, for floors and in-process cases run on bare Bun. */
  get bun(): string {
    return join(this.projectRoot, 'node_modules/@oven/bun-linux-x64/bin/bun');
  }

  /** What build.mjs built into dist/ (dist/build-info.json). */
  buildInfo(): BuildInfo {
    return JSON.parse(readFileSync(join(this.dist, 'build-info.json'), 'utf8')) as BuildInfo;
  }

  /**
   * A Bun executable of `source` (JavaScript), compiled as build.mjs compiles ours (the flags it
   * recorded in build-info.json), for floors: the same runtime start, nothing of our code.
   */
  compileBun(name: string, source: string): string {
    const flags = this.buildInfo().bunCompileFlags;
    if (flags === undefined) throw new Error(`${join(this.dist, 'build-info.json')} does not say how Bun was run: rebuild (node build.mjs)`);
    const file = join(this.root, `${name}.js`);
    const exe = join(this.root, name);
    writeFileSync(file, source);
    const r = spawnSync(this.bun, ['build', ...flags, file, '--outfile', exe], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`bun build --compile of ${name} failed: ${r.stderr}`);
    return exe;
  }

  /**
   * A Bun executable that loads node:fs and reads one empty file, nothing else: what any program
   * of ours pays before its first system call. Bun offers no cheaper synchronous file I/O fit for
   * our files: Bun.mmap opens a file read-write and maps it shared and writable, Bun.file reads are
   * promises served by a thread pool, and libc through bun:ffi compiles a trampoline per function
   * (a floor written that way read slower than the node:fs one). Timed beside a floor, it tells
   * the runtime's part of that floor from the system calls'.
   */
  nodeFsOnly(): string {
    return this.compileBun('node-fs-only', "import { readFileSync } from 'node:fs';\nif (readFileSync('/dev/null').length !== 0) process.exit(1);\n");
  }

  /** Time a process `runs` times (after `warmup` untimed runs). */
  time(name: string, c: ProcessCase): Timing {
    return this.timeTogether([{ name, ...c }], c.runs, c.warmup)[0]!;
  }

  /**
   * Time several processes in turns: each round runs every case once, in order. This machine's
   * speed drifts (the same build has read 1.3x and 1.9x a baseline minutes apart), so a ratio is
   * only sound between timings taken in the same rounds; the cases' own `runs`/`warmup` are ignored.
   */
  timeTogether(cases: readonly NamedCase[], runsWanted = 30, warmup = 3): Timing[] {
    const runs = Math.max(3, Math.round(runsWanted * this.runsScale));
    const group = cases.map((c) => ({
      argv: c.argv,
      env: c.env ?? { PATH: '/usr/bin:/bin' },
      cwd: c.cwd ?? null,
      stdin: c.stdin ?? null,
      fd3: c.fd3 === undefined ? null : Buffer.from(c.fd3).toString('hex'),
      setup: c.setup ?? null,
    }));
    const names = cases.map((c) => c.name).join(', ');
    dropFromPageCache(cases.map((c) => c.argv[0]!));
    const r = spawnSync('python3', [RUNNER], { input: JSON.stringify({ group, runs, warmup }), encoding: 'utf8', maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`bench runner failed for ${names}: ${r.stderr}`);
    const data = JSON.parse(r.stdout) as { results: { ms: number[]; rss_kib: number[]; codes: number[] }[] };
    return data.results.map((d, i) => ({
      name: cases[i]!.name,
      medianMs: median(d.ms),
      minMs: Math.min(...d.ms),
      maxMs: Math.max(...d.ms),
      peakRssMiB: Math.max(...d.rss_kib) / 1024,
      codes: [...new Set(d.codes)],
      expectCode: cases[i]!.expectCode ?? 0,
    }));
  }

  /** Time an in-process function over `ops` calls. */
  timeInProcess(name: string, ops: number, fn: (i: number) => void): InProcessTiming {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < ops; i++) fn(i);
    const totalMs = Number(process.hrtime.bigint() - t0) / 1e6;
    return { name, perOpUs: (totalMs * 1000) / ops, totalMs, ops };
  }

  baseline(key: string, name: string, c: ProcessCase): Timing {
    const t = this.time(name, c);
    this.baselines.set(key, t);
    this.print(`${pad(name)} ${fmt(t)}`);
    return t;
  }

  /** Print a timing with its ratio to each baseline: a key of `baselines`, or a timing of the same rounds. */
  report(t: Timing, against: readonly (string | Timing)[] = ['true', 'runtime']): void {
    const ratios = against
      .map((k) => {
        const b = typeof k === 'string' ? this.baselines.get(k) : k;
        return b === undefined ? undefined : `${(t.medianMs / b.medianMs).toFixed(2)}x ${b.name}`;
      })
      .filter((x) => x !== undefined);
    this.print(`${pad(t.name)} ${fmt(t)}  ${ratios.join(', ')}`);
  }

  section(title: string): void {
    this.print(`\n## ${title}`);
  }

  print(line: string): void {
    this.lines.push(line);
    process.stdout.write(`${line}\n`);
  }
}

/**
 * Write back what the set-up wrote (its writeback would otherwise land in the fsyncs of the first
 * timed runs), then drop the programs' pages from the page cache (posix_fadvise DONTNEED, which GNU
 * dd's iflag=nocache makes), so that the warm-up runs read them from disk as the first call after a
 * reboot does. How a file's pages came into the cache changes how fast it starts: the
 * same executable started 8.99 ms from pages a copy had just written and 10.14 ms from pages read
 * back from disk, bare Bun 3.79 against 4.70 ms (medians of 60 interleaved rounds). A fresh build
 * beside an npm binary installed long before would otherwise compare two different states.
 */
function dropFromPageCache(programs: readonly string[]): void {
  spawnSync('/bin/sync');
  for (const p of new Set(programs)) {
    if (existsSync(p)) spawnSync('/usr/bin/dd', [`if=${p}`, 'iflag=nocache', 'count=0', 'status=none']);
  }
}

function pad(s: string): string {
  return s.length >= 44 ? s : s + ' '.repeat(44 - s.length);
}

export function fmt(t: Timing): string {
  return `median ${t.medianMs.toFixed(2)} ms (min ${t.minMs.toFixed(2)}, max ${t.maxMs.toFixed(2)}), peak RSS ${t.peakRssMiB.toFixed(1)} MiB${t.codes.length === 1 && t.codes[0] === t.expectCode ? '' : ` FAILED RUNS: exit codes ${t.codes.join('/')}, expected ${t.expectCode}`}`;
}

/** A ~vpopmail and a /var/qmail of a bench case's own under `dir`, and the environment naming them. */
export interface BenchHome {
  readonly vhome: string;
  readonly qhome: string;
  readonly env: Record<string, string>;
}

export function benchHome(dir: string): BenchHome {
  const vhome = join(dir, 'vpopmail');
  const qhome = join(dir, 'qmail');
  for (const d of ['etc', 'domains', 'bin']) mkdirSync(join(vhome, d), { recursive: true });
  for (const d of ['users', 'control', 'bin']) mkdirSync(join(qhome, d), { recursive: true });
  return { vhome, qhome, env: { PATH: '/usr/bin:/bin', VPOPMAIL_HOME: vhome, QMAIL_HOME: qhome } };
}
