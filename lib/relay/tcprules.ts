// Rebuild tcp.smtp.cdb for roaming users: the static rules file, then one rule per relay entry,
// piped into tcprules (layout.md §11.3), with IPv6 entries kept out of an IPv4-only tcprules.
import type { SpawnSyncReturns } from 'node:child_process';
import { chownSync, existsSync, readFileSync } from 'node:fs';
import { ipVersion } from '../ip.ts';
import { join } from 'node:path';
import type { Config } from '../config.ts';
import { TempError } from '../exit.ts';
import { unlinkQuiet } from '../fs/durable.ts';

/** C's TCP_FILE: the first of these that exists; ~vpopmail/etc/tcp.smtp when none does. */
export function tcpRulesFile(config: Pick<Config, 'etcDir'>): string {
  const candidates = [join(config.etcDir, 'tcp.smtp'), '/etc/tcp.smtp', '/etc/tcprules.d/qmail-smtpd'];
  return candidates.find((p) => existsSync(p)) ?? candidates[0]!;
}

/** The address a relay rule is for: the text before `:allow`. */
function ruleIp(rule: string): string {
  const at = rule.indexOf(':allow');
  return at < 0 ? rule : rule.slice(0, at);
}

/**
 * The rules to feed tcprules after the static file: every relay rule, except IPv6 ones when the
 * tcprules in use is the IPv4 build (one IPv6 line makes it reject the whole file), and never a
 * rule without an address (that would be the catch-all: an open relay).
 */
export function relayRulesFor(rules: readonly string[], ipv6: boolean): string[] {
  return rules.filter((rule) => {
    const kind = ipVersion(ruleIp(rule));
    return kind === 4 || (kind === 6 && ipv6);
  });
}

export interface RebuildResult {
  readonly ok: boolean;
  /** One line for the log when tcprules failed. */
  readonly warning?: string;
}

/**
 * Run `tcprules <file>.cdb <file>.tmp.<pid>` with the static rules and the relay rules on its stdin,
 * under umask 022, then give the cdb to the vpopmail user (when root), as C's update_rules does.
 */
export function rebuildTcpRules(config: Pick<Config, 'etcDir' | 'tcprulesProg' | 'tcprulesIpv6' | 'vpopmailUid' | 'vpopmailGid'>, relayRules: readonly string[]): RebuildResult {
  const file = tcpRulesFile(config);
  let statics = '';
  try {
    statics = readFileSync(file, 'latin1');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new TempError(`unable to read ${file}: ${(err as NodeJS.ErrnoException).code}`, { cause: err });
  }
  if (statics !== '' && !statics.endsWith('\n')) statics += '\n';
  const input = statics + relayRulesFor(relayRules, config.tcprulesIpv6).map((r) => `${r}\n`).join('');
  const cdb = `${file}.cdb`;
  const tmp = `${file}.tmp.${process.pid}`;
  const oldMask = process.umask(0o022);
  // loaded on a rebuild only (a new relay IP), not by every vchkpw start
  const { spawnSync } = process.getBuiltinModule('node:child_process');
  let r: SpawnSyncReturns<Buffer>;
  try {
    r = spawnSync(config.tcprulesProg, [cdb, tmp], { input: Buffer.from(input, 'latin1'), stdio: ['pipe', 'ignore', 'pipe'], timeout: 60_000 });
  } finally {
    process.umask(oldMask);
  }
  if (existsSync(tmp) || r.status !== 0) {
    unlinkQuiet(tmp);
    const why = r.error !== undefined ? String((r.error as NodeJS.ErrnoException).code ?? r.error.message) : `exit ${r.status ?? r.signal}`;
    return { ok: false, warning: `tcprules failed (${why}); ${cdb} left as it was` };
  }
  if (process.geteuid?.() === 0) {
    try {
      chownSync(cdb, config.vpopmailUid, config.vpopmailGid);
    } catch {
      // the rules still work; ownership is cosmetic for tcpserver, which runs as root
    }
  }
  return { ok: true };
}
