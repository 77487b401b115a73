// valias: list, add and delete the aliases and forwards of a domain (.qmail-<alias> files, or the
// valias table in valias builds).
import { splitAddress } from '../lib/address.ts';
import { addAliasLine, deleteAlias, getAliasLines, listAliasNames, listAliases } from '../lib/accounts/aliases.ts';
import { NameError, checkDomainName, parseUserAddress, type UserAddress } from '../lib/accounts/names.ts';
import { defaultDomainOf } from '../lib/accounts/default-domain.ts';
import { defineAgent, type AgentIo } from '../lib/cli/agent.ts';
import { Getopt } from '../lib/cli/getopt.ts';
import { BUILD } from '../lib/config.ts';
import { VpopmailError, firstLine } from '../lib/exit.ts';
import { complain, withAdmin } from './_admin.ts';

const USAGE = `usage: valias [options] alias@domain|domain
Lists, adds or deletes aliases: lines that qmail delivers mail for alias@domain to (an address,
&address, /path/to/Maildir/, |program). Without an option the alias's lines are listed, or every
alias of the domain when only a domain is given.
  -s          list (the default); a domain alone lists all its aliases
  -n          list the alias names of a domain, one per line
  -i line     add a line to the alias
  -d          delete the alias with all its lines
  -v          print the vpopmail version first
Example: valias -i bob@example.net info@example.com   (mail to info@example.com goes to bob@example.net)
`;

type Action = 'select' | 'names' | 'insert' | 'delete';

/** Byte strings (what the files hold) go out as the bytes they are. */
function printBytes(io: AgentIo, text: string): void {
  io.stdout(Buffer.from(text, 'latin1'));
}

export default defineAgent('valias', async ({ argv0, argv, env, io }) => {
  let action: Action = 'select';
  let line = '';
  const g = new Getopt(argv, 'vnsdi:');
  for (let e = g.next(); e !== undefined; e = g.next()) {
    if (e.kind !== 'opt') {
      complain(io, argv0, e);
      io.stdout(USAGE);
      return 254; // C: exit(-2)
    }
    if (e.opt === 'v') io.stdout(`version: ${BUILD.version}\n`);
    else if (e.opt === 'n') action = 'names';
    else if (e.opt === 's') action = 'select';
    else if (e.opt === 'd') action = 'delete';
    else {
      action = 'insert';
      line = e.arg ?? '';
    }
  }
  const [target] = g.operands();
  if (target === undefined || target === '') {
    io.stderr('valias: no alias address or domain given\n');
    io.stdout(USAGE);
    return 255;
  }

  return withAdmin('valias', env, io, async (tool) => {
    const isDomain = splitAddress(target).separator === '';
    if (isDomain && (action === 'select' || action === 'names')) {
      const domain = target.toLowerCase();
      checkDomainName(domain);
      if (action === 'names') {
        const names = await listAliasNames(tool.ctx, domain);
        for (const name of names) printBytes(io, `${name}\n`);
        return names.length === 0 ? 255 : 0; // none: C's 255, without a word
      }
      let found = false;
      for await (const a of listAliases(tool.ctx, domain)) {
        found = true;
        printBytes(io, `${a.alias}@${domain} -> ${a.line}\n`);
      }
      if (found) return 0;
      io.stdout(`No aliases found for domain ${domain}\n`);
      return 255;
    }
    if (action === 'names') {
      io.stderr('valias: -n takes a domain name only\n');
      return 255;
    }
    let address: UserAddress;
    try {
      address = parseUserAddress(target, () => '');
      if (address.domain === '') address = parseUserAddress(`${address.user}@${await defaultDomainOf(tool.config, tool.backend, env)}`, () => '');
    } catch (err) {
      // C reports an unparsable address on stderr, after parse_email's own line.
      if (err instanceof NameError) io.stderr(`${err.detail}\n`);
      io.stderr(`Error: ${firstLine(err)}\n`);
      return err instanceof VpopmailError ? err.exitCode : 255;
    }
    const { user: alias, domain } = address;
    if (action === 'insert') {
      await addAliasLine(tool.ctx, domain, alias, line);
      return 0;
    }
    if (action === 'delete') {
      if (await deleteAlias(tool.ctx, domain, alias)) return 0;
      io.stdout(`No aliases ${alias}@${domain} found\n`);
      return 255;
    }
    const lines = await getAliasLines(tool.ctx, domain, alias);
    if (lines === undefined) {
      io.stdout(`No aliases ${alias}@${domain} found\n`);
      return 255;
    }
    for (const l of lines) printBytes(io, `${alias}@${domain} -> ${l}\n`);
    return 0;
  });
});
