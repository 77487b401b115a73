// Directories of domains and users: created 0700 below a base only, owned by the domain when we are
// root, never through a symlink; and telling a leftover of an interrupted creation from real data.
import { lchownSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { VA, VpopmailError } from '../exit.ts';
import { fsyncDirSync, type Durable } from '../fs/durable.ts';
import { componentsBelow } from '../maildir/make.ts';
import { isRoot } from './context.ts';

type Owner = { readonly uid: number; readonly gid: number };

function errno(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err);
}

/** Is `path` a real directory (true), missing (false)? A symlink or a file is an error with `failCode`. */
export function isRealDir(path: string, failCode: number): boolean {
  try {
    const st = lstatSync(path);
    if (st.isDirectory()) return true;
    throw new VpopmailError(failCode, `refusing ${path}: ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}`);
  } catch (err) {
    if (err instanceof VpopmailError) throw err;
    if (errno(err) === 'ENOENT') return false;
    throw new VpopmailError(failCode, `lstat(${path}) failed: ${errno(err)}`, { cause: err });
  }
}

/** mkdir 0700 and chown; false when it appeared meanwhile as a real directory. */
function makeOne(path: string, owner: Owner | undefined, failCode: number): boolean {
  try {
    mkdirSync(path, 0o700);
  } catch (err) {
    if (errno(err) === 'EEXIST' && isRealDir(path, failCode)) return false;
    throw new VpopmailError(failCode, `mkdir(${path}) failed: ${errno(err)}`, { cause: err });
  }
  if (owner !== undefined && isRoot()) {
    try {
      lchownSync(path, owner.uid, owner.gid);
    } catch (err) {
      throw new VpopmailError(failCode, `chown(${path}) failed: ${errno(err)}`, { cause: err });
    }
  }
  return true;
}

/**
 * Create every missing directory from `base` (which must exist) down to `dir`; returns the ones it
 * made, outermost first (for a rollback). Existing components must be real directories.
 */
export function makeDirsBelow(base: string, dir: string, owner: Owner | undefined, failCode: number, durable: Durable): string[] {
  const parts = componentsBelow(base, dir);
  const made: string[] = [];
  let parent = base;
  for (const part of parts) {
    const path = join(parent, part);
    if (!isRealDir(path, failCode) && makeOne(path, owner, failCode)) {
      made.push(path);
      fsyncDirSync(parent, durable);
    }
    parent = path;
  }
  return made;
}

/**
 * `~vpopmail/domains` (or `<base>/domains`): created 0700 and given to the domain's owner when
 * missing, as C's vadddomain does. The base must exist (VA_BAD_V_DIR). Returns whether it was made.
 */
export function ensureDomainsDir(base: string, domainsDir: string, owner: Owner, durable: Durable): boolean {
  if (!isRealDir(base, VA.BAD_V_DIR)) throw new VpopmailError(VA.BAD_V_DIR, `${base} does not exist`);
  if (isRealDir(domainsDir, VA.CAN_NOT_MAKE_DOMAINS_DIR)) return false;
  const made = makeOne(domainsDir, owner, VA.CAN_NOT_MAKE_DOMAINS_DIR);
  if (made) fsyncDirSync(base, durable);
  return made;
}

/** Entries of a directory, or undefined when it cannot be listed. */
function list(path: string): string[] | undefined {
  try {
    return readdirSync(path);
  } catch {
    return undefined;
  }
}

function isEmptyDir(path: string): boolean {
  const entries = list(path);
  return entries !== undefined && entries.length === 0;
}

/**
 * Is `home` only what an interrupted vadduser leaves: Maildir with empty new/, cur/, tmp/ (and at
 * most a maildirsize), a lastauth, nothing else? Such a directory holds no mail and may be reused;
 * anything more is someone's data and stays untouched.
 */
export function isBareUserDir(home: string): boolean {
  const top = list(home);
  if (top === undefined) return false;
  for (const name of top) {
    if (name === 'lastauth') continue;
    if (name !== 'Maildir') return false;
    const inner = list(join(home, 'Maildir'));
    if (inner === undefined) return false;
    for (const sub of inner) {
      if (sub === 'maildirsize') continue;
      if (sub !== 'new' && sub !== 'cur' && sub !== 'tmp') return false;
      if (!isEmptyDir(join(home, 'Maildir', sub))) return false;
    }
  }
  return true;
}

/** Is `domainDir` only what an interrupted vadddomain leaves before any user was added? */
export function isBareDomainDir(domainDir: string): boolean {
  const entries = list(domainDir);
  return entries !== undefined && entries.every((name) => name === '.qmail-default' || name === '.dir-control');
}
