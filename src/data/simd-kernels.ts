/**
 * WebAssembly SIMD kernels for the per-frame work, assembled at load time:
 * - the two passes of Pillow's 8-bit resampling (see `pil-resample.ts`): the same 22-bit
 *   fixed-point products and sums, four 32-bit lanes at a time, so the bytes are identical;
 * - `ToTorchFormatTensor` + `GroupNormalize` (see `frame-tensor.ts`): float32 `(x / 255 - mean) / std`
 *   with IEEE float32 lanes, so the values are identical to torch's, optionally mirrored or grey.
 * Intermediate images stay in the kernel memory (`ArenaImage`), so a frame is copied in once and
 * its normalised floats copied out once.
 */
import { FunctionBuilder, assembleModule } from './wasm-assembler.ts';
import { sourceInImage, type AxisCoefficients, type ResizePlan } from './pil-resample.ts';
import { checkNormalizeRegion, makeRgbImage, type Rect, type RgbImage } from './rgb-image.ts';
import type { ArenaImage, FrameOps } from './frame-ops.ts';

/** Pillow's `PRECISION_BITS` (32 - 8 - 2). */
const PRECISION_BITS = 22;
const ROUNDING_HALF = 1 << (PRECISION_BITS - 1);
const CLIP_MAX = (1 << (PRECISION_BITS + 8)) - 1;
/** Kernels read and write up to 8 bytes past a row; every buffer gets this much room after it. */
const SLACK = 16;
const PAGE = 65536;

/**
 * Pillow's weights need 23 bits, more than the 16-bit products of `i32x4.dot_i16x8_s` (pmaddwd,
 * one fast instruction where i32x4.mul is two slow ones on Intel), so each weight k is split as
 * k = hi * 2^SPLIT_BITS + lo with 0 <= lo < 2^SPLIT_BITS; sum(x * k) = (sum(x * hi) << SPLIT_BITS) +
 * sum(x * lo), exactly the same 32-bit sum.
 */
const SPLIT_BITS = 11;

/** Vector constants the kernels keep in locals (V8 rebuilds a splat constant at every use). */
interface ClipConstants {
  zero: number;
  clipMax: number;
  rounding: number;
}

function clipConstants(f: FunctionBuilder): ClipConstants {
  const constants = { zero: f.local('v128'), clipMax: f.local('v128'), rounding: f.local('v128') };
  f.i32Const(0).i32x4Splat().set(constants.zero);
  f.i32Const(CLIP_MAX).i32x4Splat().set(constants.clipMax);
  f.i32Const(ROUNDING_HALF).i32x4Splat().set(constants.rounding);
  return constants;
}

/**
 * Pushes `clip8(acc)` lanes as i32x4, where acc = (hi << SPLIT_BITS) + lo and lo started at the
 * rounding constant: min(max(acc, 0), 2^30 - 1) >> 22, which is Pillow's clip8.
 */
function clipLanes(f: FunctionBuilder, k: ClipConstants, hi: number, lo: number): void {
  f.get(hi)
    .i32Const(SPLIT_BITS)
    .i32x4Shl()
    .get(lo)
    .i32x4Add()
    .get(k.zero)
    .i32x4MaxS()
    .get(k.clipMax)
    .i32x4MinS()
    .i32Const(PRECISION_BITS)
    .i32x4ShrS();
}

/** Adds dot(pixels, wHi) to hi and dot(pixels, wLo) to lo. */
function accumulatePair(f: FunctionBuilder, pixels: number, wHi: number, wLo: number, hi: number, lo: number): void {
  f.get(hi).get(pixels).get(wHi).i32x4DotI16x8S().i32x4Add().set(hi);
  f.get(lo).get(pixels).get(wLo).i32x4DotI16x8S().i32x4Add().set(lo);
}

/** Rows the horizontal kernel computes together: they share each column's taps and weights. */
const ROW_GROUP = 4;

/**
 * i16 lanes [R0, G0, B0, R1, G1, B1, ...] of two pixels -> [R0, R1, G0, G1, B0, B1, ...], so that
 * each 32-bit lane of a dot product sums one channel over two taps.
 */
const PAIR_CHANNELS = [0, 1, 6, 7, 2, 3, 8, 9, 4, 5, 10, 11, 12, 13, 14, 15];

