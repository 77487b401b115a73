// vuserinfo's output: the labelled block and the bare fields, byte for byte as C prints them
// (scripts parse them), from what lib/accounts/reports.ts gathers.
import type { FullUserReport } from '../accounts/reports.ts';
import { PW_FLAG } from '../store/limits.ts';
import { NEVER_LOGGED_IN_IP } from '../store/lastauth.ts';
import { localTime } from '../time/localtime.ts';

/** Field letters in the order they are printed, whatever order they were asked in. */
export type UserField = 'n' | 'p' | 'C' | 'u' | 'g' | 'c' | 'd' | 'q' | 'Q' | 'l';
export const USER_FIELD_ORDER: readonly UserField[] = ['n', 'p', 'C', 'u', 'g', 'c', 'd', 'q', 'Q', 'l'];

/** The separator vuserinfo -D prints before each user (5.6; 5.4.33 printed none). */
export const USER_SEPARATOR = `${'-'.repeat(42)}\n`;

/** The limits lines, in C's order. */
const FLAG_LINES: readonly (readonly [number, string])[] = [
  [PW_FLAG.NO_PASSWD_CHNG, 'password can not be changed by user'],
  [PW_FLAG.NO_POP, 'pop access closed'],
  [PW_FLAG.NO_WEBMAIL, 'webmail access closed'],
  [PW_FLAG.NO_IMAP, 'imap access closed'],
  [PW_FLAG.NO_SMTP, 'smtp access is closed'],
  [PW_FLAG.NO_RELAY, 'user not allowed to relay mail'],
  [PW_FLAG.NO_SPAMASSASSIN, 'spamassassin processing disabled'],
  [PW_FLAG.DELETE_SPAM, 'delete spam'],
  [PW_FLAG.NO_MAILDROP, 'maildrop processing disabled'],
  [PW_FLAG.NO_DIALUP, 'no dialup flag has been set'],
  [PW_FLAG.BOUNCE_MAIL, 'mail will be bounced back to sender'],
  [PW_FLAG.QA_ADMIN, 'has qmailadmin administrator access'],
  [PW_FLAG.SA_ADMIN, 'has system administrator access'],
  [PW_FLAG.SA_EXPERT, 'has expert access'],
  [PW_FLAG.V_USER0, 'user flag 0 is set'],
  [PW_FLAG.V_USER1, 'user flag 1 is set'],
  [PW_FLAG.V_USER2, 'user flag 2 is set'],
  [PW_FLAG.V_USER3, 'user flag 3 is set'],
  [PW_FLAG.V_OVERRIDE, 'user is not subject to domain limits'],
];

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** asctime(localtime(t)) without its newline: `Sun Nov 29 21:35:41 2026`. */
export function formatAsctime(timeSec: number): string {
  const d = localTime(timeSec);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[d.weekday]} ${MONTHS[d.month]} ${String(d.day).padStart(2, ' ')} ${two(d.hours)}:${two(d.minutes)}:${two(d.seconds)} ${d.year}`;
}

function limitsBlock(gid: number, flags: number): string {
  if (flags === 0) return 'limits: No user limits set.\n';
  let out = 'limits:\n';
  for (const [bit, text] of FLAG_LINES) {
    if ((flags & bit) === 0) continue;
    out += `        ${text}${(gid & bit) === 0 ? ' (*)' : ''}\n`;
  }
  if (gid !== flags) out += '        * = set by domain-wide limits\n';
  return out;
}

function usageText(r: FullUserReport): string {
  return r.usagePercent === undefined ? 'NOQUOTA' : `${r.usagePercent}%`;
}

function lastauthLines(r: FullUserReport): string {
  const la = r.lastauth;
  if (la === undefined || la.ip === NEVER_LOGGED_IN_IP) {
    return `${la === undefined ? '' : `account created: ${formatAsctime(la.timeSec)}\n`}last auth: Never logged in\n`;
  }
  return `last auth: ${formatAsctime(la.timeSec)}\nlast auth ip: ${la.ip}\n`;
}

export interface UserInfoStyle {
  /** Clear-text passwords kept (the `clear passwd:` value, `-C`). */
  readonly clearPasswords: boolean;
  /** Auth logging on (the last-auth lines). */
  readonly authLogging: boolean;
}

/** The labelled block (vuserinfo, vuserinfo -a), as a byte string. */
export function formatUserBlock(r: FullUserReport, style: UserInfoStyle): string {
  const e = r.entry;
  let out =
    `name:   ${e.name}\n` +
    `passwd: ${e.passwd}\n` +
    `clear passwd: ${style.clearPasswords ? (e.clear ?? '') : ''}\n` +
    `comment/gecos: ${e.gecos}\n` +
    `uid:    ${e.uid}\n` +
    `gid:    ${e.gid}\n` +
    `flags:  ${r.flags}\n` +
    `gecos: ${e.gecos}\n` +
    limitsBlock(e.gid, r.flags) +
    `dir:       ${e.dir}\n` +
    `quota:     ${e.quota}\n` +
    `usage:     ${usageText(r)}\n`;
  if (style.authLogging) out += lastauthLines(r);
  return out;
}

/** The fields asked for, bare, one per line, in USER_FIELD_ORDER. */
export function formatUserFields(r: FullUserReport, fields: ReadonlySet<UserField>, style: UserInfoStyle): string {
  const e = r.entry;
  let out = '';
  for (const f of USER_FIELD_ORDER) {
    if (!fields.has(f)) continue;
    switch (f) {
      case 'n':
        out += `${e.name}\n`;
        break;
      case 'p':
        out += `${e.passwd}\n`;
        break;
      case 'C':
        if (style.clearPasswords) out += `${e.clear ?? ''}\n`;
        break;
      case 'u':
        out += `${e.uid}\n`;
        break;
      case 'g':
        out += `${e.gid}\n`;
        break;
      case 'c':
        out += `${e.gecos}\n`;
        break;
      case 'd':
        out += `${e.dir}\n`;
        break;
      case 'q':
        out += `${e.quota}\n`;
        break;
      case 'Q':
        out += `${usageText(r)}\n`;
        break;
      case 'l':
        if (style.authLogging) out += lastauthLines(r);
        break;
    }
  }
  return out;
}
