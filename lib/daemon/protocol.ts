// vpopmaild's wire format (spec/vpopmaild.md §2, §6): bounded line reading, tokens, reply framing.
//
// Lines are byte strings (latin1: one char per byte), like everything lib/store reads, so a password
// or a file line carries exactly the bytes the client sent.
import type { Readable, Writable } from 'node:stream';

/** C reads 1023 bytes at a time and runs a longer line as several commands; we refuse it (P5). */
export const LINE_MAX_BYTES = 1023;

/** Complete lines held while the session is busy; past this the socket is paused (pipelining is fine). */
const QUEUE_MAX_LINES = 64;

export type LineEvent =
  | { readonly kind: 'line'; readonly text: string }
  /** A line longer than LINE_MAX_BYTES, discarded up to and including its LF. */
  | { readonly kind: 'overlong'; readonly bytes: number }
  | { readonly kind: 'eof' }
  | { readonly kind: 'timeout' };

/**
 * Lines from a byte stream, LF-terminated, a CR before the LF removed (CRLF clients), a CR after it
 * left at the start of the next line (LF-CR clients such as Haraka), where the tokenizer treats it
 * as white space. Memory is bounded: at most QUEUE_MAX_LINES lines of LINE_MAX_BYTES wait, the
 * stream is paused beyond that, and an overlong line is counted, never kept.
 */
export class LineReader {
  private readonly queue: LineEvent[] = [];
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private discarding = 0; // > 0: bytes of an overlong line dropped so far
  private ended = false;
  private waiter: ((event: LineEvent) => void) | undefined;

  constructor(private readonly input: Readable) {
    input.on('data', (chunk: Buffer | string) => this.push(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk));
    input.on('end', () => this.finish());
    input.on('close', () => this.finish());
    input.on('error', () => this.finish());
  }

  /** The next line, or eof, or timeout when nothing complete arrived within timeoutMs. */
  next(timeoutMs: number): Promise<LineEvent> {
    const queued = this.queue.shift();
    if (queued !== undefined) {
      if (this.queue.length < QUEUE_MAX_LINES && this.input.isPaused() && !this.ended) this.input.resume();
      return Promise.resolve(queued);
    }
    if (this.ended) return Promise.resolve({ kind: 'eof' });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        resolve({ kind: 'timeout' });
      }, timeoutMs);
      this.waiter = (event) => {
        clearTimeout(timer);
        this.waiter = undefined;
        resolve(event);
      };
    });
  }

  private emit(event: LineEvent): void {
    if (this.waiter !== undefined) this.waiter(event);
    else this.queue.push(event);
  }

  private push(chunk: Buffer): void {
    let from = 0;
    while (from < chunk.length) {
      const nl = chunk.indexOf(10, from);
      const end = nl < 0 ? chunk.length : nl;
      const piece = chunk.subarray(from, end);
      if (this.discarding > 0) {
        this.discarding += piece.length;
      } else if (this.partialBytes + piece.length > LINE_MAX_BYTES + 1) {
        // + 1: room for the CR of a CRLF client's longest line
        this.discarding = this.partialBytes + piece.length;
        this.partial = [];
        this.partialBytes = 0;
      } else if (piece.length > 0) {
        this.partial.push(Buffer.from(piece)); // a copy: the stream may reuse its chunk
        this.partialBytes += piece.length;
      }
      if (nl < 0) break;
      this.endLine();
      from = nl + 1;
    }
    if (this.queue.length >= QUEUE_MAX_LINES && !this.input.isPaused()) this.input.pause();
  }

  private endLine(): void {
    if (this.discarding > 0) {
      this.emit({ kind: 'overlong', bytes: this.discarding });
      this.discarding = 0;
      return;
    }
    let text = Buffer.concat(this.partial, this.partialBytes).toString('latin1');
    this.partial = [];
    this.partialBytes = 0;
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (text.length > LINE_MAX_BYTES) this.emit({ kind: 'overlong', bytes: text.length });
    else this.emit({ kind: 'line', text });
  }

  private finish(): void {
    if (this.ended) return;
    // A last line without LF is still a line, as C's buffered read hands it over at EOF.
    if (this.partialBytes > 0 || this.discarding > 0) this.endLine();
    this.ended = true;
    if (this.waiter !== undefined) this.waiter({ kind: 'eof' });
  }
}

