// mod_user (spec §7.4): `mod_user <addr>`, an intermediate `+OK `, option lines up to a line starting
// with `.`, then the final reply.
//
// Kept from C: the two-reply shape (Roundcube reads only the first), the option names and
// separators, flag values 1 and 0, `clear_all_flags`. Changed (P1, S7, T5): the final reply tells
// the truth. A block with an unknown option, a line without a value, a bad value, or a change the
// session may not make is refused as a whole, nothing is written, and the final reply is `-ERR`
// naming the fields. Setting a field to the value it already has is not a change, so clients that
// send every flag (Net_Vpopmaild sends all 19) keep working for every level.
import { formatMaildirQuota } from '../../quota.ts';
import { PasswordPolicyError } from '../../accounts/password-policy.ts';
import { PasswordChangeDisabledError, type UserChange } from '../../accounts/users.ts';
import { PW_FLAG } from '../../store/limits.ts';
import type { Handler, HandlerContext, LoginState } from '../context.ts';
import { LEVEL } from '../context.ts';
import { backendOf, findAccount, isSelf, isSystemAdmin, loggedIn, mayAdministerDomain, parseAddress, resolveDomain, type Account } from '../lookup.ts';
import * as ops from '../ops.ts';
import { OK, SENT, err, isBlockEnd, libErr, splitOptionLine, type Reply } from '../protocol.ts';
import { libFailure } from './domains.ts';

/** Who may change a field: anyone allowed to modify the target, an admin, can_override, or a system admin. */
type Right = 'anyone' | 'admin' | 'override' | 'system';

/** The flag options, their bits and who may change them. */
export const FLAG_OPTIONS: ReadonlyMap<string, { readonly bit: number; readonly right: Right }> = new Map([
  ['no_password_change', { bit: PW_FLAG.NO_PASSWD_CHNG, right: 'override' }],
  ['no_pop', { bit: PW_FLAG.NO_POP, right: 'override' }],
  ['no_webmail', { bit: PW_FLAG.NO_WEBMAIL, right: 'override' }],
  ['no_imap', { bit: PW_FLAG.NO_IMAP, right: 'override' }],
  ['bounce_mail', { bit: PW_FLAG.BOUNCE_MAIL, right: 'override' }],
  ['no_relay', { bit: PW_FLAG.NO_RELAY, right: 'override' }],
  ['no_dialup', { bit: PW_FLAG.NO_DIALUP, right: 'override' }],
  ['user_flag_0', { bit: PW_FLAG.V_USER0, right: 'override' }],
  ['user_flag_1', { bit: PW_FLAG.V_USER1, right: 'override' }],
  ['no_smtp', { bit: PW_FLAG.NO_SMTP, right: 'override' }],
  // C lets any user set these on itself (S7). The two spam preferences stay so (Roundcube's
  // spam_vpopmaild plugin sets them as the user); the site flags and maildrop need an admin.
  ['no_spamassassin', { bit: PW_FLAG.NO_SPAMASSASSIN, right: 'anyone' }],
  ['delete_spam', { bit: PW_FLAG.DELETE_SPAM, right: 'anyone' }],
  ['user_flag_2', { bit: PW_FLAG.V_USER2, right: 'admin' }],
  ['user_flag_3', { bit: PW_FLAG.V_USER3, right: 'admin' }],
  ['no_maildrop', { bit: PW_FLAG.NO_MAILDROP, right: 'admin' }],
  ['domain_admin_privileges', { bit: PW_FLAG.QA_ADMIN, right: 'admin' }],
  ['override_domain_limits', { bit: PW_FLAG.V_OVERRIDE, right: 'system' }],
  ['system_admin_privileges', { bit: PW_FLAG.SA_ADMIN, right: 'system' }],
  ['system_expert_privileges', { bit: PW_FLAG.SA_EXPERT, right: 'system' }],
]);

/** The other options and who may change them (encrypted_password: admins only, S7). */
const FIELD_RIGHTS: ReadonlyMap<string, Right> = new Map([
  ['comment', 'anyone'],
  ['clear_text_password', 'anyone'],
  ['encrypted_password', 'admin'],
  ['quota', 'override'],
  ['clear_all_flags', 'override'],
]);

function hasRight(login: LoginState, right: Right): boolean {
  switch (right) {
    case 'anyone':
      return true;
    case 'admin':
      return login.level >= LEVEL.domainAdmin;
    case 'override':
      return login.level === LEVEL.systemAdmin || (login.level === LEVEL.domainAdmin && (login.gid & PW_FLAG.V_OVERRIDE) !== 0);
    case 'system':
      return login.level === LEVEL.systemAdmin;
  }
}

interface OptionLine {
  readonly name: string;
  readonly value: string;
}

/** Syntax of one option; undefined when fine, else why not. */
function invalidReason(option: { name: string; value: string | undefined }): string | undefined {
  const { name, value } = option;
  if (!FLAG_OPTIONS.has(name) && !FIELD_RIGHTS.has(name)) return 'unknown option';
  if (value === undefined) return name === 'clear_all_flags' ? undefined : `${name} without a value`;
  if (FLAG_OPTIONS.has(name) && value !== '0' && value !== '1') return `${name} must be 0 or 1`;
  if (name === 'comment' && (value.includes(':') || value.length > 64)) return 'comment must not hold ":" or exceed 64 characters';
  if (name === 'encrypted_password' && (value.includes(':') || value.length > 128)) return 'encrypted_password must not hold ":" or exceed 128 characters';
  if (name === 'clear_text_password' && value.length > 128) return 'clear_text_password is longer than 128 characters';
  if (name === 'quota') {
    try {
      formatMaildirQuota(value);
    } catch {
      return 'quota is longer than 20 characters';
    }
  }
  return undefined;
}

