// The domain an address without one belongs to (spec/tools.md §0.2 step 5), for the admin tools.
import { defaultDomain } from '../address.ts';
import type { Backend } from '../backends/backend.ts';
import type { Config } from '../config.ts';
import { controlPath, readControlLines } from '../store/control-files.ts';

/**
 * VPOPMAIL_DOMAIN, else (ip-alias builds) the domain the ip map gives TCPLOCALIP unless that domain
 * is in control/locals, else ~vpopmail/etc/defaultdomain, else ''. The map is read through the
 * backend (a file or a SQL table).
 */
export async function defaultDomainOf(config: Config, backend: Backend, env: Readonly<Record<string, string | undefined>>): Promise<string> {
  let ipDomain: string | undefined;
  const localIp = env.TCPLOCALIP;
  if (config.ipAliasDomains && (env.VPOPMAIL_DOMAIN ?? '') === '' && localIp !== undefined && localIp !== '') {
    const mapped = await backend.getIpMap(localIp);
    if (mapped !== undefined && !readControlLines(controlPath(config.qmailHome, 'locals')).some((l) => l.trim().toLowerCase() === mapped)) {
      ipDomain = mapped;
    }
  }
  return defaultDomain({ env: env as NodeJS.ProcessEnv, etcDir: config.etcDir, lookupIpDomain: () => ipDomain });
}
