/**
 * A Python pickle reader that never executes anything: it walks the opcodes (protocols 0 to 5) with a
 * symbolic stack, so it can say which globals a pickle would import and call, and rebuild the plain
 * structure of a PyTorch `data.pkl` (tensor names, dtypes, shapes) without running Python.
 *
 * Large byte payloads (tensor data pickled in band) are skipped, not read, so a multi-gigabyte pickle
 * is walked at the speed of its opcodes.
 */

/** Random access to the bytes of one pickle stream (a file, a zip member, a buffer). */
export interface ByteSource {
  size: number;
  read(offset: number, length: number): Promise<Buffer>;
}

export function bufferSource(buf: Buffer): ByteSource {
  return { size: buf.length, read: (offset, length) => Promise.resolve(buf.subarray(offset, Math.min(buf.length, offset + length))) };
}

/** A global the pickle imports: `module.name`, at byte `offset`, by which opcode. */
export interface PickleGlobal {
  module: string;
  name: string;
  offset: number;
  opcode: 'GLOBAL' | 'INST' | 'STACK_GLOBAL';
}

/** A symbolic value on the pickle stack. */
export type PValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | { t: 'bytes'; length: number }
  | { t: 'tuple'; items: PValue[] }
  | { t: 'list'; items: PValue[] }
  | { t: 'dict'; entries: [PValue, PValue][] }
  | { t: 'global'; module: string; name: string }
  | { t: 'call'; fn: PValue; args: PValue; entries: [PValue, PValue][]; state?: PValue }
  | { t: 'persid'; id: PValue }
  | { t: 'unknown'; why: string };

export interface PickleWalk {
  globals: PickleGlobal[];
  /** Problems that stop the walk from knowing what the pickle does (fail closed). */
  problems: { offset: number; message: string }[];
  /** The value left by STOP, when the walk reached it. */
  root: PValue | undefined;
  /** Bytes from the start of the source to just past STOP (or where the walk stopped). */
  end: number;
  opcodes: number;
  protocol: number;
}

const MAX_STRING = 1 << 16;
const WINDOW = 1 << 20;
const MAX_PROBLEMS = 50;

class Truncated extends Error {}

/** Walks one pickle stream from `start`; stops at STOP, at the end of the source or at a malformed opcode. */
export async function walkPickle(src: ByteSource, start = 0): Promise<PickleWalk> {
  const w = new Walker(src, start);
  await w.run();
  return { globals: w.globals, problems: w.problems, root: w.root, end: w.pos, opcodes: w.opcodes, protocol: w.protocol };
}

class Walker {
  globals: PickleGlobal[] = [];
  problems: { offset: number; message: string }[] = [];
  root: PValue | undefined;
  opcodes = 0;
  protocol = 0;
  pos: number;
  private buf: Buffer = Buffer.alloc(0);
  private bufStart = 0;
  private stack: PValue[] = [];
  private marks: PValue[][] = [];
  private memo = new Map<number, PValue>();
  private done = false;

  constructor(
    private readonly src: ByteSource,
    start: number,
  ) {
    this.pos = start;
  }

  async run(): Promise<void> {
    while (!this.done) {
      if (this.pos >= this.src.size) {
        this.problem(this.pos, 'the pickle ends without a STOP opcode (truncated)');
        return;
      }
      const at = this.pos;
      try {
        this.step();
      } catch (err) {
        if (err instanceof Truncated) {
          this.pos = at;
          if (!(await this.refill(Number(err.message) || 1))) {
            this.problem(at, 'the pickle is truncated inside an opcode');
            return;
          }
          continue;
        }
        this.problem(at, (err as Error).message);
        return;
      }
    }
  }

  /** Loads a window at `pos` holding at least `need` bytes; false when the source has too few. */
  private async refill(need: number): Promise<boolean> {
    if (this.pos + need > this.src.size) return false;
    this.buf = await this.src.read(this.pos, Math.max(need, WINDOW));
    this.bufStart = this.pos;
    return this.buf.length >= need;
  }