type TargetResult = { ok: true; login: LoginState; account: Account } | { ok: false; reply: Reply };

/** System admins any account, domain admins those of their domain (11.503), users themselves (11.504). */
async function modTarget(ctx: HandlerContext, arg: string | undefined): Promise<TargetResult> {
  const login = loggedIn(ctx);
  if (arg === undefined) return { ok: false, reply: err(6, 501) };
  const address = await parseAddress(ctx, arg);
  if (address === undefined) return { ok: false, reply: err(10, 502) };
  const domain = await resolveDomain(ctx, address.domain);
  const notYours = login.level === LEVEL.user ? err(11, 504) : err(11, 503);
  if (domain === undefined) return { ok: false, reply: isSystemAdmin(login) ? err(12, 505) : notYours };
  if (login.level === LEVEL.user && !isSelf(login, domain.domain, address.user)) return { ok: false, reply: notYours };
  if (login.level === LEVEL.domainAdmin && !mayAdministerDomain(login, domain.domain)) return { ok: false, reply: notYours };
  const account = await findAccount(ctx, address);
  if (account === undefined) return { ok: false, reply: err(12, 505) };
  return { ok: true, login, account };
}

export const modUser: Handler = async (ctx, req) => {
  const target = await modTarget(ctx, req.args[0]);
  const options: OptionLine[] = [];
  const invalid: string[] = [];
  const collect = (line: string) => {
    if (line.trim() === '') return; // LF-CR clients leave a lone CR: a blank line
    const option = splitOptionLine(line);
    const why = invalidReason(option);
    if (why !== undefined) invalid.push(why);
    else options.push({ name: option.name, value: option.value ?? '' });
  };
  if (!target.ok) {
    // The client sends its option lines whatever we answer (Roundcube pipelines them): read them
    // all, up to `.` with or without CR, so none of them runs as a command (P2).
    await ctx.send(target.reply);
    await ctx.readBlock(isBlockEnd, () => undefined);
    return SENT;
  }
  await ctx.send(OK);
  const block = await ctx.readBlock(isBlockEnd, collect);
  if (block.overlong > 0) invalid.push('line too long');
  if (invalid.length > 0) return err(4, 509, [...new Set(invalid)].join('; '));
  if (options.length === 0) return OK;
  return applyOptions(ctx, target.login, target.account, options);
};

/**
 * Turn the options into one lib/accounts change, checked against a fresh read of the account: every
 * field that would change must be one the session may change. One gate job, all or nothing.
 */
async function applyOptions(ctx: HandlerContext, login: LoginState, account: Account, options: readonly OptionLine[]): Promise<Reply> {
  const backend = backendOf(ctx);
  const domain = account.domain.domain;
  const user = account.user;
  const self = isSelf(login, domain, user);
  return ctx.daemon.gate.run(async (): Promise<Reply> => {
    const current = await backend.getUser(domain, user);
    if (current === undefined) return libErr(507, 'User does not exist');
    const refused = new Set<string>();
    const need = (name: string, right: Right) => {
      if (!hasRight(login, right)) refused.add(name);
    };
    // Flags as lib/accounts applies them: ((clear ? 0 : gid) | add) & ~remove, lines in order.
    let clearAll = false;
    let add = 0;
    let remove = 0;
    const change: { -readonly [K in keyof UserChange]: UserChange[K] } = {};
    try {
      for (const { name, value } of options) {
        const flag = FLAG_OPTIONS.get(name);
        if (flag !== undefined) {
          if (value === '1') {
            add |= flag.bit;
            remove &= ~flag.bit;
          } else {
            remove |= flag.bit;
            add &= ~flag.bit;
          }
        } else if (name === 'clear_all_flags') {
          clearAll = true;
          add = 0;
          remove = 0;
        } else if (name === 'comment') {
          if (value !== current.gecos) need(name, 'anyone');
          change.gecos = ops.textOf(value, name);
        } else if (name === 'quota') {
          const quota = formatMaildirQuota(value);
          if (quota !== current.quota) need(name, 'override');
          change.quota = quota;
        } else if (name === 'encrypted_password') {
          if (value !== current.passwd) {
            need(name, 'admin');
            change.password = { hash: ops.textOf(value, name) };
          }
        } else if (name === 'clear_text_password') {
          need(name, 'anyone');
          change.password = { clear: ops.textOf(value, name) };
        }
      }
    } catch (e) {
      return err(4, 509, (e as Error).message);
    }
    const gid = ((clearAll ? 0 : current.gid) | add) & ~remove;
    const changed = gid ^ current.gid;
    for (const [name, { bit, right }] of FLAG_OPTIONS) if ((changed & bit) !== 0) need(name, right);
    // clear_all_flags needs can_override whenever it clears a bit the block does not set again.
    if (clearAll && (current.gid & ~add) !== 0) need('clear_all_flags', 'override');
    if (refused.size > 0) return err(9, 508, [...refused].join(' '));
    if (changed !== 0) Object.assign(change, { clearFlags: true, addFlags: gid });
    if (Object.keys(change).length === 0) return OK;
    try {
      // A user changing its own password is refused for NO_PASSWD_CHNG; an admin changing another
      // account's is not (T5). System admins are never stopped by the flag.
      await ops.changeUser(ctx, domain, user, change, self && !isSystemAdmin(login));
    } catch (e) {
      if (e instanceof PasswordChangeDisabledError) return err(9, 510, 'password change disabled');
      if (e instanceof PasswordPolicyError) return libErr(511, e.message);
      return libFailure(507, e);
    }
    ctx.log('mod_user', { user: `${user}@${domain}` });
    return OK;
  });
}