/**
 * horizontal(src, srcStride, rows, out, cols, bounds, weights, kBytes): for each of `rows` rows and
 * each output column c, RGB = sum over taps of src[row][xmin + t] * weights[c][t]; `bounds` holds
 * (xmin, taps) pairs, `weights` rows of `kBytes` bytes: per pair of taps, i16 (hi, hi) then (lo, lo)
 * (see SPLIT_BITS; an odd last tap is paired with a zero weight). Rows go in groups of ROW_GROUP
 * (the last group repeats the last row); a pair's load reads 8 bytes, up to 5 past the last tap.
 * Each pixel is stored as 4 bytes, the fourth overwritten by the next column; the last column's
 * spills into the next row's first pixel, so column 0 is written again, 3 bytes exactly, after the
 * group (and the last row's spill needs one byte after the output).
 */
function buildHorizontal(): FunctionBuilder {
  const f = new FunctionBuilder('horizontal', 8);
  const [src, srcStride, rows, out, cols, bounds, weights, kBytes] = [0, 1, 2, 3, 4, 5, 6, 7];
  const r0 = f.local('i32'),
    c = f.local('i32'),
    q = f.local('i32'),
    qEnd = f.local('i32'),
    kp = f.local('i32');
  const bp = f.local('i32'),
    kColumn = f.local('i32'),
    oc = f.local('i32'),
    row = f.local('i32'),
    last = f.local('i32');
  const rowStarts = Array.from({ length: ROW_GROUP }, () => f.local('i32'));
  const outRows = Array.from({ length: ROW_GROUP }, () => f.local('i32'));
  const his = Array.from({ length: ROW_GROUP }, () => f.local('v128'));
  const los = Array.from({ length: ROW_GROUP }, () => f.local('v128'));
  const wHi = f.local('v128'),
    wLo = f.local('v128'),
    pixels = f.local('v128'),
    packed = f.local('v128'),
    pairChannels = f.local('v128');
  const constants = clipConstants(f);
  // A swizzle mask in a local: V8 rebuilds an i8x16.shuffle's constant at every use.
  f.i32Const(PAIR_CHANNELS_AT).v128Load(0).set(pairChannels);
  f.get(rows).i32Const(1).i32Sub().set(last);

  /** One output column of the group, from bp / kColumn / oc; `exact` stores 3 bytes per pixel. */
  const column = (exact: boolean) => {
    f.get(bp).i32Load(0).i32Const(3).i32Mul().set(q);
    f.get(q).get(bp).i32Load(4).i32Const(3).i32Mul().i32Add().set(qEnd);
    f.get(kColumn).set(kp);
    for (const acc of his) f.get(constants.zero).set(acc);
    for (const acc of los) f.get(constants.rounding).set(acc);
    f.block(() => {
      f.loop(() => {
        f.get(q).get(qEnd).i32GeS().brIf(1);
        f.get(kp).v128Load32Splat(0).set(wHi);
        f.get(kp).v128Load32Splat(4).set(wLo);
        for (let k = 0; k < ROW_GROUP; k++) {
          f.get(rowStarts[k]!).get(q).i32Add().v128Load8x8U().set(pixels);
          f.get(pixels).get(pairChannels).i8x16Swizzle().set(pixels);
          accumulatePair(f, pixels, wHi, wLo, his[k]!, los[k]!);
        }
        f.get(q).i32Const(6).i32Add().set(q);
        f.get(kp).i32Const(8).i32Add().set(kp).br(0);
      });
    });
    // Bytes [RGB? RGB? RGB? RGB?], one pixel per row of the group.
    clipLanes(f, constants, his[0]!, los[0]!);
    clipLanes(f, constants, his[1]!, los[1]!);
    f.i16x8NarrowI32x4S();
    clipLanes(f, constants, his[2]!, los[2]!);
    clipLanes(f, constants, his[3]!, los[3]!);
    f.i16x8NarrowI32x4S().i8x16NarrowI16x8U().set(packed);
    for (let k = 0; k < ROW_GROUP; k++) {
      const at = () => f.get(outRows[k]!).get(oc).i32Add();
      if (exact) {
        at()
          .get(packed)
          .v128Store16Lane(2 * k);
        at()
          .get(packed)
          .v128Store8Lane(4 * k + 2, 2);
      } else {
        at().get(packed).v128Store32Lane(k);
      }
    }
  };
  const startOfRow = () => {
    f.get(bounds).set(bp);
    f.get(weights).set(kColumn);
    f.i32Const(0).set(oc);
  };

  f.i32Const(0).set(r0);
  f.block(() => {
    f.loop(() => {
      f.get(r0).get(rows).i32GeS().brIf(1);
      for (let k = 0; k < ROW_GROUP; k++) {
        // row = min(r0 + k, rows - 1)
        f.get(r0).i32Const(k).i32Add().get(last).get(r0).i32Const(k).i32Add().get(last).i32LtS().select().set(row);
        f.get(src).get(row).get(srcStride).i32Mul().i32Add().set(rowStarts[k]!);
        f.get(out).get(row).get(cols).i32Mul().i32Const(3).i32Mul().i32Add().set(outRows[k]!);
      }
      startOfRow();
      f.forRange(c, cols, () => {
        column(false);
        f.get(oc).i32Const(3).i32Add().set(oc);
        f.get(bp).i32Const(8).i32Add().set(bp);
        f.get(kColumn).get(kBytes).i32Add().set(kColumn);
      });
      startOfRow();
      column(true);
      f.get(r0).i32Const(ROW_GROUP).i32Add().set(r0).br(0);
    });
  });
  return f;
}

