// vpopmaild as a program: its options, the daemon context, and the two ways to run (one session on
// stdin/stdout as tcpserver and inetd run it, or a standalone server), with SIGHUP reloading.
import { machineHostname } from '../hostname.ts';
import type { Readable, Writable } from 'node:stream';
import { accountsContext } from '../accounts/context.ts';
import { openBackend } from '../backends/open.ts';
import type { Backend } from '../backends/backend.ts';
import type { AgentIo } from '../cli/agent.ts';
import { Getopt, getoptMessage } from '../cli/getopt.ts';
import { loadConfig } from '../config.ts';
import { PermError, firstLine } from '../exit.ts';
import { logEvent } from '../log.ts';
import { DEFAULT_SESSION_LIMITS, type DaemonContext, type SessionLimits } from './context.ts';
import { Gate } from './gate.ts';
import { DEFAULT_LOGIN_LIMITER, LoginLimiter } from './rate-limit.ts';
import { DEFAULT_HOST, DEFAULT_MAX_SESSIONS, runStdioSession, startServer, type ServerOptions } from './server.ts';

const PROGRAM = 'vpopmaild';

export const USAGE = `usage: vpopmaild                     one session on stdin/stdout (tcpserver, inetd)
       vpopmaild -p port [options]    standalone server
options: -b address   listen address (default ${DEFAULT_HOST}; anything else must be asked for)
         -c cert.pem -k key.pem   serve TLS
         -m sessions  concurrent sessions (default ${DEFAULT_MAX_SESSIONS})
         -t seconds   idle timeout (default ${DEFAULT_SESSION_LIMITS.idleTimeoutMs / 1000})
         -T seconds   session time limit (default ${DEFAULT_SESSION_LIMITS.sessionTimeoutMs / 1000})
         -f count     failed logins per address and minute (default ${DEFAULT_LOGIN_LIMITER.maxFailures}; 0: no limit)`;

export interface VpopmaildOptions {
  /** Standalone server; absent: one session on stdin/stdout. */
  readonly server?: ServerOptions;
  readonly limits: SessionLimits;
  /** Failed logins per address per minute; 0 turns the limit off. */
  readonly maxFailures: number;
}

function positive(opt: string, value: string, max: number): number {
  if (!/^\d{1,9}$/.test(value) || Number(value) > max) throw new PermError(`option -${opt} needs a whole number up to ${max}, not ${JSON.stringify(value)}\n${USAGE}`);
  return Number(value);
}

export function parseVpopmaildArgs(argv0: string, argv: readonly string[]): VpopmaildOptions {
  const g = new Getopt(argv, 'b:p:c:k:m:t:T:f:');
  let host: string | undefined;
  let port: number | undefined;
  let cert: string | undefined;
  let key: string | undefined;
  let maxSessions: number | undefined;
  let limits: SessionLimits = DEFAULT_SESSION_LIMITS;
  let maxFailures = DEFAULT_LOGIN_LIMITER.maxFailures;
  for (let e = g.next(); e !== undefined; e = g.next()) {
    if (e.kind !== 'opt') throw new PermError(`${getoptMessage(argv0, e)?.trimEnd() ?? 'bad option'}\n${USAGE}`, { bare: true });
    const v = e.arg ?? '';
    switch (e.opt) {
      case 'b':
        host = v;
        break;
      case 'p':
        port = positive('p', v, 65535);
        break;
      case 'c':
        cert = v;
        break;
      case 'k':
        key = v;
        break;
      case 'm':
        maxSessions = Math.max(1, positive('m', v, 100_000));
        break;
      case 't':
        limits = { ...limits, idleTimeoutMs: Math.max(1, positive('t', v, 86_400)) * 1000 };
        break;
      case 'T':
        limits = { ...limits, sessionTimeoutMs: Math.max(1, positive('T', v, 7 * 86_400)) * 1000 };
        break;
      case 'f':
        maxFailures = positive('f', v, 1_000_000);
        break;
    }
  }
  if (g.operands().length > 0) throw new PermError(`unexpected argument ${JSON.stringify(g.operands()[0])}\n${USAGE}`);
  if ((cert === undefined) !== (key === undefined)) throw new PermError(`TLS needs both -c and -k\n${USAGE}`);
  if (port === undefined && (host !== undefined || cert !== undefined || maxSessions !== undefined)) {
    throw new PermError(`-b, -c, -k and -m belong to the standalone server: give -p port\n${USAGE}`);
  }
  const server: ServerOptions | undefined =
    port === undefined
      ? undefined
      : {
          host: host ?? DEFAULT_HOST,
          port,
          ...(cert !== undefined && key !== undefined ? { tls: { certFile: cert, keyFile: key } } : {}),
          ...(maxSessions !== undefined ? { maxSessions } : {}),
        };
  return { ...(server !== undefined ? { server } : {}), limits, maxFailures };
}

