// vpopmaild's transports: a standalone TCP (or TLS) server, safe by default, and the single session
// on stdin/stdout that tcpserver and inetd run, as C does.
import { readFile } from 'node:fs/promises';
import { createServer as createTcpServer, isIPv4, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { Readable, Writable } from 'node:stream';
import { TempError } from '../exit.ts';
import { logEvent } from '../log.ts';
import type { DaemonContext } from './context.ts';
import { err, statusLine } from './protocol.ts';
import { runSession, type SessionEnd } from './session.ts';

/** Passwords travel in clear text without TLS, and the daemon can delete domains: loopback only. */
export const DEFAULT_HOST = '127.0.0.1';
/** The port every client defaults to. */
export const DEFAULT_PORT = 89;
export const DEFAULT_MAX_SESSIONS = 64;

export interface ServerOptions {
  /** Address to listen on; anything but the default must be asked for. */
  readonly host?: string;
  /** 0 = an ephemeral port (tests). */
  readonly port?: number;
  /** Serve TLS with this certificate and key (PEM files). */
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
  /** Sessions at once; a connection beyond it gets `-ERR 40.100` and is closed. */
  readonly maxSessions?: number;
}

export interface RunningServer {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  /** Sessions running now. */
  readonly sessions: number;
  /** Stop listening, end every session, resolve when all are gone. */
  close(): Promise<void>;
  /** Resolves when the server has stopped (close() or a fatal error). */
  readonly closed: Promise<void>;
}

const PROGRAM = 'vpopmaild';

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIPv4(host) && host.startsWith('127.'));
}

/**
 * Listen and run one session per connection. `context` is asked for the daemon context at each
 * connection, so a reloaded configuration (SIGHUP) reaches new sessions while running ones keep theirs.
 */
export async function startServer(context: () => DaemonContext, options: ServerOptions = {}): Promise<RunningServer> {
  const host = options.host ?? DEFAULT_HOST;
  const port = options.port ?? DEFAULT_PORT;
  const maxSessions = options.maxSessions ?? DEFAULT_MAX_SESSIONS;
  const first = context();
  const sockets = new Set<Socket>();
  const running = new Set<Promise<SessionEnd>>();
  let nextConn = 1;

  let server: Server;
  if (options.tls !== undefined) {
    let key: Buffer;
    let cert: Buffer;
    try {
      [key, cert] = await Promise.all([readFile(options.tls.keyFile), readFile(options.tls.certFile)]);
    } catch (e) {
      throw new TempError(`unable to read TLS key or certificate: ${(e as NodeJS.ErrnoException).code ?? e}`, { cause: e });
    }
    server = createTlsServer({ key, cert, handshakeTimeout: first.limits.idleTimeoutMs, minVersion: 'TLSv1.2' });
    server.on('secureConnection', (socket: Socket) => accept(socket));
    server.on('tlsClientError', () => {
      // a failed handshake is the client's problem; the socket is already gone
    });
  } else {
    server = createTcpServer((socket) => accept(socket));
  }

  function accept(socket: Socket): void {
    socket.on('error', () => {
      // EPIPE, ECONNRESET: the session sees end of input and stops
    });
    const daemon = context();
    const conn = String(nextConn++);
    const remoteIp = socket.remoteAddress;
    if (sockets.size >= maxSessions) {
      logEvent(daemon.io, PROGRAM, 'connection refused', { conn, ip: remoteIp, reason: 'too-many-sessions', count: sockets.size });
      socket.end(`${statusLine(err(40, 100))}\r\n`);
      setTimeout(() => socket.destroy(), daemon.limits.writeTimeoutMs).unref();
      return;
    }
    sockets.add(socket);
    socket.setNoDelay(true);
    logEvent(daemon.io, PROGRAM, 'connect', { conn, ip: remoteIp, port: socket.remotePort });
    const session = runSession(daemon, { input: socket, output: socket, conn, remoteIp, localIp: socket.localAddress });
    running.add(session);
    void session.then((end) => {
      running.delete(session);
      if (end === 'write-timeout') socket.destroy();
      else {
        // Flush what is queued, then close; a peer that never reads gets destroyed after the write timeout.
        socket.end(() => socket.destroy());
        setTimeout(() => socket.destroy(), daemon.limits.writeTimeoutMs).unref();
      }
      sockets.delete(socket);
    });
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error) => reject(new TempError(`unable to listen on ${host} port ${port}: ${(e as NodeJS.ErrnoException).code ?? e.message}`, { cause: e }));
    server.once('error', onError);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const tls = options.tls !== undefined;
  logEvent(first.io, PROGRAM, 'listening', { ip: address.address, port: address.port, service: tls ? 'tls' : 'tcp' });
  if (!isLoopback(host) && !tls) {
    logEvent(first.io, PROGRAM, 'warning', { ip: host, reason: 'listening beyond loopback without TLS: passwords travel in clear text' });
  }

  const closed = new Promise<void>((resolve) => server.on('close', () => resolve()));
  server.on('error', (e) => {
    logEvent(first.io, PROGRAM, 'server failed', { reason: (e as NodeJS.ErrnoException).code ?? e.message });
    server.close();
  });

  return {
    host: address.address,
    port: address.port,
    tls,
    get sessions() {
      return sockets.size;
    },
    async close() {
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await Promise.all([...running]);
      await done;
    },
    closed,
  };
}

export interface StdioSession {
  readonly input: Readable;
  readonly output: Writable;
  /** TCPREMOTEIP under tcpserver. */
  readonly remoteIp?: string | undefined;
  /** TCPLOCALIP under tcpserver. */
  readonly localIp?: string | undefined;
  /** Connection id for log lines (the agent uses its pid). */
  readonly conn: string;
}

/** One session on already-open streams (tcpserver, inetd: fd 0 and fd 1). */
export async function runStdioSession(daemon: DaemonContext, stdio: StdioSession): Promise<SessionEnd> {
  logEvent(daemon.io, PROGRAM, 'connect', { conn: stdio.conn, ip: stdio.remoteIp });
  return runSession(daemon, stdio);
}
