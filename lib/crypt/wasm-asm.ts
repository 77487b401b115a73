// A small typed WebAssembly assembler, just big enough for lib/crypt's SHA-crypt module: integer
// arithmetic, linear memory, loops and calls, written out in the binary format of the WebAssembly
// core specification (chapter 5) byte by byte. Nothing runs at import.
//
// Types are checked twice: TypeScript ties each local and each numeric instruction to i32 or i64, and
// the engine validates the whole module when it is compiled (a mistake is a CompileError on first
// use, which every test run reaches). It runs once per process as cold, interpreted JavaScript, so it
// writes straight into one buffer, and code that repeats with other locals (SHA's unrolled rounds) is
// recorded once as a Fragment and stamped out by copying and patching.

export type ValType = 'i32' | 'i64';

/** A parameter or local of a known type (or, inside a fragment, a placeholder for one). */
export interface Local<T extends ValType> {
  readonly index: number;
  readonly type: T;
}

/** A function of the module being built, callable before its body is defined. */
export interface FuncRef {
  readonly index: number;
  readonly params: readonly ValType[];
  readonly results: readonly ValType[];
}

/** An open block or loop: what `brIf` can target. */
export interface Label {
  readonly depth: number;
}

export type IntOp = 'eqz' | 'eq' | 'ne' | 'add' | 'sub' | 'mul' | 'and' | 'or' | 'xor' | 'shl' | 'shrU';

// Opcodes (core spec §5.4), by operand type.
const OPS: Readonly<Record<ValType, Readonly<Record<IntOp | 'load' | 'store' | 'const' | 'load8U', number>>>> = {
  i32: { eqz: 0x45, eq: 0x46, ne: 0x47, add: 0x6a, sub: 0x6b, mul: 0x6c, and: 0x71, or: 0x72, xor: 0x73, shl: 0x74, shrU: 0x76, load: 0x28, store: 0x36, const: 0x41, load8U: 0x2d },
  i64: { eqz: 0x50, eq: 0x51, ne: 0x52, add: 0x7c, sub: 0x7d, mul: 0x7e, and: 0x83, or: 0x84, xor: 0x85, shl: 0x86, shrU: 0x88, load: 0x29, store: 0x37, const: 0x42, load8U: 0x31 },
};
const TYPE_CODE: Readonly<Record<ValType, number>> = { i32: 0x7f, i64: 0x7e };
const ALIGN: Readonly<Record<ValType, number>> = { i32: 2, i64: 3 };

/** A growable byte buffer. */
class Bytes {
  buf = new Uint8Array(4096);
  n = 0;

  room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const next = new Uint8Array(Math.max(2 * this.buf.length, this.n + k));
    next.set(this.buf.subarray(0, this.n));
    this.buf = next;
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.n++] = b;
  }

  /** Unsigned LEB128 of a non-negative 32-bit integer. */
  u32(v: number): void {
    this.room(5);
    let x = v >>> 0;
    while (x >= 0x80) {
      this.buf[this.n++] = (x & 0x7f) | 0x80;
      x >>>= 7;
    }
    this.buf[this.n++] = x;
  }

  /** Signed LEB128 of a 32-bit integer (an i64 constant that fits has the same bytes). */
  s32(v: number): void {
    this.room(5);
    let x = v | 0;
    for (;;) {
      const b = x & 0x7f;
      x >>= 7;
      const done = (x === 0 && (b & 0x40) === 0) || (x === -1 && (b & 0x40) !== 0);
      this.buf[this.n++] = done ? b : b | 0x80;
      if (done) return;
    }
  }

  bytes(src: Uint8Array): void {
    this.room(src.length);
    this.buf.set(src, this.n);
    this.n += src.length;
  }

  /** `body` prefixed with its length (sections and function bodies). */
  sized(body: Bytes): void {
    this.u32(body.n);
    this.bytes(body.buf.subarray(0, body.n));
  }
}

/** Code recorded with placeholder locals and offsets, to be stamped out by Code#stamp. */
export interface Fragment {
  readonly bytes: Uint8Array;
  /** (position, placeholder) pairs: a local index byte, or (placeholder >= 128) a 2-byte offset. */
  readonly patches: readonly number[];
}

/** The body of one function: instructions appended in order; each method returns `this` to chain. */
export class Code {
  private readonly out = new Bytes();
  private readonly locals: ValType[] = [];
  private depth = 0;
  private readonly patches: number[] = [];
  readonly params: readonly ValType[];

  constructor(params: readonly ValType[]) {
    this.params = params;
  }

