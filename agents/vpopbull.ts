// vpopbull: put one prepared message into every mailbox of the chosen domains (spec/vpopbull.md).
import { machineHostname } from '../lib/hostname.ts';
import { vpopbullMain } from '../lib/bulletin/cli.ts';
import { defineAgent } from '../lib/cli/agent.ts';
import { isTerminal } from '../lib/cli/tty.ts';
import { normalJit } from '../lib/runtime.ts';
import { switchEffectiveIds } from '../lib/effective-ids.ts';

export default defineAgent('vpopbull', (ctx) => {
  normalJit(); // a bulletin goes to thousands of mailboxes: the per-mailbox code is hot
  return vpopbullMain(ctx, { cwd: process.cwd(), host: machineHostname(), pid: process.pid, now: Date.now, isTerminal: isTerminal(2), switchIds: switchEffectiveIds });
});
