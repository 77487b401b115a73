// The command table: verb, the session level it needs, its handler, its help line (spec §7).
import type { Handler, Level } from './context.ts';
import { LEVEL } from './context.ts';
import { OK, data } from './protocol.ts';
import * as aliases from './handlers/aliases.ts';
import * as domains from './handlers/domains.ts';
import * as files from './handlers/files.ts';
import * as ipMap from './handlers/ip-map.ts';
import * as limits from './handlers/limits.ts';
import * as lists from './handlers/lists.ts';
import * as login from './handlers/login.ts';
import { modUser } from './handlers/mod-user.ts';
import * as users from './handlers/users.ts';

export type Section = 'Login' | 'Utility' | 'Domain' | 'User' | 'Alias' | 'File System' | 'IP Map' | 'Mailing List';

export interface Command {
  readonly verb: string;
  /** 'pre': only before login; a Level: that level or higher (0: any session, logged in or not). */
  readonly level: 'pre' | Level;
  readonly handler: Handler;
  readonly section: Section;
  /** Argument hint shown by help. */
  readonly hint: string;
  /** The session ends after the reply (quit). */
  readonly ends?: boolean;
  /** Not listed by help (exit and q, the other spellings of quit). */
  readonly hidden?: boolean;
}

/** `+OK+`, the commands this session may use grouped by section, `.` (human-readable; spec §7.1). */
const help: Handler = async (ctx) => data(visibleHelp(ctx.login?.level ?? LEVEL.none));

/** `+OK `; the table marks quit, exit and q as ending the session. */
const quit: Handler = async () => OK;

const { none, user, domainAdmin, systemAdmin } = LEVEL;

