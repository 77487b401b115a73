// vpasswd: set a mailbox's password.
import { setPassword } from '../lib/accounts/users.ts';
import { defineAgent } from '../lib/cli/agent.ts';
import { Getopt } from '../lib/cli/getopt.ts';
import { BUILD } from '../lib/config.ts';
import { VA, VpopmailError } from '../lib/exit.ts';
import { complain, obtainPassword, randomLength, toolError, readAddress, withAdmin } from './_admin.ts';

const USAGE = `usage: vpasswd [options] user@domain [password]
Sets a mailbox's password (checked against ~vpopmail/etc/password_strength.conf). Without a
password and without -r it is asked for on the terminal (twice), or read as one line from stdin.
  -r[len]  make up a random password of len characters (default 12) and print it
  -v       print the vpopmail version first
`;

export default defineAgent('vpasswd', async ({ argv0, argv, env, io }) => {
  let random: number | undefined;
  const g = new Getopt(argv, 'vr::');
  for (let e = g.next(); e !== undefined; e = g.next()) {
    if (e.kind !== 'opt') {
      complain(io, argv0, e);
      io.stdout(USAGE);
      return 255;
    }
    if (e.opt === 'v') io.stdout(`version: ${BUILD.version}\n`);
    else {
      random = randomLength(e.arg);
      if (random === undefined) {
        io.stdout(`Error: -r takes the length attached (-r16), a whole number above 0\n${USAGE}`);
        return 255;
      }
    }
  }
  const [addressArg, passwordArg] = g.operands();
  if (addressArg === undefined) {
    io.stdout(USAGE);
    return 255;
  }
  if (random !== undefined && passwordArg !== undefined) {
    io.stdout("Error: don't use -r option when giving password on command line\n");
    return 255;
  }
  return withAdmin('vpasswd', env, io, async (tool) => {
    const address = await readAddress(tool, env, addressArg);
    const password = obtainPassword(io, passwordArg, random, `${address.user}@${address.domain}`);
    if (password === undefined || password === '') {
      io.stdout(`Error: No password entered\n${USAGE}`);
      return 255;
    }
    try {
      // An admin tool: NO_PASSWD_CHNG limits the account's own changes, not root's (C refuses root too, pitfall T5).
      await setPassword(tool.ctx, address.domain, address.user, password, { asUser: false });
    } catch (err) {
      // C answers both with exit 255 (and the text "Illegal username").
      if (err instanceof VpopmailError && err.code === VA.USER_DOES_NOT_EXIST) throw toolError('User does not exist');
      if (err instanceof VpopmailError && err.code === VA.DOMAIN_DOES_NOT_EXIST) throw toolError('Domain does not exist');
      throw err;
    }
    if (random !== undefined) io.stdout(`Random password: ${password}\n`);
    return 0;
  });
});
