/**
 * The per-frame pixel work of the transforms (PIL-exact resize passes, normalisation) behind one
 * interface, served by the fastest kernels this thread has: the addon's AVX2 kernels
 * (`native-frame-ops.ts`) once a module that loads the addon offers them (the frame decoders do),
 * else WebAssembly SIMD (`simd-kernels.ts`), as where the addon is never loaded (the ONNX Runtime
 * path, in Node or a browser). Both give the bytes and floats of the scalar reference.
 * `BIKE_FRAME_KERNELS=wasm` keeps WebAssembly (to compare them).
 */
import type { ResizePlan } from './pil-resample.ts';
import type { Rect, RgbImage } from './rgb-image.ts';
import { SimdFrameOps } from './simd-kernels.ts';

/** An RGB image held in a kernel's working memory at byte `at`; valid until that memory is reset. */
export interface ArenaImage {
  at: number;
  width: number;
  height: number;
}

/**
 * Frame operations on a working memory with bump allocation: `reset()` frees everything
 * allocated since the last reset (call it per frame). One per thread.
 */
export interface FrameOps {
  readonly kind: 'native' | 'wasm';
  reset(): void;
  /**
   * Runs a planned resize; `image` may be a JavaScript image (whole, or the part of a frame that
   * holds the pixels the plan reads) or one already in the working memory.
   */
  resize(image: RgbImage | ArenaImage, plan: ResizePlan): ArenaImage;
  /** Copies an image out of the working memory. */
  download(image: ArenaImage): RgbImage;
  /**
   * Writes `region` (inside the image, at least 4 pixels wide) as `[3, h, w]` normalised float32 at
   * `out[offset...]`, mirrored and/or grey; `mean` and `std` are per RGB channel.
   */
  normalize(
    image: ArenaImage,
    region: Rect,
    mean: readonly number[],
    std: readonly number[],
    flip: boolean,
    grayscale: boolean,
    out: Float32Array,
    offset: number,
  ): void;
}

let nativeOps: (() => FrameOps | null) | null = null;
let chosen: FrameOps | null | undefined;

/** Called by the module that loads the addon: its kernels serve this thread from now on. */
export function offerNativeFrameOps(create: () => FrameOps | null): void {
  nativeOps = create;
  chosen = undefined;
}

function wasmOnly(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return env?.BIKE_FRAME_KERNELS === 'wasm';
}

/** This thread's frame operations, or null where neither the addon's kernels nor WebAssembly SIMD run. */
export function frameOps(): FrameOps | null {
  if (chosen === undefined) chosen = (!wasmOnly() && nativeOps?.()) || SimdFrameOps.create();
  return chosen;
}

/** Runs a planned resize with the frame kernels into a JavaScript image; null without any. */
export function kernelResize(image: RgbImage, plan: ResizePlan): RgbImage | null {
  const ops = frameOps();
  if (!ops) return null;
  ops.reset();
  return ops.download(ops.resize(image, plan));
}