/** What the program takes from its process: handed in by the agent, so lib code never reaches for it. */
export interface ProcessPorts {
  readonly env: NodeJS.ProcessEnv;
  readonly io: AgentIo;
  readonly stdin: Readable;
  readonly stdout: Writable;
  readonly pid: number;
  /** Subscribe to a signal; returns the unsubscribe. */
  onSignal(signal: 'SIGHUP' | 'SIGTERM' | 'SIGINT', handler: () => void): () => void;
}

async function daemonContext(ports: ProcessPorts, options: VpopmaildOptions, gate: Gate, limiter: LoginLimiter | undefined): Promise<{ daemon: DaemonContext; backend: Backend }> {
  const config = loadConfig(ports.env);
  const backend = await openBackend(config);
  const daemon: DaemonContext = {
    config,
    backend,
    accounts: accountsContext(config, backend, machineHostname()),
    io: ports.io,
    now: () => Date.now(),
    gate,
    limiter,
    limits: options.limits,
    env: { VPOPMAIL_DOMAIN: ports.env.VPOPMAIL_DOMAIN, TCPLOCALIP: ports.env.TCPLOCALIP },
  };
  return { daemon, backend };
}

export async function runVpopmaild(ports: ProcessPorts, options: VpopmaildOptions): Promise<number> {
  const gate = new Gate();
  if (options.server === undefined) {
    let opened: Awaited<ReturnType<typeof daemonContext>>;
    try {
      opened = await daemonContext(ports, options, gate, undefined);
    } catch (e) {
      logEvent(ports.io, PROGRAM, 'backend open failed', { reason: firstLine(e) });
      ports.stdout.write("-ERR 1.101 Can't open authentication database\r\n");
      return 111;
    }
    try {
      await runStdioSession(opened.daemon, {
        input: ports.stdin,
        output: ports.stdout,
        remoteIp: ports.env.TCPREMOTEIP,
        localIp: ports.env.TCPLOCALIP,
        conn: String(ports.pid),
      });
    } finally {
      await opened.backend.close();
    }
    return 0;
  }

  const now = () => Date.now();
  // One limiter for the daemon's life: a reload must not forgive an address its failures.
  const limiter = options.maxFailures > 0 ? new LoginLimiter({ ...DEFAULT_LOGIN_LIMITER, maxFailures: options.maxFailures }, now) : undefined;
  let current = await daemonContext(ports, options, gate, limiter);
  const server = await startServer(() => current.daemon, options.server);
  const previous: Backend[] = [];
  const offHup = ports.onSignal('SIGHUP', () => {
    // Keep the running configuration if the new one does not load (STYLE: config resolution).
    daemonContext(ports, options, gate, limiter).then(
      (next) => {
        previous.push(current.backend); // running sessions may still use it; closed at exit
        current = next;
        logEvent(ports.io, PROGRAM, 'reloaded', {});
      },
      (e: unknown) => logEvent(ports.io, PROGRAM, 'reload failed, keeping the running configuration', { reason: firstLine(e) }),
    );
  });
  const stop = () => void server.close();
  const offTerm = ports.onSignal('SIGTERM', stop);
  const offInt = ports.onSignal('SIGINT', stop);
  await server.closed;
  await server.close();
  offHup();
  offTerm();
  offInt();
  for (const b of [...previous, current.backend]) await b.close().catch(() => undefined);
  logEvent(ports.io, PROGRAM, 'stopped', {});
  return 0;
}