/** Raised when the peer does not take a reply within the write timeout; the session then ends. */
export class WriteTimeoutError extends Error {
  override name = 'WriteTimeoutError';
}

/**
 * Replies to the client, one write per line (the Haraka client reads each TCP chunk as one reply),
 * waiting for drain under backpressure so a slow reader costs no memory, and giving up after
 * writeTimeoutMs (C silently drops such a reply and carries on; we end the session, P5). Once the
 * output is gone (peer closed, EPIPE) replies are dropped and the session goes on with the lines it
 * already received: a client that sends `mod_user … .` and `quit` and hangs up without reading
 * still gets its change applied.
 */
export class ReplyWriter {
  private closed = false;

  constructor(
    private readonly output: Writable,
    private readonly writeTimeoutMs: number,
  ) {
    output.on('error', () => {
      this.closed = true;
    });
    output.on('close', () => {
      this.closed = true;
    });
  }

  get isClosed(): boolean {
    return this.closed || this.output.writableEnded || this.output.destroyed;
  }

  /** One reply line; CRLF is added. */
  line(text: string): Promise<void> {
    return this.raw(`${text}\r\n`);
  }

  /** Bytes as given (read_file sends file lines with their own LF). */
  async raw(data: string): Promise<void> {
    if (this.isClosed) return;
    if (this.output.write(Buffer.from(data, 'latin1'))) return;
    await new Promise<void>((resolve, reject) => {
      const done = (e?: Error) => {
        clearTimeout(timer);
        this.output.off('drain', onDrain);
        this.output.off('close', onDrain);
        if (e === undefined) resolve();
        else reject(e);
      };
      const onDrain = () => done();
      const timer = setTimeout(() => done(new WriteTimeoutError('write timeout')), this.writeTimeoutMs);
      this.output.on('drain', onDrain);
      this.output.on('close', onDrain);
    });
  }
}

// --- replies -----------------------------------------------------------------------------------

/**
 * A handler's answer. `data` is `+OK+`, the lines, `.`; lines may come from an async source so a
 * long listing streams under backpressure instead of sitting in memory.
 */
export type Reply =
  | { readonly kind: 'ok' }
  | { readonly kind: 'data'; readonly lines: Iterable<string> | AsyncIterable<string> }
  | { readonly kind: 'err'; readonly text: string }
  /** Already written by the handler (read_file's verbatim lines); nothing more to send. */
  | { readonly kind: 'sent' };

export const OK: Reply = Object.freeze({ kind: 'ok' });
export const SENT: Reply = Object.freeze({ kind: 'sent' });

export function data(lines: Iterable<string> | AsyncIterable<string>): Reply {
  return { kind: 'data', lines };
}

/**
 * The message table (spec §6). 37 and 38 have no text in C (undefined output, P3); we give them
 * the texts the spec asks for. 39 and up are ours, for the protections C lacks.
 */
export const MESSAGES: ReadonlyMap<number, string> = new Map([
  [1, "Can't open authentication database"],
  [2, 'Too many actions before login'],
  [3, 'Read Timeout'],
  [4, 'Invalid Command'],
  [5, 'Too many invalid login attempts'],
  [6, 'Email Address Required'],
  [7, 'Password Required'],
  [8, 'Invalid Login'],
  [9, 'Not Authorized'],
  [10, 'Invalid Email Address'],
  [11, 'Not Authorized for domain'],
  [12, 'User does not exist'],
  [13, 'Domain Required'],
  [14, 'Alias Name Required'],
  [15, 'Invalid Alias Name Supplied'],
  [16, 'Alias Line Required'],
  [17, 'Alias Insertion Failed'],
  [18, 'Alias Removal Failed'],
  [19, 'Alias Deletion Failed'],
  [20, 'Invalid Directory.  .. not allowed in path'],
  [21, 'Invalid Directory.  % not allowed in path'],
  [22, "Invalid Directory.  Do you need a trailing '/'?"],
  [23, 'Invalid Directory. Found / before @'],
  [24, "Invalid Directory. Can't parse email address"],
  [25, 'Invalid Directory. Unknown email address'],
  [26, 'Unauthorized Directory.'],
  [27, 'Directory Required.'],
  [28, 'Source File Name Required'],
  [29, 'Destination File Name Required'],
  [30, 'Filename Required'],
  [31, 'Could not open assign file'],
  [32, 'IP Required'],
  [33, 'Not Available'],
  [34, 'Could not get limits'],
  [35, 'Could not set limits'],
  [36, 'Not Implemented yet'],
  [37, 'IP Required'],
  [38, 'Invalid Domain'],
  [39, 'Line Too Long'],
  [40, 'Too Many Connections'],
  [41, 'Too Many Failed Logins From Your Address, Try Later'],
  [42, 'Session Time Limit Reached'],
]);

