// IP-alias domain map (spec §7.7): get_ip_map, add_ip_map, del_ip_map, show_ip_map. Builds without
// ip-alias domains answer `-ERR 33.<minor> Not Available`.
import type { Handler } from '../context.ts';
import { backendOf, isSystemAdmin, loggedIn, resolveDomain } from '../lookup.ts';
import { OK, data, err, libErr } from '../protocol.ts';

export const getIpMap: Handler = async (ctx, req) => {
  if (!ctx.daemon.config.ipAliasDomains) return err(33, 3001);
  if (!isSystemAdmin(loggedIn(ctx))) return err(9, 3001);
  const ip = req.args[0];
  if (ip === undefined) return err(37, 3002);
  const backend = backendOf(ctx);
  const domain = await ctx.daemon.gate.run(() => backend.getIpMap(ip));
  return domain === undefined ? libErr(3003, 'error') : data([`${ip} ${domain}`]);
};

export const addIpMap: Handler = async (ctx, req) => {
  if (!ctx.daemon.config.ipAliasDomains) return err(33, 3101);
  const [ip, domain] = req.args;
  if (ip === undefined) return err(32, 3102);
  if (domain === undefined) return err(13, 3103);
  if ((await resolveDomain(ctx, domain)) === undefined) return err(38, 3104);
  const backend = backendOf(ctx);
  try {
    await ctx.daemon.gate.run(() => backend.addIpMap(ip, domain.toLowerCase()));
  } catch {
    return libErr(3105, 'error');
  }
  return OK;
};

export const delIpMap: Handler = async (ctx, req) => {
  if (!ctx.daemon.config.ipAliasDomains) return err(33, 3201);
  const [ip, domain] = req.args;
  if (ip === undefined) return err(37, 3202);
  if (domain === undefined) return err(13, 3203);
  const backend = backendOf(ctx);
  try {
    if (!(await ctx.daemon.gate.run(() => backend.delIpMap(ip, domain.toLowerCase())))) return libErr(3204, 'error');
  } catch {
    return libErr(3204, 'error');
  }
  return OK;
};

export const showIpMap: Handler = async (ctx) => {
  if (!ctx.daemon.config.ipAliasDomains) return err(33, 3301);
  const backend = backendOf(ctx);
  async function* lines(): AsyncGenerator<string> {
    for await (const m of backend.listIpMap()) yield `${m.ip} ${m.domain}`;
  }
  return data(lines());
};
