// Store one message in a Maildir (or on stdout with DELIVER_TO_STDOUT) and add it to maildirsize:
// the "store" steps of spec/vdelivermail.md §6.2 on top of lib/maildir.
import { constants as fsc, readSync } from 'node:fs';
import { join } from 'node:path';
import { TempError } from '../exit.ts';
import { withPlainFile } from '../fs/durable.ts';
import { deliverToMaildir, OverQuotaError, type Delivered } from '../maildir/deliver.ts';
import { appendMaildirsize, MAILDIRSIZE, MAILDIRSIZE_MAX_BYTES, quotaRootOf } from '../maildir/maildirsize.ts';
import type { DeliveryContext } from './context.ts';
import { defer, tempText } from './texts.ts';

/**
 * The first line of maildirsize (its quota definition) in the Maildir's quota root, or undefined
 * when there is no such file or it is empty. Read without following a symlink; at most the 5120
 * bytes Maildir++ allows.
 */
export function readQuotaLine(maildir: string, quotaRoot = quotaRootOf(maildir)): string | undefined {
  const path = join(quotaRoot, MAILDIRSIZE);
  return withPlainFile(path, fsc.O_RDONLY, (fd) => {
    const buf = Buffer.alloc(MAILDIRSIZE_MAX_BYTES);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const text = buf.toString('latin1', 0, n);
    const nl = text.indexOf('\n');
    const line = nl < 0 ? text : text.slice(0, nl);
    return line === '' ? undefined : line;
  });
}

export interface StoreSource {
  readonly fd: number;
  readonly sizeBytes: number;
}

const STDOUT_CHUNK_BYTES = 64 * 1024;

function writeToStdout(ctx: DeliveryContext, headers: Uint8Array, source: StoreSource): void {
  try {
    ctx.io.stdout(headers);
    const buf = Buffer.alloc(STDOUT_CHUNK_BYTES);
    for (let position = 0; position < source.sizeBytes; ) {
      const n = readSync(source.fd, buf, 0, Math.min(buf.length, source.sizeBytes - position), position);
      if (n === 0) throw new TempError(`the message ended at byte ${position} of ${source.sizeBytes}`);
      ctx.io.stdout(Buffer.from(buf.subarray(0, n)));
      position += n;
    }
  } catch (err) {
    throw defer(tempText(`echo to stdout failed: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`), err);
  }
}

/**
 * What the caller already knows of the Maildir's quota: its root (quotaRootOf) and maildirsize's
 * quota line (null: there is no maildirsize to add to). What is left out is looked up.
 */
export interface KnownQuota {
  readonly quotaRoot?: string;
  readonly quotaLine?: string | null;
}

/** What the store step did; `delivered` is undefined for DELIVER_TO_STDOUT. */
export interface Stored {
  readonly delivered: Delivered | undefined;
}

/**
 * Store `headers` + the message in `maildir` (absolute). With DELIVER_TO_STDOUT the bytes go to
 * fd 1 instead and nothing else happens. Otherwise lib/maildir's exclusive tmp file, fsync, link
 * into new/, fsync of new/; then, when maildirsize existed as the store began, `<size> 1` is
 * appended to it. A disk quota refusal (EDQUOT) comes back as OverQuotaError for the caller to
 * answer; any other failure defers (111) and leaves nothing in new/. Once the message is in new/
 * nothing fails the run any more: a maildirsize that cannot be appended to is only a stale cache
 * (the next recount fixes it), while a 111 would make qmail deliver the message twice.
 */
export function storeMessage(ctx: DeliveryContext, maildir: string, source: StoreSource, headers: Uint8Array, known: KnownQuota = {}): Stored {
  if (ctx.deliverToStdout) {
    writeToStdout(ctx, headers, source);
    return { delivered: undefined };
  }
  const quotaRoot = known.quotaRoot ?? quotaRootOf(maildir);
  const quotaLine = known.quotaLine === undefined ? readQuotaLine(maildir, quotaRoot) : (known.quotaLine ?? undefined);
  const nowMs = ctx.now();
  const owner = ctx.recipient.owner;
  let delivered: Delivered;
  try {
    delivered = deliverToMaildir(maildir, { fd: source.fd, offset: 0 }, {
      headers,
      nowMs,
      pid: ctx.pid,
      host: ctx.hostname,
      seq: ctx.stored,
      ...(owner === undefined ? {} : { owner }),
      durable: ctx.durable,
    });
  } catch (err) {
    if (err instanceof OverQuotaError) throw err;
    throw defer(tempText(`unable to deliver to ${maildir}: ${(err as Error).message}`), err);
  }
  ctx.stored++;
  if (quotaLine !== undefined) {
    try {
      appendMaildirsize(maildir, quotaLine, { bytes: delivered.sizeBytes, count: 1 }, {
        quotaRoot,
        nowMs,
        pid: ctx.pid,
        host: ctx.hostname,
        ...(owner === undefined ? {} : { owner }),
        durable: ctx.durable,
      });
    } catch {
      // the message is safe in new/; see above
    }
  }
  return { delivered };
}
