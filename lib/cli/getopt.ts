// getopt(3) as glibc does it: bundled letters, `x:` and attached-only `x::`, argument permutation, `--`.

export type OptEvent =
  | { readonly kind: 'opt'; readonly opt: string; readonly arg?: string }
  | { readonly kind: 'invalid'; readonly opt: string }
  | { readonly kind: 'missing'; readonly opt: string };

type ArgKind = 'none' | 'required' | 'optional';

function parseOptstring(optstring: string): { spec: Map<string, ArgKind>; permute: boolean } {
  let s = optstring;
  let permute = true;
  if (s.startsWith('+')) {
    permute = false;
    s = s.slice(1);
  }
  if (s.startsWith(':')) s = s.slice(1);
  const spec = new Map<string, ArgKind>();
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (s[i + 1] === ':' && s[i + 2] === ':') {
      spec.set(c, 'optional');
      i += 2;
    } else if (s[i + 1] === ':') {
      spec.set(c, 'required');
      i += 1;
    } else spec.set(c, 'none');
  }
  return { spec, permute };
}

/**
 * A getopt scanner. `next()` yields one option event at a time; `operands()` gives the
 * non-option words seen so far followed by every word not yet scanned, which is what a C tool
 * sees in `argv[optind..]` after it leaves its getopt loop (early or not).
 */
export class Getopt {
  private readonly spec: Map<string, ArgKind>;
  private readonly permute: boolean;
  private index = 0;
  private pos = 0; // position inside a bundle like -abc; 0 = at a word start
  private readonly seen: string[] = [];
  private done = false;

  constructor(
    private readonly argv: readonly string[],
    optstring: string,
  ) {
    const parsed = parseOptstring(optstring);
    this.spec = parsed.spec;
    this.permute = parsed.permute;
  }

  next(): OptEvent | undefined {
    if (this.done) return undefined;
    while (this.pos === 0) {
      const word = this.argv[this.index];
      if (word === undefined) {
        this.done = true;
        return undefined;
      }
      if (word === '--') {
        this.index++;
        this.done = true;
        return undefined;
      }
      if (word.length < 2 || word[0] !== '-') {
        if (!this.permute) {
          this.done = true;
          return undefined;
        }
        this.seen.push(word);
        this.index++;
        continue;
      }
      this.pos = 1;
    }
    const word = this.argv[this.index]!;
    const opt = word[this.pos]!;
    this.pos++;
    const atEnd = this.pos >= word.length;
    const kind = this.spec.get(opt);
    const advance = () => {
      this.index++;
      this.pos = 0;
    };
    if (kind === undefined || opt === ':') {
      if (atEnd) advance();
      return { kind: 'invalid', opt };
    }
    if (kind === 'none') {
      if (atEnd) advance();
      return { kind: 'opt', opt };
    }
    if (!atEnd) {
      const arg = word.slice(this.pos);
      advance();
      return { kind: 'opt', opt, arg };
    }
    advance();
    if (kind === 'optional') return { kind: 'opt', opt };
    const arg = this.argv[this.index];
    if (arg === undefined) return { kind: 'missing', opt };
    this.index++;
    return { kind: 'opt', opt, arg };
  }

  /** Every remaining event, in order. */
  all(): OptEvent[] {
    const events: OptEvent[] = [];
    for (let e = this.next(); e !== undefined; e = this.next()) events.push(e);
    return events;
  }

  operands(): string[] {
    const rest = this.argv.slice(this.pos === 0 ? this.index : this.index + 1);
    return [...this.seen, ...rest];
  }
}

/** glibc's diagnostics, word for word, since scripts and transcripts carry them. */
export function getoptMessage(argv0: string, event: OptEvent): string | undefined {
  if (event.kind === 'invalid') return `${argv0}: invalid option -- '${event.opt}'\n`;
  if (event.kind === 'missing') return `${argv0}: option requires an argument -- '${event.opt}'\n`;
  return undefined;
}