/** Interleaves the low (then high) 8 bytes of two rows: [a0, b0, a1, b1, ...]. */
const INTERLEAVE_LOW = Array.from({ length: 16 }, (_, i) => (i >> 1) + (i & 1) * 16);
const INTERLEAVE_HIGH = INTERLEAVE_LOW.map((l) => l + 8);

/**
 * vertical(src, stride, out, rowsOut, bounds, weights, kBytes, srcRowFirst): output row r =
 * sum over taps of src row (ymin - srcRowFirst + t) * weights[r][t], weights laid out as the
 * horizontal kernel's (two rows per step; an odd last tap reads one row past the taps, with weight
 * zero, so the source needs a row to spare), 16 bytes per step (reads and writes up to 15 bytes past
 * a row; rows are written in order, so a spill is overwritten later).
 */
function buildVertical(): FunctionBuilder {
  const f = new FunctionBuilder('vertical', 8);
  const [src, stride, out, rowsOut, bounds, weights, kBytes, srcRowFirst] = [0, 1, 2, 3, 4, 5, 6, 7];
  const r = f.local('i32'),
    i = f.local('i32'),
    p = f.local('i32'),
    pEnd = f.local('i32'),
    kp = f.local('i32');
  const rowBase = f.local('i32'),
    outRow = f.local('i32'),
    bp = f.local('i32'),
    kRow = f.local('i32'),
    span = f.local('i32'),
    pairStep = f.local('i32');
  const his = Array.from({ length: 4 }, () => f.local('v128'));
  const los = Array.from({ length: 4 }, () => f.local('v128'));
  const wHi = f.local('v128'),
    wLo = f.local('v128'),
    a = f.local('v128'),
    b = f.local('v128'),
    pixels = f.local('v128'),
    packed = f.local('v128');
  const constants = clipConstants(f);
  f.get(bounds).set(bp);
  f.get(weights).set(kRow);
  f.get(out).set(outRow);
  f.get(stride).i32Const(2).i32Mul().set(pairStep);
  f.forRange(r, rowsOut, () => {
    f.get(src).get(bp).i32Load(0).get(srcRowFirst).i32Sub().get(stride).i32Mul().i32Add().set(rowBase);
    f.get(bp).i32Load(4).get(stride).i32Mul().set(span);
    f.i32Const(0).set(i);
    f.block(() => {
      f.loop(() => {
        f.get(i).get(stride).i32GeS().brIf(1);
        for (const acc of his) f.get(constants.zero).set(acc);
        for (const acc of los) f.get(constants.rounding).set(acc);
        f.get(rowBase).get(i).i32Add().set(p);
        f.get(p).get(span).i32Add().set(pEnd);
        f.get(kRow).set(kp);
        f.block(() => {
          f.loop(() => {
            f.get(p).get(pEnd).i32GeS().brIf(1);
            f.get(kp).v128Load32Splat(0).set(wHi);
            f.get(kp).v128Load32Splat(4).set(wLo);
            f.get(p).v128Load(0).set(a);
            f.get(p).get(stride).i32Add().v128Load(0).set(b);
            for (const [half, lanes] of [
              [0, INTERLEAVE_LOW],
              [2, INTERLEAVE_HIGH],
            ] as const) {
              f.get(a).get(b).i8x16Shuffle(lanes).set(packed);
              f.get(packed).i16x8ExtendLowU8().set(pixels);
              accumulatePair(f, pixels, wHi, wLo, his[half]!, los[half]!);
              f.get(packed).i16x8ExtendHighU8().set(pixels);
              accumulatePair(f, pixels, wHi, wLo, his[half + 1]!, los[half + 1]!);
            }
            f.get(p).get(pairStep).i32Add().set(p);
            f.get(kp).i32Const(8).i32Add().set(kp).br(0);
          });
        });
        f.get(outRow).get(i).i32Add();
        clipLanes(f, constants, his[0]!, los[0]!);
        clipLanes(f, constants, his[1]!, los[1]!);
        f.i16x8NarrowI32x4S().set(packed);
        clipLanes(f, constants, his[2]!, los[2]!);
        clipLanes(f, constants, his[3]!, los[3]!);
        f.i16x8NarrowI32x4S().set(pixels);
        f.get(packed).get(pixels).i8x16NarrowI16x8U().v128Store(0);
        f.get(i).i32Const(16).i32Add().set(i).br(0);
      });
    });
    f.get(bp).i32Const(8).i32Add().set(bp);
    f.get(kRow).get(kBytes).i32Add().set(kRow);
    f.get(outRow).get(stride).i32Add().set(outRow);
  });
  return f;
}

