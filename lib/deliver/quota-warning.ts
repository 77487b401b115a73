// The quota warning (spec/vdelivermail.md §10): at most one a day per Maildir, the text of
// `.quotawarn.msg`, stored like a message without a quota check.
import { closeSync, constants as fsc, fchmodSync, fstatSync, futimesSync, lstatSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { DeliveryContext } from './context.ts';
import { deliveredToLine, headerBytes, maildirAddress, utcDateLine } from './headers.ts';
import { storeMessage } from './store.ts';
import { openMsgFile } from './texts.ts';

export const QUOTAWARN_FILE = 'quotawarn';
/** One warning per this interval (C: 86 400 s). */
export const QUOTAWARN_INTERVAL_SEC = 24 * 60 * 60;

/** Was a warning recorded less than a day ago? The stamp is `<maildir>/quotawarn`'s mtime. */
function isRecentlyWarned(stamp: string, nowMs: number): boolean {
  try {
    const st = lstatSync(stamp);
    return st.isFile() && Math.floor(st.mtimeMs / 1000) > Math.floor(nowMs / 1000) - QUOTAWARN_INTERVAL_SEC;
  } catch {
    return false;
  }
}

/**
 * Create or truncate the stamp (0644, as C's produced it in the golden run) and set its times to
 * now. Never through a symlink (O_NOFOLLOW): a symlinked stamp means no warning at all.
 */
function touchStamp(stamp: string, nowMs: number): void {
  const fd = openSync(stamp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC | fsc.O_NOFOLLOW | fsc.O_NONBLOCK, 0o644);
  try {
    fchmodSync(fd, 0o644);
    const sec = nowMs / 1000;
    futimesSync(fd, sec, sec);
  } finally {
    closeSync(fd);
  }
}

/**
 * Send the warning to `maildir` (absolute) unless one went out in the last 24 h. The stamp is
 * refreshed even when no `.quotawarn.msg` exists, as in C. Its headers: `Delivered-To:` the address
 * the Maildir path names (the recipient's for a catch-all target, or DTLINE as it is) and a UTC
 * Date line; no Return-Path. Best effort: a warning that cannot be sent never changes the outcome
 * of the delivery that triggered it.
 */
export function sendQuotaWarning(ctx: DeliveryContext, maildir: string, isCatchAll: boolean): void {
  const nowMs = ctx.now();
  const stamp = join(maildir, QUOTAWARN_FILE);
  try {
    if (isRecentlyWarned(stamp, nowMs)) return;
    touchStamp(stamp, nowMs);
  } catch {
    return;
  }
  const file = openMsgFile(ctx.recipient.domainDir, ctx.config.domainsDir, '.quotawarn.msg');
  if (file === undefined) return;
  try {
    const own = `${ctx.recipient.ext}@${ctx.recipient.domain}`;
    const deliveredTo = isCatchAll
      ? ctx.dtline !== undefined && ctx.dtline !== ''
        ? ctx.dtline.endsWith('\n')
          ? ctx.dtline
          : `${ctx.dtline}\n`
        : deliveredToLine(own)
      : deliveredToLine(maildirAddress(maildir.replace(/\/+$/, '')) ?? own);
    const headers = headerBytes(deliveredTo, utcDateLine(nowMs));
    storeMessage(ctx, maildir, { fd: file.fd, sizeBytes: fstatSync(file.fd).size }, headers);
  } catch {
    // best effort, see above
  } finally {
    closeSync(file.fd);
  }
}
