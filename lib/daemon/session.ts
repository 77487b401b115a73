// One vpopmaild session: greeting, the pre-login phase with its line and failure limits, the command
// phase, timeouts (spec §3, §8). The dispatcher writes each handler's reply and logs verb + length.
import type { Readable, Writable } from 'node:stream';
import { firstLine } from '../exit.ts';
import { logEvent, type LogFields } from '../log.ts';
import type { BlockResult, DaemonContext, HandlerContext, LoginState } from './context.ts';
import { LEVEL } from './context.ts';
import { findCommand, isVisible } from './commands.ts';
import { LineReader, ReplyWriter, WriteTimeoutError, err, parseRequest, statusLine, type Reply } from './protocol.ts';

/** Pre-login: 4 input lines of any kind; 4 failed authentications (spec §3). */
export const PRELOGIN_MAX_LINES = 4;
export const PRELOGIN_MAX_FAILURES = 4;

const PROGRAM = 'vpopmaild';
const DATA_BATCH_BYTES = 16 * 1024;

export interface SessionStreams {
  readonly input: Readable;
  readonly output: Writable;
  /** Connection id for log lines. */
  readonly conn: string;
  readonly remoteIp?: string | undefined;
  /** The server address the client connected to (ip-alias domains pick the default domain by it). */
  readonly localIp?: string | undefined;
}

export type SessionEnd = 'quit' | 'eof' | 'timeout' | 'too-many' | 'write-timeout' | 'session-limit';

/** Thrown inside a handler when its data block cannot be completed; the session then ends. */
class SessionAbort extends Error {
  constructor(readonly end: SessionEnd) {
    super(end);
  }
}

/** Run one session to its end. Never throws: every failure becomes a reply or the end of the session. */
export async function runSession(daemon: DaemonContext, streams: SessionStreams): Promise<SessionEnd> {
  const session = new Session(daemon, streams);
  return session.run();
}

class Session {
  private readonly reader: LineReader;
  private readonly writer: ReplyWriter;
  private readonly deadlineMs: number;
  private login: LoginState | undefined;
  private preLoginLines = 0;
  private failures = 0;

  constructor(
    private readonly daemon: DaemonContext,
    private readonly streams: SessionStreams,
  ) {
    this.reader = new LineReader(streams.input);
    this.writer = new ReplyWriter(streams.output, daemon.limits.writeTimeoutMs);
    this.deadlineMs = daemon.now() + daemon.limits.sessionTimeoutMs;
  }

  async run(): Promise<SessionEnd> {
    let end: SessionEnd;
    try {
      await this.writer.line('+OK ');
      end = await this.loop();
    } catch (e) {
      if (e instanceof SessionAbort) end = e.end;
      else if (e instanceof WriteTimeoutError) end = 'write-timeout';
      else {
        this.log('session failed', { reason: firstLine(e) });
        end = 'eof';
      }
    }
    this.log('end', { reason: end });
    return end;
  }

  private log(outcome: string, fields: LogFields = {}): void {
    logEvent(this.daemon.io, PROGRAM, outcome, { conn: this.streams.conn, ...fields });
  }

  /**
   * How long to wait for the next line: the idle timeout, cut short by the session limit. Whether
   * the limit cut it is remembered for timeoutReply: a timer may fire a millisecond before the clock
   * reaches the deadline, and that is still the session limit, not an idle client.
   */
  private waitMs(): number {
    const left = this.deadlineMs - this.daemon.now();
    this.waitEndsSession = left <= this.daemon.limits.idleTimeoutMs;
    return Math.max(0, Math.min(this.daemon.limits.idleTimeoutMs, left));
  }

  private waitEndsSession = false;

  private async timeoutReply(): Promise<SessionEnd> {
    if (this.waitEndsSession || this.daemon.now() >= this.deadlineMs) {
      await this.writer.line(statusLine(err(42, 110))!);
      return 'session-limit';
    }
    await this.writer.line(statusLine(this.login === undefined ? err(3, 103) : err(3, 106))!);
    return 'timeout';
  }

