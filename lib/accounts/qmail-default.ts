// <dom>/.qmail-default (layout.md §8.1): the one line that hands unmatched mail to vdelivermail,
// what vadddomain writes there, and which account it names as the catch-all.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasDomainChars, isSafeUserName } from '../address.ts';
import { PermError, TempError } from '../exit.ts';
import { replaceFileSync, type Durable } from '../fs/durable.ts';

export const QMAIL_DEFAULT_FILE = '.qmail-default';

/** What a new domain does with mail for unknown users (5.6; 5.4.33 wrote bounce-no-mailbox). */
export const DEFAULT_CATCH_ALL_ACTION = 'delete';

/** `| <bin>/vdelivermail '' <action>` and its LF. */
export function formatQmailDefault(binDir: string, action: string): string {
  return `| ${join(binDir, 'vdelivermail')} '' ${action}\n`;
}

// qmail-local runs the line with /bin/sh -c, so an action is only ever a word without anything the
// shell would act on. C writes whatever -e gives it (`-e '$(reboot)@x'` would run at the next delivery).
const ADDRESS_LOCAL = /^[A-Za-z0-9._+=-]+$/;

/**
 * vadddomain -e: `user@domain` forwards unmatched mail there; a bare name delivers it to that
 * mailbox of the new domain (`<domaindir>/<name>`, a user's home). Refuses anything the shell
 * running the line could misread, and names that leave the domain directory.
 */
export function catchAllAction(catchAll: string, domainDir: string): string {
  const at = catchAll.indexOf('@');
  if (at >= 0) {
    const local = catchAll.slice(0, at);
    const domain = catchAll.slice(at + 1);
    if (!ADDRESS_LOCAL.test(local) || domain === '' || !hasDomainChars(domain) || catchAll.indexOf('@', at + 1) >= 0) {
      throw new PermError(`invalid catch-all address ${JSON.stringify(catchAll)}: expected user@domain with letters, digits and . _ + = -`);
    }
    return catchAll;
  }
  if (!isSafeUserName(catchAll) || !ADDRESS_LOCAL.test(catchAll)) {
    throw new PermError(`invalid catch-all mailbox ${JSON.stringify(catchAll)}: expected a user name of this domain`);
  }
  return join(domainDir, catchAll.toLowerCase());
}

export interface QmailDefaultWriteOptions {
  readonly durable: Durable;
  readonly owner?: { readonly uid: number; readonly gid: number };
}

/** Write `.qmail-default` whole (0600, the domain's owner), replacing any old one atomically. */
export function writeQmailDefault(domainDir: string, text: string, options: QmailDefaultWriteOptions): void {
  const path = join(domainDir, QMAIL_DEFAULT_FILE);
  try {
    replaceFileSync(path, Buffer.from(text, 'latin1'), {
      mode: 0o600,
      durable: options.durable,
      ...(options.owner === undefined ? {} : { owner: options.owner }),
    });
  } catch (err) {
    throw new TempError(`unable to write ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}

/** The first line of `.qmail-default`, undefined when there is none. */
export function readQmailDefaultLine(domainDir: string): string | undefined {
  const path = join(domainDir, QMAIL_DEFAULT_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new TempError(`unable to read ${path}: ${code ?? err}`, { cause: err });
  }
  return text.split('\n', 1)[0];
}

/**
 * Is `user@domain` the domain's catch-all (vdeluser refuses to delete it)? The line must call
 * vdelivermail with `''`; the word after it names the catch-all either as a path inside the domain
 * directory (its last component is the user) or as an address.
 */
export function isCatchAllAccount(line: string | undefined, domainDir: string, user: string, domain: string): boolean {
  if (line === undefined || !line.includes('vdelivermail')) return false;
  const quotes = line.indexOf("''");
  if (quotes < 0) return false;
  const space = line.indexOf(' ', quotes);
  if (space < 0) return false;
  const action = line.slice(space + 1).trim();
  if (action.startsWith('/')) {
    if (!action.includes(domainDir)) return false;
    const last = action.replace(/\/+$/, '').split('/').pop();
    return last === user;
  }
  if (action.includes('@')) return action.toLowerCase() === `${user}@${domain}`;
  return false;
}
