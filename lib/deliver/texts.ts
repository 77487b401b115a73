// What vdelivermail prints: C's texts where bounces and logs carry them (spec/vdelivermail.md), the
// `.no-user.msg` / `.over-quota.msg` / `.quotawarn.msg` files, and the error that ends a run.
import { closeSync, constants as fsc, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT, MailError } from '../exit.ts';

// C's texts, byte for byte: qmail-local puts stdout into the bounce or the log, and people and
// scripts match on them. The two `varilable` typos are C's own (spec pitfall 15).
export const TEXT = Object.freeze({
  invalidSyntax: 'vdelivermail: invalid syntax in .qmail-default file',
  noExt: 'vdelivermail: no EXT environment varilable',
  noHost: 'vdelivermail: no HOST environment varilable',
  invalidUsername: 'invalid username',
  invalidDomain: 'invalid domain name',
  looping: 'mail is looping',
  noMailbox: 'Sorry, no mailbox here by that name. (#5.1.1)',
  overQuota: 'user is over quota',
  autoCreateFailed: 'Auto creation of maildir failed. (#5.9.8)',
  getpwFailed: 'Failed to vauth_getpw(). (#5.9.8.1)',
  autoRecreateFailed: 'Auto re-creation of maildir failed. (#5.9.9)',
  valiasesProcessed: 'vdelivermail: valiases processed',
  databaseDown: 'vdelivermail: deferred, database down',
  injectFailed: 'system error calling qmail-inject',
  locked: (address: string) => `vdelivermail: account is locked email bounced ${address}`,
  willDeliver: (dir: string) => `user does not exist, but will deliver to ${dir}`,
  mbox: (line: string) => `can't handle mbox delivery for ${line}`,
});

/** The RFC 3463 status our own temporary-failure texts end in, as qmail's do. */
export const TEMP_STATUS = '(#4.3.0)';

/** A text of our own for a temporary failure: `vdelivermail: <what> (#4.3.0)` (the status only once). */
export function tempText(what: string): string {
  return /\(#\d\.\d+\.\d+\)$/.test(what) ? `vdelivermail: ${what}` : `vdelivermail: ${what} ${TEMP_STATUS}`;
}

/**
 * Ends a run with an exit code; `text` is printed to stdout verbatim first (LF included, may be
 * several lines or empty). Every outcome other than "delivered" travels as one of these.
 */
export class DeliveryEnd extends MailError {
  override name = 'DeliveryEnd';
  readonly text: string;
  constructor(exitCode: number, text: string, options?: ErrorOptions) {
    super(text.replace(/\n$/, ''), exitCode, { stream: 'stdout', bare: true, ...(options?.cause === undefined ? {} : { cause: options.cause }) });
    this.text = text;
  }
}

/** Bounce (100) with one line of text. */
export function bounce(line: string): DeliveryEnd {
  return new DeliveryEnd(EXIT.perm, `${line}\n`);
}

/** Defer (111) with one line of text. */
export function defer(line: string, cause?: unknown): DeliveryEnd {
  return new DeliveryEnd(EXIT.temp, `${line}\n`, cause === undefined ? undefined : { cause });
}

export type MsgFile = '.no-user.msg' | '.over-quota.msg' | '.quotawarn.msg';

/** A bounce text has no business being bigger; a larger file is cut here (memory stays flat). */
export const MSG_FILE_MAX_BYTES = 64 * 1024;

/** Open a message file for reading; undefined when it cannot be opened or is not a regular file. */
function openRegular(path: string): number | undefined {
  let fd: number;
  try {
    fd = openSync(path, fsc.O_RDONLY | fsc.O_NONBLOCK);
  } catch {
    return undefined; // missing or unreadable: C's fopen fails too and it falls back to the next one
  }
  try {
    if (fstatSync(fd).isFile()) return fd;
  } catch {
    // fall through: not usable
  }
  closeSync(fd);
  return undefined;
}

/**
 * The first message file that opens: `<domain dir>/<name>`, else `~vpopmail/domains/<name>`
 * (layout.md §6). An unknown domain has no directory, so only the global file counts (C looks at
 * `/<name>`). The caller closes `fd`.
 */
export function openMsgFile(domainDir: string, domainsDir: string, name: MsgFile): { readonly path: string; readonly fd: number } | undefined {
  for (const dir of domainDir === '' ? [domainsDir] : [domainDir, domainsDir]) {
    const path = join(dir, name);
    const fd = openRegular(path);
    if (fd !== undefined) return { path, fd };
  }
  return undefined;
}

/** The text of a message file (see openMsgFile), at most MSG_FILE_MAX_BYTES of it. */
export function readMsgFile(domainDir: string, domainsDir: string, name: MsgFile): string | undefined {
  const file = openMsgFile(domainDir, domainsDir, name);
  if (file === undefined) return undefined;
  try {
    const buf = Buffer.alloc(MSG_FILE_MAX_BYTES);
    let got = 0;
    for (;;) {
      const n = readSync(file.fd, buf, got, buf.length - got, null);
      if (n === 0) break;
      got += n;
      if (got >= buf.length) break;
    }
    return buf.toString('latin1', 0, got);
  } catch {
    return undefined; // EIO on a bounce text: print ours instead
  } finally {
    closeSync(file.fd);
  }
}