  private problem(offset: number, message: string): void {
    if (this.problems.length < MAX_PROBLEMS) this.problems.push({ offset, message });
  }

  private bytes(n: number): Buffer {
    const i = this.pos - this.bufStart;
    if (i < 0 || i + n > this.buf.length) throw new Truncated(String(n));
    this.pos += n;
    return this.buf.subarray(i, i + n);
  }
  private u8(): number {
    return this.bytes(1)[0]!;
  }
  private line(): string {
    const i = this.pos - this.bufStart;
    const nl = i >= 0 ? this.buf.indexOf(0x0a, i) : -1;
    if (nl < 0) {
      if (this.buf.length - Math.max(i, 0) > MAX_STRING) throw new Error('a text opcode has a line longer than 64 KiB');
      throw new Truncated(String(this.buf.length - Math.max(i, 0) + WINDOW));
    }
    const s = this.buf.toString('latin1', i, nl);
    this.pos += nl - i + 1;
    return s;
  }
  /** A length-prefixed payload: materialised when short, skipped when long. */
  private payload(len: number, kind: 'str' | 'bytes'): PValue {
    if (!Number.isSafeInteger(len) || len < 0) throw new Error(`a payload length ${len} is invalid`);
    if (this.pos + len > this.src.size) throw new Error(`a ${len}-byte payload runs past the end of the data (truncated or lying header)`);
    if (len <= MAX_STRING) {
      const b = this.bytes(len);
      return kind === 'str' ? b.toString('utf8') : { t: 'bytes', length: len };
    }
    this.pos += len;
    return kind === 'str' ? { t: 'unknown', why: 'long string' } : { t: 'bytes', length: len };
  }

  private pop(): PValue {
    if (this.stack.length === 0) throw new Error('stack underflow: the pickle is malformed');
    return this.stack.pop()!;
  }
  private popMark(): PValue[] {
    const items = this.stack;
    const prev = this.marks.pop();
    if (!prev) throw new Error('no MARK on the stack: the pickle is malformed');
    this.stack = prev;
    return items;
  }
  private top(): PValue {
    if (this.stack.length === 0) throw new Error('stack underflow: the pickle is malformed');
    return this.stack[this.stack.length - 1]!;
  }
  private global(module: string, name: string, offset: number, opcode: PickleGlobal['opcode']): PValue {
    this.globals.push({ module, name, offset, opcode });
    return { t: 'global', module, name };
  }
  private setItems(target: PValue, kv: PValue[]): void {
    const entries = typeof target === 'object' && target && 'entries' in target ? target.entries : undefined;
    for (let i = 0; i + 1 < kv.length; i += 2) entries?.push([kv[i]!, kv[i + 1]!]);
  }