  param<T extends ValType>(i: number, type: T): Local<T> {
    if (this.params[i] !== type) throw new Error(`wasm-asm: parameter ${i} is not ${type}`);
    return { index: i, type };
  }

  /** A new local, zero at entry. At most 128 in all, so that an index is one byte. */
  local<T extends ValType>(type: T): Local<T> {
    const index = this.params.length + this.locals.length;
    if (index > 127) throw new Error('wasm-asm: too many locals');
    this.locals.push(type);
    return { index, type };
  }

  get(l: Local<ValType>): this {
    return this.op(0x20, l.index);
  }
  set(l: Local<ValType>): this {
    return this.op(0x21, l.index);
  }
  tee(l: Local<ValType>): this {
    return this.op(0x22, l.index);
  }

  /** A constant of type `t` from a 32-bit signed integer. */
  constant(t: ValType, v: number): this {
    this.out.byte(OPS[t].const);
    this.out.s32(v);
    return this;
  }
  i32(v: number): this {
    return this.constant('i32', v);
  }

  num(t: ValType, op: IntOp): this {
    this.out.byte(OPS[t][op]);
    return this;
  }

  i64ExtendI32U(): this {
    this.out.byte(0xad);
    return this;
  }

  /** t.load at address + offset (natural alignment as the hint); inside a fragment the offset may be a placeholder. */
  load(t: ValType, offset = 0): this {
    return this.memarg(OPS[t].load, ALIGN[t], offset);
  }
  /** t.load8_u: one byte, zero-extended. */
  load8U(t: ValType, offset = 0): this {
    return this.memarg(OPS[t].load8U, 0, offset);
  }
  /** t.store of [address, value] at address + offset. */
  store(t: ValType, offset = 0): this {
    return this.memarg(OPS[t].store, ALIGN[t], offset);
  }

  /** memory.copy (bulk memory): [destination, source, length], both in memory 0. */
  memoryCopy(): this {
    for (const b of [0xfc, 10, 0, 0]) this.out.byte(b);
    return this;
  }

  call(f: FuncRef): this {
    return this.op(0x10, f.index);
  }

  block(): Label {
    return this.open(0x02);
  }
  loop(): Label {
    return this.open(0x03);
  }
  /** if, the i32 condition on the stack; ended by end(), optionally after else_(). */
  if_(): Label {
    return this.open(0x04);
  }
  else_(): this {
    this.out.byte(0x05);
    return this;
  }
  end(label: Label): this {
    if (label.depth !== this.depth - 1) throw new Error('wasm-asm: blocks closed out of order');
    this.depth--;
    this.out.byte(0x0b);
    return this;
  }
  brIf(label: Label): this {
    if (label.depth >= this.depth) throw new Error('wasm-asm: branch to a closed block');
    return this.op(0x0d, this.depth - 1 - label.depth);
  }

  /**
   * Record `body` as a fragment: `body` gets placeholder locals (for `locals` parameters) and
   * placeholder offsets (for `offsets` memory offsets below 16384) to emit with.
   */
  static fragment(localTypes: readonly ValType[], offsets: number, body: (c: Code, locals: Local<ValType>[], offsets: number[]) => void): Fragment {
    const c = new Code([]);
    const locals = localTypes.map((type, i) => ({ index: 1000 + i, type }));
    const offs = Array.from({ length: offsets }, (_, i) => -1 - i);
    body(c, locals, offs);
    if (c.depth !== 0) throw new Error('wasm-asm: a fragment must close its blocks');
    return { bytes: c.out.buf.slice(0, c.out.n), patches: c.patches };
  }

  /** The fragment's code with its placeholders replaced by these locals and offsets. */
  stamp(f: Fragment, locals: readonly Local<ValType>[], offsets: readonly number[] = []): this {
    const out = this.out;
    const at = out.n;
    out.bytes(f.bytes);
    const b = out.buf;
    const p = f.patches;
    for (let i = 0; i < p.length; i += 2) {
      const pos = at + p[i]!;
      const slot = p[i + 1]!;
      if (slot < 128) b[pos] = locals[slot]!.index;
      else {
        const v = offsets[slot - 128]!;
        b[pos] = (v & 0x7f) | 0x80;
        b[pos + 1] = (v >>> 7) & 0x7f;
      }
    }
    return this;
  }

  /** Local declarations, instructions and the final end, as the code section holds a body. */
  encode(): Bytes {
    if (this.depth !== 0) throw new Error('wasm-asm: a function must close its blocks');
    const body = new Bytes();
    const runs: number[] = []; // (count, type code) pairs: runs of equal types, as the format groups them
    for (const t of this.locals) {
      if (runs.length > 0 && runs[runs.length - 1] === TYPE_CODE[t]) runs[runs.length - 2]!++;
      else runs.push(1, TYPE_CODE[t]);
    }
    body.u32(runs.length / 2);
    for (const v of runs) body.u32(v);
    body.bytes(this.out.buf.subarray(0, this.out.n));
    body.byte(0x0b);
    return body;
  }

