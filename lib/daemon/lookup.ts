// Address parsing, domain and account look-ups, and the scope rules every handler shares (spec §4).
// Every store call runs on the daemon's gate (gate.ts).
import { defaultDomainOf } from '../accounts/default-domain.ts';
import { findDomain, type DomainRef } from '../accounts/lookup.ts';
import { hasDomainChars, hasUserChars, splitAddress } from '../address.ts';
import type { Backend } from '../backends/backend.ts';
import type { VpasswdEntry } from '../store/vpasswd.ts';
import type { HandlerContext, LoginState } from './context.ts';
import { LEVEL } from './context.ts';

export interface Address {
  readonly user: string;
  readonly domain: string;
}

export function backendOf(ctx: HandlerContext): Backend {
  return ctx.daemon.backend;
}

/**
 * parse_email (spec/tools.md §0.2): lower-cased, split at the first `@` (else `%`, else `/`), the
 * character checks, the default domain for a bare name. Undefined when it does not parse.
 */
export async function parseAddress(ctx: HandlerContext, text: string): Promise<Address | undefined> {
  const { user, domain } = splitAddress(text);
  if (user === '' || !hasUserChars(user) || !hasDomainChars(domain)) return undefined;
  if (domain !== '') return { user, domain };
  const { config, env, backend } = ctx.daemon;
  // Under tcpserver TCPLOCALIP comes from the environment; the standalone server knows its socket.
  const localIp = env.TCPLOCALIP ?? ctx.localIp;
  const fallback = await ctx.daemon.gate.run(() => defaultDomainOf(config, backend, { VPOPMAIL_DOMAIN: env.VPOPMAIL_DOMAIN, TCPLOCALIP: localIp }));
  return fallback === '' ? undefined : { user, domain: fallback.toLowerCase() };
}

/** vget_assign (lib/accounts findDomain): the real domain, its owner and directory; undefined when there is none. */
export function resolveDomain(ctx: HandlerContext, name: string): Promise<DomainRef | undefined> {
  const accounts = ctx.daemon.accounts;
  return ctx.daemon.gate.run(() => findDomain(accounts, name));
}

export interface Account {
  readonly user: string;
  readonly domain: DomainRef;
  readonly entry: VpasswdEntry;
}

/** The account behind an address; undefined when the domain or the user does not exist. */
export async function findAccount(ctx: HandlerContext, address: Address): Promise<Account | undefined> {
  const domain = await resolveDomain(ctx, address.domain);
  if (domain === undefined) return undefined;
  const backend = backendOf(ctx);
  const entry = await ctx.daemon.gate.run(() => backend.getUser(domain.domain, address.user));
  return entry === undefined ? undefined : { user: address.user, domain, entry };
}

/** The session's login; handlers reachable only after login call this. */
export function loggedIn(ctx: HandlerContext): LoginState {
  if (ctx.login === undefined) throw new Error('handler reached before login');
  return ctx.login;
}

export function isSystemAdmin(login: LoginState): boolean {
  return login.level === LEVEL.systemAdmin;
}

/**
 * May this session administer the (real) domain? System admins any, domain admins their home
 * domain. C compares the argument as typed (an alias or an upper-case name is "another domain",
 * P4); we compare the real domain the argument resolves to, so an alias of the home domain is home.
 */
export function mayAdministerDomain(login: LoginState, realDomain: string): boolean {
  if (login.level === LEVEL.systemAdmin) return true;
  return login.level === LEVEL.domainAdmin && login.domain === realDomain;
}

/** Is this account the session's own? */
export function isSelf(login: LoginState, realDomain: string, user: string): boolean {
  return login.domain === realDomain && login.user === user;
}
