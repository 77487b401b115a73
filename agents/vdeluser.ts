// vdeluser: delete a mailbox and its directory.
import { deleteUser } from '../lib/accounts/users.ts';
import { defineAgent } from '../lib/cli/agent.ts';
import { Getopt } from '../lib/cli/getopt.ts';
import { BUILD } from '../lib/config.ts';
import { VA, VpopmailError } from '../lib/exit.ts';
import { complain, readAddress, withAdmin } from './_admin.ts';

const USAGE = `usage: vdeluser [-v] user@domain
Deletes a mailbox, its mail and its own alias file (.qmail-user). The domain's catch-all mailbox
cannot be deleted.
  -v  print the vpopmail version first
`;

export default defineAgent('vdeluser', async ({ argv0, argv, env, io }) => {
  const g = new Getopt(argv, 'v');
  for (let e = g.next(); e !== undefined; e = g.next()) {
    if (e.kind !== 'opt') {
      complain(io, argv0, e);
      io.stdout(USAGE);
      return 255;
    }
    io.stdout(`version: ${BUILD.version}\n`);
  }
  const [addressArg] = g.operands();
  if (addressArg === undefined) {
    io.stdout(USAGE);
    return 255;
  }
  return withAdmin('vdeluser', env, io, async (tool) => {
    const address = await readAddress(tool, env, addressArg);
    const result = await deleteUser(tool.ctx, address.domain, address.user);
    for (const warning of result.warnings) io.stderr(`vdeluser: ${warning}\n`);
    if (result.warnings.length === 0) return 0;
    // The account is gone but something of it is left: C's code for "could not remove the directory".
    return new VpopmailError(VA.BAD_DIR).exitCode;
  });
});
