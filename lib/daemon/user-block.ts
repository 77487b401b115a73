// The user block of login, user_info and list_users (spec §5.1) and the flag names of mod_user.
import { PW_FLAG } from '../store/limits.ts';
import type { VpasswdEntry } from '../store/vpasswd.ts';
import type { OutputMode } from './context.ts';

/** The 18 flags verbose mode shows, in C's order (system_expert_privileges only shows in gidflags). */
export const VERBOSE_FLAGS: readonly (readonly [string, number])[] = [
  ['no_password_change', PW_FLAG.NO_PASSWD_CHNG],
  ['no_pop', PW_FLAG.NO_POP],
  ['no_webmail', PW_FLAG.NO_WEBMAIL],
  ['no_imap', PW_FLAG.NO_IMAP],
  ['bounce_mail', PW_FLAG.BOUNCE_MAIL],
  ['no_relay', PW_FLAG.NO_RELAY],
  ['no_dialup', PW_FLAG.NO_DIALUP],
  ['user_flag_0', PW_FLAG.V_USER0],
  ['user_flag_1', PW_FLAG.V_USER1],
  ['user_flag_2', PW_FLAG.V_USER2],
  ['user_flag_3', PW_FLAG.V_USER3],
  ['no_smtp', PW_FLAG.NO_SMTP],
  ['domain_admin_privileges', PW_FLAG.QA_ADMIN],
  ['override_domain_limits', PW_FLAG.V_OVERRIDE],
  ['no_spamassassin', PW_FLAG.NO_SPAMASSASSIN],
  ['delete_spam', PW_FLAG.DELETE_SPAM],
  ['no_maildrop', PW_FLAG.NO_MAILDROP],
  ['system_admin_privileges', PW_FLAG.SA_ADMIN],
];

export interface UserBlockOptions {
  readonly mode: OutputMode;
  /** Show pw_clear_passwd (system admins, and the account's own login); otherwise the value is empty. */
  readonly showClear: boolean;
  /** The flags to show; default the account's own pw_gid. */
  readonly gid?: number;
}

/** §5.1: six fields, then `gidflags <n>` (compact, silent) or the 18 flag lines (verbose). */
export function userBlock(entry: VpasswdEntry, options: UserBlockOptions): string[] {
  const gid = options.gid ?? entry.gid;
  const lines = [
    `name ${entry.name}`,
    `comment ${entry.gecos}`,
    `quota ${entry.quota}`,
    `user_dir ${entry.dir}`,
    `encrypted_password ${entry.passwd}`,
    `clear_text_password ${options.showClear ? (entry.clear ?? '') : ''}`,
  ];
  if (options.mode === 'verbose') for (const [name, bit] of VERBOSE_FLAGS) lines.push(`${name} ${(gid & bit) !== 0 ? 1 : 0}`);
  else lines.push(`gidflags ${gid}`);
  return lines;
}
