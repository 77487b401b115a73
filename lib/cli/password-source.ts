// Where a self-service password change reads its passwords: the terminal, as getpass(3) does for C's
// vchangepw, whether or not stdin is one; with no terminal at all (cron, a pipe from a web form),
// further lines of stdin: the old password, then the new one.
import { closeSync, openSync } from 'node:fs';
import type { AgentIo } from './agent.ts';
import { askTerminal, readLineSync, readNewPassword } from './password.ts';
import { isTerminal } from './tty.ts';

export interface PasswordSource {
  /** Where the passwords come from (tests and messages). */
  readonly kind: 'terminal' | 'stdin';
  /** One password, asked once; undefined at end of input. */
  current(prompt: string): string | undefined;
  /** A new password: asked twice on a terminal (bounded retries), one line from stdin; undefined at end of input. */
  fresh(prompt: string, io: AgentIo): string | undefined;
  close(): void;
}

export interface PasswordSourceOptions {
  /** Default 0. */
  readonly stdinFd?: number;
  /** Default /dev/tty. */
  readonly ttyPath?: string;
}

export function openPasswordSource(options: PasswordSourceOptions = {}): PasswordSource {
  const stdinFd = options.stdinFd ?? 0;
  const ttyPath = options.ttyPath ?? '/dev/tty';
  let ttyFd: number | undefined;
  try {
    ttyFd = openSync(ttyPath, 'r+');
  } catch {
    ttyFd = isTerminal(stdinFd) ? stdinFd : undefined; // no controlling terminal: stdin may still be one
  }
  if (ttyFd === undefined) {
    return {
      kind: 'stdin',
      current: () => readLineSync(stdinFd),
      fresh: () => readLineSync(stdinFd),
      close: () => {},
    };
  }
  const fd = ttyFd;
  return {
    kind: 'terminal',
    current: (prompt) => askTerminal(fd, prompt),
    fresh: (prompt, io) => readNewPassword({ prompt, io, stdinFd: fd, ttyPath }),
    close: () => {
      if (fd !== stdinFd) closeSync(fd);
    },
  };
}
