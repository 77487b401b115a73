// The shape of a program: argv + env in, exit code out; runAgent turns any error into one line and a code.
import { writeSync } from 'node:fs';
import { EXIT, MailError, firstLine, type Stream } from '../exit.ts';

export interface AgentIo {
  stdout(text: string | Uint8Array): void;
  stderr(text: string | Uint8Array): void;
}

export interface AgentContext {
  /** The program's own name (`vadduser`), whatever it was called by. */
  readonly name: string;
  /** argv[0] as invoked (getopt messages start with it, as glibc's do). */
  readonly argv0: string;
  /** Arguments after the program name. */
  readonly argv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly io: AgentIo;
}

export type AgentMain = (ctx: AgentContext) => number | Promise<number>;

export interface Agent {
  readonly name: string;
  readonly main: AgentMain;
}

export function defineAgent(name: string, main: AgentMain): Agent {
  return Object.freeze({ name, main });
}

/** Write all of `data` to a file descriptor, riding out EAGAIN on a non-blocking pipe. */
export function writeAllSync(fd: number, data: string | Uint8Array): void {
  let buf = typeof data === 'string' ? Buffer.from(data) : data;
  while (buf.length > 0) {
    let n: number;
    try {
      n = writeSync(fd, buf);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      throw err;
    }
    buf = buf.subarray(n);
  }
}

/** The real standard streams, written synchronously so an exit right after cannot cut a line short. */
export function processIo(): AgentIo {
  return {
    stdout: (text) => writeAllSync(1, text),
    stderr: (text) => writeAllSync(2, text),
  };
}

export interface CapturedIo extends AgentIo {
  readonly out: string;
  readonly err: string;
}

/** An AgentIo that keeps what was written, for in-process tests. */
export function captureIo(): CapturedIo {
  let out = '';
  let err = '';
  const text = (t: string | Uint8Array) => (typeof t === 'string' ? t : Buffer.from(t).toString('latin1'));
  return {
    stdout: (t) => void (out += text(t)),
    stderr: (t) => void (err += text(t)),
    get out() {
      return out;
    },
    get err() {
      return err;
    },
  };
}

function print(io: AgentIo, stream: Stream, text: string): void {
  if (stream === 'stdout') io.stdout(text);
  else io.stderr(text);
}

/**
 * Run a program's main and return its exit code. Errors become one line on the stream they name
 * (never a stack trace); anything that is not a MailError is doubt, and doubt is 111.
 */
export async function runAgent(agent: Agent, ctx: AgentContext): Promise<number> {
  try {
    return await agent.main(ctx);
  } catch (err) {
    if (err instanceof MailError) {
      print(ctx.io, err.stream, err.bare ? `${firstLine(err)}\n` : `${agent.name}: ${firstLine(err)}\n`);
      return err.exitCode;
    }
    print(ctx.io, 'stderr', `${agent.name}: ${firstLine(err)}\n`);
    return EXIT.temp;
  }
}
