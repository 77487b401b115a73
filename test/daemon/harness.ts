// Test harness for vpopmaild: a temp home, a daemon context, a server on an ephemeral loopback
// port, and a line client that reads replies as a client would (CRLF lines, `+OK+` … `.` blocks).
import type { ExecutionContext } from 'ava';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accountsContext } from '../../lib/accounts/context.ts';
import type { Backend } from '../../lib/backends/backend.ts';
import { createCdbBackend } from '../../lib/backends/cdb.ts';
import type { AgentIo } from '../../lib/cli/agent.ts';
import { loadConfig, type Config } from '../../lib/config.ts';
import { DEFAULT_SESSION_LIMITS, type DaemonContext, type SessionLimits } from '../../lib/daemon/context.ts';
import { Gate } from '../../lib/daemon/gate.ts';
import { LoginLimiter, DEFAULT_LOGIN_LIMITER, type LoginLimiterOptions } from '../../lib/daemon/rate-limit.ts';
import { startServer, type RunningServer, type ServerOptions } from '../../lib/daemon/server.ts';

export interface TempHome {
  readonly root: string;
  readonly vpopmailHome: string;
  readonly qmailHome: string;
  readonly config: Config;
}

/** A fresh ~vpopmail and qmail tree under one mkdtemp, removed in teardown. */
export function tempHome(t: ExecutionContext, settings = ''): TempHome {
  const root = mkdtempSync(join(tmpdir(), 'vpop-daemon-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const vpopmailHome = join(root, 'vpopmail');
  const qmailHome = join(root, 'qmail');
  for (const d of ['etc', 'domains', 'bin']) mkdirSync(join(vpopmailHome, d), { recursive: true });
  for (const d of ['users', 'control', 'bin']) mkdirSync(join(qmailHome, d), { recursive: true });
  if (settings !== '') writeFileSync(join(vpopmailHome, 'etc', 'vpopmail.conf'), settings);
  const config = loadConfig({ VPOPMAIL_HOME: vpopmailHome, QMAIL_HOME: qmailHome });
  return { root, vpopmailHome, qmailHome, config };
}

/** An AgentIo that keeps log lines (at most `keep` of them, so long runs stay small). */
export function logIo(keep = 50_000): AgentIo & { readonly lines: string[]; dropped: number } {
  const lines: string[] = [];
  const io = {
    lines,
    dropped: 0,
    stdout: (text: string | Uint8Array) => push(text),
    stderr: (text: string | Uint8Array) => push(text),
  };
  function push(text: string | Uint8Array): void {
    if (lines.length < keep) lines.push(typeof text === 'string' ? text : Buffer.from(text).toString('latin1'));
    else io.dropped++;
  }
  return io;
}

export interface DaemonOverrides {
  readonly backend?: Backend;
  readonly limits?: Partial<SessionLimits>;
  readonly limiter?: Partial<LoginLimiterOptions> | false;
  readonly now?: () => number;
  readonly env?: Record<string, string | undefined>;
  readonly io?: AgentIo;
}

export function daemonContext(home: TempHome, over: DaemonOverrides = {}): DaemonContext {
  const now = over.now ?? (() => Date.now());
  const backend = over.backend ?? createCdbBackend(home.config);
  return {
    config: home.config,
    backend,
    // No qmail-send to signal in a test tree.
    accounts: accountsContext(home.config, backend, 'test.host', { now, hupQmailSend: () => undefined }),
    io: over.io ?? logIo(),
    now,
    gate: new Gate(),
    limiter: over.limiter === false ? undefined : new LoginLimiter({ ...DEFAULT_LOGIN_LIMITER, ...over.limiter }, now),
    limits: { ...DEFAULT_SESSION_LIMITS, ...over.limits },
    env: over.env ?? {},
  };
}

/** A server on 127.0.0.1, an ephemeral port, closed in teardown. */
export async function serve(t: ExecutionContext, daemon: DaemonContext, options: ServerOptions = {}): Promise<RunningServer> {
  const server = await startServer(() => daemon, { host: '127.0.0.1', port: 0, ...options });
  t.teardown(() => server.close());
  return server;
}

/** A client that reads CRLF lines; every read has a deadline so a hung daemon fails the test. */
export class Client {
  private buffered = '';
  private ended = false;
  private waiters: (() => void)[] = [];
  readonly chunks: string[] = [];

  private constructor(readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.chunks.push(chunk);
      this.buffered += chunk;
      this.wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', () => {
      this.ended = true;
      this.wake();
    });
  }

  static connect(port: number, host = '127.0.0.1', socket?: Socket): Promise<Client> {
    const s = socket ?? connect({ port, host });
    return new Promise((resolve, reject) => {
      const onConnect = () => {
        s.off('error', reject);
        resolve(new Client(s));
      };
      s.once('error', reject);
      if (socket !== undefined && !socket.connecting) onConnect();
      else s.once(socket === undefined ? 'connect' : 'secureConnect', onConnect);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private async waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; buffered ${JSON.stringify(this.buffered)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Send raw bytes (latin1). */
  write(text: string): void {
    this.socket.write(Buffer.from(text, 'latin1'));
  }

  /** Send one line with CRLF (PEAR Net_Socket's writeLine). */
  send(line: string, eol = '\r\n'): void {
    this.write(`${line}${eol}`);
  }

  /** The next line exactly as sent, CRLF included. Rejects on end of stream. */
  async rawLine(timeoutMs = 10_000): Promise<string> {
    await this.waitFor(() => this.buffered.includes('\n') || this.ended, timeoutMs, 'a line');
    const nl = this.buffered.indexOf('\n');
    if (nl < 0) throw new Error(`connection closed; left over ${JSON.stringify(this.buffered)}`);
    const line = this.buffered.slice(0, nl + 1);
    this.buffered = this.buffered.slice(nl + 1);
    return line;
  }

  /** The next line without its CRLF; fails the test if it did not end in CRLF. */
  async line(timeoutMs?: number): Promise<string> {
    const raw = await this.rawLine(timeoutMs);
    if (!raw.endsWith('\r\n')) throw new Error(`line without CRLF: ${JSON.stringify(raw)}`);
    return raw.slice(0, -2);
  }

  /** A line as PEAR Net_Socket's readLine gives it: CR and LF stripped, whichever ended it. */
  async looseLine(timeoutMs?: number): Promise<string> {
    return (await this.rawLine(timeoutMs)).replace(/\r?\n$/, '');
  }

  /** `+OK+` was read already: data lines up to `.` (not included). */
  async block(): Promise<string[]> {
    const lines: string[] = [];
    for (;;) {
      const l = await this.line();
      if (l === '.') return lines;
      lines.push(l);
    }
  }

  /** A command and its whole reply: status line and, after `+OK+`, the data lines. */
  async command(line: string): Promise<{ status: string; lines: string[] }> {
    this.send(line);
    const status = await this.line();
    return { status, lines: status === '+OK+' ? await this.block() : [] };
  }

  /** Resolves when the server has closed the connection; fails if more data arrives. */
  async closed(timeoutMs = 10_000): Promise<void> {
    await this.waitFor(() => this.ended, timeoutMs, 'the connection to close');
    if (this.buffered !== '') throw new Error(`unread data at close: ${JSON.stringify(this.buffered)}`);
  }

  /** Whatever is left once the connection closes. */
  async rest(timeoutMs = 10_000): Promise<string> {
    await this.waitFor(() => this.ended, timeoutMs, 'the connection to close');
    const r = this.buffered;
    this.buffered = '';
    return r;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Connect and read the greeting. */
export async function greeted(server: RunningServer): Promise<Client> {
  const c = await Client.connect(server.port);
  const greeting = await c.line();
  if (greeting !== '+OK ') throw new Error(`unexpected greeting ${JSON.stringify(greeting)}`);
  return c;
}
