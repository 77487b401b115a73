// What every account operation is given: configuration, the user store, the durable-write switch, a
// clock and the few facts about the machine that lib code must not look up on its own.
import type { Backend } from '../backends/backend.ts';
import type { Config } from '../config.ts';
import { durableFor, type Durable } from '../fs/durable.ts';
import type { AssignResolver } from '../store/assign.ts';

export interface AccountsContext {
  readonly config: Config;
  readonly backend: Backend;
  /** Every file write goes through it (crash tests swap in the fault switch). */
  readonly durable: Durable;
  /** Wall clock in ms (lastauth time, maildirsize temp names). */
  readonly now: () => number;
  /** This machine's host name: it goes into maildirsize temp file names, as in Maildir++. */
  readonly host: string;
  /** How long to wait for a lock held by someone else (default lock.ts's 20 s, as C). */
  readonly lockTimeoutMs?: number;
  /**
   * Tell qmail-send to re-read its control files (C: SIGHUP found through `ps`). Default:
   * signalQmailSend in qmail-send.ts; tests and the daemon may pass their own.
   */
  readonly hupQmailSend?: () => void;
  /**
   * users/cdb by domain name (findDomain); default lookupAssignDomain, read afresh each time. Only
   * a program that never changes users/cdb may pass one that remembers (rememberingAssignLookup).
   */
  readonly resolveDomain?: AssignResolver;
}

export interface AccountsContextOptions {
  readonly durable?: Durable;
  readonly now?: () => number;
  readonly lockTimeoutMs?: number;
  readonly hupQmailSend?: () => void;
  readonly resolveDomain?: AssignResolver;
}

/** The usual context: the fault switch from the config, the real clock. */
export function accountsContext(config: Config, backend: Backend, host: string, options: AccountsContextOptions = {}): AccountsContext {
  return {
    config,
    backend,
    host,
    durable: options.durable ?? durableFor(config),
    now: options.now ?? Date.now,
    ...(options.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: options.lockTimeoutMs }),
    ...(options.hupQmailSend === undefined ? {} : { hupQmailSend: options.hupQmailSend }),
    ...(options.resolveDomain === undefined ? {} : { resolveDomain: options.resolveDomain }),
  };
}

/** Options for the lib/store writers that take a durable and a lock timeout. */
export function storeOptions(ctx: AccountsContext): { durable: Durable; lockTimeoutMs?: number } {
  return { durable: ctx.durable, ...(ctx.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: ctx.lockTimeoutMs }) };
}

/** Are we root? Files and directories are chowned to the domain only then. */
export function isRoot(): boolean {
  return process.geteuid?.() === 0;
}

/**
 * Text (argv, a socket) as the byte string the stores keep: vpasswd fields are latin1 strings, one
 * char per byte, so a UTF-8 gecos is stored as its UTF-8 bytes, as C stores what argv gives it.
 */
export function toByteString(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}
