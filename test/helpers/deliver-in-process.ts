// Run lib/deliver's vdelivermail in this process against a mail world: qmail-local's environment,
// the message on an fd of its own, output captured.
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../../lib/backends/backend.ts';
import { captureIo } from '../../lib/cli/agent.ts';
import { loadConfig } from '../../lib/config.ts';
import { vdelivermail } from '../../lib/deliver/vdelivermail.ts';
import type { DeliveryWorld } from './qmail-env.ts';
import { qmailLocalEnv } from './qmail-env.ts';

export interface InProcessOptions {
  readonly env?: Record<string, string | undefined>;
  readonly args?: readonly string[];
  readonly cwd?: string;
  readonly now?: () => number;
  readonly pid?: number;
  readonly hostname?: string;
  readonly backend?: Backend;
}

export interface InProcessResult {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

let counter = 0;

/** Deliver `message` (text or a file path) for ext@host with `action` as the default action. */
export async function deliverInProcess(
  world: DeliveryWorld,
  ext: string,
  host: string,
  action: string,
  message: string | Buffer | { file: string },
  options: InProcessOptions = {},
): Promise<InProcessResult> {
  const domainDir = join(world.vhome, 'domains', host);
  const env: Record<string, string | undefined> = { ...world.env, ...qmailLocalEnv(ext, host, domainDir), ...options.env };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  const file = typeof message === 'object' && !Buffer.isBuffer(message) ? message.file : world.message(`in-${process.pid}-${counter++}`, message);
  const fd = openSync(file, 'r');
  const io = captureIo();
  try {
    const code = await vdelivermail({
      argv: options.args ?? ['', action],
      env,
      config: loadConfig(env),
      io,
      stdinFd: fd,
      cwd: options.cwd ?? domainDir,
      hostname: options.hostname ?? 'mail.golden.test',
      pid: options.pid ?? 4242,
      now: options.now ?? Date.now,
      tmpDir: world.root,
      ...(options.backend === undefined ? {} : { backend: options.backend }),
    });
    return { code, out: io.out, err: io.err };
  } finally {
    closeSync(fd);
  }
}

/** Write a file the way an admin would, for .qmail and .msg files. */
export function put(path: string, text: string): void {
  writeFileSync(path, text);
}
