/**
 * A minimal WebAssembly binary writer: just enough to express the SIMD resampling kernels in
 * `simd-kernels.ts` without a toolchain (no emscripten or wat2wasm on the build machines).
 * Functions take i32 parameters and return nothing; locals are i32 or v128.
 */

export type ValueType = 'i32' | 'v128';
const VALUE_TYPE_CODE: Record<ValueType, number> = { i32: 0x7f, v128: 0x7b };

export function unsignedLeb(value: number): number[] {
  const out: number[] = [];
  let v = value >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

export function signedLeb(value: number): number[] {
  const out: number[] = [];
  let v = value | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

function encodeName(name: string): number[] {
  const bytes = [...new TextEncoder().encode(name)];
  return [...unsignedLeb(bytes.length), ...bytes];
}

function section(id: number, body: number[]): number[] {
  return [id, ...unsignedLeb(body.length), ...body];
}

function vector(items: number[][]): number[] {
  return [...unsignedLeb(items.length), ...items.flat()];
}

/** Builds one function body; locals are numbered after the parameters in declaration order. */
export class FunctionBuilder {
  readonly code: number[] = [];
  private readonly locals: ValueType[] = [];

  constructor(
    readonly name: string,
    readonly paramCount: number,
  ) {}

  /** Declares a local and returns its index. */
  local(type: ValueType): number {
    this.locals.push(type);
    return this.paramCount + this.locals.length - 1;
  }

  private emit(...bytes: number[]): this {
    this.code.push(...bytes);
    return this;
  }

  private simd(opcode: number, ...immediates: number[]): this {
    return this.emit(0xfd, ...unsignedLeb(opcode), ...immediates);
  }

  get(index: number): this {
    return this.emit(0x20, ...unsignedLeb(index));
  }
  set(index: number): this {
    return this.emit(0x21, ...unsignedLeb(index));
  }
  i32Const(value: number): this {
    return this.emit(0x41, ...signedLeb(value));
  }
  i32Add(): this {
    return this.emit(0x6a);
  }
  i32Sub(): this {
    return this.emit(0x6b);
  }
  i32Mul(): this {
    return this.emit(0x6c);
  }
  i32GeS(): this {
    return this.emit(0x4e);
  }
  i32GtS(): this {
    return this.emit(0x4a);
  }
  i32LtS(): this {
    return this.emit(0x48);
  }
  /** `select`: pops a, b, condition; pushes a when condition is non-zero, else b. */
  select(): this {
    return this.emit(0x1b);
  }
  /** `i32.load` with a byte offset; alignment hint 4 bytes. */
  i32Load(offset = 0): this {
    return this.emit(0x28, 2, ...unsignedLeb(offset));
  }

  /** `block ... end` with `br_if 0` leaving it. */
  block(body: () => void): this {
    this.emit(0x02, 0x40);
    body();
    return this.emit(0x0b);
  }

  /** `loop ... end`; `br 0` inside continues it. */
  loop(body: () => void): this {
    this.emit(0x03, 0x40);
    body();
    return this.emit(0x0b);
  }

  /** `if ... else ... end` on the i32 popped from the stack. */
  ifElse(then: () => void, otherwise?: () => void): this {
    this.emit(0x04, 0x40);
    then();
    if (otherwise) {
      this.emit(0x05);
      otherwise();
    }
    return this.emit(0x0b);
  }

  br(depth: number): this {
    return this.emit(0x0c, ...unsignedLeb(depth));
  }
  brIf(depth: number): this {
    return this.emit(0x0d, ...unsignedLeb(depth));
  }

  /** `for (index = 0; index < limit; index++) body()`, where `limit` is a local. */
  forRange(index: number, limit: number, body: () => void): this {
    this.i32Const(0).set(index);
    return this.block(() => {
      this.loop(() => {
        this.get(index).get(limit).i32GeS().brIf(1);
        body();
        this.get(index).i32Const(1).i32Add().set(index).br(0);
      });
    });
  }

  // SIMD (opcode numbers from the WebAssembly fixed-width SIMD proposal, now standard).
  v128Load(offset = 0): this {
    return this.simd(0x00, 0, ...unsignedLeb(offset));
  }
  v128Store(offset = 0): this {
    return this.simd(0x0b, 0, ...unsignedLeb(offset));
  }
  v128Load32Splat(offset = 0): this {
    return this.simd(0x09, 0, ...unsignedLeb(offset));
  }
  v128Load8x8U(): this {
    return this.simd(0x02, 0, 0);
  }
  /** `i8x16.shuffle` of the two vectors on the stack (indices 0-15 the first, 16-31 the second). */
  i8x16Shuffle(lanes: readonly number[]): this {
    if (lanes.length !== 16 || lanes.some((l) => !Number.isInteger(l) || l < 0 || l > 31))
      throw new Error(`i8x16.shuffle: expected 16 lane indices in 0..31, got [${lanes.join(', ')}]`);
    return this.simd(0x0d, ...lanes);
  }
  v128Store8Lane(lane: number, offset = 0): this {
    return this.simd(0x58, 0, ...unsignedLeb(offset), lane);
  }
  v128Store16Lane(lane: number, offset = 0): this {
    return this.simd(0x59, 0, ...unsignedLeb(offset), lane);
  }
  v128Store32Lane(lane: number): this {
    return this.simd(0x5a, 0, 0, lane);
  }
  v128Store64Lane(lane: number): this {
    return this.simd(0x5b, 0, 0, lane);
  }
  i32x4Splat(): this {
    return this.simd(0x11);
  }
  i8x16Swizzle(): this {
    return this.simd(0x0e);
  }
  i32x4ShrU(): this {
    return this.simd(0xad);
  }
  f32x4ConvertI32x4U(): this {
    return this.simd(0xfb);
  }
  f32x4Sub(): this {
    return this.simd(0xe5);
  }
  f32x4Div(): this {
    return this.simd(0xe7);
  }
  i16x8ExtendLowU8(): this {
    return this.simd(0x89);
  }
  i16x8ExtendHighU8(): this {
    return this.simd(0x8a);
  }
  i32x4Add(): this {
    return this.simd(0xae);
  }
  i32x4Mul(): this {
    return this.simd(0xb5);
  }
  /** `i32x4.dot_i16x8_s`: lane i = a[2i] * b[2i] + a[2i+1] * b[2i+1] (pmaddwd). */
  i32x4DotI16x8S(): this {
    return this.simd(0xba);
  }
  i32x4Shl(): this {
    return this.simd(0xab);
  }
  i32x4MinS(): this {
    return this.simd(0xb6);
  }
  i32x4MaxS(): this {
    return this.simd(0xb8);
  }
  i32x4ShrS(): this {
    return this.simd(0xac);
  }
  i16x8NarrowI32x4S(): this {
    return this.simd(0x85);
  }
  i8x16NarrowI16x8U(): this {
    return this.simd(0x66);
  }

  encode(): number[] {
    const groups: number[][] = [];
    for (let i = 0; i < this.locals.length;) {
      let j = i;
      while (j < this.locals.length && this.locals[j] === this.locals[i]) j++;
      groups.push([...unsignedLeb(j - i), VALUE_TYPE_CODE[this.locals[i]]]);
      i = j;
    }
    const body = [...vector(groups), ...this.code, 0x0b];
    return [...unsignedLeb(body.length), ...body];
  }
}

/** A module exporting `memory` (growable, starting at `memoryPages` 64 KiB pages) and the functions. */
export function assembleModule(functions: FunctionBuilder[], memoryPages: number): Uint8Array {
  const types = functions.map((f) => [
    0x60,
    ...vector(Array.from({ length: f.paramCount }, () => [VALUE_TYPE_CODE.i32])),
    0x00,
  ]);
  const bytes = [
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vector(types)),
    ...section(3, vector(functions.map((_, i) => unsignedLeb(i)))),
    ...section(5, vector([[0x00, ...unsignedLeb(memoryPages)]])),
    ...section(
      7,
      vector([
        [...encodeName('memory'), 0x02, 0x00],
        ...functions.map((f, i) => [...encodeName(f.name), 0x00, ...unsignedLeb(i)]),
      ]),
    ),
    ...section(10, vector(functions.map((f) => f.encode()))),
  ];
  return Uint8Array.from(bytes);
}
