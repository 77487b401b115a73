// Domain limits (spec §7.2): get_limits, set_limits, del_limits, over the backend's limits store.
import { resolveDomainLimits } from '../../backends/backend.ts';
import { PERM, type DomainLimits } from '../../store/limits.ts';
import type { Handler } from '../context.ts';
import { backendOf, isSystemAdmin, loggedIn, resolveDomain } from '../lookup.ts';
import { OK, data, err, libErr, splitOptionLine, isBlockEnd } from '../protocol.ts';
import { libFailure } from './domains.ts';

type NumberField = { [K in keyof DomainLimits]: DomainLimits[K] extends number ? K : never }[keyof DomainLimits];
type FlagField = { [K in keyof DomainLimits]: DomainLimits[K] extends boolean ? K : never }[keyof DomainLimits];

/** get_limits' keys in C's order (perm_quota and the doubled perm_defaultquota are handled apart). */
const NUMBERS: readonly (readonly [string, NumberField])[] = [
  ['max_popaccounts', 'maxPopAccounts'],
  ['max_aliases', 'maxAliases'],
  ['max_forwards', 'maxForwards'],
  ['max_autoresponders', 'maxAutoresponders'],
  ['max_mailinglists', 'maxMailinglists'],
  ['disk_quota', 'diskQuotaMb'],
  ['max_msgcount', 'maxMsgCount'],
  ['default_quota', 'defaultQuotaBytes'],
  ['default_maxmsgcount', 'defaultMaxMsgCount'],
];

const FLAGS: readonly (readonly [string, FlagField])[] = [
  ['disable_pop', 'disablePop'],
  ['disable_imap', 'disableImap'],
  ['disable_dialup', 'disableDialup'],
  ['disable_password_changing', 'disablePasswordChanging'],
  ['disable_webmail', 'disableWebmail'],
  ['disable_external_relay', 'disableExternalRelay'],
  ['disable_smtp', 'disableSmtp'],
  ['disable_spamassassin', 'disableSpamassassin'],
  ['delete_spam', 'deleteSpam'],
  ['disable_maildrop', 'disableMaildrop'],
];

const PERMS: readonly (readonly [string, NumberField])[] = [
  ['perm_account', 'permAccount'],
  ['perm_alias', 'permAlias'],
  ['perm_forward', 'permForward'],
  ['perm_autoresponder', 'permAutoresponder'],
  ['perm_maillist', 'permMaillist'],
  ['perm_maillist_users', 'permMaillistUsers'],
  ['perm_maillist_moderators', 'permMaillistModerators'],
  ['perm_quota', 'permQuota'],
  ['perm_defaultquota', 'permDefaultQuota'],
];

/**
 * The wire form of get_limits (spec §7.2), kept as C sends it: `perm_quota` carries the maillist
 * user and moderator bits packed above its own (quota | users << 3 | moderators << 6), and
 * `perm_defaultquota` comes twice. Net_Vpopmaild drops the first data line, so max_popaccounts
 * stays first.
 */
export function formatLimitsReply(l: DomainLimits): string[] {
  const lines = NUMBERS.map(([key, field]) => `${key} ${l[field]}`);
  for (const [key, field] of FLAGS) lines.push(`${key} ${l[field] ? 1 : 0}`);
  lines.push(
    `perm_account ${l.permAccount}`,
    `perm_alias ${l.permAlias}`,
    `perm_forward ${l.permForward}`,
    `perm_autoresponder ${l.permAutoresponder}`,
    `perm_maillist ${l.permMaillist}`,
    `perm_quota ${(l.permQuota & PERM.ALL) | ((l.permMaillistUsers & PERM.ALL) << 3) | ((l.permMaillistModerators & PERM.ALL) << 6)}`,
    `perm_defaultquota ${l.permDefaultQuota}`,
    `perm_defaultquota ${l.permDefaultQuota}`,
  );
  return lines;
}

export const getLimits: Handler = async (ctx, req) => {
  if (!isSystemAdmin(loggedIn(ctx))) return err(9, 3401);
  const name = req.args[0];
  if (name === undefined) return err(13, 3402);
  const domain = await resolveDomain(ctx, name);
  if (domain === undefined) return err(34, 3403);
  const backend = backendOf(ctx);
  const config = ctx.daemon.config;
  try {
    const { limits } = await ctx.daemon.gate.run(() => resolveDomainLimits(backend, config, domain.domain));
    return data(formatLimitsReply(limits));
  } catch (e) {
    ctx.log('get_limits failed', { domain: domain.domain, reason: String((e as Error).message) });
    return err(34, 3403);
  }
};

