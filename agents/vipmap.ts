// vipmap: the server-address → domain map used for logins without a domain (ip-alias domains).
import { openBackend } from '../lib/backends/open.ts';
import { defineAgent } from '../lib/cli/agent.ts';
import { Getopt, getoptMessage } from '../lib/cli/getopt.ts';
import { loadConfig } from '../lib/config.ts';
import { hasDomainChars } from '../lib/address.ts';
import { normalizeIp } from '../lib/auth/connection.ts';

const USAGE = `usage: vipmap [-p] | -a ip domain | -d ip domain
  -p  print every mapping as "ip domain" (what vipmap does when asked nothing else)
  -a  map the server address ip to domain (replacing the same pair)
  -d  remove the mapping of ip to domain
  -v  print the vpopmail version first
`;

export default defineAgent('vipmap', async ({ argv0, argv, env, io }) => {
  if (argv.length === 0) {
    io.stdout(USAGE);
    return 255;
  }
  const config = loadConfig(env);
  let action: 'print' | 'add' | 'delete' = 'print';
  const g = new Getopt(argv, 'dapv');
  for (let e = g.next(); e !== undefined; e = g.next()) {
    if (e.kind !== 'opt') {
      io.stderr(getoptMessage(argv0, e) ?? '');
      continue;
    }
    if (e.opt === 'v') io.stdout(`version: ${config.version}\n`);
    else if (e.opt === 'a') action = 'add';
    else if (e.opt === 'd') action = 'delete';
    else action = 'print';
  }
  if (!config.ipAliasDomains) {
    io.stdout('vipmap: ip-alias domains are switched off (set ip-alias-domains = yes in ~vpopmail/etc/vpopmail.conf)\n');
    return 0;
  }
  const backend = await openBackend(config);
  try {
    if (action === 'print') {
      for await (const m of backend.listIpMap()) io.stdout(`${m.ip} ${m.domain}\n`);
      return 0;
    }
    const [rawIp, rawDomain] = g.operands();
    if (rawIp === undefined || rawDomain === undefined) {
      io.stdout(USAGE);
      return 255;
    }
    const ip = normalizeIp(rawIp);
    const domain = rawDomain.toLowerCase();
    if (ip === '' || !hasDomainChars(domain) || domain === '') {
      // C stores whatever it is given; a map line must stay "ip domain" to be read back.
      io.stdout(`Error: ${ip === '' ? `not an IP address: ${rawIp}` : `invalid domain name: ${rawDomain}`}\n`);
      return 255;
    }
    if (action === 'add') await backend.addIpMap(ip, domain);
    else if (!(await backend.delIpMap(ip, domain))) {
      io.stdout(`Error: no mapping of ${ip} to ${domain}\n`);
      return 255;
    }
    return 0;
  } finally {
    await backend.close();
  }
});