  private async loop(): Promise<SessionEnd> {
    for (;;) {
      const event = await this.reader.next(this.waitMs());
      if (event.kind === 'eof') return 'eof';
      if (event.kind === 'timeout') return this.timeoutReply();
      if (event.kind === 'overlong') {
        this.log('request refused', { reason: 'line-too-long', len: event.bytes });
        await this.write(err(39, this.login === undefined ? 104 : 107));
      } else {
        const quit = await this.handleLine(event.text);
        if (quit) return 'quit';
      }
      if (this.login === undefined) {
        this.preLoginLines++;
        if (this.failures >= PRELOGIN_MAX_FAILURES) {
          await this.write(err(5, 105));
          return 'too-many';
        }
        if (this.preLoginLines >= PRELOGIN_MAX_LINES) {
          await this.write(err(5, 102));
          return 'too-many';
        }
      }
    }
  }

  /** Handle one request line; true when the session is to end (quit). */
  private async handleLine(line: string): Promise<boolean> {
    const req = parseRequest(line);
    if (req === undefined) return false; // blank: no reply (still a pre-login line)
    const command = findCommand(req.verb);
    this.log('request', { verb: command?.verb ?? 'unknown', len: line.length });
    if (command === undefined || !isVisible(command, this.login?.level ?? LEVEL.none)) {
      await this.write(err(4, this.login === undefined ? 104 : 107));
      return false;
    }
    let reply: Reply;
    try {
      reply = await command.handler(this.handlerContext(), req);
    } catch (e) {
      if (e instanceof SessionAbort || e instanceof WriteTimeoutError) throw e;
      this.log('command failed', { verb: command.verb, reason: firstLine(e) });
      reply = { kind: 'err', text: '0.100 temporary failure, try again' };
    }
    await this.write(reply);
    return command.ends === true;
  }

  private async write(reply: Reply): Promise<void> {
    const status = statusLine(reply);
    if (status === undefined) return;
    await this.writer.line(status);
    if (reply.kind !== 'data') return;
    // The status line went out on its own; data lines that are ready together share a write of
    // up to DATA_BATCH_BYTES (a 10,000-user list_users is 80,000 lines), and nothing is held back
    // waiting for more: each batch is written as soon as it is full or the block ends.
    let batch = '';
    try {
      for await (const line of reply.lines) {
        batch += `${line}\r\n`;
        if (batch.length >= DATA_BATCH_BYTES) {
          await this.writer.raw(batch);
          batch = '';
        }
      }
    } catch (e) {
      if (e instanceof WriteTimeoutError) throw e;
      // After +OK+ a failure can only end the block; it is closed with `.` all the same (P2).
      this.log('listing stopped', { reason: firstLine(e) });
    }
    await this.writer.raw(`${batch}.\r\n`);
  }

  private handlerContext(): HandlerContext {
    return {
      daemon: this.daemon,
      conn: this.streams.conn,
      remoteIp: this.streams.remoteIp,
      localIp: this.streams.localIp,
      login: this.login,
      setLogin: (state) => {
        this.login = state;
      },
      noteLoginFailure: () => {
        this.failures++;
        if (this.streams.remoteIp !== undefined) this.daemon.limiter?.recordFailure(this.streams.remoteIp);
      },
      send: (reply) => this.write(reply),
      sendRaw: (text) => this.writer.raw(text),
      readBlock: (isEnd, onLine) => this.readBlock(isEnd, onLine),
      log: (outcome, fields) => this.log(outcome, fields),
    };
  }

  private async readBlock(isEnd: (line: string) => boolean, onLine: (line: string) => void | Promise<void>): Promise<BlockResult> {
    let overlong = 0;
    for (;;) {
      const event = await this.reader.next(this.waitMs());
      if (event.kind === 'eof') throw new SessionAbort('eof');
      if (event.kind === 'timeout') throw new SessionAbort(await this.timeoutReply());
      if (event.kind === 'overlong') {
        overlong++;
        continue;
      }
      if (isEnd(event.text)) break;
      await onLine(event.text);
    }
    if (overlong > 0) this.log('block lines refused', { reason: 'line-too-long', count: overlong });
    return { overlong };
  }
}
