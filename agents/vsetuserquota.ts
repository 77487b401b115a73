// vsetuserquota: set the quota of a mailbox, or of every mailbox of a domain.
import { modifyDomainUsers, setQuota } from '../lib/accounts/users.ts';
import { defineAgent } from '../lib/cli/agent.ts';
import { Getopt } from '../lib/cli/getopt.ts';
import { BUILD } from '../lib/config.ts';
import { formatMaildirQuota } from '../lib/quota.ts';
import { complain, readAddress, withAdmin } from './_admin.ts';

const USAGE = `usage: vsetuserquota [-v] user@domain|domain quota
Sets the quota of a mailbox, or of every mailbox of a domain, and rebuilds maildirsize.
The quota is read in upper case: bytes, 10M, 500K, a message count 1000C, both 10M,1000C,
or NOQUOTA for none.
  -v  print the vpopmail version first
`;

export default defineAgent('vsetuserquota', async ({ argv0, argv, env, io }) => {
  const g = new Getopt(argv, 'v');
  for (let e = g.next(); e !== undefined; e = g.next()) {
    if (e.kind !== 'opt') {
      complain(io, argv0, e);
      io.stdout(USAGE);
      return 255;
    }
    io.stdout(`version: ${BUILD.version}\n`);
  }
  const [target, quotaArg] = g.operands();
  if (target === undefined || quotaArg === undefined) {
    io.stdout(USAGE);
    return 255;
  }
  return withAdmin('vsetuserquota', env, io, async (tool) => {
    const quota = formatMaildirQuota(quotaArg.toUpperCase());
    if (!target.includes('@')) {
      await modifyDomainUsers(tool.ctx, target.toLowerCase(), { quota }, { sorted: true });
      return 0;
    }
    const address = await readAddress(tool, env, target);
    await setQuota(tool.ctx, address.domain, address.user, quota);
    return 0;
  });
});
