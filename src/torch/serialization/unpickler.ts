/**
 * A restricted unpickler for the binary pickle opcodes (protocols 2-5) that `torch.save` emits.
 * Nothing is ever imported or executed: GLOBAL / STACK_GLOBAL names go to `resolveGlobal`, which admits
 * an allowlist and returns a JavaScript stand-in; any other name, and any opcode outside the supported
 * set, is refused with an Error naming the pickle, the byte position and the offending name or opcode.
 */
import {
  PickleDict,
  describePickleValue,
  isPickleCallable,
  isPickleStateful,
  type PickleCallable,
} from './pickle-values.ts';

export interface UnpicklerOptions {
  /** Names the pickle in error messages, e.g. `model.pt/archive/data.pkl`. */
  source: string;
  /** Returns the stand-in for an allowed global, or undefined to refuse it. */
  resolveGlobal(module: string, name: string): PickleCallable | undefined;
  /** Resolves a BINPERSID persistent id (torch: a storage reference). */
  persistentLoad(pid: unknown): unknown;
}

const HIGHEST_PROTOCOL = 5;

/** Every pickle opcode by byte, so refusals can say which opcode they met. */
const OPCODE_NAMES: Record<number, string> = {
  0x28: 'MARK',
  0x2e: 'STOP',
  0x30: 'POP',
  0x31: 'POP_MARK',
  0x32: 'DUP',
  0x46: 'FLOAT',
  0x49: 'INT',
  0x4a: 'BININT',
  0x4b: 'BININT1',
  0x4c: 'LONG',
  0x4d: 'BININT2',
  0x4e: 'NONE',
  0x50: 'PERSID',
  0x51: 'BINPERSID',
  0x52: 'REDUCE',
  0x53: 'STRING',
  0x54: 'BINSTRING',
  0x55: 'SHORT_BINSTRING',
  0x56: 'UNICODE',
  0x58: 'BINUNICODE',
  0x61: 'APPEND',
  0x62: 'BUILD',
  0x63: 'GLOBAL',
  0x64: 'DICT',
  0x7d: 'EMPTY_DICT',
  0x65: 'APPENDS',
  0x67: 'GET',
  0x68: 'BINGET',
  0x69: 'INST',
  0x6a: 'LONG_BINGET',
  0x6c: 'LIST',
  0x5d: 'EMPTY_LIST',
  0x6f: 'OBJ',
  0x70: 'PUT',
  0x71: 'BINPUT',
  0x72: 'LONG_BINPUT',
  0x73: 'SETITEM',
  0x74: 'TUPLE',
  0x29: 'EMPTY_TUPLE',
  0x75: 'SETITEMS',
  0x47: 'BINFLOAT',
  0x80: 'PROTO',
  0x81: 'NEWOBJ',
  0x82: 'EXT1',
  0x83: 'EXT2',
  0x84: 'EXT4',
  0x85: 'TUPLE1',
  0x86: 'TUPLE2',
  0x87: 'TUPLE3',
  0x88: 'NEWTRUE',
  0x89: 'NEWFALSE',
  0x8a: 'LONG1',
  0x8b: 'LONG4',
  0x42: 'BINBYTES',
  0x43: 'SHORT_BINBYTES',
  0x8c: 'SHORT_BINUNICODE',
  0x8d: 'BINUNICODE8',
  0x8e: 'BINBYTES8',
  0x8f: 'EMPTY_SET',
  0x90: 'ADDITEMS',
  0x91: 'FROZENSET',
  0x92: 'NEWOBJ_EX',
  0x93: 'STACK_GLOBAL',
  0x94: 'MEMOIZE',
  0x95: 'FRAME',
  0x96: 'BYTEARRAY8',
  0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
};

/** LONG4 integers longer than this are refused: no checkpoint needs them and decoding is quadratic. */
const MAX_LONG_BYTES = 1024;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Runs the pickle in `bytes` and returns the value STOP leaves (dicts as PickleDict, see pickle-values.ts). */
export function unpickle(bytes: Uint8Array, options: UnpicklerOptions): unknown {
  return new RestrictedUnpickler(bytes, options).run();
}

