/**
 * Loads the libtorch addon (layer 1 of DESIGN.md) and types its functions. Everything else in
 * `src/torch` reaches libtorch through this one object.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

/**
 * An opaque handle to a libtorch tensor, owned by the addon: a BigInt when a scope made it (the
 * scope frees it), an external object otherwise (its finalizer frees it); see native/src/handles.cpp.
 */
export type Handle = (object | bigint) & { readonly __tensorHandle: unique symbol };
/** An opaque handle to a c10d process group. */
export type GroupHandle = object & { readonly __groupHandle: unique symbol };

/** A decoded JPEG as RGB24; `region` is the `[x, y, width, height]` window decoded (the whole image without one). */
export interface DecodedJpeg {
  width: number;
  height: number;
  region: [number, number, number, number];
  data: Uint8Array;
  /** libjpeg warnings met while decoding (Pillow decodes through them too). */
  warnings: number;
}

/** The first video stream of a file: its size and frame count, and where the count came from. */
export interface VideoProbe {
  width: number;
  height: number;
  frameCount: number;
  frameCountSource: 'container' | 'packet count';
  /** Index (in the file) of the video stream read: av_find_best_stream's choice. */
  stream?: number;
  /** Frames per second the container gives (0 when it gives none). */
  fps?: number;
}

/** The wanted frames of a video as RGB24, frame after frame; `decodedFrames` counts every frame decoded on the way. */
export interface DecodedVideoFrames {
  width: number;
  height: number;
  data: Uint8Array;
  decodedFrames: number;
  /** `[wanted frame, frame whose pixels stand in for it]` for frames that did not decode. */
  substituted: [number, number][];
  decodeErrors: number;
  firstDecodeError: string;
}

export interface NativeAddon {
  fromBuffer(bytes: ArrayBufferView, scalarType: number, shape: number[], device?: string): Handle;
  /** A tensor whose bytes are pread from the open file `fd` at `offset` (the caller checks the extent). */
  fromFile(fd: number, offset: number, scalarType: number, shape: number[], device?: string): Handle;
  toBuffer(t: Handle): ArrayBuffer;
  /** Frees the tensor now; stale handles and non-handles are ignored. */
  dispose(t: Handle): void;
  isLive(t: unknown): boolean;
  /** Handles made from now on belong to a new innermost scope. */
  openScope(): void;
  /**
   * Frees what the innermost scope made except `kept`, which move to the enclosing scope; from the
   * outermost, their JS Tensors own them: the positions in `kept` of those (undefined: none).
   */
  closeScope(kept: Handle[]): number[] | undefined;
  /** Takes a tensor out of every open scope (true if it was in one): its JS Tensor owns it now. */
  escapeScopes(t: Handle): boolean;
  /** Live tensor handles in this thread's environment. */
  liveHandles(): number;
  shape(t: Handle): number[];
  scalarType(t: Handle): number;
  device(t: Handle): string;
  item(t: Handle): number;
  sameStorage(a: Handle, b: Handle): boolean;
  describe(t: Handle): string;

  opHandle(name: string, overload: string): number;
  opSchema(id: number): string;
  call(id: number, ...args: unknown[]): any;
  callVoid(id: number, ...args: unknown[]): void;

  backward(outputs: Handle[], grads: (Handle | null)[] | null, retainGraph: boolean, createGraph: boolean): void;
  grad(
    outputs: Handle[],
    inputs: Handle[],
    grads: (Handle | null)[] | null,
    retainGraph: boolean | undefined,
    createGraph: boolean,
  ): (Handle | null)[];
  customFunction(id: number, inputs: Handle[], outputs: Handle[]): Handle[];
  setCustomBackwardHandler(fn: (id: number, grads: (Handle | null)[]) => (Handle | null)[]): void;
  takeReleasedCustomIds(): number[];
  setGradEnabled(enabled: boolean): boolean;
  isGradEnabled(): boolean;
  requiresGrad(t: Handle): boolean;
  setRequiresGrad(t: Handle, value: boolean): void;
  getGrad(t: Handle): Handle | null;
  setGrad(t: Handle, grad: Handle | null): void;
  isLeaf(t: Handle): boolean;
  gradFnName(t: Handle): string | null;
  retainGrad(t: Handle): void;

  enterAutocast(device: 'cpu' | 'cuda', enabled: boolean, scalarType: number): [boolean, number];
  exitAutocast(device: 'cpu' | 'cuda', enabled: boolean, scalarType: number): void;
  getAutocast(device: 'cpu' | 'cuda'): [boolean, number];
  manualSeed(seed: number): void;
  getRngState(device?: string): Handle;
  setRngState(state: Handle, device?: string): void;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  cudaDeviceCount(): number;
  cudaSynchronize(): void;
  cudaMemory(device?: number): [number, number, number];
  /** `blas`: the file libtorch's BLAS calls go to (libblas.so.3 as loaded; '' when none is). */
  version(): { torch: string; major: number; minor: number; cuda: boolean; blas: string };
  /** glibc's M_MMAP_THRESHOLD and M_TRIM_THRESHOLD; false where the C library took neither. */
  setMallocThresholds(mmapBytes: number, trimBytes: number): boolean;