/** C reads set_limits values with atoi; we accept only a decimal integer (else a warning). */
function parseInteger(text: string): number | undefined {
  const t = text.trim();
  if (!/^[-+]?\d{1,15}$/.test(t)) return undefined;
  return Number(t);
}

/** Apply one `<key> <value>` line; undefined when fine, else the warning C sends inline. */
function applyLimitLine(limits: Record<string, number | boolean>, name: string, value: string | undefined): string | undefined {
  const number = NUMBERS.find(([k]) => k === name) ?? PERMS.find(([k]) => k === name);
  const flag = FLAGS.find(([k]) => k === name);
  if (number === undefined && flag === undefined) return 'invalid option';
  if (value === undefined) return 'missing value';
  const n = parseInteger(value);
  if (n === undefined) return 'invalid value';
  if (flag !== undefined) limits[flag[1]] = n !== 0;
  else if (number![0].startsWith('perm_')) {
    // perm_quota may arrive packed as get_limits sends it; its own bits are the low three.
    limits[number![1]] = n & PERM.ALL;
  } else limits[number![1]] = n;
  return undefined;
}

/**
 * set_limits: the current limits (the domain's own, else vlimits.default, else built-in), `+OK `,
 * then `<key> <value>` lines (separator space, `=` or `:`) up to a line starting with `.`. A bad
 * line gets C's inline `  Warning: …` line; unlike C, a block with any bad line changes nothing and
 * its final reply is `-ERR 35.3504` (P1), so the reply a client reads after `.` tells the truth.
 */
export const setLimits: Handler = async (ctx, req) => {
  if (!isSystemAdmin(loggedIn(ctx))) return err(9, 3501);
  const name = req.args[0];
  if (name === undefined) return err(13, 3502);
  const domain = await resolveDomain(ctx, name);
  if (domain === undefined) return err(34, 3505);
  const backend = backendOf(ctx);
  const config = ctx.daemon.config;
  try {
    await ctx.daemon.gate.run(() => resolveDomainLimits(backend, config, domain.domain)); // C loads them first: 34.3505
  } catch {
    return err(34, 3505);
  }
  await ctx.send(OK);
  const changes: [string, string | undefined][] = [];
  let warnings = 0;
  const block = await ctx.readBlock(isBlockEnd, async (line) => {
    if (line.trim() === '') return;
    const { name: key, value } = splitOptionLine(line);
    const probe: Record<string, number | boolean> = {};
    const warning = applyLimitLine(probe, key, value);
    if (warning !== undefined) {
      warnings++;
      await ctx.sendRaw(`  Warning: ${warning}\r\n`);
    } else changes.push([key, value]);
  });
  if (warnings > 0 || block.overlong > 0) return err(35, 3504);
  try {
    await ctx.daemon.gate.run(async () => {
      // A fresh read inside the job: another session's set_limits in between is not lost.
      const base = { ...(await resolveDomainLimits(backend, config, domain.domain)).limits } as unknown as Record<string, number | boolean>;
      for (const [key, value] of changes) applyLimitLine(base, key, value);
      await backend.setLimits(domain.domain, base as unknown as DomainLimits);
    });
  } catch (e) {
    ctx.log('set_limits failed', { domain: domain.domain, reason: String((e as Error).message) });
    return err(35, 3504);
  }
  return OK;
};

export const delLimits: Handler = async (ctx, req) => {
  const name = req.args[0];
  if (name === undefined) return err(13, 3602);
  const domain = await resolveDomain(ctx, name);
  if (domain === undefined) return libErr(3603, 'Domain does not exist.');
  const backend = backendOf(ctx);
  try {
    await ctx.daemon.gate.run(() => backend.delLimits(domain.domain));
  } catch (e) {
    // C: `-ERR 0.3603 <strerror>.` with a trailing dot.
    const r = libFailure(3603, e);
    return r.kind === 'err' ? { kind: 'err', text: `${r.text}.` } : r;
  }
  return OK;
};
