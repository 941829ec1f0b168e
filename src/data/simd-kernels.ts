/**
 * WebAssembly SIMD kernels for the two passes of Pillow's 8-bit resampling (see `pil-resample.ts`):
 * the same 22-bit fixed-point products and sums, four 32-bit lanes at a time, so the output is
 * identical to the scalar code, several times faster. The module is assembled at load time.
 */
import { FunctionBuilder, assembleModule } from './wasm-assembler.ts';
import type { ResizePlan } from './pil-resample.ts';
import { makeRgbImage, type RgbImage } from './rgb-image.ts';

/** Pillow's `PRECISION_BITS` (32 - 8 - 2). */
const PRECISION_BITS = 22;
const ROUNDING_HALF = 1 << (PRECISION_BITS - 1);
const CLIP_MAX = (1 << (PRECISION_BITS + 8)) - 1;
/** Kernels read and write up to 8 bytes past a row; every buffer gets this much room after it. */
const SLACK = 16;
const PAGE = 65536;

/** Pushes `clip8(acc) `lanes as i32x4: min(max(acc, 0), 2^30 - 1) >> 22, which is Pillow's clip8. */
function clipLanes(f: FunctionBuilder, acc: number): void {
  f.get(acc).i32Const(0).i32x4Splat().i32x4MaxS().i32Const(CLIP_MAX).i32x4Splat().i32x4MinS().i32Const(PRECISION_BITS).i32x4ShrS();
}

/**
 * horizontal(src, srcStride, rows, out, cols, bounds, weights, kBytes): for each of `rows` rows and
 * each output column c, RGB = sum over taps of src[row][xmin + t] * weights[c][t]; `bounds` holds
 * (xmin, taps) pairs, `weights` rows of `kBytes` bytes. Reads/writes one byte past each pixel.
 */
function buildHorizontal(): FunctionBuilder {
  const f = new FunctionBuilder('horizontal', 8);
  const [src, srcStride, rows, out, cols, bounds, weights, kBytes] = [0, 1, 2, 3, 4, 5, 6, 7];
  const r = f.local('i32'), c = f.local('i32'), t = f.local('i32'), taps = f.local('i32');
  const p = f.local('i32'), kp = f.local('i32'), rowStart = f.local('i32'), o = f.local('i32');
  const bp = f.local('i32'), kColumn = f.local('i32');
  const acc = f.local('v128'), packed = f.local('v128');
  f.get(out).set(o);
  f.forRange(r, rows, () => {
    f.get(src).get(r).get(srcStride).i32Mul().i32Add().set(rowStart);
    f.get(bounds).set(bp);
    f.get(weights).set(kColumn);
    f.forRange(c, cols, () => {
      f.get(rowStart).get(bp).i32Load(0).i32Const(3).i32Mul().i32Add().set(p);
      f.get(bp).i32Load(4).set(taps);
      f.get(kColumn).set(kp);
      f.i32Const(ROUNDING_HALF).i32x4Splat().set(acc);
      f.forRange(t, taps, () => {
        f.get(acc)
          .get(p).v128Load32Zero().i16x8ExtendLowU8().i32x4ExtendLowU16()
          .get(kp).i32Load(0).i32x4Splat()
          .i32x4Mul().i32x4Add().set(acc);
        f.get(p).i32Const(3).i32Add().set(p);
        f.get(kp).i32Const(4).i32Add().set(kp);
      });
      clipLanes(f, acc);
      f.set(acc).get(acc).get(acc).i16x8NarrowI32x4S().set(packed);
      f.get(o).get(packed).get(packed).i8x16NarrowI16x8U().v128Store32Lane(0);
      f.get(o).i32Const(3).i32Add().set(o);
      f.get(bp).i32Const(8).i32Add().set(bp);
      f.get(kColumn).get(kBytes).i32Add().set(kColumn);
    });
  });
  return f;
}

/**
 * vertical(src, stride, out, rowsOut, bounds, weights, kBytes, srcRowFirst): output row r =
 * sum over taps of src row (ymin - srcRowFirst + t) * weights[r][t], 8 bytes per step.
 */
function buildVertical(): FunctionBuilder {
  const f = new FunctionBuilder('vertical', 8);
  const [src, stride, out, rowsOut, bounds, weights, kBytes, srcRowFirst] = [0, 1, 2, 3, 4, 5, 6, 7];
  const r = f.local('i32'), i = f.local('i32'), t = f.local('i32'), taps = f.local('i32');
  const p = f.local('i32'), kp = f.local('i32'), rowBase = f.local('i32'), outRow = f.local('i32');
  const bp = f.local('i32'), kRow = f.local('i32');
  const acc0 = f.local('v128'), acc1 = f.local('v128'), w = f.local('v128'), v = f.local('v128'), packed = f.local('v128');
  f.get(bounds).set(bp);
  f.get(weights).set(kRow);
  f.get(out).set(outRow);
  f.forRange(r, rowsOut, () => {
    f.get(src).get(bp).i32Load(0).get(srcRowFirst).i32Sub().get(stride).i32Mul().i32Add().set(rowBase);
    f.get(bp).i32Load(4).set(taps);
    f.i32Const(0).set(i);
    f.block(() => {
      f.loop(() => {
        f.get(i).get(stride).i32GeS().brIf(1);
        f.i32Const(ROUNDING_HALF).i32x4Splat().set(acc0);
        f.get(acc0).set(acc1);
        f.get(rowBase).get(i).i32Add().set(p);
        f.get(kRow).set(kp);
        f.forRange(t, taps, () => {
          f.get(kp).i32Load(0).i32x4Splat().set(w);
          f.get(p).v128Load8x8U().set(v);
          f.get(acc0).get(v).i32x4ExtendLowU16().get(w).i32x4Mul().i32x4Add().set(acc0);
          f.get(acc1).get(v).i32x4ExtendHighU16().get(w).i32x4Mul().i32x4Add().set(acc1);
          f.get(p).get(stride).i32Add().set(p);
          f.get(kp).i32Const(4).i32Add().set(kp);
        });
        clipLanes(f, acc0);
        clipLanes(f, acc1);
        f.i16x8NarrowI32x4S().set(packed);
        f.get(outRow).get(i).i32Add().get(packed).get(packed).i8x16NarrowI16x8U().v128Store64Lane(0);
        f.get(i).i32Const(8).i32Add().set(i).br(0);
      });
    });
    f.get(bp).i32Const(8).i32Add().set(bp);
    f.get(kRow).get(kBytes).i32Add().set(kRow);
    f.get(outRow).get(stride).i32Add().set(outRow);
  });
  return f;
}

