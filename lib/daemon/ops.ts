// The daemon's calls into libraries that are still being written (lib/crypt, lib/accounts). Each
// function names the lib call it stands for; when that lib lands its body becomes that call, so the
// daemon never holds a second implementation of an admin operation. Until then they throw
// NotAvailableError, which handlers report as their `-ERR 0.<minor>` library failure.
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Backend } from '../backends/backend.ts';
import { TempError } from '../exit.ts';
import { durableFor } from '../fs/durable.ts';
import { NOQUOTA } from '../quota.ts';
import { recalculateMaildirsize, removeMaildirsize } from '../maildir/maildirsize.ts';
import type { VpasswdEntry } from '../store/vpasswd.ts';
import type { HandlerContext } from './context.ts';

export class NotAvailableError extends TempError {
  override name = 'NotAvailableError';
  constructor(what: string) {
    super(`${what} is not available in this build yet`);
  }
}

// --- lib/crypt -------------------------------------------------------------------------------------

/** lib/crypt verifyPassword: does the clear password match the stored crypt(3) hash? */
export async function checkPassword(_password: string, _hash: string): Promise<boolean> {
  throw new NotAvailableError('password verification (lib/crypt)');
}

/** lib/crypt hashPassword: a new crypt(3) hash of the configured scheme with a fresh salt. */
export async function hashNewPassword(_ctx: HandlerContext, _password: string): Promise<string> {
  throw new NotAvailableError('password hashing (lib/crypt)');
}

/**
 * The password strength policy (passwords.md §4, ~vpopmail/etc/password_strength.conf) as vadduser
 * and vpasswd apply it: undefined when the password passes, else the policy's error text.
 */
export async function passwordPolicyError(_ctx: HandlerContext, _password: string): Promise<string | undefined> {
  throw new NotAvailableError('the password strength policy (lib/accounts)');
}

// --- lib/accounts ----------------------------------------------------------------------------------

export type AddDomainResult =
  | { readonly ok: true }
  /** `domain`: the domain was not made (0.804); `postmaster`: it was, the postmaster was not, and it was removed again (0.805). */
  | { readonly ok: false; readonly stage: 'domain' | 'postmaster'; readonly error: unknown };

/** vadddomain (no quota, catch-all or base-dir options) then postmaster with gecos `postmaster`. */
export async function addDomainWithPostmaster(_ctx: HandlerContext, _domain: string, _password: string): Promise<AddDomainResult> {
  return { ok: false, stage: 'domain', error: new NotAvailableError('add_domain (lib/accounts)') };
}

/** vaddaliasdomain with the order fixed: real domain first. */
export async function addAliasDomain(_ctx: HandlerContext, _real: string, _alias: string): Promise<void> {
  throw new NotAvailableError('add_alias_domain (lib/accounts)');
}

/** vdeldomain -f: a real domain with all its aliases, or just the alias. */
export async function deleteDomain(_ctx: HandlerContext, _domain: string): Promise<void> {
  throw new NotAvailableError('del_domain (lib/accounts)');
}

/** vadduser: gecos = the local part, password strength policy, default quota from the limits. */
export async function addUser(_ctx: HandlerContext, _user: string, _domain: string, _password: string): Promise<void> {
  throw new NotAvailableError('add_user (lib/accounts)');
}

/** vdeluser. */
export async function deleteUser(_ctx: HandlerContext, _user: string, _domain: string): Promise<void> {
  throw new NotAvailableError('del_user (lib/accounts)');
}

/** One delivery line of an alias (valias row, or a line of `<dom>/.qmail-<alias>`). */
export interface AliasLine {
  readonly alias: string;
  readonly line: string;
}

/** valias_insert: append one line to an alias (cdb: `.qmail-<alias>`; SQL: the valias table). */
export async function addAliasLine(_ctx: HandlerContext, _domain: string, _alias: string, _line: string): Promise<void> {
  throw new NotAvailableError('add_alias (lib/accounts)');
}

/** valias_remove: remove the lines equal to `line` (exact match, not C's file-backend prefix match). */
export async function removeAliasLine(_ctx: HandlerContext, _domain: string, _alias: string, _line: string): Promise<boolean> {
  throw new NotAvailableError('remove_alias (lib/accounts)');
}

/** valias_delete: remove every line of the alias. */
export async function deleteAlias(_ctx: HandlerContext, _domain: string, _alias: string): Promise<boolean> {
  throw new NotAvailableError('delete_alias (lib/accounts)');
}

/** Every line of every alias of the domain (cdb: every `.qmail-*` except `.qmail-default`). */
export function listAliases(_ctx: HandlerContext, _domain: string): AsyncIterable<AliasLine> {
  throw new NotAvailableError('list_alias (lib/accounts)');
}

/** The lines of one alias; undefined when it has none. */
export async function getAlias(_ctx: HandlerContext, _domain: string, _alias: string): Promise<string[] | undefined> {
  throw new NotAvailableError('list_alias (lib/accounts)');
}

/**
 * What vsetuserquota's library call does after the record is stored (spec/tools.md §0.4): remove
 * maildirsize and, unless the quota is NOQUOTA, recount the Maildir and write it again, owned by the
 * domain. Stands for lib/accounts' quota setter; built from lib/maildir until that lands.
 */
export function rebuildMaildirsizeAfterQuotaChange(
  ctx: HandlerContext,
  entry: VpasswdEntry,
  owner: { readonly uid: number; readonly gid: number },
): void {
  if (entry.dir === '') return;
  const maildir = join(entry.dir, 'Maildir');
  removeMaildirsize(maildir);
  if (entry.quota === NOQUOTA || entry.quota === '') return;
  recalculateMaildirsize(maildir, entry.quota, {
    nowMs: ctx.daemon.now(),
    pid: process.pid,
    host: hostname(),
    owner,
    durable: durableFor(ctx.daemon.config),
  });
}

/** vauth_setpw: store the whole record (lib/accounts' modify-user stands here once it exists). */
export async function storeUser(backend: Backend, domain: string, entry: VpasswdEntry): Promise<void> {
  await backend.setUser(domain, entry);
}
