// vchangepw: a user changes their own password: the address from stdin, the old and the new password
// from the terminal (or, with no terminal, the next lines of stdin).
import { authenticateUser } from '../lib/accounts/authenticate.ts';
import { MAX_PASSWORD_LENGTH, setPassword } from '../lib/accounts/users.ts';
import { defineAgent } from '../lib/cli/agent.ts';
import { readLineSync } from '../lib/cli/password.ts';
import { openPasswordSource } from '../lib/cli/password-source.ts';
import { PermError } from '../lib/exit.ts';
import { readAddress, report, withAdmin } from './_admin.ts';

/** user@domain is at most 64 + 1 + 96 bytes; a longer line is no address. */
const MAX_ADDRESS_BYTES = 256;
/** C reads the old password into a 128-byte buffer. */
const MAX_OLD_PASSWORD_BYTES = MAX_PASSWORD_LENGTH - 1;

export default defineAgent('vchangepw', async ({ env, io }) => {
  io.stdout('Please enter the email address: ');
  let typed: string | undefined;
  try {
    typed = readLineSync(0, MAX_ADDRESS_BYTES);
  } catch (err) {
    if (!(err instanceof PermError)) throw err;
    io.stdout('\nError: email address too long\n');
    return 3;
  }
  if (typed === undefined) {
    io.stdout('\n');
    io.stderr('vchangepw: no address given, nothing changed\n');
    return 255;
  }
  io.stdout(`${typed}\n`);
  const given = typed.trim();

  return withAdmin('vchangepw', env, io, async (tool) => {
    const address = await readAddress(tool, env, given);
    const source = openPasswordSource();
    try {
      const old = source.current('Enter old password: ');
      if (old === undefined) {
        io.stderr('vchangepw: no password given, nothing changed\n');
        return 255;
      }
      if (Buffer.byteLength(old) > MAX_OLD_PASSWORD_BYTES) {
        io.stdout('Error: password too long.\n');
        return 3;
      }
      if ((await authenticateUser(tool.ctx, address.domain, address.user, old)) === undefined) {
        io.stdout('Error: authentication failed!\n');
        return 3;
      }
      let fresh: string | undefined;
      try {
        fresh = source.fresh(`Please enter password for ${address.user}@${address.domain}: `, io);
      } catch (err) {
        return report('vchangepw', io, err); // the two entries never matched
      }
      if (fresh === undefined) {
        io.stderr('vchangepw: no new password given, nothing changed\n');
        return 255;
      }
      // The owner changing their own password: the strength policy and NO_PASSWD_CHNG apply.
      await setPassword(tool.ctx, address.domain, address.user, fresh, { asUser: true, checkPolicy: true });
      io.stdout('Password successfully changed.\n');
      return 0;
    } finally {
      source.close();
    }
  });
});
