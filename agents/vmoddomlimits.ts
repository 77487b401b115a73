// vmoddomlimits: show, change or delete the limits of a domain (or of vlimits.default with -d).
import {
  changeDefaultLimits,
  changeDomainLimits,
  defaultLimitsFile,
  formatLimitsReport,
  parseDefaultQuotaBytes,
  parseGidFlagLetters,
  parseLimitNumber,
  parsePermLetters,
  PERM_OPTIONS,
  readDefaultLimits,
  readDomainLimits,
  removeDomainLimits,
  type LimitsChange,
} from '../lib/accounts/limits-tool.ts';
import { checkDomainName } from '../lib/accounts/names.ts';
import { defineAgent } from '../lib/cli/agent.ts';
import { Getopt } from '../lib/cli/getopt.ts';
import { BUILD } from '../lib/config.ts';
import { MailError, VpopmailError, firstLine } from '../lib/exit.ts';
import { complain, toolError, withAdmin } from './_admin.ts';

const USAGE = `usage: vmoddomlimits [options] domain
       vmoddomlimits -d [options]
Shows or changes what a domain's accounts and administrators may do. Without limits of its own a
domain uses ~vpopmail/etc/vlimits.default; -d works on that file instead of a domain.
  -S          show the limits (after applying any change given with it)
  -D          delete the domain's own limits (it then uses vlimits.default)
  -d          work on vlimits.default
  -v          print the vpopmail version first
  -h          this text
Counts (-1 = unlimited):
  -P n  mailboxes      -A n  aliases      -F n  forwards
  -R n  autoresponders -L n  mailing lists
Quotas:
  -Q n  the domain's disk quota in megabytes
  -q q  the default quota of new mailboxes, in bytes (10M, 500K, 10485760)
  -M n  the domain's message limit
  -m n  the default message limit of new mailboxes
-g letters  sets the domain's account flags to exactly these letters (-g "" clears them):
  u no dialup   d no password change   p no POP   s no SMTP   w no webmail   i no IMAP
  r no external relay   c no spam filter   x delete spam   m no maildrop
What administrators other than postmaster may not do; each option sets exactly these letters:
  -p mailboxes   -a aliases   -f forwards   -r autoresponders   -l mailing lists
  -u list users  -o list moderators   -x quotas   -z default quotas
  letters: c create, m modify, d delete, a all three
`;

const INT_MAX = 2147483647;
const COUNT_FIELDS: ReadonlyMap<string, keyof LimitsChange> = new Map([
  ['P', 'maxPopAccounts'],
  ['A', 'maxAliases'],
  ['F', 'maxForwards'],
  ['R', 'maxAutoresponders'],
  ['L', 'maxMailinglists'],
]);
const TOTAL_FIELDS: ReadonlyMap<string, keyof LimitsChange> = new Map([
  ['Q', 'diskQuotaMb'],
  ['M', 'maxMsgCount'],
  ['m', 'defaultMaxMsgCount'],
]);
const PERM_FIELDS: ReadonlyMap<string, keyof LimitsChange> = new Map(PERM_OPTIONS.map(([opt, , field]) => [opt, field]));

/** Run a store step; a failure that is not a library error (an unreadable or unwritable file) reads `Error: <what>: <why>` on stdout, exit 255, as C's "Failed to ..." lines. */
async function step<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof VpopmailError || (err instanceof MailError && err.bare)) throw err;
    throw toolError(`${what}: ${firstLine(err)}`);
  }
}

export default defineAgent('vmoddomlimits', async ({ argv0, argv, env, io }) => {
  const change: LimitsChange = {};
  let show = false;
  let remove = false;
  let useDefault = false;
  const g = new Getopt(argv, 'vhdSDQ:q:M:m:P:A:F:R:L:g:p:a:f:r:l:u:o:x:z:');
  try {
    for (let e = g.next(); e !== undefined; e = g.next()) {
      if (e.kind !== 'opt') {
        complain(io, argv0, e);
        io.stdout(USAGE);
        return 255;
      }
      const arg = e.arg ?? '';
      const count = COUNT_FIELDS.get(e.opt);
      const total = TOTAL_FIELDS.get(e.opt);
      const perm = PERM_FIELDS.get(e.opt);
      if (e.opt === 'v') io.stdout(`version: ${BUILD.version}\n`);
      else if (e.opt === 'h') {
        io.stdout(USAGE);
        return 0;
      } else if (e.opt === 'd') useDefault = true;
      else if (e.opt === 'S') show = true;
      else if (e.opt === 'D') remove = true;
      else if (e.opt === 'q') change.defaultQuotaBytes = parseDefaultQuotaBytes(arg);
      else if (e.opt === 'g') Object.assign(change, parseGidFlagLetters(arg));
      else if (count !== undefined) Object.assign(change, { [count]: parseLimitNumber(e.opt, arg, -1, INT_MAX) });
      else if (total !== undefined) Object.assign(change, { [total]: parseLimitNumber(e.opt, arg, 0, Number.MAX_SAFE_INTEGER) });
      else if (perm !== undefined) Object.assign(change, { [perm]: parsePermLetters(e.opt, arg) });
    }
  } catch (err) {
    // A bad value: nothing has been touched yet.
    io.stdout(`Error: ${firstLine(err)}\n`);
    return 255;
  }
  const changing = Object.keys(change).length > 0;
  const [domainArg] = g.operands();
  if (!useDefault && domainArg === undefined) {
    io.stdout(USAGE);
    return 255;
  }
  if (remove && useDefault) {
    io.stdout('Error: -D deletes the limits of a domain; vlimits.default cannot be deleted with it.\n');
    io.stdout('Without vlimits.default, domains without limits of their own use the built-in defaults.\n');
    io.stdout('Edit or remove the file itself if that is what you want.\n');
    return 255;
  }
  if (remove && changing) {
    io.stdout('Error: -D deletes the limits; it cannot be combined with options that set them\n');
    return 255;
  }

  return withAdmin('vmoddomlimits', env, io, async (tool) => {
    if (useDefault) {
      const path = defaultLimitsFile(tool.config);
      if (changing && (await step(`unable to change ${path}`, () => changeDefaultLimits(tool.ctx, change))) === undefined) {
        throw toolError(`${path} does not exist: there are no default limits to change`);
      }
      if (show) {
        const limits = await step(`unable to read ${path}`, async () => readDefaultLimits(tool.config));
        if (limits === undefined) throw toolError(`${path} does not exist: there are no default limits to show`);
        io.stdout(formatLimitsReport(`Default limits: ${path}`, limits));
      }
      return 0;
    }
    const domain = domainArg!.toLowerCase();
    checkDomainName(domain);
    if (remove) {
      await step(`unable to delete the limits of ${domain}`, () => removeDomainLimits(tool.ctx, domain));
      io.stdout('Limits deleted\n');
    }
    if (changing) await step(`unable to change the limits of ${domain}`, () => changeDomainLimits(tool.ctx, domain, change));
    if (show || (!remove && !changing)) {
      // Nothing asked but the domain: it must exist all the same (C exits 0 for any name).
      const view = await step(`unable to read the limits of ${domain}`, () => readDomainLimits(tool.ctx, domain));
      if (show) io.stdout(formatLimitsReport(`Domain: ${domain}`, view.limits));
    }
    return 0;
  });
});
