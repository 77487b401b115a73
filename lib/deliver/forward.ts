// Forwards: `QMAILDIR/bin/qmail-inject -- <address>` with the prepended lines and the message
// streamed into its stdin through one fixed buffer (spec/vdelivermail.md §6.3).
import type { ChildProcess } from 'node:child_process';
import { readSync } from 'node:fs';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { TempError } from '../exit.ts';
import { commandOutcome, type CommandOutcome } from './program.ts';

const CHUNK_BYTES = 64 * 1024;

export function qmailInjectPath(qmailHome: string): string {
  return join(qmailHome, 'bin', 'qmail-inject');
}

export interface ForwardRun {
  readonly injectPath: string;
  readonly address: string;
  /** Return-Path and Delivered-To lines. */
  readonly headers: Uint8Array;
  /** The message, read with pread from offset 0. */
  readonly source: { readonly fd: number; readonly sizeBytes: number };
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
}

export type ForwardResult =
  | { readonly kind: 'exited'; readonly outcome: CommandOutcome; readonly status: number | null; readonly signal: NodeJS.Signals | null }
  /** qmail-inject could not be started (the errno code). */
  | { readonly kind: 'spawn-failed'; readonly code: string }
  /** It stopped reading before the end (the errno code, EPIPE typically); it has been waited for. */
  | { readonly kind: 'write-failed'; readonly code: string };

function write(stream: Writable, chunk: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(chunk, (err) => (err ? reject(err) : resolve()));
  });
}

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err);
}

/**
 * Run qmail-inject and feed it headers + message. Each chunk is written only after the previous
 * one was taken, so one buffer serves the whole message. qmail-inject's status is read as
 * qmail-command(8) does (0, 99, permanent codes, else temporary), which is what qmail-local makes of
 * the code C passes through unchanged.
 */
export async function forwardMessage(run: ForwardRun): Promise<ForwardResult> {
  // node:child_process is loaded on the first forward only: most deliveries go to a Maildir
  const { spawn } = process.getBuiltinModule('node:child_process');
  const child: ChildProcess = spawn(run.injectPath, ['--', run.address], { cwd: run.cwd, env: { ...run.env }, stdio: ['pipe', 'inherit', 'inherit'] });
  const exited = new Promise<{ status: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (status, signal) => resolve({ status, signal }));
  });
  const spawned = await new Promise<string | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', (err) => resolve(errnoOf(err)));
  });
  if (spawned !== undefined) return { kind: 'spawn-failed', code: spawned };

  const stdin = child.stdin!;
  let writeError: string | undefined;
  stdin.on('error', (err) => (writeError ??= errnoOf(err)));
  try {
    await write(stdin, run.headers);
    const buf = Buffer.alloc(CHUNK_BYTES);
    for (let position = 0; position < run.source.sizeBytes; ) {
      let n: number;
      let readError: unknown;
      try {
        n = readSync(run.source.fd, buf, 0, Math.min(buf.length, run.source.sizeBytes - position), position);
      } catch (err) {
        n = 0;
        readError = err;
      }
      if (n === 0) {
        child.kill('SIGKILL'); // never let a forward of a cut message go out
        await exited;
        const why = readError === undefined ? `it ended at byte ${position} of ${run.source.sizeBytes}` : errnoOf(readError);
        throw new TempError(`unable to read the message: ${why}`, readError === undefined ? undefined : { cause: readError });
      }
      await write(stdin, n === buf.length ? buf : buf.subarray(0, n));
      position += n;
    }
    await new Promise<void>((resolve) => stdin.end(resolve));
  } catch (err) {
    if (err instanceof TempError) throw err;
    writeError ??= errnoOf(err);
  }
  const { status, signal } = await exited;
  if (writeError !== undefined) return { kind: 'write-failed', code: writeError };
  return { kind: 'exited', outcome: commandOutcome(status, signal), status, signal };
}
