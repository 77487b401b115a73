// Replace this process with the next program of a checkpassword chain: execvp's PATH search done by
// hand (process.execve searches nothing), and the target checked first (a failed execve in Node 24
// aborts the process instead of throwing). node:child_process is loaded only where a child is run
// (Dovecot's reply program, runtimes without execve): a plain login never pays for it.
import { accessSync, statSync, constants as fsc } from 'node:fs';
import { join } from 'node:path';

/** What execvp would run for `name`: a path with a `/` as given, else the first match on PATH. */
export function resolveProgram(name: string, pathEnv: string | undefined): string | undefined {
  const runnable = (p: string) => {
    try {
      if (!statSync(p).isFile()) return false;
      accessSync(p, fsc.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (name === '') return undefined;
  if (name.includes('/')) return runnable(name) ? name : undefined;
  // glibc's execvp default when PATH is unset
  for (const dir of (pathEnv ?? '/bin:/usr/bin').split(':')) {
    const candidate = join(dir === '' ? '.' : dir, name);
    if (runnable(candidate)) return candidate;
  }
  return undefined;
}

type Execve = (file: string, args: string[], env: Record<string, string>) => never;

/**
 * exec the program with the given environment. Where the runtime has no execve (Bun, Node < 23.11),
 * run it as a child with our stdio and exit with its status: the session still works, at the cost
 * of one waiting process.
 */
export function execProgram(path: string, argv: readonly string[], env: Readonly<Record<string, string>>): never {
  const execve = (process as unknown as { execve?: Execve }).execve;
  if (typeof execve === 'function') execve.call(process, path, [...argv], { ...env });
  const { spawnSync } = process.getBuiltinModule('node:child_process');
  const r = spawnSync(path, argv.slice(1), { argv0: argv[0], env: { ...env }, stdio: 'inherit' });
  process.exit(r.status ?? 111);
}

/**
 * Run the program as a child that also gets `extraFds` (at the same numbers), wait, and exit with its
 * status. For Dovecot's checkpassword-reply, which writes its answer to fd 4: Node marks inherited
 * descriptors close-on-exec at start, so an exec would lose fd 4; spawn's stdio map passes it on.
 * checkpassword-reply exits at once, so nothing waits for long.
 */
export function runProgramWithFds(path: string, argv: readonly string[], env: Readonly<Record<string, string>>, extraFds: readonly number[]): never {
  const stdio: (number | 'ignore')[] = [0, 1, 2];
  for (const fd of extraFds) {
    while (stdio.length < fd) stdio.push('ignore');
    stdio[fd] = fd;
  }
  const { spawnSync } = process.getBuiltinModule('node:child_process');
  const r = spawnSync(path, argv.slice(1), { argv0: argv[0], env: { ...env }, stdio });
  process.exit(r.status ?? 111);
}

/** Environment as a plain string map (execve takes no undefined values). */
export function envRecord(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}
