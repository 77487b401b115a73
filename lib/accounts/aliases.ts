// Aliases and forwards of a domain (valias, vpopmaild, dotqmail2valias): `<dom>/.qmail-<alias>` files
// (layout.md §8.2), or the backend's valias table when the build keeps aliases there (`valias = yes`
// and a backend that has one, sql.md §5.7). One delivery instruction per line either way.
//
// Unlike C: a line is removed only when it is equal to the given one (C drops every line that
// merely starts with it, pitfall D12); a trailing CR is never stored or compared (D13); an exact
// duplicate is refused; a `.qmail-<alias>` file is replaced whole (temp file, fsync, rename) under
// the domain's operation lock instead of appended to or rewritten in place, so qmail-local never
// reads half a file; and an alias whose last line goes leaves no empty file behind (an empty
// `.qmail-<alias>` makes qmail-local deliver to the domain directory itself).
import { lstatSync, readFileSync, readdirSync, statSync, unlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { MAX_USER_LENGTH, hasUserChars } from '../address.ts';
import { MailError, PermError, TempError, VA, VpopmailError } from '../exit.ts';
import { fsyncDirSync, replaceFileSync } from '../fs/durable.ts';
import { toByteString, type AccountsContext } from './context.ts';
import { ownerOf, requireDomain, type DomainRef } from './lookup.ts';
import { NameError } from './names.ts';
import { withOperationLocks } from './op-lock.ts';
import { QMAIL_DEFAULT_FILE } from './qmail-default.ts';

/** C's MAX_ALIAS_LINE: a line must be shorter than this (VA_ALIAS_LINE_TOO_LONG). */
export const MAX_ALIAS_LINE_BYTES = 159;

const DOT_QMAIL_PREFIX = '.qmail-';

/** One delivery line of an alias. Strings are byte strings (latin1), as the files hold them. */
export interface AliasLine {
  readonly alias: string;
  readonly line: string;
}

/** Where a build keeps its aliases. */
export type AliasStore = 'dotqmail' | 'valias';

export function aliasStoreOf(ctx: AccountsContext): AliasStore {
  return ctx.config.valias && ctx.backend.hasValiasTable ? 'valias' : 'dotqmail';
}

/** The line is already there, exactly (valias -i refuses it, as C does). */
export class AliasExistsError extends MailError {
  override name = 'AliasExistsError';
  constructor(
    readonly address: string,
    readonly line: string,
  ) {
    // C: stderr, exit 255, scripts see only the code.
    super(`Error: ${address} already has the line ${Buffer.from(line, 'latin1').toString('utf8')}`, 255, { stream: 'stderr', bare: true });
  }
}

/** The file of an alias is not one we may rewrite (a symlink: an ezmlm list's part). */
export class AliasFileError extends PermError {
  override name = 'AliasFileError';
}

/**
 * May this (lower-case) name be an alias? What C's user-name check allows, at most 64 bytes, but
 * never `/` (the file name would leave the domain directory), never empty (`.qmail-` is the bare
 * domain's file) and, for files, never `default` (`.qmail-default` is the catch-all, not an alias).
 */
export function checkAliasName(alias: string, store: AliasStore = 'dotqmail'): void {
  if (alias === '') throw new NameError(VA.ILLEGAL_USERNAME, 'the alias name is empty');
  if (Buffer.byteLength(alias) > MAX_USER_LENGTH) throw new NameError(VA.USER_NAME_TOO_LONG, `alias name longer than ${MAX_USER_LENGTH} characters`);
  if (!hasUserChars(alias) || alias.includes('/')) throw new NameError(VA.ILLEGAL_USERNAME, `user invalid ${alias}`);
  if (store === 'dotqmail' && alias === 'default') {
    throw new NameError(VA.ILLEGAL_USERNAME, `user invalid ${alias}: .qmail-default is the domain's catch-all, not an alias`);
  }
}

/**
 * A line as it is stored: text from argv or a socket as bytes, a trailing CR dropped. Refused: an
 * empty line, a line break or NUL inside (it would become two instructions), 160 bytes or more.
 */
export function prepareAliasLine(line: string): string {
  const bytes = toByteString(line).replace(/\r+$/, '');
  if (bytes === '') throw new VpopmailError(VA.INVALID_EMAIL_CHAR, 'invalid email character (the alias line is empty)');
  // eslint-disable-next-line no-control-regex
  if (/[\r\n\x00]/.test(bytes)) throw new VpopmailError(VA.INVALID_EMAIL_CHAR, 'invalid email character (a line break or NUL in the alias line)');
  if (bytes.length > MAX_ALIAS_LINE_BYTES) throw new VpopmailError(VA.ALIAS_LINE_TOO_LONG);
  return bytes;
}

/** `.qmail-<alias>` with every `.` written `:`, qmail's own convention. */
export function dotQmailFileName(alias: string): string {
  return `${DOT_QMAIL_PREFIX}${alias.replaceAll('.', ':')}`;
}

/** The alias a `.qmail-*` file name stands for (`:` back to `.`); undefined for other names and `.qmail-default`. */
export function aliasOfDotQmailFile(fileName: string): string | undefined {
  if (!fileName.startsWith(DOT_QMAIL_PREFIX) || fileName === QMAIL_DEFAULT_FILE || fileName === DOT_QMAIL_PREFIX) return undefined;
  return fileName.slice(DOT_QMAIL_PREFIX.length).replaceAll(':', '.');
}

/** The lines of a `.qmail` file's text: LF ends a line, a CR before it is dropped, empty lines skipped. */
export function parseDotQmailLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/\r+$/, ''))
    .filter((l) => l !== '');
}

