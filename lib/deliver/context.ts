// One vdelivermail run: what every delivery step needs, gathered once and passed down.
import type { AgentIo } from '../cli/agent.ts';
import type { Config } from '../config.ts';
import type { Durable } from '../fs/durable.ts';
import type { Owner } from '../maildir/deliver.ts';
import type { Message } from './message.ts';

/** The recipient as qmail-local named it and users/assign resolved it. */
export interface Recipient {
  /** EXT, lower-cased: the local part (`joe`, or `joe-lists` with an extension). */
  readonly ext: string;
  /** The real domain (an alias domain resolved), or HOST when users/assign does not know it. */
  readonly domain: string;
  /** The domain directory; '' for a domain users/assign does not know. */
  readonly domainDir: string;
  /** The domain's owner (files we create as root get it). */
  readonly owner: Owner | undefined;
  /** qmail-ext: the part of EXT after the first `-`, `.` written as `:`; '' otherwise. */
  readonly extension: string;
}

export interface DeliveryContext {
  readonly config: Config;
  readonly io: AgentIo;
  readonly message: Message;
  /** The environment programs and qmail-inject get (qmail-local's, handed on; valias adds DEFAULT). */
  readonly childEnv: Record<string, string>;
  readonly rpline: string | undefined;
  readonly dtline: string | undefined;
  /** DELIVER_TO_STDOUT is set: Maildir deliveries go to fd 1 instead. */
  readonly deliverToStdout: boolean;
  readonly recipient: Recipient;
  /** The second argument: what to do for an unknown mailbox. */
  readonly defaultAction: string;
  /** The machine's host name (Maildir file names). */
  readonly hostname: string;
  readonly pid: number;
  readonly now: () => number;
  readonly durable: Durable;
  /** Messages stored so far in this run (unique Maildir names; see maildirUniqueName). */
  stored: number;
}

/** Where relative targets and programs start: the domain directory, or a home whose `.qmail` we obey. */
export interface Place {
  readonly cwd: string;
}
