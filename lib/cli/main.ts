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

type Execve = (file: string, args: string[], env: Record<string, string>) => never;

/**
 * A set-id program whose caller left runtime variables in the environment starts itself afresh
 * without them. Scrubbing process.env is not enough: the runtime has already read some of them
 * during its own start (Node's NODE_V8_COVERAGE writes a root-owned file into the caller's
 * directory at exit, and even just before an exec, unless stopped).
 */
function restartWithoutRuntimeEnv(): void {
  const dirty = Object.keys(process.env).filter((k) => RUNTIME_ENV.test(k));
  if (dirty.length === 0) return;
  const execve = (process as unknown as { execve?: Execve }).execve;
  if (typeof execve !== 'function') return;
  // Node's execve still writes the coverage profile NODE_V8_COVERAGE asked for: stop it first.
  if (process.env.NODE_V8_COVERAGE !== undefined) {
    const v8 = (process as unknown as { getBuiltinModule?: (id: string) => { stopCoverage?: () => void } }).getBuiltinModule?.('node:v8');
    v8?.stopCoverage?.();
  }
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !RUNTIME_ENV.test(k)) clean[k] = v;
  execve.call(process, process.execPath, [process.argv0, ...process.argv.slice(2)], clean);
}

function isSetId(): boolean {
  return process.getuid?.() !== process.geteuid?.() || process.getgid?.() !== process.getegid?.();
}

function usage(agents: Readonly<Record<string, Agent>>): string {
  return `usage: ${MULTI_CALL_NAME} <program> [arguments]\nprograms: ${Object.keys(agents).sort().join(' ')}\n`;
}

/** Run the program named by argv0 (or by the first argument of the multi-call name) and exit. */
export function dispatch(agents: Readonly<Record<string, Agent>>, version: string): void {
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
    io.stdout(`${Object.keys(agents).sort().join('\n')}\n`);
    process.exit(0);
  }
  const agent = Object.hasOwn(agents, inv.name) ? agents[inv.name] : undefined;
  if (agent === undefined) {
    io.stderr(inv.name === '' ? usage(agents) : `${MULTI_CALL_NAME}: no such program: ${inv.name}\n${usage(agents)}`);
    process.exit(111);
  }
  runAgent(agent, { name: agent.name, argv0: inv.argv0, argv: inv.argv, env: process.env, io }).then(
    (code) => process.exit(code),
    () => process.exit(111),
  );
}
