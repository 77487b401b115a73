// node --import tsx scripts/code-cache-home.ts DIR DOMAIN PASSWORD RELAY_IP
// Makes the throw-away home that build.mjs logs in to once while it makes vchkpw's code cache: one
// domain owned by the caller (so a POP login's setuid changes nothing), its postmaster with the
// given password, and a login from RELAY_IP already on record (lastauth, open-smtp), so that the
// training login takes the path of most POP logins: a client polling from its address again
// (lastauth's times set, open-smtp rewritten under its lock, no tcprules run). No qmail-send is
// signalled. Prints nothing; exits non-zero on failure.
import { chmodSync } from 'node:fs';
import { accountsContext } from '../lib/accounts/index.ts';
import { addDomain } from '../lib/accounts/domains.ts';
import { createCdbBackend } from '../lib/backends/cdb.ts';
import { loadConfig } from '../lib/config.ts';
import { benchHome } from './bench/harness.ts';

const [dir, domain, password, relayIp] = process.argv.slice(2);
if (dir === undefined || domain === undefined || password === undefined || relayIp === undefined) {
  process.stderr.write('usage: code-cache-home.ts DIR DOMAIN PASSWORD RELAY_IP\n');
  process.exit(2);
}
const { env } = benchHome(dir);
chmodSync(dir, 0o755);
const config = loadConfig(env);
const backend = createCdbBackend(config);
const ctx = accountsContext(config, backend, 'build', { hupQmailSend: () => {} });
await addDomain(ctx, {
  domain,
  uid: process.getuid?.() ?? 0,
  gid: process.getgid?.() ?? 0,
  postmaster: { password: { clear: password } },
});
const now = Math.floor(Date.now() / 1000);
const postmaster = await backend.getUser(domain, 'postmaster');
if (postmaster === undefined) throw new Error(`no postmaster in ${domain}`);
await backend.setLastauth(domain, postmaster, relayIp, now);
await backend.openRelay(relayIp, now);
