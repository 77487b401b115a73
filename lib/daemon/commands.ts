// The command table: verb, the session level it needs, its handler, its help line (spec §7).
import type { Handler, Level } from './context.ts';
import { LEVEL } from './context.ts';
import { OK, data } from './protocol.ts';
import * as lists from './handlers/lists.ts';

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

const { none, domainAdmin } = LEVEL;

export const COMMANDS: readonly Command[] = [
  { verb: 'help', level: none, handler: help, section: 'Utility', hint: '' },
  { verb: 'quit', level: none, handler: quit, section: 'Utility', hint: '', ends: true },
  { verb: 'exit', level: none, handler: quit, section: 'Utility', hint: '', ends: true, hidden: true },
  { verb: 'q', level: none, handler: quit, section: 'Utility', hint: '', ends: true, hidden: true },
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
