// vmoduser: change a mailbox's comment, quota, password, directory or flags (or those of every mailbox of a domain).
import { modifyDomainUsers, modifyUser, type UserChange } from '../lib/accounts/users.ts';
import { defineAgent } from '../lib/cli/agent.ts';
import { Getopt } from '../lib/cli/getopt.ts';
import { BUILD } from '../lib/config.ts';
import { VA, VpopmailError } from '../lib/exit.ts';
import { formatMaildirQuota } from '../lib/quota.ts';
import { PW_FLAG } from '../lib/store/limits.ts';
import { complain, readAddress, withAdmin } from './_admin.ts';

const USAGE = `usage: vmoduser [options] user@domain
       vmoduser [options] domain          (every mailbox of the domain)
Changes mailbox fields:
  -c comment   the comment (gecos) field
  -q quota     the quota (bytes, 10M, 500K, 1000C, 10M,1000C or NOQUOTA); maildirsize is rebuilt
  -e hash      store this crypt(3) hash as the password (any stored clear text is emptied)
  -C password  hash and store this password (and keep it as clear text where that is configured)
  -D dir       the home directory field (files are not moved)
  -n           accepted for compatibility; does nothing
Flags (pw_gid bits) are added; -x first clears them all, -X letters clears the ones named:
  -d  may not change the password    -p  no POP              -s  no SMTP AUTH
  -w  no webmail                     -i  no IMAP (non-webmail)
  -b  bounce all mail                -o  not subject to domain limits
  -r  no roaming relay after login   -a  qmailadmin domain administrator
  -S  system administrator (root only)
  -E  expert: may edit .qmail files (root only)
  -f  no spamassassin                -F  delete spam         -m  no maildrop
  -u  no dialup                      -0 -1 -2 -3  site flags V_USER0..3
  -h  this text; -v  print the vpopmail version first
`;

const FLAG_OF: Readonly<Record<string, number>> = {
  d: PW_FLAG.NO_PASSWD_CHNG,
  p: PW_FLAG.NO_POP,
  s: PW_FLAG.NO_SMTP,
  w: PW_FLAG.NO_WEBMAIL,
  i: PW_FLAG.NO_IMAP,
  b: PW_FLAG.BOUNCE_MAIL,
  o: PW_FLAG.V_OVERRIDE,
  r: PW_FLAG.NO_RELAY,
  a: PW_FLAG.QA_ADMIN,
  S: PW_FLAG.SA_ADMIN,
  E: PW_FLAG.SA_EXPERT,
  f: PW_FLAG.NO_SPAMASSASSIN,
  F: PW_FLAG.DELETE_SPAM,
  m: PW_FLAG.NO_MAILDROP,
  u: PW_FLAG.NO_DIALUP,
  '0': PW_FLAG.V_USER0,
  '1': PW_FLAG.V_USER1,
  '2': PW_FLAG.V_USER2,
  '3': PW_FLAG.V_USER3,
};
const ROOT_ONLY = PW_FLAG.SA_ADMIN | PW_FLAG.SA_EXPERT;

export default defineAgent('vmoduser', async ({ argv0, argv, env, io }) => {
  const change: { -readonly [K in keyof UserChange]: UserChange[K] } = {};
  let quotaArg: string | undefined;
  let addFlags = 0;
  let removeFlags = 0;
  const g = new Getopt(argv, 'vnq:c:e:C:D:xX:dpswibroaSEfFmu0123h');
  for (let e = g.next(); e !== undefined; e = g.next()) {
    if (e.kind !== 'opt') {
      complain(io, argv0, e);
      io.stdout(USAGE);
      return 255;
    }
    const arg = e.arg ?? '';
    switch (e.opt) {
      case 'h':
        io.stdout(USAGE);
        return 0;
      case 'v':
        io.stdout(`version: ${BUILD.version}\n`);
        break;
      case 'n':
        break;
      case 'q':
        quotaArg = arg;
        break;
      case 'c':
        change.gecos = arg;
        break;
      case 'e':
        change.password = { hash: arg };
        break;
      case 'C':
        change.password = { clear: arg };
        break;
      case 'D':
        change.dir = arg;
        break;
      case 'x':
        change.clearFlags = true;
        break;
      case 'X':
        for (const letter of arg) {
          const bit = FLAG_OF[letter];
          if (bit === undefined) {
            io.stdout(`Error: -X takes flag letters (d p s w i b o r a S E f F m u 0 1 2 3), not ${JSON.stringify(letter)}\n`);
            return 255;
          }
          removeFlags |= bit;
        }
        break;
      default:
        addFlags |= FLAG_OF[e.opt]!;
    }
  }
  const [target] = g.operands();
  if (target === undefined) {
    io.stdout(USAGE);
    return 255;
  }
  if (((addFlags | removeFlags) & ROOT_ONLY) !== 0 && process.getuid?.() !== 0) {
    // C silently skips -S and -E for anyone but root; we say so instead of pretending.
    io.stdout('Error: only root may grant or take system administrator (-S) and expert (-E) privileges\n');
    return 255;
  }
  if (addFlags !== 0) change.addFlags = addFlags;
  if (removeFlags !== 0) change.removeFlags = removeFlags;
  return withAdmin('vmoduser', env, io, async (tool) => {
    if (quotaArg !== undefined) change.quota = formatMaildirQuota(quotaArg);
    if (!target.includes('@')) {
      await modifyDomainUsers(tool.ctx, target.toLowerCase(), change);
      return 0;
    }
    const address = await readAddress(tool, env, target);
    try {
      await modifyUser(tool.ctx, address.domain, address.user, change);
    } catch (err) {
      if (err instanceof VpopmailError && (err.code === VA.USER_DOES_NOT_EXIST || err.code === VA.DOMAIN_DOES_NOT_EXIST)) {
        io.stdout(`no such user ${address.user}@${address.domain}\n`);
        return 255;
      }
      throw err;
    }
    return 0;
  });
});