/**
 * An axis's weights as the kernels read them: per output pixel, ceil(ksize / 2) pairs of taps, each
 * i16 (hi, hi) then (lo, lo) (see SPLIT_BITS), zero past the last tap. Cached per coefficient table.
 */
export interface SplitAxis {
  /** The axis's (first tap, taps) per output pixel. */
  bounds: Int32Array;
  pairs: number;
  table: Int16Array;
}
const splitCache = new WeakMap<AxisCoefficients, SplitAxis>();

export function splitWeights(axis: AxisCoefficients): SplitAxis {
  let found = splitCache.get(axis);
  if (!found) {
    const { outSize, ksize, bounds, weights } = axis;
    const pairs = Math.ceil(ksize / 2);
    const table = new Int16Array(outSize * pairs * 4);
    for (let o = 0; o < outSize; o++) {
      for (let t = 0; t < bounds[o * 2 + 1]!; t++) {
        const k = weights[o * ksize + t]!;
        const at = (o * pairs + (t >> 1)) * 4 + (t & 1);
        table[at] = k >> SPLIT_BITS;
        table[at + 2] = k & ((1 << SPLIT_BITS) - 1);
      }
    }
    found = { bounds, pairs, table };
    splitCache.set(axis, found);
  }
  return found;
}

/**
 * normalize(src, srcStride, width, height, out, planeBytes, masks, params, flip, gray): writes
 * `[3, height, width]` float32 planes at `out` from RGB bytes, 4 pixels per step (the last step of a
 * row overlaps the previous one when width is not a multiple of 4; width >= 4). `masks` points at
 * three i8x16 swizzles picking R, G, B of 4 pixels (in reverse order for a mirrored row);
 * `params` holds float32 mean[3], std[3], 255.
 */
