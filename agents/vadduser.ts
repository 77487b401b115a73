// vadduser: add a mailbox to a virtual domain.
import { findDomain } from '../lib/accounts/lookup.ts';
import { checkNewUserName } from '../lib/accounts/names.ts';
import { addUser } from '../lib/accounts/users.ts';
import { defineAgent } from '../lib/cli/agent.ts';
import { Getopt } from '../lib/cli/getopt.ts';
import { BUILD } from '../lib/config.ts';
import { VA, VpopmailError } from '../lib/exit.ts';
import { formatMaildirQuota } from '../lib/quota.ts';
import { complain, obtainPassword, randomLength, readAddress, toolError, withAdmin } from './_admin.ts';

const USAGE = `usage: vadduser [options] user@domain [password]
Adds a mailbox. Without a password (and without -e or -r) the password is asked for on the
terminal (twice), or read as one line from stdin.
  -q quota   the mailbox quota: bytes, 10M, 500K, a message count 1000C, both 10M,1000C, or NOQUOTA
             (default: the domain's default quota)
  -c comment the comment (gecos) field (default: the user name)
  -e hash    store this crypt(3) hash ($6$..., $1$..., DES) instead of a password; quote it
             against the shell: vadduser -e '$6$salt$hash' user@domain
  -r[len]    make up a random password of len characters (default 12) and print it
  -s         accepted for compatibility; does nothing
  -v         print the vpopmail version first
`;

export default defineAgent('vadduser', async ({ argv0, argv, env, io }) => {
  let quotaArg: string | undefined;
  let gecos: string | undefined;
  let hash: string | undefined;
  let random: number | undefined;
  const g = new Getopt(argv, 'vq:c:e:r::s');
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
      case 'c':
        gecos = arg;
        break;
      case 'e':
        hash = arg;
        break;
      case 'r':
        random = randomLength(e.arg);
        if (random === undefined) {
          io.stdout(`Error: -r takes the length attached (-r16), a whole number above 0\n${USAGE}`);
          return 255;
        }
        break;
      case 's':
        io.stderr('vadduser: -s does nothing and is ignored\n');
        break;
    }
  }
  const [addressArg, passwordArg] = g.operands();
  if (addressArg === undefined) {
    io.stdout(USAGE);
    return 255;
  }
  return withAdmin('vadduser', env, io, async (tool) => {
    const address = await readAddress(tool, env, addressArg);
    if (address.domain === '') {
      io.stdout('You did not use a full email address for the user name\nOnly full email addresses should be used\n');
      return 255;
    }
    const domain = findDomain(tool.ctx, address.domain);
    if (domain === undefined) throw toolError('Domain does not exist');
    checkNewUserName(address.user, { hashedDirs: tool.config.usersBigDir });
    if ((await tool.backend.getUser(domain.domain, address.user)) !== undefined) throw toolError('User already exists');
    if (random !== undefined && passwordArg !== undefined) throw toolError("don't use -r option when giving password on command line");
    const quota = quotaArg === undefined ? undefined : formatMaildirQuota(quotaArg);
    let password: string | undefined;
    if (hash === undefined) {
      password = obtainPassword(io, passwordArg, random, `${address.user}@${address.domain}`);
      if (password === undefined || password === '') {
        io.stdout(`Error: No password entered\n${USAGE}`);
        return 255;
      }
    }
    try {
      await addUser(tool.ctx, {
        domain: address.domain,
        user: address.user,
        password: hash === undefined ? { clear: password! } : { hash },
        ...(gecos === undefined ? {} : { gecos }),
        ...(quota === undefined ? {} : { quota }),
      });
    } catch (err) {
      // Added by someone else while we were reading the password.
      if (err instanceof VpopmailError && err.code === VA.USERNAME_EXISTS) throw toolError('User already exists');
      throw err;
    }
    if (random !== undefined) io.stdout(`Random password: ${password}\n`);
    return 0;
  });
});
