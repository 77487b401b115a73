// Path arguments of the file commands (spec §7.6): `/abs`, `domain/rest`, `user@domain/rest`, and
// confinement to what the session may touch.
//
// C confines by string prefix and follows symlinks (pitfalls S5): bob reaches `…/bobby/`, the admin
// of example.com reaches `…/example.com.evil.net/`, and a symlink leads anywhere. We compare whole
// path components of canonical paths: the lexical path (`.`/`..` and repeated `/` resolved) must
// lie inside the root, and so must the real path (symlinks resolved, for the part that exists).
import { realpath } from 'node:fs/promises';
import { basename, dirname, resolve, sep } from 'node:path';
import type { HandlerContext, LoginState } from './context.ts';
import { LEVEL } from './context.ts';
import { findAccount, isSelf, loggedIn, mayAdministerDomain, parseAddress, resolveDomain } from './lookup.ts';
import { err, type Reply } from './protocol.ts';

export type PathUse =
  /** The final component is followed if it is a symlink (read_file, list_dir, stat_file). */
  | 'follow'
  /** The final component itself is acted on (write_file, rm_file, rm_dir, rename_file, mk_dir). */
  | 'entry';

export interface ResolvedPath {
  /** Canonical path to act on. */
  readonly path: string;
  /** Canonical root the session is confined to. */
  readonly root: string;
}

export type PathResult = { readonly ok: true; readonly value: ResolvedPath } | { readonly ok: false; readonly reply: Reply };

const fail = (reply: Reply): PathResult => ({ ok: false, reply });

/** Is `path` the root or below it, by whole components? */
export function isWithin(path: string, root: string): boolean {
  if (root === sep) return path.startsWith(sep);
  return path === root || path.startsWith(root + sep);
}

async function realpathOrSelf(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    return path;
  }
}

/**
 * The canonical form of a path that may not exist yet: the real path of its longest existing
 * ancestor, with the rest appended. `entry` keeps the final component as it is (not followed).
 */
export async function canonicalPath(path: string, use: PathUse): Promise<string> {
  const lexical = resolve(path);
  if (use === 'entry') {
    const parent = dirname(lexical);
    if (parent === lexical) return lexical;
    return resolve(await canonicalPath(parent, 'follow'), basename(lexical));
  }
  const missing: string[] = [];
  let probe = lexical;
  for (;;) {
    try {
      return resolve(await realpath(probe), ...missing);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') return resolve(probe, ...missing);
      const parent = dirname(probe);
      if (parent === probe) return lexical;
      missing.unshift(basename(probe));
      probe = parent;
    }
  }
}

/** The directory the session is confined to, and the minor of its 26 error. */
function confinement(ctx: HandlerContext, login: LoginState): { root: string; minor: number } {
  if (login.level === LEVEL.systemAdmin) return { root: ctx.daemon.config.domainsDir, minor: 1510 };
  if (login.level === LEVEL.domainAdmin) return { root: login.domainDir, minor: 1511 };
  return { root: login.homeDir, minor: 1512 };
}

/** Expand and confine one path argument (spec §7.6 steps 1–4, with S5 fixed). */
export async function resolveClientPath(ctx: HandlerContext, arg: string, use: PathUse): Promise<PathResult> {
  const login = loggedIn(ctx);
  if (arg.includes('..')) return fail(err(20, 1501));
  if (arg.includes('%')) return fail(err(21, 1502));
  let expanded: string;
  if (arg.startsWith('/')) {
    expanded = arg;
  } else {
    const slash = arg.indexOf('/');
    if (slash < 0) return fail(err(22, 1503));
    const at = arg.indexOf('@');
    const head = arg.slice(0, slash);
    const rest = arg.slice(slash + 1);
    if (at >= 0) {
      if (at > slash) return fail(err(23, 1504));
      const address = await parseAddress(ctx, head);
      if (address === undefined) return fail(err(24, 1505));
      const account = await findAccount(ctx, address);
      if (account === undefined) return fail(err(25, 1506));
      if (login.level === LEVEL.domainAdmin && !mayAdministerDomain(login, account.domain.domain)) return fail(err(11, 1507));
      if (login.level === LEVEL.user && !isSelf(login, account.domain.domain, account.user)) return fail(err(12, 1508));
      expanded = `${account.entry.dir}/${rest}`;
    } else {
      const domain = await resolveDomain(ctx, head);
      if (domain === undefined) return fail(err(11, 1509));
      expanded = `${domain.dir}/${rest}`;
    }
  }
  const { root: rootArg, minor } = confinement(ctx, login);
  const lexicalRoot = resolve(rootArg);
  const lexical = resolve(expanded);
  if (!isWithin(lexical, lexicalRoot)) return fail(err(26, minor));
  const root = await realpathOrSelf(lexicalRoot);
  const path = await canonicalPath(lexical, use);
  if (!isWithin(path, root)) return fail(err(26, minor));
  return { ok: true, value: { path, root } };
}
