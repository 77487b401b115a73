// Program deliveries (`|command`): /bin/sh -c with the message at offset 0 on stdin, and
// qmail-command(8)'s reading of the exit status.
import { EXIT } from '../exit.ts';

/** Exit codes qmail-command(8) reads as permanent failures. */
const PERMANENT = new Set([64, 65, 70, 76, 77, 78, 100, 112]);

export type CommandOutcome = typeof EXIT.ok | typeof EXIT.stop | typeof EXIT.perm | typeof EXIT.temp;

/**
 * A delivery program's status as qmail-local reads it: 0 delivered, 99 delivered and stop, 64 65 70
 * 76 77 78 100 112 permanent failure, anything else (another code, a signal, no status) temporary.
 */
export function commandOutcome(status: number | null, signal: NodeJS.Signals | null): CommandOutcome {
  if (signal !== null || status === null) return EXIT.temp;
  if (status === 0) return EXIT.ok;
  if (status === 99) return EXIT.stop;
  return PERMANENT.has(status) ? EXIT.perm : EXIT.temp;
}

export interface ProgramRun {
  /** The command after `|` (leading blanks and `|` already gone). */
  readonly command: string;
  /** The message at offset 0 (a descriptor of our own; the caller closes it). */
  readonly stdinFd: number;
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
}

export interface ProgramResult {
  readonly outcome: CommandOutcome;
  /** Set when /bin/sh could not be started at all (the errno code). */
  readonly spawnError?: string;
}

/**
 * Run `/bin/sh -c command` with SHELL=/bin/sh, stdout and stderr shared with us (qmail-local puts
 * them in the log or the bounce) and default signal dispositions (the runtime resets them in the
 * child, SIGPIPE included). Waits for it.
 */
export function runProgram(run: ProgramRun): ProgramResult {
  // loaded here, not at import: only `|command` deliveries need node:child_process
  const { spawnSync } = process.getBuiltinModule('node:child_process');
  const r = spawnSync('/bin/sh', ['-c', run.command], {
    cwd: run.cwd,
    env: { ...run.env, SHELL: '/bin/sh' },
    stdio: [run.stdinFd, 1, 2],
  });
  if (r.error !== undefined) {
    return { outcome: EXIT.temp, spawnError: (r.error as NodeJS.ErrnoException).code ?? r.error.message };
  }
  return { outcome: commandOutcome(r.status, r.signal) };
}
