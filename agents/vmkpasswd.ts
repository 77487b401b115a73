// vmkpasswd: rebuild a domain's vpasswd.cdb from its vpasswd (after a hand edit; cdb backend only).
import { findDomain } from '../lib/accounts/lookup.ts';
import { defineAgent } from '../lib/cli/agent.ts';
import { VA, VpopmailError } from '../lib/exit.ts';
import { recoverVpasswd, rebuildVpasswdCdb } from '../lib/store/vpasswd.ts';
import { withAdmin } from './_admin.ts';

const USAGE = `usage: vmkpasswd domain
Rebuilds the domain's vpasswd.cdb from its vpasswd file, e.g. after vpasswd was edited by hand.
`;

export default defineAgent('vmkpasswd', async ({ argv, env, io }) => {
  if (argv.length !== 1) {
    io.stdout(USAGE);
    return 255;
  }
  return withAdmin('vmkpasswd', env, io, async (tool) => {
    if (tool.backend.name !== 'cdb') {
      io.stdout(`vmkpasswd: nothing to do: the ${tool.backend.name} backend keeps no vpasswd.cdb\n`);
      return 0;
    }
    const domain = findDomain(tool.ctx, argv[0]!);
    // C's exit for an unknown domain, without a word (golden step 135).
    if (domain === undefined) return new VpopmailError(VA.BAD_DIR).exitCode;
    const owner = { uid: domain.uid, gid: domain.gid };
    const options = { durable: tool.ctx.durable, owner };
    recoverVpasswd(domain.dir, options);
    rebuildVpasswdCdb(domain.dir, options);
    return 0;
  });
});
