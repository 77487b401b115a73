// Run test/helpers/store-child.ts in a real child process (node --import tsx), async.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const STORE_CHILD = join(import.meta.dirname, 'store-child.ts');

export interface ChildResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function startChild(args: readonly string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', STORE_CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

export function waitChild(child: ChildProcess): Promise<ChildResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

export function runChild(args: readonly string[]): Promise<ChildResult> {
  return waitChild(startChild(args));
}

/** Resolves once the child has written `marker` on stdout. */
export function untilOutput(child: ChildProcess, marker: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    child.stdout?.on('data', (d: Buffer) => {
      seen += d.toString();
      if (seen.includes(marker)) resolve();
    });
    child.on('close', (code) => {
      if (!seen.includes(marker)) reject(new Error(`child exited (${code}) before printing ${marker}`));
    });
  });
}

/** Run `jobs` with at most `limit` at a time. */
export async function inBatches<T>(limit: number, jobs: readonly (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  return results;
}