function sysCode(err: unknown): string {
  return String((err as NodeJS.ErrnoException).code ?? err);
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new TempError(`unable to stat ${path}: ${sysCode(err)}`, { cause: err });
  }
}

/** The lines of a `.qmail-*` file (a symlink is followed, as qmail-local does); undefined when it is no file. */
export function readDotQmailFile(path: string): string[] | undefined {
  let text: string;
  try {
    if (!statSync(path).isFile()) return undefined;
    text = readFileSync(path, 'latin1');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new TempError(`unable to read ${path}: ${sysCode(err)}`, { cause: err });
  }
  return parseDotQmailLines(text);
}

/** C's strcasecmp order (ASCII letters folded), ties broken by bytes so the order is total. */
function compareCaseless(a: string, b: string): number {
  const fa = a.toLowerCase();
  const fb = b.toLowerCase();
  if (fa !== fb) return fa < fb ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The alias files of a domain directory, as C's listing counts them: every `.qmail-*` except
 * `.qmail-default`; a symlink (an ezmlm list's part) only when its name has neither `-default` nor
 * `-owner`, so a list counts once. Sorted case-insensitively, as C sorts. Returns [alias, file name].
 */
export function listDotQmailFiles(domainDir: string): [string, string][] {
  let names: string[];
  try {
    names = readdirSync(domainDir);
  } catch (err) {
    throw new TempError(`unable to read ${domainDir}: ${sysCode(err)}`, { cause: err });
  }
  const out: [string, string][] = [];
  for (const name of names) {
    const alias = aliasOfDotQmailFile(name);
    if (alias === undefined) continue;
    const st = lstatOrUndefined(join(domainDir, name));
    if (st === undefined) continue;
    if (st.isSymbolicLink()) {
      if (name.includes('-default') || name.includes('-owner')) continue;
    } else if (!st.isFile()) continue;
    out.push([alias, name]);
  }
  return out.sort((a, b) => compareCaseless(a[0], b[0]));
}

// --- reading -------------------------------------------------------------------------------------

/** The lines of one alias in file (or insertion) order; undefined when it has none. VA_DOMAIN_DOES_NOT_EXIST for an unknown domain. */
export async function getAliasLines(ctx: AccountsContext, domainName: string, alias: string): Promise<string[] | undefined> {
  const store = aliasStoreOf(ctx);
  checkAliasName(alias, store);
  const domain = requireDomain(ctx, domainName);
  if (store === 'valias') {
    const lines = await ctx.backend.getValias(domain.domain, alias);
    return lines === undefined || lines.length === 0 ? undefined : lines;
  }
  const lines = readDotQmailFile(join(domain.dir, dotQmailFileName(alias)));
  return lines === undefined || lines.length === 0 ? undefined : lines;
}

/**
 * The alias names of a domain: the table's, distinct and sorted; or the files', as
 * listDotQmailFiles counts and sorts them (an empty file still names an alias, as in C).
 */
export async function listAliasNames(ctx: AccountsContext, domainName: string): Promise<string[]> {
  const domain = requireDomain(ctx, domainName);
  if (aliasStoreOf(ctx) === 'valias') {
    const names = new Set<string>();
    for await (const row of ctx.backend.listValias(domain.domain)) names.add(row.alias);
    return [...names].sort();
  }
  return listDotQmailFiles(domain.dir).map(([alias]) => alias);
}

/** Every line of every alias of the domain: by alias (the order listAliasNames gives), then line order. */
export async function* listAliases(ctx: AccountsContext, domainName: string): AsyncGenerator<AliasLine> {
  const domain = requireDomain(ctx, domainName);
  if (aliasStoreOf(ctx) === 'valias') {
    yield* ctx.backend.listValias(domain.domain);
    return;
  }
  for (const [alias, file] of listDotQmailFiles(domain.dir)) {
    for (const line of readDotQmailFile(join(domain.dir, file)) ?? []) yield { alias, line };
  }
}

// --- changing ------------------------------------------------------------------------------------

/** Temp file of a rewrite: outside the `.qmail-*` names, so neither qmail-local nor a listing ever takes it for an alias. */
function tmpPathFor(domainDir: string): string {
  return join(domainDir, `.qmail.tmp.${process.pid}`);
}

function writeDotQmailFile(ctx: AccountsContext, domain: DomainRef, path: string, lines: readonly string[]): void {
  try {
    replaceFileSync(path, Buffer.from(lines.map((l) => `${l}\n`).join(''), 'latin1'), {
      mode: 0o600,
      tmpPath: tmpPathFor(domain.dir),
      durable: ctx.durable,
      owner: ownerOf(domain),
    });
  } catch (err) {
    throw new TempError(`unable to write ${path}: ${sysCode(err)}`, { cause: err });
  }
}

/** The current lines of an alias file we are about to rewrite; a symlink is refused (it belongs to a list). */
function readForRewrite(path: string): string[] {
  const st = lstatOrUndefined(path);
  if (st === undefined) return [];
  if (st.isSymbolicLink()) throw new AliasFileError(`${path} is a symbolic link (part of a mailing list): not changed`);
  if (!st.isFile()) throw new AliasFileError(`${path} is not a regular file: not changed`);
  return readDotQmailFile(path) ?? [];
}

function removeFile(ctx: AccountsContext, domain: DomainRef, path: string): boolean {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new TempError(`unable to remove ${path}: ${sysCode(err)}`, { cause: err });
  }
  fsyncDirSync(domain.dir, ctx.durable);
  return true;
}

/** Run fn on the real domain with its operation lock held (the domain may go while we wait: look again). */
async function withDomain<T>(ctx: AccountsContext, domainName: string, fn: (domain: DomainRef) => Promise<T>): Promise<T> {
  const first = requireDomain(ctx, domainName);
  return withOperationLocks(ctx, [first.domain], async () => fn(requireDomain(ctx, domainName)));
}

/**
 * valias_insert: append one line to an alias (creating it). An exact duplicate is refused with
 * AliasExistsError; names and lines are checked before anything is touched.
 */
export async function addAliasLine(ctx: AccountsContext, domainName: string, alias: string, line: string): Promise<void> {
  const store = aliasStoreOf(ctx);
  checkAliasName(alias, store);
  const stored = prepareAliasLine(line);
  await withDomain(ctx, domainName, async (domain) => {
    const address = `${alias}@${domainName.toLowerCase()}`;
    if (store === 'valias') {
      const lines = (await ctx.backend.getValias(domain.domain, alias)) ?? [];
      if (lines.some((l) => l.replace(/\r+$/, '') === stored)) throw new AliasExistsError(address, stored);
      await ctx.backend.addValiasLine(domain.domain, alias, stored);
      return;
    }
    const path = join(domain.dir, dotQmailFileName(alias));
    const lines = readForRewrite(path);
    if (lines.includes(stored)) throw new AliasExistsError(address, stored);
    writeDotQmailFile(ctx, domain, path, [...lines, stored]);
  });
}

/**
 * valias_remove: remove the lines equal to `line` (exact match, CR aside); false when none was
 * there. An alias file left without lines is removed.
 */
export async function removeAliasLine(ctx: AccountsContext, domainName: string, alias: string, line: string): Promise<boolean> {
  const store = aliasStoreOf(ctx);
  checkAliasName(alias, store);
  const stored = prepareAliasLine(line);
  return withDomain(ctx, domainName, async (domain) => {
    if (store === 'valias') return ctx.backend.delValiasLine(domain.domain, alias, stored);
    const path = join(domain.dir, dotQmailFileName(alias));
    const lines = readForRewrite(path);
    const kept = lines.filter((l) => l !== stored);
    if (kept.length === lines.length) return false;
    if (kept.length === 0) removeFile(ctx, domain, path);
    else writeDotQmailFile(ctx, domain, path, kept);
    return true;
  });
}

/** valias_delete: every line of the alias goes (its file, or the link to a list's file); false when it had none. */
export async function deleteAlias(ctx: AccountsContext, domainName: string, alias: string): Promise<boolean> {
  const store = aliasStoreOf(ctx);
  checkAliasName(alias, store);
  return withDomain(ctx, domainName, async (domain) => {
    if (store === 'valias') return ctx.backend.delValias(domain.domain, alias);
    return removeFile(ctx, domain, join(domain.dir, dotQmailFileName(alias)));
  });
}
