// dotqmail2valias: move the .qmail-<alias> files of domains into the valias table (valias builds).
import { canConvertDotQmail, convertDotQmailFiles, type FileOutcome } from '../lib/accounts/dotqmail-convert.ts';
import { listDomains } from '../lib/accounts/domains.ts';
import { findDomain, isAlias } from '../lib/accounts/lookup.ts';
import { checkDomainName } from '../lib/accounts/names.ts';
import { defineAgent } from '../lib/cli/agent.ts';
import { Getopt } from '../lib/cli/getopt.ts';
import { BUILD } from '../lib/config.ts';
import { firstLine } from '../lib/exit.ts';
import { complain, withAdmin } from './_admin.ts';

const USAGE = `usage: dotqmail2valias [-a] [-v] [domain ...]
Moves the alias files (.qmail-<alias>) of the domains into the valias table and removes each file
once its lines are stored. Mailing lists (ezmlm) stay files; an alias the table already has is left
as it is. Needs a build that keeps aliases in the table (valias = yes, a MySQL or PostgreSQL backend).
  -a  every real domain in users/assign
  -d  accepted and ignored
  -v  print the vpopmail version first
`;

function describe(outcome: FileOutcome): string {
  switch (outcome.kind) {
    case 'converted':
      return ` converted ${outcome.lines} ${outcome.lines === 1 ? 'entry' : 'entries'}.`;
    case 'exists':
      return ' the valias table already has this alias, file left as it is.';
    case 'mailing-list':
      return ' a mailing list, left as a file.';
    case 'failed':
      return ` not converted: ${outcome.reason}`;
  }
}

export default defineAgent('dotqmail2valias', async ({ argv0, argv, env, io }) => {
  let all = false;
  const g = new Getopt(argv, 'adv');
  for (let e = g.next(); e !== undefined; e = g.next()) {
    if (e.kind !== 'opt') {
      complain(io, argv0, e);
      io.stdout(USAGE);
      return 255;
    }
    if (e.opt === 'v') io.stdout(`version: ${BUILD.version}\n`);
    else if (e.opt === 'a') all = true;
  }
  const named = g.operands().map((d) => d.toLowerCase());

  return withAdmin('dotqmail2valias', env, io, async (tool) => {
    if (!tool.config.valias) {
      io.stderr('dotqmail2valias: this installation keeps aliases in .qmail files (valias = no in vpopmail.conf); there is nothing to convert them to\n');
      return 255;
    }
    if (!canConvertDotQmail(tool.ctx)) {
      io.stderr(`dotqmail2valias: the ${tool.backend.name} backend has no valias table; aliases stay .qmail files (use a MySQL or PostgreSQL backend)\n`);
      return 255;
    }
    if (!all && named.length === 0) {
      io.stdout(USAGE);
      return 255;
    }
    for (const d of named) checkDomainName(d); // every name is checked before anything moves
    const targets = all ? (await listDomains(tool.ctx)).filter((d) => d.name === d.domain).map((d) => d.name) : named;
    let failures = 0;
    for (const name of targets) {
      io.stdout(`converting ${name}\n`);
      const ref = findDomain(tool.ctx, name);
      if (ref === undefined) {
        io.stdout(`conversion of ${name} failed: Domain does not exist\n`);
        failures++;
        continue;
      }
      if (isAlias(ref)) {
        io.stderr(`dotqmail2valias: skipping ${name}, an alias of ${ref.domain}\n`);
        continue;
      }
      let midLine = false;
      try {
        const result = await convertDotQmailFiles(tool.ctx, ref, {
          onFile: (alias) => {
            io.stdout(Buffer.from(`  checking ${alias}@${name}...`, 'latin1'));
            midLine = true;
          },
          onOutcome: (_alias, outcome) => {
            io.stdout(`${describe(outcome)}\n`);
            midLine = false;
          },
        });
        failures += result.failed;
      } catch (err) {
        io.stdout(`${midLine ? '\n' : ''}conversion of ${name} failed: ${firstLine(err)}\n`);
        failures++;
      }
    }
    return failures === 0 ? 0 : 255;
  });
});