  createProcessGroup(
    backend: string,
    host: string,
    port: number,
    rank: number,
    worldSize: number,
    timeoutMs: number,
  ): GroupHandle;
  allReduce(group: GroupHandle, tensors: Handle[], op: string): void;
  allGather(group: GroupHandle, t: Handle): Handle[];
  broadcast(group: GroupHandle, tensors: Handle[], root: number): void;
  barrier(group: GroupHandle): void;
  storeSet(group: GroupHandle, key: string, value: string): void;
  storeGet(group: GroupHandle, key: string, timeoutMs: number): string;
  destroyProcessGroup(group: GroupHandle): void;

  // Media decoding (native/src/image.cpp, video.cpp): present only when native/build.mjs found
  // libjpeg-turbo's / FFmpeg's headers, so callers test for them and fall back otherwise.
  decodeJpeg?(
    bytes: Uint8Array,
    region?: [number, number, number, number],
    maxPixels?: number,
    into?: Uint8Array,
  ): DecodedJpeg;
  probeVideoFile?(path: string, maxPixels?: number): VideoProbe;
  // The data pipeline's pixel kernels (native/src/frame-kernels.cpp): present only on x86-64 CPUs
  // with AVX2; src/data/native-frame-ops.ts plans their calls, WebAssembly runs them elsewhere.
  resampleHorizontal?(
    src: Uint8Array,
    srcOffset: number,
    srcStride: number,
    rows: number,
    out: Uint8Array,
    outOffset: number,
    bounds: Int32Array,
    split: Int16Array,
    pairs: number,
  ): void;
  resampleVertical?(
    src: Uint8Array,
    srcOffset: number,
    stride: number,
    srcRowFirst: number,
    out: Uint8Array,
    outOffset: number,
    bounds: Int32Array,
    weights: Int32Array,
    ksize: number,
  ): void;
  normalizeFrame?(
    src: Uint8Array,
    srcOffset: number,
    srcStride: number,
    width: number,
    height: number,
    out: Float32Array,
    outOffset: number,
    table: Float32Array,
    flip: boolean,
    grey: boolean,
  ): void;
  decodeVideoFrames?(path: string, frames: number[], maxPixels?: number, maxVideoPixels?: number): DecodedVideoFrames;
}

// The package root is two folders up from src/torch/ and from the compiled dist/torch/ alike.
// BIKE_TORCH_ADDON names an addon built elsewhere (e.g. once against a CUDA libtorch, for many installs).
const addonPath = process.env.BIKE_TORCH_ADDON
  ? path.resolve(process.env.BIKE_TORCH_ADDON)
  : path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'native', 'build', 'bike_torch.node');

function loadAddon(): NativeAddon {
  if (!existsSync(addonPath)) {
    if (process.env.BIKE_TORCH_ADDON) throw new Error(`BIKE_TORCH_ADDON=${process.env.BIKE_TORCH_ADDON}: no such file`);
    throw new Error(
      `the libtorch addon is not built (${addonPath} is missing): run \`npm run setup\` (in an installed package: npm rebuild bike-ts)`,
    );
  }
  return createRequire(import.meta.url)(addonPath) as NativeAddon;
}

export const native: NativeAddon = loadAddon();

// glibc serves blocks over 32 MB with fresh mmap()s and returns freed heap tops to the system, so
// each of a forward pass's large activations (a ViT-B/32's MLP over 64 frames: 39 MB) costs a page
// fault per 4 KB, every pass. Keeping blocks up to 256 MB (and freed tops up to 256 MB) in the heap,
// as PyTorch users get from jemalloc or tcmalloc, took a 64-frame forward from 5.7 to 4.8 s here.
// BIKE_MALLOC=system keeps glibc's defaults.
export const MALLOC_THRESHOLD_BYTES = 256 * 1024 * 1024;
export const mallocTuned =
  process.env.BIKE_MALLOC !== 'system' && native.setMallocThresholds(MALLOC_THRESHOLD_BYTES, MALLOC_THRESHOLD_BYTES);

// libtorch's OpenMP pool may start with one thread (Debian's build does, whatever the core count).
// Use the cores unless OMP_NUM_THREADS says otherwise, as PyTorch does; launchers of several
// processes per machine set OMP_NUM_THREADS to share the cores.
const requestedThreads = Number(process.env.OMP_NUM_THREADS);
native.setNumThreads(
  Number.isInteger(requestedThreads) && requestedThreads > 0 ? requestedThreads : availableParallelism(),
);
