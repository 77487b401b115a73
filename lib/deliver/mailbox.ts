// A Maildir target (spec/vdelivermail.md §6.2): the Maildir++ quota test and warning, then the store.
import { VA, VpopmailError } from '../exit.ts';
import { OverQuotaError } from '../maildir/deliver.ts';
import { checkMaildirQuota, quotaRootOf } from '../maildir/maildirsize.ts';
import { flockExclusive } from '../store/lock.ts';
import { formatMaildirQuota, isQuotaDisabled } from '../quota.ts';
import type { DeliveryContext } from './context.ts';
import { deliveredToLine, headerBytes, maildirAddress, returnPathLine } from './headers.ts';
import { sendQuotaWarning } from './quota-warning.ts';
import { readQuotaLine, storeMessage } from './store.ts';
import { DeliveryEnd, defer, readMsgFile, tempText, TEXT } from './texts.ts';
import { EXIT } from '../exit.ts';

/** vdelivermail warns when usage before the message is at least this many percent of the quota. */
export const QUOTA_WARN_PERCENT = 90;

/**
 * The quota string as vdelivermail uses it: C's normalisation (`10MB` → `10485760S`); one longer
 * than C's quota setters accept (a legacy record) is used as it is, since the delivery-side
 * reading (passwords.md §7.5) needs no normal form.
 */
export function deliveryQuota(quota: string): string {
  try {
    return formatMaildirQuota(quota);
  } catch (err) {
    if (err instanceof VpopmailError && err.code === VA.QUOTA_TOO_LONG) return quota;
    throw err;
  }
}

export interface MailboxTarget {
  /** Absolute Maildir path (with or without its trailing `/`). */
  readonly maildir: string;
  /** The account's quota (vpasswd field 7); '' to take it from the Maildir's maildirsize. */
  readonly quota: string;
  /** The default action's own target: Delivered-To names the recipient, not the Maildir's owner. */
  readonly isCatchAll: boolean;
}

/**
 * The over-quota answer: `.over-quota.msg` (domain, then global) or C's `user is over quota`, the
 * quota warning, then an empty line; exit 100.
 */
export function overQuota(ctx: DeliveryContext, maildir: string, isCatchAll: boolean, cause?: unknown): DeliveryEnd {
  const text = readMsgFile(ctx.recipient.domainDir, ctx.config.domainsDir, '.over-quota.msg') ?? `${TEXT.overQuota}\n`;
  sendQuotaWarning(ctx, maildir, isCatchAll);
  return new DeliveryEnd(EXIT.perm, `${text}\n`, cause === undefined ? undefined : { cause });
}

/**
 * Deliver to a Maildir: quota string (the account's, else the first line of maildirsize), unless
 * it is empty or starts with `NO` the Maildir++ test with the size of the message as it came
 * (without the lines we prepend, as C), over → overQuota; at ≥ 90 % a warning first. Then
 * Return-Path + Delivered-To + message are stored.
 */
export function deliverToMailbox(ctx: DeliveryContext, target: MailboxTarget): void {
  const { maildir } = target;
  // maildirfolder is looked for once, and maildirsize read once when the quota test reads it.
  const quotaRoot = quotaRootOf(maildir);
  const quotaLine = target.quota !== '' ? undefined : (readQuotaLine(maildir, quotaRoot) ?? null);
  const raw = target.quota !== '' ? target.quota : (quotaLine ?? '');
  const hasQuota = raw !== '' && !isQuotaDisabled(raw);
  // Deliveries to one quota root take turns from the test to the maildirsize line, so that two of
  // them cannot both fit into the same room: the quota is exceeded by one message at most. The
  // Maildir itself is locked (flock), never replaced and no file is added to it.
  let turn;
  try {
    turn = hasQuota ? flockExclusive(quotaRoot) : undefined;
  } catch (err) {
    throw defer(tempText(`unable to check the quota of ${maildir}: ${(err as Error).message}`), err);
  }
  try {
    deliverInTurn(ctx, target, quotaRoot, quotaLine, hasQuota ? raw : undefined);
  } finally {
    turn?.release();
  }
}

function deliverInTurn(ctx: DeliveryContext, target: MailboxTarget, quotaRoot: string, known: string | null | undefined, raw: string | undefined): void {
  const { maildir, isCatchAll } = target;
  let quotaLine = known;
  if (raw !== undefined) {
    const quota = deliveryQuota(raw);
    let check;
    try {
      check = checkMaildirQuota(maildir, quota, {
        incomingBytes: ctx.message.sizeBytes,
        nowMs: ctx.now(),
        pid: ctx.pid,
        host: ctx.hostname,
        ...(ctx.recipient.owner === undefined ? {} : { owner: ctx.recipient.owner }),
        durable: ctx.durable,
        quotaRoot,
      });
    } catch (err) {
      throw defer(tempText(`unable to check the quota of ${maildir}: ${(err as Error).message}`), err);
    }
    if (check.quotaLine !== undefined) quotaLine = check.quotaLine;
    if (check.isOverQuota) throw overQuota(ctx, maildir, isCatchAll);
    if (check.percent >= QUOTA_WARN_PERCENT) sendQuotaWarning(ctx, maildir, isCatchAll);
  }
  const own = `${ctx.recipient.ext}@${ctx.recipient.domain}`;
  const address = isCatchAll ? own : (maildirAddress(maildir.replace(/\/+$/, '')) ?? own);
  const headers = headerBytes(returnPathLine(ctx.rpline), deliveredToLine(address));
  try {
    storeMessage(ctx, maildir, ctx.message, headers, quotaLine === undefined ? { quotaRoot } : { quotaRoot, quotaLine });
  } catch (err) {
    if (err instanceof OverQuotaError) throw overQuota(ctx, maildir, isCatchAll, err);
    throw err;
  }
}
