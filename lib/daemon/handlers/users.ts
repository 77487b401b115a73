// User commands (spec §7.3): user_info, add_user, del_user, user_count, list_users, get_lastauth,
// get_user_size, get_domain_size. mod_user has its own file.
import { join } from 'node:path';
import { countMaildir } from '../../maildir/maildirsize.ts';
import type { VpasswdEntry } from '../../store/vpasswd.ts';
import type { Handler, HandlerContext, LoginState } from '../context.ts';
import { LEVEL } from '../context.ts';
import { backendOf, findAccount, isSelf, isSystemAdmin, loggedIn, mayAdministerDomain, parseAddress, resolveDomain, type Account } from '../lookup.ts';
import * as ops from '../ops.ts';
import { OK, data, err, libErr, type Reply } from '../protocol.ts';
import { userBlock } from '../user-block.ts';
import { libFailure, pageRange } from './domains.ts';

/** The minors of one command's address checks: no address, unparsable, other domain, no such user. */
interface AddressMinors {
  readonly missing: Reply;
  readonly invalid: Reply;
  readonly otherDomain: Reply;
  readonly noUser: Reply;
}

type Target = { readonly ok: true; readonly login: LoginState; readonly account: Account } | { readonly ok: false; readonly reply: Reply };

/**
 * The account an admin command names, in C's order of checks: an address, that parses, of a domain
 * the session administers (an unknown domain counts as "not yours" for a domain admin), that exists.
 */
export async function adminTarget(ctx: HandlerContext, arg: string | undefined, minors: AddressMinors): Promise<Target> {
  const login = loggedIn(ctx);
  if (arg === undefined) return { ok: false, reply: minors.missing };
  const address = await parseAddress(ctx, arg);
  if (address === undefined) return { ok: false, reply: minors.invalid };
  const domain = await resolveDomain(ctx, address.domain);
  if (domain === undefined) return { ok: false, reply: isSystemAdmin(login) ? minors.noUser : minors.otherDomain };
  if (!mayAdministerDomain(login, domain.domain)) return { ok: false, reply: minors.otherDomain };
  const account = await findAccount(ctx, address);
  if (account === undefined) return { ok: false, reply: minors.noUser };
  return { ok: true, login, account };
}

/** S11: clear-text passwords go to system admins and to the account itself, never to domain admins. */
function showsClear(login: LoginState, account: { readonly domain: string; readonly user: string }): boolean {
  return isSystemAdmin(login) || isSelf(login, account.domain, account.user);
}

export const userInfo: Handler = async (ctx, req) => {
  const t = await adminTarget(ctx, req.args[0], { missing: err(6, 602), invalid: err(10, 603), otherDomain: err(11, 604), noUser: err(12, 605) });
  if (!t.ok) return t.reply;
  const { login, account } = t;
  return data(userBlock(account.entry, { mode: login.mode, showClear: showsClear(login, { domain: account.domain.domain, user: account.user }) }));
};

export const addUser: Handler = async (ctx, req) => {
  const login = loggedIn(ctx);
  const arg = req.args[0];
  if (arg === undefined) return err(6, 302);
  const address = await parseAddress(ctx, arg);
  if (address === undefined) return err(10, 303);
  const domain = await resolveDomain(ctx, address.domain);
  if (domain === undefined && !isSystemAdmin(login)) return err(11, 304);
  if (domain !== undefined && !mayAdministerDomain(login, domain.domain)) return err(11, 304);
  const password = req.rest(1);
  if (password === '') return err(7, 305);
  try {
    await ops.addUser(ctx, address.user, domain?.domain ?? address.domain, password);
  } catch (e) {
    return libFailure(305, e);
  }
  return OK;
};

export const delUser: Handler = async (ctx, req) => {
  const login = loggedIn(ctx);
  const arg = req.args[0];
  if (arg === undefined) return err(6, 402);
  const address = await parseAddress(ctx, arg);
  if (address === undefined) return err(10, 403);
  const domain = await resolveDomain(ctx, address.domain);
  if (domain === undefined && !isSystemAdmin(login)) return err(9, 404);
  if (domain !== undefined && !mayAdministerDomain(login, domain.domain)) return err(9, 404);
  try {
    await ops.deleteUser(ctx, address.user, domain?.domain ?? address.domain);
  } catch (e) {
    // C writes `-ERR 0,405` (a comma); the documented form has a dot (P3).
    return libFailure(405, e);
  }
  return OK;
};

/**
 * The real domain a domain-level command names, if the session administers it. An unknown domain
 * is "not yours" for a domain admin and a library failure (`unknown`) for a system admin.
 */
async function adminDomain(
  ctx: HandlerContext,
  arg: string | undefined,
  minors: { readonly missing: Reply; readonly otherDomain: Reply; readonly unknown: Reply },
): Promise<{ ok: true; login: LoginState; domain: string; dir: string } | { ok: false; reply: Reply }> {
  const login = loggedIn(ctx);
  if (arg === undefined) return { ok: false, reply: minors.missing };
  const domain = await resolveDomain(ctx, arg);
  if (domain === undefined) return { ok: false, reply: isSystemAdmin(login) ? minors.unknown : minors.otherDomain };
  if (!mayAdministerDomain(login, domain.domain)) return { ok: false, reply: minors.otherDomain };
  return { ok: true, login, domain: domain.domain, dir: domain.dir };
}

