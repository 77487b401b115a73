// The admin tools as whole processes: reading one account, listing a domain of 1000, adding and
// deleting a mailbox, changing a quota; and the in-process cost of the same account operations.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { accountsContext } from '../../lib/accounts/context.ts';
import { addDomain } from '../../lib/accounts/domains.ts';
import { addUser } from '../../lib/accounts/users.ts';
import { createCdbBackend } from '../../lib/backends/cdb.ts';
import { loadConfig } from '../../lib/config.ts';
import { benchHome, type Bench } from './harness.ts';

export default async function admin(b: Bench): Promise<void> {
  b.section('admin tools (multi-call executable)');
  const bin = join(b.dist, 'bin');
  if (!existsSync(join(bin, 'vadduser'))) {
    b.print('the admin tools are not built: skipped');
    return;
  }
  const { vhome, qhome, env } = benchHome(join(b.root, 'admin'));
  const config = loadConfig(env);
  const ctx = accountsContext(config, createCdbBackend(config), 'bench.test', { hupQmailSend: () => {} });
  await addDomain(ctx, { domain: 'big.test', postmaster: { password: { clear: 'pm-secret' } } });
  const t0 = Date.now();
  for (let i = 0; i < 1000; i++) await addUser(ctx, { domain: 'big.test', user: `user${i}`, password: { hash: '$1$benchsal$Qj0lzJCdqI2s9nRL5rA0v/' } });
  b.print(`(set-up: 1000 users added in-process, ${((Date.now() - t0) / 1000).toFixed(2)} ms each)`);
  const cases: [string, string[], string[] | undefined][] = [
    ['vuserinfo one user of 1000', ['vuserinfo', 'user500@big.test'], undefined],
    ['vuserinfo -D a domain of 1000 (-n)', ['vuserinfo', '-n', '-D', 'big.test'], undefined],
    ['vdominfo big.test', ['vdominfo', 'big.test'], undefined],
    // The untimed set-up runs outside our env and must not fail: delete the user of the last run, if any.
    ['vadduser into a domain of 1000 (then deleted)', ['vadduser', 'bench@big.test', 'bench-pw'], ['/bin/sh', '-c', `VPOPMAIL_HOME='${vhome}' QMAIL_HOME='${qhome}' '${join(bin, 'vdeluser')}' bench@big.test >/dev/null || true`]],
    ['vmoduser -q on one user of 1000', ['vmoduser', '-q', '2000000', 'user10@big.test'], undefined],
    ['vpasswd on one user of 1000', ['vpasswd', 'user11@big.test', 'new-pw'], undefined],
  ];
  for (const [name, [program, ...args], setup] of cases) {
    const t = b.time(name, { argv: [join(bin, program!), ...args], env, runs: 20, ...(setup === undefined ? {} : { setup }) });
    b.report(t, ['true', 'runtime']);
  }
}
