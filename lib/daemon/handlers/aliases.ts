// Aliases and forwards (spec §7.5): add_alias, remove_alias, delete_alias, list_alias. Domain-admin
// level; a domain admin only for its home domain.
import { hasUserChars, splitAddress } from '../../address.ts';
import type { Handler, HandlerContext, LoginState } from '../context.ts';
import { isSystemAdmin, loggedIn, mayAdministerDomain, resolveDomain } from '../lookup.ts';
import * as ops from '../ops.ts';
import { OK, data, err, type Reply } from '../protocol.ts';
import { libFailure } from './domains.ts';

interface AliasMinors {
  readonly missing: number;
  readonly invalid: number;
  readonly otherDomain: number;
  readonly unknownDomain: number;
}

type AliasTarget = { ok: true; login: LoginState; alias: string; domain: string } | { ok: false; reply: Reply };

/** `<alias>@<domain>`: 14 missing, 15 unparsable, 11 not the session's domain, 9 unknown domain. */
async function aliasTarget(ctx: HandlerContext, arg: string | undefined, m: AliasMinors): Promise<AliasTarget> {
  const login = loggedIn(ctx);
  if (arg === undefined) return { ok: false, reply: err(14, m.missing) };
  const { user, domain: name, separator } = splitAddress(arg);
  if (separator === '' || user === '' || name === '' || !hasUserChars(user) || user.includes('/')) return { ok: false, reply: err(15, m.invalid) };
  const domain = await resolveDomain(ctx, name);
  if (domain === undefined) return { ok: false, reply: isSystemAdmin(login) ? err(9, m.unknownDomain) : err(11, m.otherDomain) };
  if (!mayAdministerDomain(login, domain.domain)) return { ok: false, reply: err(11, m.otherDomain) };
  return { ok: true, login, alias: user, domain: domain.domain };
}

export const addAlias: Handler = async (ctx, req) => {
  const t = await aliasTarget(ctx, req.args[0], { missing: 902, invalid: 903, otherDomain: 904, unknownDomain: 905 });
  if (!t.ok) return t.reply;
  const line = req.args[1];
  if (line === undefined) return err(16, 906);
  try {
    await ops.addAliasLine(ctx, t.domain, t.alias, line);
  } catch (e) {
    ctx.log('add_alias failed', { domain: t.domain, reason: (e as Error).message });
    return err(17, 907, (e as Error).message);
  }
  return OK;
};

export const removeAlias: Handler = async (ctx, req) => {
  const t = await aliasTarget(ctx, req.args[0], { missing: 1002, invalid: 1003, otherDomain: 1004, unknownDomain: 1005 });
  if (!t.ok) return t.reply;
  const line = req.args[1];
  if (line === undefined) return err(16, 1006);
  try {
    if (!(await ops.removeAliasLine(ctx, t.domain, t.alias, line))) return err(18, 1007, 'no such line');
  } catch (e) {
    return err(18, 1007, (e as Error).message);
  }
  return OK;
};

export const deleteAlias: Handler = async (ctx, req) => {
  const t = await aliasTarget(ctx, req.args[0], { missing: 1102, invalid: 1103, otherDomain: 1104, unknownDomain: 1105 });
  if (!t.ok) return t.reply;
  try {
    if (!(await ops.deleteAlias(ctx, t.domain, t.alias))) return err(19, 1106, 'no such alias');
  } catch (e) {
    return err(19, 1106, (e as Error).message);
  }
  return OK;
};

/**
 * list_alias <domain>: every alias line as `<alias>@<domain> <line>`. list_alias <alias@domain>:
 * that alias' lines, `+OK+` and `.` also when it has none (C sends a bare `.`, P2). A domain admin
 * may use both forms for its domain (C compares the whole argument with the domain, P4).
 */
export const listAlias: Handler = async (ctx, req) => {
  const login = loggedIn(ctx);
  const arg = req.args[0];
  if (arg === undefined) return err(13, 2802);
  const { user, domain: name, separator } = splitAddress(arg);
  const domainName = separator === '' ? user : name;
  if (separator !== '' && (user === '' || !hasUserChars(user))) return err(10, 2803);
  const domain = await resolveDomain(ctx, domainName);
  if (domain === undefined) return isSystemAdmin(login) ? err(9, 2805) : err(11, 2804);
  if (!mayAdministerDomain(login, domain.domain)) return err(11, 2804);
  const real = domain.domain;
  try {
    if (separator === '') {
      const all = ops.listAliases(ctx, real);
      return data(
        (async function* () {
          for await (const a of all) yield `${a.alias}@${real} ${a.line}`;
        })(),
      );
    }
    const lines = (await ops.getAlias(ctx, real, user)) ?? [];
    return data(lines.map((l) => `${user}@${real} ${l}`));
  } catch (e) {
    return libFailure(2806, e);
  }
};
