// Finding a domain as vpopmail does (users/cdb, alias → real domain) and the owner of its files.
import { VA, VpopmailError } from '../exit.ts';
import { lookupAssignDomain } from '../store/assign.ts';
import type { AccountsContext } from './context.ts';

/** A domain as users/assign routes it. */
export interface DomainRef {
  /** The name that was asked for (an alias, or the domain itself), lower case. */
  readonly name: string;
  /** The real domain. */
  readonly domain: string;
  readonly uid: number;
  readonly gid: number;
  /** The real domain's directory. */
  readonly dir: string;
}

export function isAlias(ref: DomainRef): boolean {
  return ref.name !== ref.domain;
}

/** C's vget_assign: undefined when the name is not routed; an unreadable users/cdb throws TempError. */
export function findDomain(ctx: AccountsContext, name: string): DomainRef | undefined {
  const lower = name.toLowerCase();
  if (lower === '') return undefined;
  const found = ctx.resolveDomain === undefined ? lookupAssignDomain(ctx.config.qmailHome, lower) : ctx.resolveDomain(lower);
  return found === undefined ? undefined : { name: lower, ...found };
}

/** findDomain, with VA_DOMAIN_DOES_NOT_EXIST for a miss. */
export function requireDomain(ctx: AccountsContext, name: string): DomainRef {
  const ref = findDomain(ctx, name);
  if (ref === undefined) throw new VpopmailError(VA.DOMAIN_DOES_NOT_EXIST);
  return ref;
}

export function ownerOf(ref: DomainRef): { readonly uid: number; readonly gid: number } {
  return { uid: ref.uid, gid: ref.gid };
}