export const userCount: Handler = async (ctx, req) => {
  const d = await adminDomain(ctx, req.args[0], { missing: err(13, 2602), otherDomain: err(11, 2603), unknown: libErr(2604, 'Domain does not exist') });
  if (!d.ok) return d.reply;
  let count = 0;
  for await (const _ of backendOf(ctx).listUsers(d.domain)) count++;
  return data([`count ${count}`]);
};

/**
 * list_users: per user the §5.1 block and an empty line. The order is the backend's (vpasswd order,
 * which C and we keep sorted by name; SQL by name). Paging as list_domains, but skipped users send
 * nothing (C sends an empty line for each, P2).
 */
export const listUsers: Handler = async (ctx, req) => {
  const d = await adminDomain(ctx, req.args[0], { missing: err(6, 2702), otherDomain: err(11, 2703), unknown: libErr(2704, 'Domain does not exist') });
  if (!d.ok) return d.reply;
  const { login, domain } = d;
  const { from, to } = pageRange(req.args[1], req.args[2]);
  const users = backendOf(ctx).listUsers(domain);
  async function* lines(): AsyncGenerator<string> {
    let index = 0;
    for await (const entry of users) {
      if (index >= to) break;
      if (index++ < from) continue;
      yield* userBlock(entry, { mode: login.mode, showClear: showsClear(login, { domain, user: entry.name }) });
      yield '';
    }
  }
  return data(lines());
};

/** Scope of the level-1 commands that still need an admin (get_lastauth, get_user_size). */
async function levelOneTarget(ctx: HandlerContext, arg: string | undefined, minors: AddressMinors & { readonly notAdmin: Reply }): Promise<Target> {
  if (loggedIn(ctx).level === LEVEL.user) return { ok: false, reply: minors.notAdmin };
  return adminTarget(ctx, arg, minors);
}

export const getLastauth: Handler = async (ctx, req) => {
  const t = await levelOneTarget(ctx, req.args[0], {
    notAdmin: err(9, 3701),
    missing: err(6, 3702),
    invalid: err(10, 3703),
    otherDomain: err(11, 3704),
    noUser: err(12, 3705),
  });
  if (!t.ok) return t.reply;
  if (!ctx.daemon.config.authLogging) return OK;
  const { domain, entry } = t.account;
  const backend = backendOf(ctx);
  const last = await ctx.daemon.gate.run(() => backend.getLastauth(domain.domain, entry));
  return data([`time ${last?.timeSec ?? 0}`, `ip ${last?.ip ?? '0.0.0.0'}`]);
};

/** Size and count of a user's Maildir (C's get_user_size counted pw_dir; get_domain_size Maildir). */
function maildirUsage(ctx: HandlerContext, entry: VpasswdEntry): Promise<{ bytes: number; count: number }> {
  return ctx.daemon.gate.run(() => countMaildir(join(entry.dir, 'Maildir')));
}

/** get_user_size, with the documented error forms (C: `-ERR 38xx <lower-case text>`, P3). */
export const getUserSize: Handler = async (ctx, req) => {
  const t = await levelOneTarget(ctx, req.args[0], {
    notAdmin: err(9, 3801),
    missing: err(6, 3802),
    invalid: err(10, 3803),
    otherDomain: err(11, 3804),
    noUser: err(12, 3805),
  });
  if (!t.ok) return t.reply;
  try {
    const usage = await maildirUsage(ctx, t.account.entry);
    return data([`size ${usage.bytes}`, `count ${usage.count}`]);
  } catch (e) {
    return libFailure(3806, e);
  }
};

/**
 * get_domain_size: every user's usage is counted before the reply starts, so a failure is a plain
 * `-ERR` instead of C's block cut off without its `.` (P2).
 */
export const getDomainSize: Handler = async (ctx, req) => {
  const d = await adminDomain(ctx, req.args[0], { missing: err(13, 3902), otherDomain: err(11, 3903), unknown: libErr(3905, 'Domain does not exist') });
  if (!d.ok) return d.reply;
  const rows: { name: string; bytes: number; count: number }[] = [];
  let totalBytes = 0;
  let totalCount = 0;
  for await (const entry of backendOf(ctx).listUsers(d.domain)) {
    try {
      const usage = await maildirUsage(ctx, entry);
      rows.push({ name: entry.name, bytes: usage.bytes, count: usage.count });
      totalBytes += usage.bytes;
      totalCount += usage.count;
    } catch (e) {
      return libFailure(3904, e);
    }
  }
  const domain = d.domain;
  function* lines(): Generator<string> {
    for (const r of rows) yield* [`user ${r.name}@${domain}`, `size ${r.bytes}`, `count ${r.count}`];
    yield* [`domain ${domain}`, `size ${totalBytes}`, `count ${totalCount}`];
  }
  return data(lines());
};
