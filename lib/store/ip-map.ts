// `~vpopmail/etc/ip_alias_map` (layout.md §12): which domain a domain-less login gets from the server
// address it connected to. Lines are `<ip> <domain>`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sanitizeToken } from '../address.ts';
import { PermError, TempError } from '../exit.ts';
import { DURABLE, replaceFileSync, type Durable } from '../fs/durable.ts';

export const IP_ALIAS_MAP_FILE = 'ip_alias_map';

export interface IpAlias {
  readonly ip: string;
  readonly domain: string;
}

/** C's token separators for this file. */
const SEPARATORS = /[ \t\n]+/;

export function ipAliasMapPath(etcDir: string): string {
  return join(etcDir, IP_ALIAS_MAP_FILE);
}

/** The first two tokens of a line; undefined for a line with fewer (C skips those when reading). */
export function parseIpAliasLine(line: string): IpAlias | undefined {
  const tokens = line.split(SEPARATORS).filter((t) => t !== '');
  if (tokens.length < 2) return undefined;
  return { ip: tokens[0]!, domain: tokens[1]! };
}

export function formatIpAliasLine(alias: IpAlias): string {
  return `${alias.ip} ${alias.domain}`;
}

function sysCode(err: unknown): string {
  return String((err as NodeJS.ErrnoException).code ?? err);
}

/** The file's lines without LFs; [] when it does not exist. Whole lines, not C's 155-byte chunks. */
function readLines(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new TempError(`unable to read ${path}: ${sysCode(err)}`, { cause: err });
  }
  const lines = text.split('\n');
  if (text.endsWith('\n') || text === '') lines.pop();
  return lines;
}

/** Every mapping in file order (vipmap -p). */
export function readIpAliasMap(path: string): IpAlias[] {
  const out: IpAlias[] = [];
  for (const line of readLines(path)) {
    const alias = parseIpAliasLine(line);
    if (alias !== undefined) out.push(alias);
  }
  return out;
}

/**
 * The forms of a server address a map line may hold. C sanitises TCPLOCALIP (anything outside
 * [A-Za-z0-9_.@-] becomes `_`) before it would strip `::ffff:`, so IPv4-mapped addresses never match
 * (pitfall 13); we strip the prefix first, then accept the address as it is or in C's sanitised form.
 */
export function ipAliasCandidates(localIp: string): string[] {
  const mapped = /^::ffff:([0-9]{1,3}(?:\.[0-9]{1,3}){3})$/i.exec(localIp);
  const ip = mapped === null ? localIp : mapped[1]!;
  const sanitized = sanitizeToken(ip);
  return sanitized === ip ? [ip] : [ip, sanitized];
}

/** The domain of the first line whose IP matches the server address; undefined when none does. */
export function lookupIpAlias(path: string, localIp: string): string | undefined {
  if (localIp === '') return undefined;
  const candidates = ipAliasCandidates(localIp);
  for (const line of readLines(path)) {
    const alias = parseIpAliasLine(line);
    if (alias !== undefined && candidates.includes(alias.ip)) return alias.domain;
  }
  return undefined;
}

export interface IpAliasWriteOptions {
  readonly durable?: Durable;
  /** Default 0644, as C leaves it. */
  readonly mode?: number;
}

function checkToken(what: string, value: string): void {
  if (value === '' || /[\s\x00-\x1f\x7f]/.test(value)) throw new PermError(`invalid ${what} for ip_alias_map: ${JSON.stringify(value)}`);
}

function rewrite(path: string, lines: readonly string[], options: IpAliasWriteOptions): void {
  try {
    replaceFileSync(path, Buffer.from(lines.map((l) => `${l}\n`).join(''), 'latin1'), {
      mode: options.mode ?? 0o644,
      tmpPath: `${path}.${process.pid}`,
      durable: options.durable ?? DURABLE,
    });
  } catch (err) {
    throw new TempError(`unable to write ${path}: ${sysCode(err)}`, { cause: err });
  }
}

function isPair(line: string, ip: string, domain: string): boolean {
  const alias = parseIpAliasLine(line);
  return alias !== undefined && alias.ip === ip && alias.domain === domain;
}

/**
 * vipmap -a: drop lines holding this exact pair, then append `ip domain`. C does that as a delete and
 * a separate append; we do it as one atomic rewrite, copying every other line verbatim (C passes
 * them through printf as a format string, pitfall 13). Unlocked, as in C: two concurrent vipmap runs
 * can lose one change, never tear the file.
 */
export function addIpAlias(path: string, ip: string, domain: string, options: IpAliasWriteOptions = {}): void {
  checkToken('IP', ip);
  checkToken('domain', domain);
  const kept = readLines(path).filter((line) => !isPair(line, ip, domain));
  kept.push(formatIpAliasLine({ ip, domain }));
  rewrite(path, kept, options);
}

/**
 * vipmap -d: rewrite without the lines holding this exact pair. Other lines stay verbatim, including
 * lines of fewer than two fields that C drops. False (and nothing written) when no line matched.
 */
export function deleteIpAlias(path: string, ip: string, domain: string, options: IpAliasWriteOptions = {}): boolean {
  checkToken('IP', ip);
  checkToken('domain', domain);
  const lines = readLines(path);
  const kept = lines.filter((line) => !isPair(line, ip, domain));
  if (kept.length === lines.length) return false;
  rewrite(path, kept, options);
  return true;
}
