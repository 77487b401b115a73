// vuserinfo: show a mailbox's record, flags, quota use and last login, or every mailbox of a domain.
import { domainUserReports, userReport, type FullUserReport } from '../lib/accounts/reports.ts';
import { defineAgent } from '../lib/cli/agent.ts';
import { Getopt } from '../lib/cli/getopt.ts';
import { USER_SEPARATOR, formatUserBlock, formatUserFields, type UserField } from '../lib/cli/user-info.ts';
import { BUILD } from '../lib/config.ts';
import { complain, readAddress, withAdmin } from './_admin.ts';

const USAGE = `usage: vuserinfo [options] user@domain
       vuserinfo [options] -D domain
Shows a mailbox (or, with -D, every mailbox of the domain).
  -a  every field (the default)
  -n  name     -p  password hash     -C  clear-text password     -u  uid     -g  flags (gid)
  -c  comment  -d  directory         -q  quota                   -Q  quota use in percent
  -l  last login
  -D domain    every mailbox of the domain, each after a line of dashes
  -v  print the vpopmail version first
Fields asked for one by one are printed bare, one per line, in the order n p C u g c d q Q l.
`;

export default defineAgent('vuserinfo', async ({ argv0, argv, env, io }) => {
  const chosen = new Set<UserField>();
  let all = false;
  let domainArg: string | undefined;
  const g = new Getopt(argv, 'vanpCugcdqQlD:');
  for (let e = g.next(); e !== undefined; e = g.next()) {
    if (e.kind !== 'opt') {
      complain(io, argv0, e);
      io.stdout(USAGE);
      return 255;
    }
    if (e.opt === 'v') io.stdout(`version: ${BUILD.version}\n`);
    else if (e.opt === 'a') all = true;
    else if (e.opt === 'D') domainArg = e.arg;
    else chosen.add(e.opt as UserField);
  }
  const fields = all || chosen.size === 0 ? undefined : chosen;
  const [addressArg] = g.operands();
  if (domainArg === undefined && addressArg === undefined) {
    io.stdout(USAGE);
    return 255;
  }
  return withAdmin('vuserinfo', env, io, async (tool) => {
    const style = { clearPasswords: tool.config.clearPasswords, authLogging: tool.config.authLogging };
    const wants = { usage: fields === undefined || fields.has('Q'), lastauth: fields === undefined || fields.has('l') };
    const print = (r: FullUserReport) =>
      io.stdout(Buffer.from(fields === undefined ? formatUserBlock(r, style) : formatUserFields(r, fields, style), 'latin1'));
    if (domainArg !== undefined) {
      for await (const r of domainUserReports(tool.ctx, domainArg.toLowerCase(), wants)) {
        io.stdout(USER_SEPARATOR);
        print(r);
      }
      return 0;
    }
    const address = await readAddress(tool, env, addressArg!);
    const r = await userReport(tool.ctx, address.domain, address.user, wants);
    if (r === undefined) {
      io.stdout(`no such user ${address.user}${address.domain === '' ? '' : `@${address.domain}`}\n`);
      return 255;
    }
    print(r);
    return 0;
  }, { readOnly: true });
});