class RestrictedUnpickler {
  private readonly view: DataView;
  private position = 0;
  /** Byte offset of the opcode being executed, for error messages. */
  private opcodeStart = 0;
  private stack: unknown[] = [];
  private readonly marks: number[] = [];
  private readonly memo = new Map<number, unknown>();
  /** Tuples are arrays too; this tells them from lists (immutable, usable as dict keys). */
  private readonly tuples = new WeakSet<unknown[]>();

  constructor(
    private readonly bytes: Uint8Array,
    private readonly options: UnpicklerOptions,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private fail(what: string): never {
    const where =
      this.opcodeStart < this.bytes.length
        ? `at byte ${this.opcodeStart} (${OPCODE_NAMES[this.bytes[this.opcodeStart]] ?? 'unknown opcode'})`
        : `at its end (byte ${this.bytes.length})`;
    throw new Error(`pickle ${this.options.source}: ${where}: ${what}`);
  }

  private take(count: number): number {
    if (count > this.bytes.length - this.position) {
      this.fail(
        `truncated: needs ${count} more bytes at byte ${this.position} but the pickle is ${this.bytes.length} bytes long`,
      );
    }
    const start = this.position;
    this.position += count;
    return start;
  }

  private u8(): number {
    return this.view.getUint8(this.take(1));
  }
  private u16(): number {
    return this.view.getUint16(this.take(2), true);
  }
  private u32(): number {
    return this.view.getUint32(this.take(4), true);
  }
  private i32(): number {
    return this.view.getInt32(this.take(4), true);
  }
  private u64(): number {
    const value = this.view.getBigUint64(this.take(8), true);
    if (value > BigInt(this.bytes.length)) this.fail(`length ${value} exceeds the ${this.bytes.length}-byte pickle`);
    return Number(value);
  }

  private readBytes(length: number): Uint8Array {
    const start = this.take(length);
    return new Uint8Array(this.bytes.subarray(start, start + length)); // a copy, even when given a Buffer
  }

  private readText(length: number): string {
    const start = this.take(length);
    try {
      return utf8.decode(this.bytes.subarray(start, start + length));
    } catch {
      return this.fail(`string of ${length} bytes is not valid UTF-8`);
    }
  }

  private readLine(): string {
    const end = this.bytes.indexOf(0x0a, this.position);
    if (end < 0) this.fail('truncated: a newline-terminated name has no newline');
    const text = this.readText(end - this.position);
    this.position += 1;
    return text;
  }

  /** Little-endian two's-complement integer; a number when it is exactly representable, else a bigint. */
  private readLong(length: number): number | bigint {
    const start = this.take(length);
    if (length === 0) return 0;
    let value = 0n;
    for (let i = length - 1; i >= 0; i--) value = (value << 8n) | BigInt(this.bytes[start + i]);
    if (this.bytes[start + length - 1] & 0x80) value -= 1n << BigInt(8 * length);
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  }

  private pop(): unknown {
    const floor = this.marks.length ? this.marks[this.marks.length - 1] : 0;
    if (this.stack.length <= floor) this.fail('stack underflow (malformed pickle)');
    return this.stack.pop();
  }

  private top(): unknown {
    if (this.stack.length === 0) this.fail('stack underflow (malformed pickle)');
    return this.stack[this.stack.length - 1];
  }

  private popMark(): unknown[] {
    const mark = this.marks.pop();
    if (mark === undefined) this.fail('no MARK to pop to (malformed pickle)');
    return this.stack.splice(mark);
  }

  private tuple(items: unknown[]): unknown[] {
    this.tuples.add(items);
    return items;
  }

  private memoGet(index: number): unknown {
    if (!this.memo.has(index)) this.fail(`memo slot ${index} was never stored`);
    return this.memo.get(index);
  }

  private global(module: string, name: string): PickleCallable {
    const resolved = this.options.resolveGlobal(module, name);
    if (!resolved) {
      this.fail(
        `global '${module}.${name}' is not allowed; this reader admits only the globals a state dict needs and never imports or runs code`,
      );
    }
    return resolved;
  }

  private callable(value: unknown, opcode: string): PickleCallable {
    if (!isPickleCallable(value)) this.fail(`${opcode} needs a callable global, got ${describePickleValue(value)}`);
    return value;
  }

  private invoke(target: PickleCallable, args: unknown): unknown {
    if (!Array.isArray(args))
      this.fail(`${target.qualifiedName} needs an argument tuple, got ${describePickleValue(args)}`);
    try {
      return target.call(args);
    } catch (error) {
      return this.fail(`${target.qualifiedName}: ${(error as Error).message}`);
    }
  }

  private dictKey(key: unknown): unknown {
    if ((Array.isArray(key) && !this.tuples.has(key)) || key instanceof PickleDict) {
      this.fail(`unhashable dict key: ${describePickleValue(key)}`);
    }
    return key;
  }

  private asDict(value: unknown, opcode: string): PickleDict {
    if (!(value instanceof PickleDict)) this.fail(`${opcode} needs a dict, got ${describePickleValue(value)}`);
    return value;
  }

  private asList(value: unknown, opcode: string): unknown[] {
    if (!Array.isArray(value) || this.tuples.has(value))
      this.fail(`${opcode} needs a list, got ${describePickleValue(value)}`);
    return value;
  }

  private setItems(dict: PickleDict, items: unknown[]): void {
    if (items.length % 2 !== 0) this.fail(`SETITEMS has an odd number (${items.length}) of keys and values`);
    for (let i = 0; i < items.length; i += 2) dict.entries.set(this.dictKey(items[i]), items[i + 1]);
  }

  /** BUILD on a dict sets instance attributes (a state dict's `_metadata`); objects a reader made take their state as data. */
  private build(target: unknown, state: unknown): void {
    if (isPickleStateful(target)) {
      try {
        target.setPickleState(state);
      } catch (error) {
        this.fail((error as Error).message);
      }
      return;
    }
    if (!(target instanceof PickleDict)) this.fail(`BUILD on ${describePickleValue(target)} is not supported`);
    if (state === null) return;
    const attributes = this.asDict(state, 'BUILD state');
    target.attributes ??= new Map();
    for (const [name, value] of attributes.entries) {
      if (typeof name !== 'string')
        this.fail(`BUILD attribute name must be a string, got ${describePickleValue(name)}`);
      target.attributes.set(name, value);
    }
  }

  run(): unknown {
    const s = this.stack;
    while (this.position < this.bytes.length) {
      this.opcodeStart = this.position;
      const opcode = this.bytes[this.position++];
      switch (opcode) {
        case 0x80: {
          // PROTO
          const protocol = this.u8();
          if (protocol > HIGHEST_PROTOCOL)
            this.fail(`pickle protocol ${protocol} is newer than the supported ${HIGHEST_PROTOCOL}`);
          break;
        }
        case 0x95:
          this.u64();
          break; // FRAME: framing only groups opcodes; the length needs no action
        case 0x2e: {
          // STOP
          const result = this.pop();
          return result;
        }
        case 0x28:
          this.marks.push(s.length);
          break; // MARK
        case 0x30:
          this.pop();
          break; // POP
        case 0x31:
          this.popMark();
          break; // POP_MARK
        case 0x32:
          s.push(this.top());
          break; // DUP
        case 0x4e:
          s.push(null);
          break; // NONE
        case 0x88:
          s.push(true);
          break; // NEWTRUE
        case 0x89:
          s.push(false);
          break; // NEWFALSE
        case 0x4a:
          s.push(this.i32());
          break; // BININT
        case 0x4b:
          s.push(this.u8());
          break; // BININT1
        case 0x4d:
          s.push(this.u16());
          break; // BININT2
        case 0x8a:
          s.push(this.readLong(this.u8()));
          break; // LONG1
        case 0x8b: {
          // LONG4
          const length = this.i32();
          if (length < 0 || length > MAX_LONG_BYTES)
            this.fail(`LONG4 length ${length} is outside 0..${MAX_LONG_BYTES}`);
          s.push(this.readLong(length));
          break;
        }
        case 0x47:
          s.push(this.view.getFloat64(this.take(8), false));
          break; // BINFLOAT (big-endian)
        case 0x58:
          s.push(this.readText(this.u32()));
          break; // BINUNICODE
        case 0x8c:
          s.push(this.readText(this.u8()));
          break; // SHORT_BINUNICODE
        case 0x8d:
          s.push(this.readText(this.u64()));
          break; // BINUNICODE8
        case 0x43:
          s.push(this.readBytes(this.u8()));
          break; // SHORT_BINBYTES
        case 0x42:
          s.push(this.readBytes(this.u32()));
          break; // BINBYTES
        case 0x8e:
          s.push(this.readBytes(this.u64()));
          break; // BINBYTES8
        case 0x7d:
          s.push(new PickleDict());
          break; // EMPTY_DICT
        case 0x5d:
          s.push([]);
          break; // EMPTY_LIST
        case 0x29:
          s.push(this.tuple([]));
          break; // EMPTY_TUPLE
        case 0x74:
          s.push(this.tuple(this.popMark()));
          break; // TUPLE
        case 0x85:
          s.push(this.tuple([this.pop()]));
          break; // TUPLE1
        case 0x86: {
          // TUPLE2
          const b = this.pop();
          const a = this.pop();
          s.push(this.tuple([a, b]));
          break;
        }
        case 0x87: {
          // TUPLE3
          const c = this.pop();
          const b = this.pop();
          const a = this.pop();
          s.push(this.tuple([a, b, c]));
          break;
        }
        case 0x6c:
          s.push(this.popMark());
          break; // LIST
        case 0x64: {
          // DICT
          const dict = new PickleDict();
          this.setItems(dict, this.popMark());
          s.push(dict);
          break;
        }
        case 0x73: {
          // SETITEM
          const value = this.pop();
          const key = this.pop();
          this.asDict(this.top(), 'SETITEM').entries.set(this.dictKey(key), value);
          break;
        }
        case 0x75: {
          // SETITEMS
          const items = this.popMark();
          this.setItems(this.asDict(this.top(), 'SETITEMS'), items);
          break;
        }
        case 0x61: {
          // APPEND
          const value = this.pop();
          this.asList(this.top(), 'APPEND').push(value);
          break;
        }
        case 0x65: {
          // APPENDS
          const items = this.popMark();
          const list = this.asList(this.top(), 'APPENDS');
          for (const item of items) list.push(item);
          break;
        }
        case 0x71:
          this.memo.set(this.u8(), this.top());
          break; // BINPUT
        case 0x72:
          this.memo.set(this.u32(), this.top());
          break; // LONG_BINPUT
        case 0x94:
          this.memo.set(this.memo.size, this.top());
          break; // MEMOIZE
        case 0x68:
          s.push(this.memoGet(this.u8()));
          break; // BINGET
        case 0x6a:
          s.push(this.memoGet(this.u32()));
          break; // LONG_BINGET
        case 0x63: {
          // GLOBAL
          const module = this.readLine();
          const name = this.readLine();
          s.push(this.global(module, name));
          break;
        }
        case 0x93: {
          // STACK_GLOBAL
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string') {
            this.fail(
              `STACK_GLOBAL needs two strings, got ${describePickleValue(module)} and ${describePickleValue(name)}`,
            );
          }
          s.push(this.global(module, name));
          break;
        }
        case 0x52: {
          // REDUCE
          const args = this.pop();
          const target = this.callable(this.pop(), 'REDUCE');
          s.push(this.invoke(target, args));
          break;
        }
        case 0x81: {
          // NEWOBJ
          const args = this.pop();
          const target = this.callable(this.pop(), 'NEWOBJ');
          if (!target.isClass) this.fail(`NEWOBJ needs a class, but ${target.qualifiedName} is a function`);
          s.push(this.invoke(target, args));
          break;
        }
        case 0x62: {
          // BUILD
          const state = this.pop();
          this.build(this.top(), state);
          break;
        }
        case 0x51: {
          // BINPERSID
          const pid = this.pop();
          try {
            s.push(this.options.persistentLoad(pid));
          } catch (error) {
            this.fail(`storage reference (persistent id): ${(error as Error).message}`);
          }
          break;
        }
        default: {
          const name = OPCODE_NAMES[opcode];
          const shown = `0x${opcode.toString(16).padStart(2, '0')}`;
          this.fail(
            name
              ? `opcode ${name} (${shown}) is not supported by this restricted reader`
              : `unknown opcode byte ${shown}`,
          );
        }
      }
    }
    this.opcodeStart = this.bytes.length;
    return this.fail('truncated: the pickle ends without a STOP opcode');
  }
}