function buildNormalize(): FunctionBuilder {
  const f = new FunctionBuilder('normalize', 10);
  const [src, srcStride, width, height, out, planeBytes, masks, params, flip, gray] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const y = f.local('i32'),
    x = f.local('i32'),
    xs = f.local('i32'),
    rowSrc = f.local('i32'),
    rowOut = f.local('i32');
  const dst = f.local('i32'),
    lastX = f.local('i32');
  const v = f.local('v128'),
    r = f.local('v128'),
    g = f.local('v128'),
    b = f.local('v128');
  const maskR = f.local('v128'),
    maskG = f.local('v128'),
    maskB = f.local('v128');
  const meanR = f.local('v128'),
    meanG = f.local('v128'),
    meanB = f.local('v128');
  const stdR = f.local('v128'),
    stdG = f.local('v128'),
    stdB = f.local('v128'),
    scale = f.local('v128');
  f.get(masks).v128Load(0).set(maskR);
  f.get(masks).v128Load(16).set(maskG);
  f.get(masks).v128Load(32).set(maskB);
  [meanR, meanG, meanB, stdR, stdG, stdB, scale].forEach((local, i) =>
    f
      .get(params)
      .v128Load32Splat(i * 4)
      .set(local),
  );
  f.get(width).i32Const(4).i32Sub().set(lastX);
  const channel = (value: number, mean: number, std: number, planeOffset: () => void) => {
    planeOffset();
    f.get(value).f32x4ConvertI32x4U().get(scale).f32x4Div().get(mean).f32x4Sub().get(std).f32x4Div().v128Store(0);
  };
  f.forRange(y, height, () => {
    f.get(src).get(y).get(srcStride).i32Mul().i32Add().set(rowSrc);
    f.get(out).get(y).get(width).i32Mul().i32Const(4).i32Mul().i32Add().set(rowOut);
    f.i32Const(0).set(x);
    f.block(() => {
      f.loop(() => {
        f.get(x).get(width).i32GeS().brIf(1);
        f.get(lastX).get(x).get(x).get(lastX).i32GtS().select().set(xs);
        f.get(rowSrc).get(xs).i32Const(3).i32Mul().i32Add().v128Load(0).set(v);
        f.get(v).get(maskR).i8x16Swizzle().set(r);
        f.get(v).get(maskG).i8x16Swizzle().set(g);
        f.get(v).get(maskB).i8x16Swizzle().set(b);
        f.get(rowOut).get(lastX).get(xs).i32Sub().get(xs).get(flip).select().i32Const(4).i32Mul().i32Add().set(dst);
        f.get(gray).ifElse(() => {
          // PIL's RGB -> L: (R*19595 + G*38470 + B*7471 + 0x8000) >> 16.
          f.get(r)
            .i32Const(19595)
            .i32x4Splat()
            .i32x4Mul()
            .get(g)
            .i32Const(38470)
            .i32x4Splat()
            .i32x4Mul()
            .i32x4Add()
            .get(b)
            .i32Const(7471)
            .i32x4Splat()
            .i32x4Mul()
            .i32x4Add()
            .i32Const(0x8000)
            .i32x4Splat()
            .i32x4Add()
            .i32Const(16)
            .i32x4ShrU()
            .set(r);
          f.get(r).set(g);
          f.get(r).set(b);
        });
        channel(r, meanR, stdR, () => f.get(dst));
        channel(g, meanG, stdG, () => f.get(dst).get(planeBytes).i32Add());
        channel(b, meanB, stdB, () => f.get(dst).get(planeBytes).i32Add().get(planeBytes).i32Add());
        f.get(x).i32Const(4).i32Add().set(x).br(0);
      });
    });
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
  normalize: (...args: number[]) => void;
}

/** Swizzles picking R, G, B of 4 interleaved pixels into 32-bit lanes; then the same reversed. */
const MASKS_AT = 0;
const MIRRORED_MASKS_AT = 48;
const PARAMS_AT = 96;
const PAIR_CHANNELS_AT = 128;
const RESERVED_BYTES = 144;

function swizzleMasks(mirrored: boolean): Uint8Array {
  const masks = new Uint8Array(48).fill(0x80); // indices >= 16 select zero
  for (let c = 0; c < 3; c++) {
    for (let lane = 0; lane < 4; lane++) {
      const pixel = mirrored ? 3 - lane : lane;
      masks[c * 16 + lane * 4] = pixel * 3 + c;
    }
  }
  return masks;
}

let kernels: Kernels | null | undefined;

function loadKernels(): Kernels | null {
  if (kernels !== undefined) return kernels;
  const bytes = assembleModule([buildHorizontal(), buildVertical(), buildNormalize()], 16);
  if (!wasm || !wasm.validate(bytes)) {
    kernels = null;
    return kernels;
  }
  const exports = new wasm.Instance(new wasm.Module(bytes), {}).exports as unknown as Kernels;
  const heap = new Uint8Array(exports.memory.buffer);
  heap.set(swizzleMasks(false), MASKS_AT);
  heap.set(swizzleMasks(true), MIRRORED_MASKS_AT);
  heap.set(PAIR_CHANNELS, PAIR_CHANNELS_AT);
  kernels = exports;
  return kernels;
}

/** Whether the SIMD kernels run here (WebAssembly with fixed-width SIMD). */
export function simdKernelsAvailable(): boolean {
  return loadKernels() !== null;
}

/** `FrameOps` on the WebAssembly memory (one per thread, as that memory is). */
export class SimdFrameOps implements FrameOps {
  readonly kind = 'wasm';
  private top = RESERVED_BYTES;

  private constructor(private readonly k: Kernels) {}

  static create(): SimdFrameOps | null {
    const k = loadKernels();
    return k ? new SimdFrameOps(k) : null;
  }

  reset(): void {
    this.top = RESERVED_BYTES;
  }

  private allocate(bytes: number): number {
    const at = this.top;
    this.top = (at + bytes + SLACK + 15) & ~15;
    const have = this.k.memory.buffer.byteLength;
    if (this.top > have) this.k.memory.grow(Math.ceil((this.top - have) / PAGE));
    return at;
  }

  resize(image: RgbImage | ArenaImage, plan: ResizePlan): ArenaImage {
    const { window, horizontal, vertical, rowFirst, rowEnd } = plan;
    const source = 'data' in image ? sourceInImage(image, plan) : plan.source;
    const rows = rowEnd - rowFirst;
    const stride = image.width * 3;
    const tempStride = window.width * 3;
    // Allocate everything first: growing the memory detaches earlier views of it.
    const uploadAt = 'data' in image ? this.allocate(rows * stride) : -1;
    // One row to spare: the vertical kernel reads a row past an odd number of taps (weight zero).
    const tempAt = this.allocate((rows + 1) * tempStride);
    const hSplit = horizontal ? splitWeights(horizontal) : null;
    const vSplit = vertical ? splitWeights(vertical) : null;
    const outAt = vSplit ? this.allocate(window.height * tempStride) : tempAt;
    const hBoundsAt = hSplit ? this.allocate(window.width * 8) : 0;
    const hWeightsAt = hSplit ? this.allocate(window.width * hSplit.pairs * 8) : 0;
    const vBoundsAt = vSplit ? this.allocate(window.height * 8) : 0;
    const vWeightsAt = vSplit ? this.allocate(window.height * vSplit.pairs * 8) : 0;
    const heap = new Uint8Array(this.k.memory.buffer);
    const heap16 = new Int16Array(this.k.memory.buffer);
    const heap32 = new Int32Array(this.k.memory.buffer);
    const firstByte = (source.y + rowFirst) * stride;
    let rowsAt: number;
    if ('data' in image) {
      heap.set(image.data.subarray(firstByte, firstByte + rows * stride), uploadAt);
      rowsAt = uploadAt;
    } else {
      rowsAt = image.at + firstByte;
    }
    if (hSplit) {
      const { bounds, pairs, table } = hSplit;
      heap32.set(bounds.subarray(window.x * 2, (window.x + window.width) * 2), hBoundsAt >> 2);
      heap16.set(table.subarray(window.x * pairs * 4, (window.x + window.width) * pairs * 4), hWeightsAt >> 1);
      this.k.horizontal(rowsAt + source.x * 3, stride, rows, tempAt, window.width, hBoundsAt, hWeightsAt, pairs * 8);
    } else {
      for (let r = 0; r < rows; r++) {
        const from = rowsAt + r * stride + (source.x + window.x) * 3;
        heap.copyWithin(tempAt + r * tempStride, from, from + tempStride);
      }
    }
    if (vSplit) {
      const { bounds, pairs, table } = vSplit;
      heap32.set(bounds.subarray(window.y * 2, (window.y + window.height) * 2), vBoundsAt >> 2);
      heap16.set(table.subarray(window.y * pairs * 4, (window.y + window.height) * pairs * 4), vWeightsAt >> 1);
      this.k.vertical(tempAt, tempStride, outAt, window.height, vBoundsAt, vWeightsAt, pairs * 8, rowFirst);
    }
    return { at: outAt, width: window.width, height: window.height };
  }

  download(image: ArenaImage): RgbImage {
    const bytes = image.width * image.height * 3;
    return makeRgbImage(
      image.width,
      image.height,
      new Uint8Array(this.k.memory.buffer).slice(image.at, image.at + bytes),
    );
  }

  normalize(
    image: ArenaImage,
    region: Rect,
    mean: readonly number[],
    std: readonly number[],
    flip: boolean,
    grayscale: boolean,
    out: Float32Array,
    offset: number,
  ): void {
    checkNormalizeRegion(image, region);
    const { width: w, height: h } = region;
    const planeBytes = w * h * 4;
    const outAt = this.allocate(3 * planeBytes);
    const params = new Float32Array(this.k.memory.buffer, PARAMS_AT, 7);
    params.set([mean[0]!, mean[1]!, mean[2]!, std[0]!, std[1]!, std[2]!, 255]);
    this.k.normalize(
      image.at + (region.y * image.width + region.x) * 3,
      image.width * 3,
      w,
      h,
      outAt,
      planeBytes,
      flip ? MIRRORED_MASKS_AT : MASKS_AT,
      PARAMS_AT,
      flip ? 1 : 0,
      grayscale ? 1 : 0,
    );
    out.set(new Float32Array(this.k.memory.buffer, outAt, 3 * w * h), offset);
  }
}