/** The part of the WebAssembly JS API used here (the project's TypeScript libs do not declare it). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

interface Kernels {
  memory: WasmMemory;
  horizontal: (...args: number[]) => void;
  vertical: (...args: number[]) => void;
}

let kernels: Kernels | null | undefined;

function loadKernels(): Kernels | null {
  if (kernels !== undefined) return kernels;
  const bytes = assembleModule([buildHorizontal(), buildVertical()], 16);
  if (!wasm || !wasm.validate(bytes)) {
    kernels = null;
    return kernels;
  }
  const instance = new wasm.Instance(new wasm.Module(bytes), {});
  const exports = instance.exports as unknown as Kernels;
  kernels = { memory: exports.memory, horizontal: exports.horizontal, vertical: exports.vertical };
  return kernels;
}

/** Whether the SIMD kernels run here (WebAssembly with fixed-width SIMD). */
export function simdResampleAvailable(): boolean {
  return loadKernels() !== null;
}

/** Bump allocation in the kernel memory, 16-byte aligned; grows the memory when needed. */
class Arena {
  private top = 0;
  constructor(private readonly memory: WasmMemory) {}

  allocate(bytes: number): number {
    const at = this.top;
    this.top = (at + bytes + SLACK + 15) & ~15;
    const have = this.memory.buffer.byteLength;
    if (this.top > have) this.memory.grow(Math.ceil((this.top - have) / PAGE));
    return at;
  }
}

/** Runs a planned resize with the SIMD kernels; null where the runtime lacks WebAssembly SIMD. */
export function simdResize(image: RgbImage, plan: ResizePlan): RgbImage | null {
  const k = loadKernels();
  if (!k) return null;
  const { source, window, horizontal, vertical, rowFirst, rowEnd } = plan;
  const rows = rowEnd - rowFirst;
  const stride = image.width * 3;
  const tempStride = window.width * 3;
  const arena = new Arena(k.memory);
  // Allocate everything first: growing the memory detaches earlier views of it.
  const srcAt = arena.allocate(rows * stride);
  const tempAt = arena.allocate(rows * tempStride);
  const outAt = vertical ? arena.allocate(window.height * tempStride) : tempAt;
  const hBoundsAt = horizontal ? arena.allocate(window.width * 8) : 0;
  const hWeightsAt = horizontal ? arena.allocate(window.width * horizontal.ksize * 4) : 0;
  const vBoundsAt = vertical ? arena.allocate(window.height * 8) : 0;
  const vWeightsAt = vertical ? arena.allocate(window.height * vertical.ksize * 4) : 0;
  const heap = new Uint8Array(k.memory.buffer);
  const heap32 = new Int32Array(k.memory.buffer);
  const firstByte = (source.y + rowFirst) * stride;
  heap.set(image.data.subarray(firstByte, firstByte + rows * stride), srcAt);

  if (horizontal) {
    const { ksize, bounds, weights } = horizontal;
    heap32.set(bounds.subarray(window.x * 2, (window.x + window.width) * 2), hBoundsAt >> 2);
    heap32.set(weights.subarray(window.x * ksize, (window.x + window.width) * ksize), hWeightsAt >> 2);
    k.horizontal(srcAt + source.x * 3, stride, rows, tempAt, window.width, hBoundsAt, hWeightsAt, ksize * 4);
  } else {
    for (let r = 0; r < rows; r++) {
      const from = srcAt + r * stride + (source.x + window.x) * 3;
      heap.copyWithin(tempAt + r * tempStride, from, from + tempStride);
    }
  }
  if (vertical) {
    const { ksize, bounds, weights } = vertical;
    heap32.set(bounds.subarray(window.y * 2, (window.y + window.height) * 2), vBoundsAt >> 2);
    heap32.set(weights.subarray(window.y * ksize, (window.y + window.height) * ksize), vWeightsAt >> 2);
    k.vertical(tempAt, tempStride, outAt, window.height, vBoundsAt, vWeightsAt, ksize * 4, rowFirst);
  }
  return makeRgbImage(window.width, window.height, heap.slice(outAt, outAt + window.height * tempStride));
}
