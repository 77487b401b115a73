// vadddomain: create a virtual domain with its postmaster mailbox.
import { addDomain, AddDomainError } from '../lib/accounts/domains.ts';
import { findDomain } from '../lib/accounts/lookup.ts';
import { checkNewDomainName } from '../lib/accounts/names.ts';
import { PasswordPolicyError } from '../lib/accounts/password-policy.ts';
import { lookupSystemUser } from '../lib/accounts/system-users.ts';
import { defineAgent } from '../lib/cli/agent.ts';
import { Getopt } from '../lib/cli/getopt.ts';
import { BUILD } from '../lib/config.ts';
import { VA, VpopmailError, firstLine } from '../lib/exit.ts';
import { formatMaildirQuota } from '../lib/quota.ts';
import { complain, obtainPassword, randomLength, toolError, withAdmin } from './_admin.ts';

const USAGE = `usage: vadddomain [options] domain [postmaster-password]
Creates a virtual domain and its postmaster mailbox. Without a password and without -r the
password is asked for on the terminal (twice), or read as one line from stdin.
  -q quota   quota of the postmaster mailbox (bytes; 10M, 500K; NOQUOTA)
  -e target  mail for unknown users: forwarded to target if it is an address, or delivered
             to that mailbox of the new domain if it is a user name (-e postmaster);
             without -e such mail is deleted
  -b         accepted for compatibility; does nothing
  -u user    take uid, gid and base directory from this system account
  -d dir     base directory: the domain goes into dir/domains/ (default: vpopmail's home)
  -i uid     owner uid of the domain's files
  -g gid     owner gid of the domain's files
  -O         bulk add: do not signal qmail-send or compile morercpthosts.cdb (leave it off
             for the last domain of a batch)
  -r[len]    make up a random postmaster password of len characters (default 12) and print it
  -v         print the vpopmail version first
`;

export default defineAgent('vadddomain', async ({ argv0, argv, env, io }) => {
  let quotaArg: string | undefined;
  let catchAll: string | undefined;
  let sysUser: string | undefined;
  let baseDir: string | undefined;
  let uid: number | undefined;
  let gid: number | undefined;
  let optimize = false;
  let random: number | undefined;
  const g = new Getopt(argv, 'vq:be:u:d:i:g:Or::');
  for (let e = g.next(); e !== undefined; e = g.next()) {
    if (e.kind !== 'opt') {
      complain(io, argv0, e);
      io.stdout(USAGE);
      return 255;
    }
    const arg = e.arg ?? '';
    switch (e.opt) {
      case 'v':
        io.stdout(`version: ${BUILD.version}\n`);
        break;
      case 'q':
        quotaArg = arg;
        break;
      case 'b':
        break;
      case 'e':
        catchAll = arg;
        break;
      case 'u':
        sysUser = arg;
        break;
      case 'd':
        baseDir = arg;
        break;
      case 'i':
      case 'g': {
        if (!/^\d{1,10}$/.test(arg)) {
          io.stdout(`Error: -${e.opt} wants a number, not ${JSON.stringify(arg)}\n${USAGE}`);
          return 255;
        }
        if (e.opt === 'i') uid = Number(arg);
        else gid = Number(arg);
        break;
      }
      case 'O':
        optimize = true;
        break;
      case 'r': {
        random = randomLength(e.arg);
        if (random === undefined) {
          io.stdout(`Error: -r takes the length attached (-r16), a whole number above 0\n${USAGE}`);
          return 255;
        }
        break;
      }
    }
  }
  const [domainArg, passwordArg] = g.operands();
  if (domainArg === undefined) {
    io.stdout(USAGE);
    return 0;
  }
  if (random !== undefined && passwordArg !== undefined) {
    io.stdout("Error: don't use -r option when giving password on command line\n");
    return 255;
  }
  return withAdmin('vadddomain', env, io, async (tool) => {
    const domain = domainArg.toLowerCase();
    checkNewDomainName(domain);
    if (findDomain(tool.ctx, domain) !== undefined) throw new VpopmailError(VA.DOMAIN_ALREADY_EXISTS);
    const quota = quotaArg === undefined ? undefined : formatMaildirQuota(quotaArg);
    if (sysUser !== undefined) {
      const account = lookupSystemUser(sysUser);
      if (account === undefined) throw toolError(`user ${sysUser} not found in /etc/passwd`);
      uid = account.uid;
      gid = account.gid;
      baseDir ??= account.home;
    }
    const password = obtainPassword(io, passwordArg, random, 'postmaster');
    if (password === undefined || password === '') throw toolError('No password entered');
    let result;
    try {
      result = await addDomain(tool.ctx, {
        domain,
        ...(uid === undefined ? {} : { uid }),
        ...(gid === undefined ? {} : { gid }),
        ...(baseDir === undefined ? {} : { baseDir }),
        ...(catchAll === undefined ? {} : { catchAll }),
        optimize,
        postmaster: { password: { clear: password }, ...(quota === undefined ? {} : { quota }) },
      });
    } catch (err) {
      if (!(err instanceof AddDomainError) || err.stage !== 'postmaster') throw err;
      // C's form for a postmaster that could not be made; the domain has been removed again.
      io.stdout(`Error: (vadduser) ${firstLine(err)}\n`);
      const cause = err.cause;
      if (cause instanceof PasswordPolicyError && cause.description !== undefined) io.stdout(`A password policy is in place:\n\t${cause.description}\n`);
      return err.exitCode;
    }
    for (const notice of result.notices) io.stderr(notice);
    if (random !== undefined) io.stdout(`Random password: ${password}\n`);
    return 0;
  });
});
