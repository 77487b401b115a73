// After a good login: the session's environment, the privilege drop and the home directory, as
// vchkpw sets them up before it becomes the next program (spec/vchkpw.md §6).
import { fstatSync } from 'node:fs';
import { VCHKPW_EXIT } from '../exit.ts';
import { remakeUserDir } from '../maildir/make.ts';
import type { LoginAccount } from './vchkpw.ts';
import type { Service } from './connection.ts';

/**
 * Dovecot's checkpassword passdb runs us with SERVICE set and its reply pipe on fd 4
 * (checkpassword-reply writes the user's fields there). Then we hand back the user's ids as
 * userdb_uid/userdb_gid instead of calling setuid, which Dovecot refuses (its documented secure way).
 */
export function isDovecotCaller(env: NodeJS.ProcessEnv): boolean {
  if (env.SERVICE === undefined || env.SERVICE === '') return false;
  try {
    const st = fstatSync(4);
    return st.isFIFO() || st.isSocket();
  } catch {
    return false;
  }
}

/** USER, HOME, SHELL, VPOPUSER as C sets them (USER is the local part), or Dovecot's fields. */
export function sessionEnv(env: NodeJS.ProcessEnv, account: LoginAccount, dovecot: boolean): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  // C's putenv replaces in place or appends: a JS object keeps the position of a key it already has.
  out.USER = dovecot ? `${account.user}@${account.domain}` : account.user;
  out.HOME = account.entry.dir;
  out.SHELL = 'NOLOGIN';
  out.VPOPUSER = account.login;
  if (dovecot) {
    out.userdb_uid = String(account.uid);
    out.userdb_gid = String(account.gid);
    const extra = (env.EXTRA ?? '').split(' ').filter((w) => w !== '' && w !== 'userdb_uid' && w !== 'userdb_gid');
    out.EXTRA = [...extra, 'userdb_uid', 'userdb_gid'].join(' ');
  }
  return out;
}

export type DropResult = { readonly ok: true } | { readonly ok: false; readonly code: number; readonly step: string; readonly errno: string };

/**
 * POP, IMAP and webmail sessions run as the domain's owner in the user's home: supplementary groups
 * first (C keeps root's: pitfall 2), then gid, then uid, then chdir (recreating a missing home with
 * its Maildir, now as the domain's owner, as C does). SMTP and Dovecot sessions keep our ids and cwd.
 */
export function dropToAccount(account: LoginAccount, service: Service, dovecot: boolean): DropResult {
  if (service === 'smtp' || dovecot) return { ok: true };
  const errno = (err: unknown) => String((err as NodeJS.ErrnoException).code ?? err);
  if (process.geteuid?.() === 0) {
    try {
      process.setgroups?.([account.gid]);
    } catch (err) {
      return { ok: false, code: VCHKPW_EXIT.setgid, step: 'setgroups', errno: errno(err) };
    }
  }
  try {
    process.setgid?.(account.gid);
  } catch (err) {
    return { ok: false, code: VCHKPW_EXIT.setgid, step: 'setgid', errno: errno(err) };
  }
  try {
    process.setuid?.(account.uid);
  } catch (err) {
    return { ok: false, code: VCHKPW_EXIT.setuid, step: 'setuid', errno: errno(err) };
  }
  const home = account.entry.dir;
  try {
    chdirSync(home);
  } catch {
    try {
      const old = process.umask(0o077);
      try {
        remakeUserDir(account.domainDir, home);
      } finally {
        process.umask(old);
      }
      chdirSync(home);
    } catch (err) {
      return { ok: false, code: VCHKPW_EXIT.chdir, step: 'autocreate dir', errno: errno(err) };
    }
  }
  return { ok: true };
}

function chdirSync(dir: string): void {
  process.chdir(dir); // the contract: the session starts in the user's home
}
