// dotqmail2valias: move a domain's `.qmail-<alias>` files into the backend's valias table (valias
// builds, spec/tools.md §18). Mailing lists stay files; an alias the table already has is left alone.
import { lstatSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { PermError, TempError, firstLine } from '../exit.ts';
import { fsyncDirSync } from '../fs/durable.ts';
import { aliasOfDotQmailFile, aliasStoreOf, checkAliasName, MAX_ALIAS_LINE_BYTES, readDotQmailFile } from './aliases.ts';
import type { AccountsContext } from './context.ts';
import { findDomain, type DomainRef } from './lookup.ts';
import { withOperationLocks } from './op-lock.ts';

/** What became of one `.qmail-<alias>` file. */
export type FileOutcome =
  | { readonly kind: 'converted'; readonly lines: number }
  | { readonly kind: 'exists' }
  | { readonly kind: 'mailing-list' }
  | { readonly kind: 'failed'; readonly reason: string };

export interface ConvertEvents {
  /** Before a file is looked at. */
  readonly onFile?: (alias: string) => void;
  /** After: what happened to it. */
  readonly onOutcome?: (alias: string, outcome: FileOutcome) => void;
}

export interface DomainConversion {
  readonly domain: DomainRef;
  readonly converted: number;
  readonly failed: number;
}

/** The build keeps aliases in a table: `valias = yes` and a backend that has one. */
export function canConvertDotQmail(ctx: AccountsContext): boolean {
  return aliasStoreOf(ctx) === 'valias';
}

/**
 * An ezmlm list's file, which must stay a file (ezmlm reads the list from it): a program line whose
 * command, the text before its first space, holds `/ezmlm-` (C's test; leading blanks after `|` skipped).
 */
export function isMailingListFile(lines: readonly string[]): boolean {
  return lines.some((l) => l.startsWith('|') && (l.slice(1).trimStart().split(' ', 1)[0] ?? '').includes('/ezmlm-'));
}

/** The `.qmail-*` files a conversion takes, by file name: everything but `.qmail-default`, sorted by bytes. */
function dotQmailFiles(dir: string): [string, string][] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (err) {
    throw new TempError(`unable to read ${dir}: ${(err as NodeJS.ErrnoException).code ?? firstLine(err)}`, { cause: err });
  }
  const out: [string, string][] = [];
  for (const name of names) {
    const alias = aliasOfDotQmailFile(name);
    if (alias !== undefined) out.push([alias, name]);
  }
  return out;
}

async function convertFile(ctx: AccountsContext, domain: DomainRef, alias: string, file: string): Promise<FileOutcome> {
  const path = join(domain.dir, file);
  try {
    checkAliasName(alias, 'valias');
  } catch (err) {
    return { kind: 'failed', reason: firstLine(err) };
  }
  const existing = await ctx.backend.getValias(domain.domain, alias);
  if (existing !== undefined && existing.length > 0) return { kind: 'exists' };
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (st === undefined) return { kind: 'failed', reason: 'the file went away' };
  const lines = readDotQmailFile(path);
  if (lines === undefined) return { kind: 'failed', reason: 'not a regular file' };
  if (isMailingListFile(lines)) return { kind: 'mailing-list' };
  const tooLong = lines.find((l) => l.length > MAX_ALIAS_LINE_BYTES);
  if (tooLong !== undefined) return { kind: 'failed', reason: `a line is longer than ${MAX_ALIAS_LINE_BYTES} bytes` };
  try {
    for (const line of lines) await ctx.backend.addValiasLine(domain.domain, alias, line);
  } catch (err) {
    // All of the file or none of it: take back what went in (the alias had no rows before).
    try {
      await ctx.backend.delValias(domain.domain, alias);
    } catch (undoErr) {
      return { kind: 'failed', reason: `${firstLine(err)}; the rows already added could not be removed: ${firstLine(undoErr)}` };
    }
    return { kind: 'failed', reason: firstLine(err) };
  }
  // The rows are in; the file goes last. Until it goes, qmail-local keeps delivering from it (it
  // reads .qmail-<alias> before .qmail-default sends anything to vdelivermail), so no mail is doubled.
  try {
    unlinkSync(path);
    fsyncDirSync(domain.dir, ctx.durable);
  } catch (err) {
    return { kind: 'failed', reason: `converted, but ${path} could not be removed: ${(err as NodeJS.ErrnoException).code ?? firstLine(err)}` };
  }
  return { kind: 'converted', lines: lines.length };
}

/**
 * Convert one real domain's alias files, holding its operation lock. The caller skips alias domains
 * (findDomain tells them apart). PermError when the build has no valias table.
 */
export async function convertDotQmailFiles(ctx: AccountsContext, domain: DomainRef, events: ConvertEvents = {}): Promise<DomainConversion> {
  if (!canConvertDotQmail(ctx)) throw new PermError(`the ${ctx.backend.name} backend with valias = ${ctx.config.valias ? 'yes' : 'no'} keeps aliases in .qmail files: there is no valias table to convert to`);
  return withOperationLocks(ctx, [domain.domain], async () => {
    const current = findDomain(ctx, domain.domain) ?? domain;
    let converted = 0;
    let failed = 0;
    for (const [alias, file] of dotQmailFiles(current.dir)) {
      events.onFile?.(alias);
      const outcome = await convertFile(ctx, current, alias, file);
      if (outcome.kind === 'converted') converted++;
      if (outcome.kind === 'failed') failed++;
      events.onOutcome?.(alias, outcome);
    }
    return { domain: current, converted, failed };
  });
}
