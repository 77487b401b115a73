// vaddusers: add many mailboxes at once from a file or stdin (ours; C has no such tool).
import { runVaddusers, VADDUSERS_USAGE, type VaddusersRequest } from '../lib/accounts/bulk-cli.ts';
import type { BulkFormat, PasswordKind } from '../lib/accounts/bulk-input.ts';
import { defineAgent } from '../lib/cli/agent.ts';
import { Getopt } from '../lib/cli/getopt.ts';
import { BUILD } from '../lib/config.ts';
import { parseQuotaStrict } from '../lib/quota.ts';
import { complain, withAdmin } from './_admin.ts';
import { isTerminal } from '../lib/cli/tty.ts';
import { normalJit } from '../lib/runtime.ts';

export default defineAgent('vaddusers', async ({ argv0, argv, env, io }) => {
  let passwordKind: PasswordKind = 'auto';
  let format: BulkFormat | undefined;
  let defaultQuota: string | undefined;
  let dryRun = false;
  let skipExisting = false;
  const g = new Getopt(argv, 'vepq:F:ns');
  for (let e = g.next(); e !== undefined; e = g.next()) {
    if (e.kind !== 'opt') {
      complain(io, argv0, e);
      io.stdout(VADDUSERS_USAGE);
      return 255;
    }
    const arg = e.arg ?? '';
    switch (e.opt) {
      case 'v':
        io.stdout(`version: ${BUILD.version}\n`);
        break;
      case 'e':
      case 'p':
        if (passwordKind !== 'auto' && passwordKind !== (e.opt === 'e' ? 'hash' : 'clear')) {
          io.stdout(`Error: -e and -p exclude each other\n${VADDUSERS_USAGE}`);
          return 255;
        }
        passwordKind = e.opt === 'e' ? 'hash' : 'clear';
        break;
      case 'q':
        try {
          defaultQuota = parseQuotaStrict(arg);
        } catch (err) {
          io.stdout(`Error: ${(err as Error).message}\n`);
          return 255;
        }
        break;
      case 'F':
        if (arg !== 'colon' && arg !== 'csv') {
          io.stdout(`Error: -F takes colon or csv, not ${JSON.stringify(arg)}\n${VADDUSERS_USAGE}`);
          return 255;
        }
        format = arg;
        break;
      case 'n':
        dryRun = true;
        break;
      case 's':
        skipExisting = true;
        break;
    }
  }
  const operands = g.operands();
  if (operands.length > 1) {
    io.stdout(VADDUSERS_USAGE);
    return 255;
  }
  const request: VaddusersRequest = {
    file: operands[0],
    passwordKind,
    dryRun,
    skipExisting,
    ...(format === undefined ? {} : { format }),
    ...(defaultQuota === undefined ? {} : { defaultQuota }),
  };
  normalJit();
  return withAdmin('vaddusers', env, io, (tool) => runVaddusers(tool.ctx, request, { io, isTerminal: isTerminal(2), stdinFd: 0, now: Date.now }));
});
