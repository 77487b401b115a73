// Entry of the executables: pick the program by the name we were called by, run it, exit.
import { basename } from 'node:path';
import { type Agent, processIo, runAgent } from './agent.ts';

/** The multi-call executable's own name; `vpopmail <program> args…` also works. */
export const MULTI_CALL_NAME = 'vpopmail';

export interface Invocation {
  readonly name: string;
  readonly argv0: string;
  readonly argv: readonly string[];
}

/**
 * Work out which program was asked for. Both runtimes put the name as invoked in `process.argv0`
 * and the user's arguments from `process.argv[2]` on (argv[1] is the executable or bundle path).
 */
export function resolveInvocation(argv0: string, args: readonly string[]): Invocation {
  const name = basename(argv0);
  if (name === MULTI_CALL_NAME || name.startsWith(`${MULTI_CALL_NAME}-`)) {
    const [program, ...rest] = args;
    return { name: program ?? '', argv0: program ?? argv0, argv: rest };
  }
  return { name, argv0, argv: args };
}

/**
 * Variables through which a runtime could be steered into loading code or writing files. A set-id
 * program drops them before anything else runs, and so does not hand them on to what it execs.
 */
const RUNTIME_ENV = /^(NODE_|BUN_|UV_|V8_|__BUN|JSC_|BUN$)/;

export function scrubRuntimeEnv(env: NodeJS.ProcessEnv): void {
  for (const key of Object.keys(env)) if (RUNTIME_ENV.test(key)) delete env[key];
}

/**
 * A set-id program whose caller left runtime variables in the environment runs itself afresh
 * without them, as a child, and exits as the child did. Scrubbing process.env is not enough: the
 * runtime has already read some of them during its own start (Node's NODE_V8_COVERAGE would write
 * a root-owned file into the caller's directory at exit). An exec would not do either: Node marks
 * every descriptor it inherited close-on-exec, so vchkpw would lose fd 3 and fd 4; a spawned child
 * is given them explicitly. Bun has no such late readers and is only scrubbed.
 */
function restartWithoutRuntimeEnv(): void {
  const dirty = Object.keys(process.env).filter((k) => RUNTIME_ENV.test(k));
  if (dirty.length === 0 || process.versions.bun !== undefined) return;
  const coverage = process.env.NODE_V8_COVERAGE !== undefined;
  if (coverage) process.getBuiltinModule('node:v8').stopCoverage();
  const fs = process.getBuiltinModule('node:fs');
  const cp = process.getBuiltinModule('node:child_process');
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !RUNTIME_ENV.test(k)) clean[k] = v;
  // Node hands NODE_V8_COVERAGE on to every child it spawns, whatever env it is given, unless it
  // is gone from process.env itself; a child that still saw it would restart again, forever.
  scrubRuntimeEnv(process.env);
  // The caller's descriptors beyond stdio: fd 3 carries the login, fd 4 Dovecot's reply channel.
  // Where the caller left a gap, Node's start put its event loop there (an anon inode): not handed
  // on. Node's own pipes come later, from fd 5 on, and so are never passed either.
  const stdio: (number | 'inherit' | 'ignore')[] = ['inherit', 'inherit', 'inherit'];
  for (let fd = 3; fd <= 4; fd++) {
    let target = '';
    try {
      target = fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      target = '';
    }
    stdio[fd] = target === '' || target.startsWith('anon_inode:') ? 'ignore' : fd;
  }
  while (stdio.length > 3 && stdio[stdio.length - 1] === 'ignore') stdio.pop();
  const r = cp.spawnSync(process.execPath, process.argv.slice(2), { argv0: process.argv0, env: clean, stdio });
  // Stopping coverage makes Node complain on stderr at exit; that is runtime noise, not our log.
  if (coverage) fs.closeSync(2);
  process.exit(r.status ?? 111);
}

function isSetId(): boolean {
  return process.getuid?.() !== process.geteuid?.() || process.getgid?.() !== process.getegid?.();
}

/**
 * A program's module, loaded only when that program runs. An import(), not a require(): Bun loads
 * an ESM chunk of its executable by import() with the bytecode it was built with, and measured,
 * medians of interleaved runs of the same build, a require() of the chunk cost vdelivermail and
 * vuserinfo 2 to 3 ms more a start (vdelivermail 43.4 -> 41.4 ms, vuserinfo 41.2 -> 37.8 ms, on a
 * machine where the compiled empty program took 20.5 ms).
 */
export type AgentLoader = () => Promise<{ readonly default: Agent }>;

function usage(programs: Readonly<Record<string, AgentLoader>>): string {
  return `usage: ${MULTI_CALL_NAME} <program> [arguments]\nprograms: ${Object.keys(programs).sort().join(' ')}\n`;
}

/** Run the program named by argv0 (or by the first argument of the multi-call name) and exit. */
export function dispatch(programs: Readonly<Record<string, AgentLoader>>, version: string): void {
  if (isSetId()) {
    restartWithoutRuntimeEnv();
    scrubRuntimeEnv(process.env);
  }
  const io = processIo();
  const inv = resolveInvocation(process.argv0, process.argv.slice(2));
  if (inv.name === '--version' || inv.name === '-v') {
    io.stdout(`${version}\n`);
    process.exit(0);
  }
  if (inv.name === '--list') {
    io.stdout(`${Object.keys(programs).sort().join('\n')}\n`);
    process.exit(0);
  }
  const load = Object.hasOwn(programs, inv.name) ? programs[inv.name] : undefined;
  if (load === undefined) {
    io.stderr(inv.name === '' ? usage(programs) : `${MULTI_CALL_NAME}: no such program: ${inv.name}\n${usage(programs)}`);
    process.exit(111);
  }
  load()
    .then(({ default: agent }) => runAgent(agent, { name: agent.name, argv0: inv.argv0, argv: inv.argv, env: process.env, io }))
    .then(
      (code) => process.exit(code),
      () => process.exit(111),
    );
}
