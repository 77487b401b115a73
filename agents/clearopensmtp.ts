// clearopensmtp: cron job that drops roaming-relay entries older than RELAY_CLEAR_MINUTES and rebuilds tcp.smtp.cdb.
import { openBackend } from '../lib/backends/open.ts';
import { defineAgent } from '../lib/cli/agent.ts';
import { loadConfig } from '../lib/config.ts';
import { logEvent } from '../lib/log.ts';
import { rebuildTcpRules } from '../lib/relay/tcprules.ts';

export default defineAgent('clearopensmtp', async ({ env, io }) => {
  const config = loadConfig(env);
  if (!config.roamingUsers) {
    io.stdout('clearopensmtp: roaming users are switched off (roaming-users = no in ~vpopmail/etc/vpopmail.conf)\n');
    return 0;
  }
  const backend = await openBackend(config);
  let failed = false;
  try {
    const gone = await backend.expireRelay(Math.floor(Date.now() / 1000), config.relayClearMinutes * 60, (rules) => {
      if (!config.rebuildTcpserverFile) return;
      const r = rebuildTcpRules(config, rules);
      if (!r.ok) {
        failed = true;
        logEvent(io, 'clearopensmtp', 'relay rules not rebuilt', { reason: r.warning });
      }
    });
    if (gone > 0) logEvent(io, 'clearopensmtp', 'expired relay entries', { count: gone });
  } finally {
    await backend.close();
  }
  return failed ? 111 : 0;
});
