// Reading a new password without putting it on the command line: from the terminal, twice, with
// echo off; or one line from stdin when stdin is not a terminal (scripts: `printf 'pw\n' | vpasswd x@y`).
//
// C uses getpass(3), loops forever on a mismatch and cannot be fed from a pipe (pitfall T4). Here
// a mismatch is retried a bounded number of times, and end of input means "no password".
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { PermError } from '../exit.ts';
import type { AgentIo } from './agent.ts';
import { isTerminal } from './tty.ts';

/** Longer input is refused rather than cut (C truncates at its buffer). */
export const MAX_PASSWORD_INPUT_BYTES = 1024;
/** Mismatched entries on a terminal before we give up. */
export const PASSWORD_TRIES = 3;

export interface PasswordPromptOptions {
  /** First prompt, e.g. `Please enter password for alice@example.com: `. */
  readonly prompt: string;
  /** Second prompt; default `enter password again: `. */
  readonly again?: string;
  /** Where the mismatch notice goes (C: stdout). */
  readonly io: AgentIo;
  /** Default 0. */
  readonly stdinFd?: number;
  /** Default /dev/tty. */
  readonly ttyPath?: string;
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * One line from fd: bytes up to LF (not included; a CR before it is dropped). undefined at end of
 * input with nothing read. Reads a byte at a time, so nothing after the line is consumed.
 */
export function readLineSync(fd: number, maxBytes = MAX_PASSWORD_INPUT_BYTES): string | undefined {
  const one = Buffer.alloc(1);
  const bytes: number[] = [];
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, one, 0, 1, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        sleepMs(5);
        continue;
      }
      if (code === 'EOF') n = 0;
      else throw err;
    }
    if (n === 0) break;
    if (one[0] === 0x0a) {
      if (bytes.at(-1) === 0x0d) bytes.pop();
      return Buffer.from(bytes).toString('utf8');
    }
    bytes.push(one[0]!);
    if (bytes.length > maxBytes) throw new PermError(`the password is longer than ${maxBytes} bytes`);
  }
  if (bytes.length === 0) return undefined;
  if (bytes.at(-1) === 0x0d) bytes.pop();
  return Buffer.from(bytes).toString('utf8');
}

function stty(ttyFd: number, args: readonly string[]): string | undefined {
  // Loaded here, not at the top: every admin tool imports this file, few ever prompt (Bun: ~3 ms).
  const { spawnSync } = process.getBuiltinModule('node:child_process');
  const r = spawnSync('stty', args, { stdio: [ttyFd, 'pipe', 'ignore'], encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** Prompt on the terminal with echo off; undefined at end of input. The terminal mode is always restored. */
export function askTerminal(ttyFd: number, prompt: string): string | undefined {
  const saved = stty(ttyFd, ['-g']);
  // Echo off before the prompt shows: an answer typed the moment it appears must not be echoed.
  stty(ttyFd, ['-echo']);
  writeSync(ttyFd, prompt);
  try {
    return readLineSync(ttyFd);
  } finally {
    if (saved !== undefined) stty(ttyFd, [saved]);
    else stty(ttyFd, ['echo']);
    writeSync(ttyFd, '\n');
  }
}

/**
 * A new password: from the terminal (stdin is one) asked twice, up to PASSWORD_TRIES times while the
 * two differ, then PermError; or the first line of stdin (not a terminal). undefined when input
 * ended before a password was given.
 */
export function readNewPassword(options: PasswordPromptOptions): string | undefined {
  const stdinFd = options.stdinFd ?? 0;
  if (!isTerminal(stdinFd)) return readLineSync(stdinFd);
  let ttyFd: number;
  try {
    ttyFd = openSync(options.ttyPath ?? '/dev/tty', 'r+');
  } catch {
    ttyFd = stdinFd; // no controlling terminal to open: stdin is a terminal all the same
  }
  try {
    for (let attempt = 1; attempt <= PASSWORD_TRIES; attempt++) {
      const first = askTerminal(ttyFd, options.prompt);
      if (first === undefined) return undefined;
      const second = askTerminal(ttyFd, options.again ?? 'enter password again: ');
      if (second === undefined) return undefined;
      if (first === second) return first;
      options.io.stdout('Passwords do not match, try again\n');
    }
    throw new PermError(`the passwords did not match ${PASSWORD_TRIES} times`);
  } finally {
    if (ttyFd !== stdinFd) closeSync(ttyFd);
  }
}
