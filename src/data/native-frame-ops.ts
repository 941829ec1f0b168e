/**
 * `FrameOps` on the addon's AVX2 kernels (native/src/frame-kernels.cpp): the same passes the
 * WebAssembly kernels run, planned the same way, but read from the decoded frame and written into
 * the batch in place (no copy of the frame in, nor of its floats out). The working memory is a
 * JavaScript array that grows (copying what it holds) when a frame needs more.
 */
import { native } from '../torch/native.ts';
import { offerNativeFrameOps, type ArenaImage, type FrameOps } from './frame-ops.ts';
import { sourceInImage, type ResizePlan } from './pil-resample.ts';
import { normalizationTable } from './frame-tensor.ts';
import { checkNormalizeRegion, makeRgbImage, type Rect, type RgbImage } from './rgb-image.ts';
import { splitWeights } from './simd-kernels.ts';

const { resampleHorizontal, resampleVertical, normalizeFrame } = native;

export class NativeFrameOps implements FrameOps {
  readonly kind = 'native';
  private memory = new Uint8Array(1 << 20);
  private top = 0;

  private constructor() {}

  /** Null where the addon has no frame kernels (a CPU without AVX2, not x86-64). */
  static create(): NativeFrameOps | null {
    return resampleHorizontal && resampleVertical && normalizeFrame ? new NativeFrameOps() : null;
  }

  reset(): void {
    this.top = 0;
  }

  private allocate(bytes: number): number {
    const at = this.top;
    this.top = (at + bytes + 15) & ~15;
    if (this.top > this.memory.length) {
      const grown = new Uint8Array(Math.max(this.top, 2 * this.memory.length));
      grown.set(this.memory.subarray(0, at));
      this.memory = grown;
    }
    return at;
  }

  resize(image: RgbImage | ArenaImage, plan: ResizePlan): ArenaImage {
    const { window, horizontal, vertical, rowFirst, rowEnd } = plan;
    const source = 'data' in image ? sourceInImage(image, plan) : plan.source;
    const rows = rowEnd - rowFirst;
    const stride = image.width * 3;
    const tempStride = window.width * 3;
    const tempAt = this.allocate(rows * tempStride);
    const outAt = vertical ? this.allocate(window.height * tempStride) : tempAt;
    // After every allocation: growing replaces the array.
    const memory = this.memory;
    const [src, srcBase] = 'data' in image ? [image.data, 0] : [memory, image.at];
    const firstByte = srcBase + (source.y + rowFirst) * stride;
    if (horizontal) {
      const { bounds, pairs, table } = splitWeights(horizontal);
      resampleHorizontal!(
        src,
        firstByte + source.x * 3,
        stride,
        rows,
        memory,
        tempAt,
        bounds.subarray(window.x * 2, (window.x + window.width) * 2),
        table.subarray(window.x * pairs * 4, (window.x + window.width) * pairs * 4),
        pairs,
      );
    } else {
      for (let r = 0; r < rows; r++) {
        const from = firstByte + r * stride + (source.x + window.x) * 3;
        memory.set(src.subarray(from, from + tempStride), tempAt + r * tempStride);
      }
    }
    if (vertical) {
      const { ksize, bounds, weights } = vertical;
      resampleVertical!(
        memory,
        tempAt,
        tempStride,
        rowFirst,
        memory,
        outAt,
        bounds.subarray(window.y * 2, (window.y + window.height) * 2),
        weights.subarray(window.y * ksize, (window.y + window.height) * ksize),
        ksize,
      );
    }
    return { at: outAt, width: window.width, height: window.height };
  }

  download(image: ArenaImage): RgbImage {
    return makeRgbImage(
      image.width,
      image.height,
      this.memory.slice(image.at, image.at + image.width * image.height * 3),
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
    normalizeFrame!(
      this.memory,
      image.at + (region.y * image.width + region.x) * 3,
      image.width * 3,
      region.width,
      region.height,
      out,
      offset,
      normalizationTable({ mean, std }),
      flip,
      grayscale,
    );
  }
}

offerNativeFrameOps(() => NativeFrameOps.create());
