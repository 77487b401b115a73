// vaddaliasdomain: make one domain an alias of another (mail for the alias goes to the real domain's users).
import { addAliasDomain } from '../lib/accounts/domains.ts';
import { defineAgent } from '../lib/cli/agent.ts';
import { Getopt } from '../lib/cli/getopt.ts';
import { BUILD } from '../lib/config.ts';
import { complain, withAdmin } from './_admin.ts';

const USAGE = `usage: vaddaliasdomain [-v] real-domain alias-domain
Makes alias-domain a second name of real-domain. The two may come in either order: the one that
exists already is the real domain (if it is an alias itself, its real domain is used).
  -v  print the vpopmail version first
`;

export default defineAgent('vaddaliasdomain', async ({ argv0, argv, env, io }) => {
  const g = new Getopt(argv, 'v');
  for (let e = g.next(); e !== undefined; e = g.next()) {
    if (e.kind !== 'opt') {
      complain(io, argv0, e);
      io.stdout(USAGE);
      return 255;
    }
    io.stdout(`version: ${BUILD.version}\n`);
  }
  const [first, second] = g.operands();
  if (first === undefined || second === undefined) {
    io.stdout(USAGE);
    return 255;
  }
  if (first.toLowerCase() === second.toLowerCase()) {
    io.stdout(`Error: real domain and alias domain are the same!\n${USAGE}`);
    return 255;
  }
  return withAdmin('vaddaliasdomain', env, io, async (tool) => {
    const result = await addAliasDomain(tool.ctx, first, second);
    for (const notice of result.notices) io.stderr(notice);
    return 0;
  });
});