export const COMMANDS: readonly Command[] = [
  { verb: 'login', level: 'pre', handler: login.login, section: 'Login', hint: 'user@domain password' },
  { verb: 'clogin', level: 'pre', handler: login.clogin, section: 'Login', hint: 'user@domain password (compact reply)' },
  { verb: 'slogin', level: 'pre', handler: login.slogin, section: 'Login', hint: 'user@domain password (no reply data)' },
  { verb: 'help', level: none, handler: help, section: 'Utility', hint: '' },
  { verb: 'quit', level: none, handler: quit, section: 'Utility', hint: '', ends: true },
  { verb: 'exit', level: none, handler: quit, section: 'Utility', hint: '', ends: true, hidden: true },
  { verb: 'q', level: none, handler: quit, section: 'Utility', hint: '', ends: true, hidden: true },
  { verb: 'add_domain', level: systemAdmin, handler: domains.addDomain, section: 'Domain', hint: 'domain postmaster-password' },
  { verb: 'add_alias_domain', level: systemAdmin, handler: domains.addAliasDomain, section: 'Domain', hint: 'domain alias' },
  { verb: 'del_domain', level: systemAdmin, handler: domains.delDomain, section: 'Domain', hint: 'domain' },
  { verb: 'dom_info', level: systemAdmin, handler: domains.domInfo, section: 'Domain', hint: 'domain' },
  { verb: 'list_domains', level: systemAdmin, handler: domains.listDomains, section: 'Domain', hint: '[page per_page]' },
  { verb: 'find_domain', level: systemAdmin, handler: domains.findDomain, section: 'Domain', hint: 'domain [per_page]' },
  { verb: 'domain_count', level: systemAdmin, handler: domains.domainCount, section: 'Domain', hint: '' },
  { verb: 'get_limits', level: domainAdmin, handler: limits.getLimits, section: 'Domain', hint: 'domain' },
  { verb: 'set_limits', level: systemAdmin, handler: limits.setLimits, section: 'Domain', hint: 'domain, then key value lines and .' },
  { verb: 'del_limits', level: systemAdmin, handler: limits.delLimits, section: 'Domain', hint: 'domain' },
  { verb: 'get_domain_size', level: domainAdmin, handler: users.getDomainSize, section: 'Domain', hint: 'domain' },
  { verb: 'add_user', level: domainAdmin, handler: users.addUser, section: 'User', hint: 'user@domain password' },
  { verb: 'del_user', level: domainAdmin, handler: users.delUser, section: 'User', hint: 'user@domain' },
  { verb: 'mod_user', level: user, handler: modUser, section: 'User', hint: 'user@domain, then option value lines and .' },
  { verb: 'user_info', level: domainAdmin, handler: users.userInfo, section: 'User', hint: 'user@domain' },
  { verb: 'list_users', level: domainAdmin, handler: users.listUsers, section: 'User', hint: 'domain [page per_page]' },
  { verb: 'user_count', level: domainAdmin, handler: users.userCount, section: 'User', hint: 'domain' },
  { verb: 'get_user_size', level: user, handler: users.getUserSize, section: 'User', hint: 'user@domain' },
  { verb: 'get_lastauth', level: user, handler: users.getLastauth, section: 'User', hint: 'user@domain' },
  { verb: 'list_lists', level: domainAdmin, handler: lists.listLists, section: 'User', hint: 'domain [page per_page]' },
  { verb: 'add_alias', level: domainAdmin, handler: aliases.addAlias, section: 'Alias', hint: 'alias@domain line' },
  { verb: 'remove_alias', level: domainAdmin, handler: aliases.removeAlias, section: 'Alias', hint: 'alias@domain line' },
  { verb: 'delete_alias', level: domainAdmin, handler: aliases.deleteAlias, section: 'Alias', hint: 'alias@domain' },
  { verb: 'list_alias', level: domainAdmin, handler: aliases.listAlias, section: 'Alias', hint: 'domain | alias@domain' },
  { verb: 'mk_dir', level: user, handler: files.mkDir, section: 'File System', hint: 'path' },
  { verb: 'rm_dir', level: user, handler: files.rmDir, section: 'File System', hint: 'path' },
  { verb: 'list_dir', level: user, handler: files.listDir, section: 'File System', hint: 'path' },
  { verb: 'rm_file', level: user, handler: files.rmFile, section: 'File System', hint: 'path' },
  { verb: 'rename_file', level: user, handler: files.renameFile, section: 'File System', hint: 'from-path to-path' },
  { verb: 'write_file', level: user, handler: files.writeFile, section: 'File System', hint: 'path, then the lines and .' },
  { verb: 'read_file', level: user, handler: files.readFile, section: 'File System', hint: 'path' },
  { verb: 'stat_file', level: user, handler: files.statFile, section: 'File System', hint: 'path' },
  { verb: 'get_ip_map', level: user, handler: ipMap.getIpMap, section: 'IP Map', hint: 'ip' },
  { verb: 'add_ip_map', level: systemAdmin, handler: ipMap.addIpMap, section: 'IP Map', hint: 'ip domain' },
  { verb: 'del_ip_map', level: systemAdmin, handler: ipMap.delIpMap, section: 'IP Map', hint: 'ip domain' },
  { verb: 'show_ip_map', level: systemAdmin, handler: ipMap.showIpMap, section: 'IP Map', hint: '' },
  { verb: 'add_list', level: domainAdmin, handler: lists.addList, section: 'Mailing List', hint: 'domain listname (not implemented)' },
  { verb: 'del_list', level: domainAdmin, handler: lists.delList, section: 'Mailing List', hint: 'domain listname (not implemented)' },
  { verb: 'mod_list', level: domainAdmin, handler: lists.modList, section: 'Mailing List', hint: 'domain listname (not implemented)' },
];

const SECTION_ORDER: readonly Section[] = ['Login', 'Utility', 'Domain', 'User', 'Alias', 'File System', 'IP Map', 'Mailing List'];

const BY_VERB: ReadonlyMap<string, Command> = new Map(COMMANDS.map((c) => [c.verb, c]));

export function findCommand(verb: string): Command | undefined {
  return BY_VERB.get(verb);
}

/** Can a session at this level (0 = not logged in) use the command? */
export function isVisible(command: Command, level: Level): boolean {
  if (command.level === 'pre') return level === none;
  return command.level <= level;
}

/** help's lines: per section with a visible command, an empty line and the title, then the commands. */
export function visibleHelp(level: Level): string[] {
  const lines: string[] = [];
  for (const section of SECTION_ORDER) {
    const visible = COMMANDS.filter((c) => c.section === section && !c.hidden && isVisible(c, level));
    if (visible.length === 0) continue;
    lines.push('', section);
    for (const c of visible) lines.push(c.hint === '' ? c.verb : `${c.verb} ${c.hint}`);
  }
  return lines;
}
