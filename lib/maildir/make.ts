// Create user directories and Maildirs (layout.md §2.1, §7): 0700, owned by the domain when we are
// root, below a given base directory only, never through a symlink.
import { lchownSync, lstatSync, mkdirSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { PermError, VA, VpopmailError } from '../exit.ts';
import { DURABLE, type Durable } from '../fs/durable.ts';
import { effectiveUid, fsyncDir, type Owner } from './deliver.ts';

export interface MakeDirOptions {
  /** The domain uid/gid; directories we create are chowned to it when running as root. */
  readonly owner?: Owner;
  /** Effective uid; default the process's. */
  readonly euid?: number;
  /** fsyncs each directory whose entries we changed, so the new tree survives a crash. */
  readonly durable?: Durable;
}

/** Maildir subdirectories in the order C's make_user_dir creates them. */
const MAILDIR_SUBDIRS_NEW_USER = ['new', 'cur', 'tmp'] as const;
/** ... and in the order vmake_maildir (the recreate path) does. */
const MAILDIR_SUBDIRS_RECREATE = ['cur', 'new', 'tmp'] as const;

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err);
}

/**
 * The components of `dir` below `base`, refusing anything that could leave it: `dir` must be `base`
 * itself plus at least one component (absolute, or relative to base), with no empty, `.` or `..`
 * component. Throws PermError otherwise.
 */
export function componentsBelow(base: string, dir: string): string[] {
  const cleanBase = base.length > 1 ? base.replace(/\/+$/, '') : base;
  let rest: string;
  if (isAbsolute(dir)) {
    const prefix = cleanBase === '/' ? '/' : `${cleanBase}/`;
    if (!dir.startsWith(prefix)) throw new PermError(`refusing ${dir}: not below ${cleanBase}`);
    rest = dir.slice(prefix.length);
  } else {
    rest = dir;
  }
  rest = rest.replace(/\/+$/, '');
  const parts = rest.split('/');
  if (rest === '' || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new PermError(`refusing ${dir}: not a plain path below ${cleanBase}`);
  }
  return parts;
}

interface Maker {
  readonly owner: Owner | undefined;
  readonly isRoot: boolean;
  /** Directories whose entries changed: fsynced at the end. */
  readonly touched: Set<string>;
}

/** Is `path` an existing real directory? undefined when it does not exist; throws on anything else. */
function isExistingDir(path: string, failCode: number): boolean {
  try {
    const st = lstatSync(path);
    if (st.isDirectory()) return true;
    throw new VpopmailError(failCode, `refusing ${path}: ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}`);
  } catch (err) {
    if (err instanceof VpopmailError) throw err;
    if (errnoOf(err) === 'ENOENT') return false;
    throw new VpopmailError(failCode, `lstat(${path}) failed: ${errnoOf(err)}`, { cause: err });
  }
}

/**
 * mkdir one directory 0700 and chown it. Returns false when it already existed as a real
 * directory (a concurrent creator), throws on everything else; `mustBeNew` turns "existed" into
 * VA_EXIST_U_DIR.
 */
function makeOne(m: Maker, parent: string, path: string, failCode: number, mustBeNew = false): boolean {
  try {
    mkdirSync(path, 0o700);
  } catch (err) {
    if (errnoOf(err) === 'EEXIST') {
      if (mustBeNew) throw new VpopmailError(VA.EXIST_U_DIR, `mkdir(${path}) failed: EEXIST`, { cause: err });
      if (isExistingDir(path, failCode)) return false;
    }
    throw new VpopmailError(failCode, `mkdir(${path}) failed: ${errnoOf(err)}`, { cause: err });
  }
  m.touched.add(parent);
  if (m.owner !== undefined && m.isRoot) {
    try {
      lchownSync(path, m.owner.uid, m.owner.gid);
    } catch (err) {
      throw new VpopmailError(failCode, `chown(${path}) failed: ${errnoOf(err)}`, { cause: err });
    }
  }
  return true;
}

function makerOf(options: MakeDirOptions): Maker {
  return { owner: options.owner, isRoot: (options.euid ?? effectiveUid()) === 0, touched: new Set() };
}

function syncTouched(m: Maker, durable: Durable): void {
  for (const dir of m.touched) {
    try {
      fsyncDir(dir, durable);
    } catch (err) {
      throw new VpopmailError(VA.SUBDIR_CREATION, (err as Error).message, { cause: err });
    }
  }
}

/**
 * Walk from `base` to `dir`, creating what is missing (0700, chowned). An existing component must
 * be a real directory: a symlink anywhere below `base` is refused, never followed. With `lastMustBeNew`
 * the final directory must not exist (VA_EXIST_U_DIR). Returns whether anything was created.
 */
function makePath(m: Maker, base: string, dir: string, failCode: number, lastMustBeNew: boolean): boolean {
  const parts = componentsBelow(base, dir);
  let parent = base;
  let created = false;
  for (let i = 0; i < parts.length; i++) {
    const path = join(parent, parts[i]!);
    const isLast = i === parts.length - 1;
    if (isLast && lastMustBeNew) {
      makeOne(m, parent, path, failCode, true);
      created = true;
    } else if (!isExistingDir(path, failCode)) {
      created = makeOne(m, parent, path, failCode) || created;
    }
    parent = path;
  }
  return created;
}

function makeMaildirIn(m: Maker, userDir: string, order: readonly string[]): boolean {
  const maildir = join(userDir, 'Maildir');
  let created = false;
  if (!isExistingDir(maildir, VA.SUBDIR_CREATION)) created = makeOne(m, userDir, maildir, VA.SUBDIR_CREATION) || created;
  for (const sub of order) {
    const path = join(maildir, sub);
    if (!isExistingDir(path, VA.SUBDIR_CREATION)) created = makeOne(m, maildir, path, VA.SUBDIR_CREATION) || created;
  }
  return created;
}

/**
 * make_user_dir: create the user directory `userDir` (absolute, or relative to `base`, normally the
 * domain directory; missing bucket directories in between are created too) and its
 * Maildir/{new,cur,tmp}. The user directory must not exist yet: VpopmailError(VA_EXIST_U_DIR).
 * Other failures are VpopmailError(VA_SUBDIR_CREATION) naming the call and path; a path leaving
 * `base` is a PermError. Returns the absolute user directory.
 */
export function makeUserDir(base: string, userDir: string, options: MakeDirOptions = {}): string {
  const m = makerOf(options);
  const abs = join(base, ...componentsBelow(base, userDir));
  makePath(m, base, abs, VA.SUBDIR_CREATION, true);
  makeMaildirIn(m, abs, MAILDIR_SUBDIRS_NEW_USER);
  syncTouched(m, options.durable ?? DURABLE);
  return abs;
}

/**
 * vmake_maildir, the recreate-if-missing variant (vdelivermail, vchkpw, vpopbull): create whatever
 * is missing of `userDir` and Maildir/{cur,new,tmp}, keeping what exists. Returns true when anything
 * was created. Errors as makeUserDir, without the "already exists" case.
 */
export function remakeUserDir(base: string, userDir: string, options: MakeDirOptions = {}): boolean {
  const m = makerOf(options);
  const abs = join(base, ...componentsBelow(base, userDir));
  let created = makePath(m, base, abs, VA.SUBDIR_CREATION, false);
  created = makeMaildirIn(m, abs, MAILDIR_SUBDIRS_RECREATE) || created;
  syncTouched(m, options.durable ?? DURABLE);
  return created;
}