  private step(): void {
    const at = this.pos;
    const op = this.u8();
    this.opcodes++;
    switch (op) {
      case 0x80: // PROTO
        this.protocol = this.u8();
        if (this.protocol > 5) throw new Error(`unknown pickle protocol ${this.protocol}`);
        return;
      case 0x95: // FRAME
        this.bytes(8);
        return;
      case 0x2e: // STOP
        this.root = this.stack.length ? this.stack[this.stack.length - 1] : undefined;
        this.done = true;
        return;
      case 0x28: // MARK
        this.marks.push(this.stack);
        this.stack = [];
        return;
      case 0x30: // POP
        if (this.stack.length) this.stack.pop();
        else this.popMark();
        return;
      case 0x31: // POP_MARK
        this.popMark();
        return;
      case 0x32: // DUP
        this.stack.push(this.top());
        return;
      case 0x46: // FLOAT
        this.stack.push(Number(this.line()));
        return;
      case 0x49: {
        // INT (also True/False as 01/00)
        const s = this.line();
        this.stack.push(s === '01' ? true : s === '00' ? false : Number.parseInt(s, 10));
        return;
      }
      case 0x4a: // BININT
        this.stack.push(this.bytes(4).readInt32LE(0));
        return;
      case 0x4b: // BININT1
        this.stack.push(this.u8());
        return;
      case 0x4d: // BININT2
        this.stack.push(this.bytes(2).readUInt16LE(0));
        return;
      case 0x4c: // LONG
        this.stack.push(Number.parseInt(this.line().replace(/L$/, ''), 10));
        return;
      case 0x8a: {
        // LONG1
        const n = this.u8();
        this.stack.push(longLE(this.bytes(n)));
        return;
      }
      case 0x8b: {
        // LONG4
        const n = this.bytes(4).readInt32LE(0);
        if (n < 0 || n > MAX_STRING) throw new Error(`LONG4 of ${n} bytes is not plausible`);
        this.stack.push(longLE(this.bytes(n)));
        return;
      }
      case 0x47: // BINFLOAT
        this.stack.push(this.bytes(8).readDoubleBE(0));
        return;
      case 0x4e: // NONE
        this.stack.push(null);
        return;
      case 0x88:
        this.stack.push(true);
        return;
      case 0x89:
        this.stack.push(false);
        return;
      case 0x53: // STRING 'text'
        this.stack.push(unquote(this.line()));
        return;
      case 0x54: // BINSTRING
        this.stack.push(this.payload(this.bytes(4).readInt32LE(0), 'str'));
        return;
      case 0x55: // SHORT_BINSTRING
        this.stack.push(this.payload(this.u8(), 'str'));
        return;
      case 0x56: // UNICODE (raw-unicode-escape line)
        this.stack.push(this.line());
        return;
      case 0x58: // BINUNICODE
        this.stack.push(this.payload(this.bytes(4).readUInt32LE(0), 'str'));
        return;
      case 0x8c: // SHORT_BINUNICODE
        this.stack.push(this.payload(this.u8(), 'str'));
        return;
      case 0x8d: // BINUNICODE8
        this.stack.push(this.payload(Number(this.bytes(8).readBigUInt64LE(0)), 'str'));
        return;
      case 0x42: // BINBYTES
        this.stack.push(this.payload(this.bytes(4).readUInt32LE(0), 'bytes'));
        return;
      case 0x43: // SHORT_BINBYTES
        this.stack.push(this.payload(this.u8(), 'bytes'));
        return;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        this.stack.push(this.payload(Number(this.bytes(8).readBigUInt64LE(0)), 'bytes'));
        return;
      case 0x97: // NEXT_BUFFER
        this.stack.push({ t: 'unknown', why: 'out-of-band buffer' });
        return;
      case 0x98: // READONLY_BUFFER
        return;
      case 0x29: // EMPTY_TUPLE
        this.stack.push({ t: 'tuple', items: [] });
        return;
      case 0x74: // TUPLE
        {
          const items = this.popMark();
          this.stack.push({ t: 'tuple', items });
        }
        return;
      case 0x85:
        this.stack.push({ t: 'tuple', items: [this.pop()] });
        return;
      case 0x86: {
        const b = this.pop();
        this.stack.push({ t: 'tuple', items: [this.pop(), b] });
        return;
      }
      case 0x87: {
        const c = this.pop();
        const b = this.pop();
        this.stack.push({ t: 'tuple', items: [this.pop(), b, c] });
        return;
      }
      case 0x5d: // EMPTY_LIST
        this.stack.push({ t: 'list', items: [] });
        return;
      case 0x6c: // LIST
        {
          const items = this.popMark();
          this.stack.push({ t: 'list', items });
        }
        return;
      case 0x61: {
        // APPEND
        const v = this.pop();
        const l = this.top();
        if (typeof l === 'object' && l && l.t === 'list') l.items.push(v);
        return;
      }
      case 0x65: {
        // APPENDS
        const items = this.popMark();
        const l = this.top();
        if (typeof l === 'object' && l && l.t === 'list') l.items.push(...items);
        return;
      }
      case 0x7d: // EMPTY_DICT
        this.stack.push({ t: 'dict', entries: [] });
        return;
      case 0x64: {
        // DICT
        const d: PValue = { t: 'dict', entries: [] };
        this.setItems(d, this.popMark());
        this.stack.push(d);
        return;
      }
      case 0x73: {
        // SETITEM
        const v = this.pop();
        const k = this.pop();
        this.setItems(this.top(), [k, v]);
        return;
      }
      case 0x75: {
        // SETITEMS
        const kv = this.popMark();
        this.setItems(this.top(), kv);
        return;
      }
      case 0x8f: // EMPTY_SET
        this.stack.push({ t: 'list', items: [] });
        return;
      case 0x90: // ADDITEMS
        this.popMark();
        return;
      case 0x91: // FROZENSET
        {
          const items = this.popMark();
          this.stack.push({ t: 'list', items });
        }
        return;
      case 0x63: {
        // GLOBAL module\nname\n
        const module = this.line();
        const name = this.line();
        this.stack.push(this.global(module, name, at, 'GLOBAL'));
        return;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = this.pop();
        const module = this.pop();
        if (typeof module !== 'string' || typeof name !== 'string') {
          this.problem(at, 'STACK_GLOBAL takes a module or name that is not a plain string, so what it imports cannot be known');
          this.stack.push(this.global(typeof module === 'string' ? module : '?', typeof name === 'string' ? name : '?', at, 'STACK_GLOBAL'));
          return;
        }
        this.stack.push(this.global(module, name, at, 'STACK_GLOBAL'));
        return;
      }
      case 0x69: {
        // INST module\nname\n : calls the class with the marked items
        const module = this.line();
        const name = this.line();
        const args = this.popMark();
        this.stack.push({ t: 'call', fn: this.global(module, name, at, 'INST'), args: { t: 'tuple', items: args }, entries: [] });
        return;
      }
      case 0x6f: {
        // OBJ
        const items = this.popMark();
        const [fn, ...args] = items;
        this.stack.push({ t: 'call', fn: fn ?? null, args: { t: 'tuple', items: args }, entries: [] });
        return;
      }
      case 0x52: // REDUCE
      case 0x81: {
        // NEWOBJ
        const args = this.pop();
        const fn = this.pop();
        this.stack.push({ t: 'call', fn, args, entries: [] });
        return;
      }
      case 0x92: {
        // NEWOBJ_EX
        this.pop();
        const args = this.pop();
        const fn = this.pop();
        this.stack.push({ t: 'call', fn, args, entries: [] });
        return;
      }
      case 0x62: {
        // BUILD
        const state = this.pop();
        const obj = this.top();
        if (typeof obj === 'object' && obj && obj.t === 'call') obj.state = state;
        return;
      }
      case 0x82:
      case 0x83:
      case 0x84: {
        // EXT1/2/4: a global through the copyreg extension registry, which cannot be known here
        this.bytes(op === 0x82 ? 1 : op === 0x83 ? 2 : 4);
        this.problem(at, 'an EXT opcode imports a global through the copyreg extension registry, which cannot be checked');
        this.stack.push({ t: 'unknown', why: 'extension global' });
        return;
      }
      case 0x50: // PERSID
        this.stack.push({ t: 'persid', id: this.line() });
        return;
      case 0x51: // BINPERSID
        this.stack.push({ t: 'persid', id: this.pop() });
        return;
      case 0x70: // PUT
        this.memo.set(Number.parseInt(this.line(), 10), this.top());
        return;
      case 0x71: // BINPUT
        this.memo.set(this.u8(), this.top());
        return;
      case 0x72: // LONG_BINPUT
        this.memo.set(this.bytes(4).readUInt32LE(0), this.top());
        return;
      case 0x94: // MEMOIZE
        this.memo.set(this.memo.size, this.top());
        return;
      case 0x67: // GET
        this.stack.push(this.memoGet(Number.parseInt(this.line(), 10)));
        return;
      case 0x68: // BINGET
        this.stack.push(this.memoGet(this.u8()));
        return;
      case 0x6a: // LONG_BINGET
        this.stack.push(this.memoGet(this.bytes(4).readUInt32LE(0)));
        return;
      default:
        throw new Error(`unknown pickle opcode 0x${op.toString(16).padStart(2, '0')}: not a pickle, or a corrupt one`);
    }
  }