/** `<minor>` is printed with at least three digits (`5.102`, `0.305`, `9.3401`). */
function formatCode(major: number, minor: number): string {
  return `${major}.${String(minor).padStart(3, '0')}`;
}

/** `-ERR <major>.<minor> <table text>`, with an optional detail of ours after it in parentheses. */
export function err(major: number, minor: number, detail?: string): Reply {
  const text = MESSAGES.get(major) ?? 'error';
  return { kind: 'err', text: `${formatCode(major, minor)} ${text}${detail === undefined ? '' : ` (${detail})`}` };
}

/** `-ERR 0.<minor> <text>`: a failure the library reported, with its own text (verror or strerror). */
export function libErr(minor: number, text: string): Reply {
  return { kind: 'err', text: `${formatCode(0, minor)} ${oneLine(text)}` };
}

/** Reply text must stay one line whatever an error message holds (C's texts keep a trailing space). */
function oneLine(text: string): string {
  const clean = text.replace(/[\r\n]+/g, ' ');
  return clean.trim() === '' ? 'error' : clean;
}

/** The wire form of a status reply line (without CRLF). Data lines are written by the session. */
export function statusLine(reply: Reply): string | undefined {
  switch (reply.kind) {
    case 'ok':
      return '+OK ';
    case 'data':
      return '+OK+';
    case 'err':
      return `-ERR ${reply.text}`;
    case 'sent':
      return undefined;
  }
}

// --- request lines -------------------------------------------------------------------------------

/** One request line split the way C does: tokens on white space, plus C's "rest of line" rule. */
export interface Request {
  /** The first token, lower-cased (commands match case-insensitively). */
  readonly verb: string;
  /** The tokens after the verb, as sent. */
  readonly args: readonly string[];
  /**
   * The password rule (spec §2.1): the rest of the line after the single separator that follows
   * argument `index - 1` (so `rest(1)` is everything after the first argument), up to CR/LF.
   * May hold spaces; extra leading spaces belong to it. Empty when nothing follows.
   */
  rest(index: number): string;
}

/** Parse a line; undefined for a blank line (only spaces, TABs, CRs). */
export function parseRequest(line: string): Request | undefined {
  const tokens: { text: string; end: number }[] = [];
  const re = /[^ \t\r\n]+/g;
  for (let m = re.exec(line); m !== null; m = re.exec(line)) tokens.push({ text: m[0], end: m.index + m[0].length });
  const first = tokens[0];
  if (first === undefined) return undefined;
  return {
    verb: first.text.toLowerCase(),
    args: tokens.slice(1).map((t) => t.text),
    rest(index: number): string {
      const before = tokens[index]; // token index-1 of args is token index of the line
      if (before === undefined) return '';
      const after = line.slice(before.end + 1); // skip exactly one separator character
      const stop = after.search(/[\r\n]/);
      return stop < 0 ? after : after.slice(0, stop);
    },
  };
}

/**
 * A protocol byte string as text: its bytes read as UTF-8 (what lib/accounts and lib/crypt take,
 * and what every client sends). Undefined when the bytes are not valid UTF-8.
 */
export function wireText(value: string): string | undefined {
  const bytes = Buffer.from(value, 'latin1');
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) ? text : undefined;
}

/** Tokens of a data line (set_limits, mod_user): name up to the first space, `=`, `:` or CR. */
export function splitOptionLine(line: string): { readonly name: string; readonly value: string | undefined } {
  const m = /^([^ =:\r\n]*)[ =:]?(.*)$/s.exec(line)!;
  const name = m[1]!;
  const rest = m[2]!.replace(/[\r\n].*$/s, '');
  const hadSeparator = line.length > name.length && /[ =:]/.test(line[name.length]!);
  return { name, value: hadSeparator && rest !== '' ? rest : undefined };
}

/** True for a line that ends a data block: mod_user and set_limits stop at a line starting with `.`. */
export function isBlockEnd(line: string): boolean {
  return line.startsWith('.');
}
