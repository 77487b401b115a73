// Domain commands (spec §7.2): list_domains, find_domain, domain_count, dom_info, add_domain,
// add_alias_domain, del_domain. All system-admin level (the command table enforces it).
import { VA, VpopmailError, firstLine } from '../../exit.ts';
import { listAssignDomains, type AssignEntry } from '../../store/assign.ts';
import type { Handler, HandlerContext } from '../context.ts';
import { resolveDomain } from '../lookup.ts';
import * as ops from '../ops.ts';
import { OK, data, err, libErr, type Reply } from '../protocol.ts';

/** Every users/assign domain line in file order; VA_CANNOT_READ_ASSIGN when it cannot be read. */
function assignEntries(ctx: HandlerContext): Promise<AssignEntry[]> {
  const qmailHome = ctx.daemon.config.qmailHome;
  return ctx.daemon.gate.run(() => listAssignDomains(qmailHome));
}

function isAssignUnreadable(e: unknown): boolean {
  return e instanceof VpopmailError && e.code === VA.CANNOT_READ_ASSIGN;
}

/** A non-negative decimal argument, or 0 (C reads page arguments with atoi). */
export function pageNumber(text: string | undefined): number {
  const m = /^\s*\+?(\d{1,9})/.exec(text ?? '');
  return m === null ? 0 : Number(m[1]);
}

/** Paging of list_domains, list_users, list_lists: both numbers > 0 select [(page-1)*per, page*per). */
export function pageRange(pageArg: string | undefined, perPageArg: string | undefined): { from: number; to: number } {
  const page = pageNumber(pageArg);
  const perPage = pageNumber(perPageArg);
  if (page > 0 && perPage > 0) return { from: (page - 1) * perPage, to: page * perPage };
  return { from: 0, to: Number.POSITIVE_INFINITY };
}

export const listDomains: Handler = async (ctx, req) => {
  let entries: AssignEntry[];
  try {
    entries = await assignEntries(ctx);
  } catch (e) {
    if (isAssignUnreadable(e)) return err(31, 2302);
    throw e;
  }
  const { from, to } = pageRange(req.args[0], req.args[1]);
  return data(entries.slice(from, to).map((e) => `${e.domain} ${e.name}`));
};

export const findDomain: Handler = async (ctx, req) => {
  const name = req.args[0];
  if (name === undefined) return err(13, 2402);
  let entries: AssignEntry[];
  try {
    entries = await assignEntries(ctx);
  } catch (e) {
    if (isAssignUnreadable(e)) return err(31, 2403);
    throw e;
  }
  const index = entries.findIndex((e) => e.name === name.toLowerCase());
  if (index < 0) return data([]);
  const perPage = pageNumber(req.args[1]);
  return data([`page ${perPage > 0 ? Math.floor(index / perPage) + 1 : index + 1}`]);
};

export const domainCount: Handler = async (ctx) => {
  try {
    return data([`count ${(await assignEntries(ctx)).length}`]);
  } catch (e) {
    if (isAssignUnreadable(e)) return err(31, 2502);
    throw e;
  }
};

export const domInfo: Handler = async (ctx, req) => {
  const name = req.args[0];
  if (name === undefined) return err(13, 1402);
  let domain;
  let aliases: AssignEntry[];
  try {
    domain = await resolveDomain(ctx, name);
    if (domain === undefined) return libErr(1404, 'Domain does not exist');
    const real = domain.domain;
    const qmailHome = ctx.daemon.config.qmailHome;
    aliases = await ctx.daemon.gate.run(() => listAssignDomains(qmailHome, real));
  } catch (e) {
    return libErr(1403, firstLine(e));
  }
  return data([
    `domain ${domain.domain}`,
    `path ${domain.dir}`,
    `uid ${domain.uid}`,
    `gid ${domain.gid}`,
    ...aliases.filter((a) => a.name !== domain.domain).map((a) => `alias ${a.name}`),
  ]);
};

/** A library failure as `-ERR 0.<minor> <text>`: the VA text, or the first line of anything else. */
export function libFailure(minor: number, e: unknown): Reply {
  return libErr(minor, e instanceof VpopmailError ? e.message : firstLine(e));
}

export const addDomain: Handler = async (ctx, req) => {
  const domain = req.args[0];
  if (domain === undefined) return err(13, 802);
  const password = req.rest(1);
  if (password === '') return err(7, 803);
  const result = await ops.addDomainWithPostmaster(ctx, domain.toLowerCase(), password);
  if (result.ok) return OK;
  return libFailure(result.stage === 'domain' ? 804 : 805, result.error);
};

export const addAliasDomain: Handler = async (ctx, req) => {
  const [real, alias] = req.args;
  if (real === undefined) return err(13, 1202);
  if (alias === undefined) return err(14, 1203);
  try {
    await ops.addAliasDomain(ctx, real.toLowerCase(), alias.toLowerCase());
  } catch (e) {
    return libFailure(1204, e);
  }
  return OK;
};

export const delDomain: Handler = async (ctx, req) => {
  const domain = req.args[0];
  if (domain === undefined) return err(13, 1302);
  try {
    await ops.deleteDomain(ctx, domain.toLowerCase());
  } catch (e) {
    return libFailure(1303, e);
  }
  return OK;
};