  private memoGet(i: number): PValue {
    const v = this.memo.get(i);
    if (v === undefined) throw new Error(`memo entry ${i} is read before it is written: the pickle is malformed`);
    return v;
  }
}

function longLE(b: Buffer): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function unquote(s: string): string {
  const m = /^(['"])(.*)\1$/s.exec(s);
  return m ? m[2]! : s;
}

/** True when the bytes look like the start of a pickle (a PROTO opcode, or a protocol 0 opener). */
export function looksLikePickle(head: Buffer): boolean {
  if (head.length >= 2 && head[0] === 0x80 && head[1]! <= 5) return true;
  if (head.length >= 2 && head[0] === 0x63 && /^c[A-Za-z_][\w.]*\n/.test(head.toString('latin1', 0, Math.min(head.length, 64)))) return true;
  if (head.length >= 2 && head[0] === 0x28 && [0x64, 0x6c, 0x74, 0x63, 0x69, 0x53, 0x56, 0x49, 0x4c, 0x46].includes(head[1]!)) return true;
  return false;
}

/** One tensor of a PyTorch checkpoint, as the pickle describes it. */
export interface PickledTensor {
  name: string;
  dtype: string;
  shape: number[];
  storage: string;
}

const STORAGE_DTYPES: Record<string, string> = {
  FloatStorage: 'F32',
  DoubleStorage: 'F64',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
  ComplexFloatStorage: 'C64',
  ComplexDoubleStorage: 'C128',
};

/** A dict key as text: strings and numbers as they are, anything else by its kind. */
function keyText(k: PValue): string {
  if (typeof k === 'object' && k !== null) return `<${k.t}>`;
  return String(k);
}

/** Lists the tensors of a walked `data.pkl` (a state dict, possibly nested in a dict), without executing it. */
export function pickledTensors(root: PValue | undefined): PickledTensor[] {
  const out: PickledTensor[] = [];
  const visit = (v: PValue | undefined, name: string, depth: number): void => {
    if (v === undefined || v === null || typeof v !== 'object' || depth > 12) return;
    if (v.t === 'call') {
      const fn = v.fn;
      if (typeof fn === 'object' && fn && fn.t === 'global' && fn.module === 'torch._utils' && /^_rebuild_(tensor|tensor_v2|parameter|parameter_with_state)$/.test(fn.name)) {
        const args = v.args && typeof v.args === 'object' && v.args.t === 'tuple' ? v.args.items : [];
        if (fn.name.startsWith('_rebuild_parameter')) return visit(args[0], name, depth + 1);
        const pid = args[0];
        const shape = args[2];
        let dtype = 'unknown';
        let storage = '';
        if (pid && typeof pid === 'object' && pid.t === 'persid' && pid.id && typeof pid.id === 'object' && pid.id.t === 'tuple') {
          const [, cls, key] = pid.id.items;
          if (cls && typeof cls === 'object' && cls.t === 'global') dtype = STORAGE_DTYPES[cls.name] ?? cls.name;
          storage = keyText(key ?? '');
        }
        const dims = shape && typeof shape === 'object' && shape.t === 'tuple' ? shape.items.map((d) => Number(d)) : [];
        out.push({ name, dtype, shape: dims, storage });
        return;
      }
      for (const [k, val] of v.entries) visit(val, name ? `${name}.${keyText(k)}` : keyText(k), depth + 1);
      return;
    }
    if (v.t === 'dict') for (const [k, val] of v.entries) visit(val, name ? `${name}.${keyText(k)}` : keyText(k), depth + 1);
    else if (v.t === 'list' || v.t === 'tuple') v.items.forEach((item, i) => visit(item, name ? `${name}.${i}` : String(i), depth + 1));
  };
  visit(root, '', 0);
  return out;
}
