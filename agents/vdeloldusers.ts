// vdeloldusers: list, and with -D delete, the accounts not used for a number of days.
import { listDomains } from '../lib/accounts/domains.ts';
import { checkDomainName } from '../lib/accounts/names.ts';
import { findOldAccounts } from '../lib/accounts/old-users.ts';
import { deleteUser } from '../lib/accounts/users.ts';
import { defineAgent } from '../lib/cli/agent.ts';
import { Getopt } from '../lib/cli/getopt.ts';
import { BUILD } from '../lib/config.ts';
import { VA, VpopmailError, firstLine } from '../lib/exit.ts';
import { complain, withAdmin } from './_admin.ts';

const USAGE = `usage: vdeloldusers [-a days] (-d domain | -e) [-D] [-V] [-v]
Finds the accounts nobody has logged in to for a number of days (an account that never logged in
counts from when it was made) and, with -D, deletes them. postmaster is never selected.
  -a days    the age, default 180
  -d domain  look at this domain
  -e         look at every domain (alias domains are their real domain's names, and skipped)
  -D         delete the accounts found (without -D nothing is deleted)
  -V         print each account found
  -v         print the vpopmail version and stop
`;

const DEFAULT_AGE_DAYS = 180;

export default defineAgent('vdeloldusers', async ({ argv0, argv, env, io }) => {
  let ageDays = DEFAULT_AGE_DAYS;
  let domainArg: string | undefined;
  let every = false;
  let remove = false;
  let verbose = false;
  const g = new Getopt(argv, 'vVDd:a:e');
  for (let e = g.next(); e !== undefined; e = g.next()) {
    if (e.kind !== 'opt') {
      complain(io, argv0, e);
      io.stdout(USAGE);
      return 255;
    }
    switch (e.opt) {
      case 'v':
        io.stdout(`version: ${BUILD.version}\n`);
        return 255; // C: print the version and stop, with -1
      case 'V':
        verbose = true;
        break;
      case 'D':
        remove = true;
        break;
      case 'e':
        every = true;
        break;
      case 'd':
        domainArg = (e.arg ?? '').toLowerCase();
        every = false; // as in C, the later of -d and -e wins
        break;
      case 'a':
        if (!/^\d{1,6}$/.test(e.arg ?? '')) {
          io.stdout(`Error: -a wants a number of days, not ${JSON.stringify(e.arg ?? '')}\n`);
          return 255;
        }
        ageDays = Number(e.arg);
        break;
    }
  }
  if (argv.length === 0) {
    io.stdout(USAGE);
    return 255;
  }
  if (!every && (domainArg === undefined || domainArg === '')) {
    io.stdout('Error: say which domain with -d domain, or -e for every domain\n');
    return 255;
  }

  return withAdmin('vdeloldusers', env, io, async (tool) => {
    if (!tool.config.authLogging) {
      io.stdout('vdeloldusers needs login records: set auth-logging = yes in vpopmail.conf\n');
      return 255;
    }
    if (domainArg !== undefined && !every) checkDomainName(domainArg);
    const names = every ? (await listDomains(tool.ctx)).filter((d) => d.name === d.domain).map((d) => d.name) : [domainArg!];
    const cutoffSec = Math.floor(Date.now() / 1000) - ageDays * 86400;
    let found = 0;
    let failures = 0;
    for (const name of names) {
      let scan;
      try {
        scan = await findOldAccounts(tool.ctx, name, cutoffSec);
      } catch (err) {
        if (!every) throw err;
        io.stderr(`vdeloldusers: ${name} not looked at: ${firstLine(err)}\n`); // the other domains still are
        failures++;
        continue;
      }
      if (verbose && scan.hasPostmaster) io.stdout(`skipping postmaster@${name}\n`);
      for (const account of scan.old) {
        found++;
        if (verbose) io.stdout(Buffer.from(`${account.user}@${name}\n`, 'latin1'));
        if (!remove) continue;
        try {
          const result = await deleteUser(tool.ctx, name, account.user);
          for (const warning of result.warnings) io.stderr(`vdeloldusers: ${account.user}@${name}: ${warning}\n`);
          if (result.warnings.length > 0) failures++;
        } catch (err) {
          if (err instanceof VpopmailError && err.code === VA.CANNOT_DELETE_CATCHALL) {
            io.stderr(`vdeloldusers: ${account.user}@${name} kept: it is the domain's catch-all\n`);
            continue;
          }
          io.stderr(`vdeloldusers: ${account.user}@${name} not deleted: ${firstLine(err)}\n`);
          failures++;
        }
      }
    }
    if (found === 0) io.stdout('no old users found\n');
    else if (!remove) io.stdout(' ** nothing was deleted: this was a dry run **\n ** add -D to delete these accounts        **\n');
    return failures === 0 ? 0 : 255;
  });
});