  /** An opcode and an immediate below 128 (or a fragment's placeholder local). */
  private op(code: number, imm: number): this {
    this.out.byte(code);
    if (imm >= 1000) {
      this.patches.push(this.out.n, imm - 1000);
      imm = 0;
    }
    if (imm > 127) throw new Error('wasm-asm: immediate too large');
    this.out.byte(imm);
    return this;
  }

  private memarg(code: number, align: number, offset: number): this {
    this.out.byte(code);
    this.out.byte(align);
    if (offset < 0) {
      // a placeholder: two LEB128 bytes, padded (the format allows it), patched by stamp()
      this.patches.push(this.out.n, 127 - offset);
      this.out.byte(0x80);
      this.out.byte(0);
    } else this.out.u32(offset);
    return this;
  }

  private open(code: number): Label {
    this.out.byte(code);
    this.out.byte(0x40); // block type: no parameters, no results
    return { depth: this.depth++ };
  }
}

/** A module of functions over one exported memory ("memory"), with an optional data segment. */
export class ModuleBuilder {
  private readonly funcs: FuncRef[] = [];
  private readonly names: (string | undefined)[] = [];
  private readonly bodies: (Code | undefined)[] = [];
  private data: { offset: number; bytes: Uint8Array } | undefined;
  private readonly pages: number;

  constructor(memoryPages: number) {
    this.pages = memoryPages;
  }

  /** A function, exported under `exportName` if given; its body comes with define(). */
  declare(params: readonly ValType[], results: readonly ValType[], exportName?: string): FuncRef {
    const f = { index: this.funcs.length, params, results };
    this.funcs.push(f);
    this.names.push(exportName);
    this.bodies.push(undefined);
    return f;
  }

  define(f: FuncRef, body: (c: Code) => void): void {
    const c = new Code(f.params);
    body(c);
    this.bodies[f.index] = c;
  }

  /** Bytes the memory holds from instantiation on. */
  dataSegment(offset: number, bytes: Uint8Array): void {
    this.data = { offset, bytes };
  }

  encode(): Uint8Array {
    const out = new Bytes();
    out.bytes(Uint8Array.of(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00)); // "\0asm", version 1
    const section = (id: number, body: Bytes) => {
      out.byte(id);
      out.sized(body);
    };
    const types = new Bytes(); // one signature per function: duplicates are allowed
    const funcs = new Bytes();
    const exps = new Bytes();
    const code = new Bytes();
    types.u32(this.funcs.length);
    funcs.u32(this.funcs.length);
    code.u32(this.funcs.length);
    let exported = 1;
    for (const f of this.funcs) {
      types.byte(0x60);
      types.u32(f.params.length);
      for (const p of f.params) types.byte(TYPE_CODE[p]);
      types.u32(f.results.length);
      for (const r of f.results) types.byte(TYPE_CODE[r]);
      funcs.u32(f.index);
      if (this.names[f.index] !== undefined) exported++;
      const body = this.bodies[f.index];
      if (body === undefined) throw new Error(`wasm-asm: function ${f.index} has no body`);
      code.sized(body.encode());
    }
    exps.u32(exported);
    name(exps, 'memory');
    exps.byte(0x02); // a memory,
    exps.byte(0x00); // the first
    for (const f of this.funcs) {
      const n = this.names[f.index];
      if (n === undefined) continue;
      name(exps, n);
      exps.byte(0x00); // a function
      exps.u32(f.index);
    }
    const mem = new Bytes();
    mem.byte(1); // one memory, with a minimum and no maximum
    mem.byte(0x00);
    mem.u32(this.pages);
    section(1, types);
    section(3, funcs);
    section(5, mem);
    section(7, exps);
    section(10, code);
    if (this.data !== undefined) {
      const data = new Bytes();
      data.byte(1); // one segment, active in memory 0 at a constant offset
      data.byte(0x00);
      data.byte(OPS.i32.const);
      data.s32(this.data.offset);
      data.byte(0x0b);
      data.u32(this.data.bytes.length);
      data.bytes(this.data.bytes);
      section(11, data);
    }
    return out.buf.slice(0, out.n);
  }
}

function name(out: Bytes, text: string): void {
  out.u32(text.length);
  for (let i = 0; i < text.length; i++) out.byte(text.charCodeAt(i) & 0x7f); // our names are ASCII
}
