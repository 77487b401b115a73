// What every vpopmaild session and handler is given: the daemon-wide context and one session's view.
import type { AccountsContext } from '../accounts/context.ts';
import type { Backend } from '../backends/backend.ts';
import type { AgentIo } from '../cli/agent.ts';
import type { Config } from '../config.ts';
import type { LogFields } from '../log.ts';
import type { Reply, Request } from './protocol.ts';
import type { Gate } from './gate.ts';
import type { LoginLimiter } from './rate-limit.ts';

/** Session levels (spec §4); 0 is "not logged in". */
export const LEVEL = Object.freeze({ none: 0, user: 1, domainAdmin: 2, systemAdmin: 3 } as const);
export type Level = (typeof LEVEL)[keyof typeof LEVEL];

/** `login` = verbose, `clogin` = compact, `slogin` = silent (which lists like compact). */
export type OutputMode = 'verbose' | 'compact' | 'silent';

export interface SessionLimits {
  /** Waiting for a command line or a data line (C: 60 s, none for data lines). */
  readonly idleTimeoutMs: number;
  /** Waiting for the client to take a reply (C: 60 s, then the reply is dropped). */
  readonly writeTimeoutMs: number;
  /** Whole session, whatever it does. */
  readonly sessionTimeoutMs: number;
  /** write_file data block. */
  readonly maxFileBytes: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = Object.freeze({
  idleTimeoutMs: 60_000,
  writeTimeoutMs: 60_000,
  sessionTimeoutMs: 30 * 60_000,
  maxFileBytes: 16 * 1024 * 1024,
});

/**
 * The account a session logged in as. `gid` is the session copy of pw_gid: a `postmaster` gets
 * QA_ADMIN added (spec §4), so it shows as `domain_admin_privileges 1`.
 */
export interface LoginState {
  readonly level: 1 | 2 | 3;
  readonly mode: OutputMode;
  readonly user: string;
  /** The home domain: the login's domain after alias resolution. */
  readonly domain: string;
  readonly domainDir: string;
  readonly domainUid: number;
  readonly domainGid: number;
  /** The account's own home (pw_dir). */
  readonly homeDir: string;
  readonly gid: number;
}

/** Daemon-wide: one per server (or per stdio process), shared by its sessions. */
export interface DaemonContext {
  readonly config: Config;
  readonly backend: Backend;
  /** What lib/accounts operations are given (the same config and backend). */
  readonly accounts: AccountsContext;
  readonly io: AgentIo;
  /** Wall clock in ms (tests inject their own). */
  readonly now: () => number;
  /** Serialises store operations (gate.ts explains why). */
  readonly gate: Gate;
  /** Failed-login limiter per client address; absent in stdio mode (one process per session). */
  readonly limiter?: LoginLimiter | undefined;
  readonly limits: SessionLimits;
  /**
   * The environment the default domain comes from (VPOPMAIL_DOMAIN; TCPLOCALIP in stdio mode under
   * tcpserver), handed in by the agent: lib code never reads process.env.
   */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Lines of a data block (mod_user, set_limits, write_file) as the handler receives them. */
export interface BlockResult {
  /** Data lines dropped because they were longer than LINE_MAX_BYTES. */
  readonly overlong: number;
}

/** One session as a handler sees it. */
export interface HandlerContext {
  readonly daemon: DaemonContext;
  /** Connection id for log lines. */
  readonly conn: string;
  /** The client address, when known. */
  readonly remoteIp: string | undefined;
  /** The server address the client reached, when known. */
  readonly localIp: string | undefined;
  /** undefined before login. */
  readonly login: LoginState | undefined;
  /** Record a successful login (login handlers only). */
  setLogin(state: LoginState): void;
  /** Count a failed authentication against the session and the client's address. */
  noteLoginFailure(): void;
  /** Send a reply before the handler's final one (mod_user's and set_limits' intermediate `+OK `). */
  send(reply: Reply): Promise<void>;
  /** Write bytes verbatim (read_file). */
  sendRaw(data: string): Promise<void>;
  /**
   * Read a data block: every line up to the first for which isEnd is true (that line is consumed,
   * not passed on). A timeout or end of input ends the session: the promise rejects and the handler
   * must not apply anything.
   */
  readBlock(isEnd: (line: string) => boolean, onLine: (line: string) => void | Promise<void>): Promise<BlockResult>;
  log(outcome: string, fields?: LogFields): void;
}

export type Handler = (ctx: HandlerContext, req: Request) => Promise<Reply>;
