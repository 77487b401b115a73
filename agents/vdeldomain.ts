// vdeldomain: delete a domain with its mailboxes (and, with -f, its alias domains), or one alias domain.
import { AliasesExistError, deleteDomain } from '../lib/accounts/domains.ts';
import { defineAgent } from '../lib/cli/agent.ts';
import { Getopt } from '../lib/cli/getopt.ts';
import { BUILD } from '../lib/config.ts';
import { complain, withAdmin } from './_admin.ts';

const USAGE = `usage: vdeldomain [-v] [-f] domain
Deletes a domain, every mailbox in it and its directory; given an alias domain, deletes only the alias.
  -f  also delete the domain's alias domains (without -f a domain that has any is left alone)
  -v  print the vpopmail version first
`;

export default defineAgent('vdeldomain', async ({ argv0, argv, env, io }) => {
  let force = false;
  const g = new Getopt(argv, 'vf');
  for (let e = g.next(); e !== undefined; e = g.next()) {
    if (e.kind !== 'opt') {
      complain(io, argv0, e);
      io.stdout(USAGE);
      return 255;
    }
    if (e.opt === 'v') io.stdout(`version: ${BUILD.version}\n`);
    else force = true;
  }
  const [name] = g.operands();
  if (name === undefined) {
    io.stdout(USAGE);
    return 0;
  }
  return withAdmin('vdeldomain', env, io, async (tool) => {
    let result;
    try {
      result = await deleteDomain(tool.ctx, name, { force });
    } catch (err) {
      if (!(err instanceof AliasesExistError)) throw err;
      io.stdout(`Warning: Alias domains exist:\n${err.aliases.map((a) => `   ${a}\n`).join('')}   use -f to force delete of domain and all aliases\n`);
      return 255; // nothing was deleted: C exits 0 here (pitfall T1)
    }
    if (result.aliases.length > 0) io.stdout(`Warning: Alias domains deleted:\n${result.aliases.map((a) => `   ${a}\n`).join('')}`);
    for (const warning of result.warnings) io.stderr(`Warning: ${warning}\n`);
    return result.warnings.length === 0 ? 0 : 255;
  });
});
