// The daemon's calls into lib/accounts: the same operations the command-line tools run, on the
// gate (gate.ts), with protocol text turned into the text lib/accounts takes.
import { addAliasDomain as accountsAddAliasDomain, addDomain, deleteDomain as accountsDeleteDomain, findDomain, isAlias } from '../accounts/index.ts';
import { addUser as accountsAddUser, deleteUser as accountsDeleteUser, modifyUser, type UserChange } from '../accounts/users.ts';
import { AddDomainError, AliasDomainError } from '../accounts/domains.ts';
import {
  addAliasLine as accountsAddAliasLine,
  deleteAlias as accountsDeleteAlias,
  getAliasLines,
  listAliases as accountsListAliases,
  removeAliasLine as accountsRemoveAliasLine,
  type AliasLine,
} from '../accounts/aliases.ts';
import { VA, VpopmailError } from '../exit.ts';
import type { HandlerContext } from './context.ts';
import { wireText } from './protocol.ts';

/** Protocol text (bytes) as the text lib/accounts takes, or a VA_BAD_CHAR error naming the field. */
export function textOf(value: string, field: string): string {
  const text = wireText(value);
  if (text === undefined) throw new VpopmailError(VA.BAD_CHAR, `${field} is not valid UTF-8`);
  return text;
}

export type AddDomainResult =
  | { readonly ok: true }
  /** `domain`: the domain was not made (0.804); `postmaster`: it was, the postmaster was not, and it was removed again (0.805). */
  | { readonly ok: false; readonly stage: 'domain' | 'postmaster'; readonly error: unknown };

/** vadddomain with C's daemon defaults (no quota, catch-all or base dir) and postmaster, gecos `postmaster`. */
export async function addDomainWithPostmaster(ctx: HandlerContext, domain: string, password: string): Promise<AddDomainResult> {
  const accounts = ctx.daemon.accounts;
  try {
    const clear = textOf(password, 'password');
    await ctx.daemon.gate.run(() => addDomain(accounts, { domain, postmaster: { password: { clear }, gecos: 'postmaster', checkPolicy: true } }));
    return { ok: true };
  } catch (e) {
    return { ok: false, stage: e instanceof AddDomainError ? e.stage : 'domain', error: e };
  }
}

/** vaddaliasdomain with vpopmaild's strict order: the first name must be a real domain, the second new. */
export async function addAliasDomain(ctx: HandlerContext, real: string, alias: string): Promise<void> {
  const accounts = ctx.daemon.accounts;
  await ctx.daemon.gate.run(async () => {
    const ref = findDomain(accounts, real);
    if (ref === undefined || isAlias(ref)) throw new VpopmailError(VA.DOMAIN_DOES_NOT_EXIST);
    if (findDomain(accounts, alias) !== undefined) throw new AliasDomainError('Domain already exists');
    await accountsAddAliasDomain(accounts, real, alias);
  });
}

/** vdeldomain -f: C's daemon deletes a domain and all its aliases without asking, or just the alias. */
export async function deleteDomain(ctx: HandlerContext, domain: string): Promise<void> {
  const accounts = ctx.daemon.accounts;
  await ctx.daemon.gate.run(() => accountsDeleteDomain(accounts, domain, { force: true }));
}

/** vadduser: gecos = the local part, the password strength policy, the default quota from the limits. */
export async function addUser(ctx: HandlerContext, user: string, domain: string, password: string): Promise<void> {
  const accounts = ctx.daemon.accounts;
  const clear = textOf(password, 'password');
  await ctx.daemon.gate.run(() => accountsAddUser(accounts, { domain, user, password: { clear }, checkPolicy: true }));
}

/** vdeluser. */
export async function deleteUser(ctx: HandlerContext, user: string, domain: string): Promise<void> {
  const accounts = ctx.daemon.accounts;
  await ctx.daemon.gate.run(() => accountsDeleteUser(accounts, domain, user));
}

/**
 * vmoduser / vpasswd / vsetuserquota as one change (lib/accounts modifyUser): the record is read
 * and written under the domain's operation lock; a clear password is policy-checked, and refused for
 * NO_PASSWD_CHNG accounts changing their own (`asUser`).
 */
export async function changeUser(ctx: HandlerContext, domain: string, user: string, change: UserChange, asUser: boolean): Promise<void> {
  await modifyUser(ctx.daemon.accounts, domain, user, change, { checkPolicy: true, asUser });
}

/** One delivery line of an alias (valias row, or a line of `<dom>/.qmail-<alias>`). */
export type { AliasLine } from '../accounts/aliases.ts';

// Aliases live where lib/accounts says: the valias table (valias = yes on SQL) or .qmail-<alias>
// files; the same calls valias and dotqmail2valias make.

/** valias_insert: append one line to an alias. */
export async function addAliasLine(ctx: HandlerContext, domain: string, alias: string, line: string): Promise<void> {
  await ctx.daemon.gate.run(() => accountsAddAliasLine(ctx.daemon.accounts, domain, alias, line));
}

/** valias_remove: remove the lines equal to `line` (exact match, not C's file-backend prefix match, D12). */
export async function removeAliasLine(ctx: HandlerContext, domain: string, alias: string, line: string): Promise<boolean> {
  return ctx.daemon.gate.run(() => accountsRemoveAliasLine(ctx.daemon.accounts, domain, alias, line));
}

/** valias_delete: remove every line of the alias; false when it had none. */
export async function deleteAlias(ctx: HandlerContext, domain: string, alias: string): Promise<boolean> {
  return ctx.daemon.gate.run(() => accountsDeleteAlias(ctx.daemon.accounts, domain, alias));
}

/** Every line of every alias of the domain, by alias then insertion order. */
export function listAliases(ctx: HandlerContext, domain: string): AsyncIterable<AliasLine> {
  return accountsListAliases(ctx.daemon.accounts, domain);
}

/** The lines of one alias; undefined when it has none. */
export async function getAlias(ctx: HandlerContext, domain: string, alias: string): Promise<string[] | undefined> {
  return ctx.daemon.gate.run(() => getAliasLines(ctx.daemon.accounts, domain, alias));
}
