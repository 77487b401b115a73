// vdominfo: show domains as users/assign routes them (name, owner, directory, user counter, aliases).
import { describeDomain, listDomains, type DomainDescription } from '../lib/accounts/domains.ts';
import { defineAgent, type AgentIo } from '../lib/cli/agent.ts';
import { Getopt } from '../lib/cli/getopt.ts';
import { BUILD } from '../lib/config.ts';
import { VA, VpopmailError, firstLine } from '../lib/exit.ts';
import { complain, withAdmin } from './_admin.ts';

const USAGE = `usage: vdominfo [options] [domain]
Shows one domain (an alias shows its real domain) with its alias domains, or, without a domain,
every domain and alias domain in users/assign.
  -a  every field (the default)
  -n  the name      -u  the uid      -g  the gid      -d  the directory
  -t  the users counter (mailboxes ever allocated, less those deleted)
  -r  the real domain
  -v  print the vpopmail version first
Fields asked for one by one are printed bare, one per line, in the order n u g d t r.
`;

type Field = 'n' | 'u' | 'g' | 'd' | 't' | 'r';
const FIELD_ORDER: readonly Field[] = ['n', 'u', 'g', 'd', 't', 'r'];

function nameOf(d: DomainDescription): string {
  return d.name === d.domain ? d.name : `${d.name} (alias of ${d.domain})`;
}

/** One domain's block: the labelled form, or the chosen fields bare. */
function show(io: AgentIo, d: DomainDescription, fields: ReadonlySet<Field> | undefined): void {
  if (fields === undefined) {
    io.stdout(`domain: ${nameOf(d)}\nuid:    ${d.uid}\ngid:    ${d.gid}\ndir:    ${d.dir}\nusers:  ${d.users}\n`);
    return;
  }
  const values: Record<Field, string> = { n: nameOf(d), u: String(d.uid), g: String(d.gid), d: d.dir, t: String(d.users), r: d.domain };
  for (const f of FIELD_ORDER) if (fields.has(f)) io.stdout(`${values[f]}\n`);
}

export default defineAgent('vdominfo', async ({ argv0, argv, env, io }) => {
  const chosen = new Set<Field>();
  let all = false;
  const g = new Getopt(argv, 'vanugdtr');
  for (let e = g.next(); e !== undefined; e = g.next()) {
    if (e.kind !== 'opt') {
      complain(io, argv0, e);
      io.stdout(USAGE);
      return 255;
    }
    if (e.opt === 'v') io.stdout(`version: ${BUILD.version}\n`);
    else if (e.opt === 'a') all = true;
    else chosen.add(e.opt as Field);
  }
  const fields = all || chosen.size === 0 ? undefined : chosen;
  const [name] = g.operands();
  return withAdmin('vdominfo', env, io, async (tool) => {
    if (name === undefined) {
      let domains: DomainDescription[];
      try {
        domains = await listDomains(tool.ctx);
      } catch (err) {
        if (!(err instanceof VpopmailError && err.code === VA.CANNOT_READ_ASSIGN)) throw err;
        io.stdout(`Can't get domain entries - ${firstLine(err)}\n`);
        return 255;
      }
      for (const d of domains) {
        show(io, d, fields);
        io.stdout('\n');
      }
      return 0;
    }
    let details;
    try {
      details = await describeDomain(tool.ctx, name);
    } catch (err) {
      if (!(err instanceof VpopmailError && err.code === VA.CANNOT_READ_ASSIGN)) throw err;
      io.stdout(`Can't get domain entries - ${firstLine(err)}\n`);
      return err.exitCode;
    }
    if (details === undefined) throw new VpopmailError(VA.DOMAIN_DOES_NOT_EXIST);
    show(io, details.domain, fields);
    for (const alias of details.aliases) io.stdout(`alias: ${alias}\n`);
    return 0;
  }, { readOnly: true });
});
