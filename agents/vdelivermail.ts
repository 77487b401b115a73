// vdelivermail: run by qmail-local from <dom>/.qmail-default, the message on stdin.
import { machineHostname } from '../lib/hostname.ts';
import { defineAgent } from '../lib/cli/agent.ts';
import { loadConfig } from '../lib/config.ts';
import { vdelivermail } from '../lib/deliver/vdelivermail.ts';

export default defineAgent('vdelivermail', ({ argv, env, io }) =>
  vdelivermail({
    argv,
    env,
    config: loadConfig(env),
    io,
    cwd: process.cwd(),
    hostname: machineHostname(),
    pid: process.pid,
    now: Date.now,
    tmpDir: env.TMPDIR || '/tmp',
  }),
);
