/**
 * Pillow's `Image.resize` for 8-bit RGB (libImaging/Resample.c), reproduced bit for bit: separable
 * convolution with the filter support widened by the downscale factor (antialiasing), weights
 * normalised per output pixel and rounded to 22-bit fixed point, a horizontal pass into an 8-bit
 * intermediate image, then a vertical pass. The original pipeline resizes with PIL (torchvision's
 * `Resize` on PIL images calls it), so this gives the same pixels as the original code.
 *
 * `resizeWindow` computes only a window of the resized image: every output pixel depends only on
 * its own taps, so resizing and then cropping equals computing just the cropped pixels.
 */
import { makeRgbImage, type Rect, type RgbImage } from './rgb-image.ts';
import { kernelResize } from './frame-ops.ts';

export type ResampleFilter = 'bicubic' | 'bilinear';

const PRECISION_BITS = 32 - 8 - 2;
const ROUNDING_HALF = 1 << (PRECISION_BITS - 1);
const CLIP_HIGH = 1 << (PRECISION_BITS + 8);

interface FilterDefinition {
  support: number;
  weight(x: number): number;
}

const FILTERS: Record<ResampleFilter, FilterDefinition> = {
  bilinear: {
    support: 1,
    weight(x) {
      if (x < 0) x = -x;
      return x < 1 ? 1 - x : 0;
    },
  },
  bicubic: {
    // Keys' cubic convolution with a = -0.5, as Pillow defines it.
    support: 2,
    weight(x) {
      const a = -0.5;
      if (x < 0) x = -x;
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
};

/** Fixed-point taps of one axis: output pixel `i` reads `bounds[2i+1]` inputs from `bounds[2i]`. */
export interface AxisCoefficients {
  inSize: number;
  outSize: number;
  /** Taps reserved per output pixel (`weights` stride). */
  ksize: number;
  bounds: Int32Array;
  weights: Int32Array;
}

/** Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for the box `[0, inSize)`. */
function computeAxisCoefficients(inSize: number, outSize: number, filter: FilterDefinition): AxisCoefficients {
  const scale = inSize / outSize;
  const filterScale = scale < 1 ? 1 : scale;
  const support = filter.support * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * ksize);
  const taps = new Float64Array(ksize);
  const inverseScale = 1 / filterScale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    // C casts truncate toward zero.
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let total = 0;
    for (let x = 0; x < xmax; x++) {
      const w = filter.weight((x + xmin - center + 0.5) * inverseScale);
      taps[x] = w;
      total += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = total !== 0 ? taps[x] / total : taps[x];
      const fixed = w < 0 ? Math.trunc(-0.5 + w * (1 << PRECISION_BITS)) : Math.trunc(0.5 + w * (1 << PRECISION_BITS));
      weights[xx * ksize + x] = fixed;
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { inSize, outSize, ksize, bounds, weights };
}

const coefficientCache = new Map<string, AxisCoefficients>();

/** Coefficients for resizing `inSize` pixels to `outSize`; cached, since clips repeat the same sizes. */
export function axisCoefficients(inSize: number, outSize: number, filter: ResampleFilter): AxisCoefficients {
  const key = `${filter}:${inSize}:${outSize}`;
  let found = coefficientCache.get(key);
  if (!found) {
    if (coefficientCache.size > 4096) coefficientCache.clear();
    found = computeAxisCoefficients(inSize, outSize, FILTERS[filter]);
    coefficientCache.set(key, found);
  }
  return found;
}

function clip8(value: number): number {
  if (value >= CLIP_HIGH) return 255;
  if (value <= 0) return 0;
  return value >> PRECISION_BITS;
}

function checkRectInside(rect: Rect, width: number, height: number, what: string): void {
  const ok =
    Number.isInteger(rect.x) &&
    Number.isInteger(rect.y) &&
    Number.isInteger(rect.width) &&
    Number.isInteger(rect.height) &&
    rect.x >= 0 &&
    rect.y >= 0 &&
    rect.width > 0 &&
    rect.height > 0 &&
    rect.x + rect.width <= width &&
    rect.y + rect.height <= height;
  if (!ok) {
    throw new Error(
      `${what} (x=${rect.x}, y=${rect.y}, ${rect.width}x${rect.height}): expected a non-empty integer rectangle inside ${width}x${height}`,
    );
  }
}

/** What one `resizeWindow` call computes; shared by the JavaScript and the SIMD kernels. */
export interface ResizePlan {
  source: Rect;
  window: Rect;
  /** Null where PIL skips the pass (that axis keeps its size). */
  horizontal: AxisCoefficients | null;
  vertical: AxisCoefficients | null;
  /** Source rows (relative to `source`) read by the window's output rows: `[rowFirst, rowEnd)`. */
  rowFirst: number;
  rowEnd: number;
}

export function planResize(
  image: { width: number; height: number },
  outWidth: number,
  outHeight: number,
  filter: ResampleFilter,
  source: Rect = { x: 0, y: 0, width: image.width, height: image.height },
  window: Rect = { x: 0, y: 0, width: outWidth, height: outHeight },
): ResizePlan {
  checkRectInside(source, image.width, image.height, 'resize source rectangle');
  if (!Number.isInteger(outWidth) || !Number.isInteger(outHeight) || outWidth <= 0 || outHeight <= 0) {
    throw new Error(`resize output size ${outWidth}x${outHeight}: expected positive integers`);
  }
  checkRectInside(window, outWidth, outHeight, 'resize output window');
  const horizontal = outWidth !== source.width ? axisCoefficients(source.width, outWidth, filter) : null;
  const vertical = outHeight !== source.height ? axisCoefficients(source.height, outHeight, filter) : null;
  let rowFirst = window.y;
  let rowEnd = window.y + window.height;
  if (vertical) {
    rowFirst = vertical.bounds[window.y * 2];
    const last = window.y + window.height - 1;
    rowEnd = vertical.bounds[last * 2] + vertical.bounds[last * 2 + 1];
  }
  return { source, window, horizontal, vertical, rowFirst, rowEnd };
}

/** The pixels of the source image that a planned resize reads. */
export function planSourceRect(plan: ResizePlan): Rect {
  const { source, window, horizontal, rowFirst, rowEnd } = plan;
  let x0 = window.x,
    x1 = window.x + window.width;
  if (horizontal) {
    const last = window.x + window.width - 1;
    x0 = horizontal.bounds[window.x * 2]!;
    x1 = horizontal.bounds[last * 2]! + horizontal.bounds[last * 2 + 1]!;
  }
  return { x: source.x + x0, y: source.y + rowFirst, width: x1 - x0, height: rowEnd - rowFirst };
}

/**
 * The plan's source rectangle in the pixels of `image`, which may be only part of the frame the
 * plan was made for (`partOf`): then it must hold every pixel the plan reads.
 */
export function sourceInImage(image: RgbImage, plan: ResizePlan): Rect {
  const part = image.partOf;
  if (!part) return plan.source;
  const reads = planSourceRect(plan);
  if (
    reads.x < part.x ||
    reads.y < part.y ||
    reads.x + reads.width > part.x + image.width ||
    reads.y + reads.height > part.y + image.height
  ) {
    throw new Error(
      `resize reads (x=${reads.x}, y=${reads.y}, ${reads.width}x${reads.height}) of the frame, but only (x=${part.x}, y=${part.y}, ${image.width}x${image.height}) was decoded`,
    );
  }
  return { ...plan.source, x: plan.source.x - part.x, y: plan.source.y - part.y };
}

/**
 * `PIL: image.crop(source).resize((outWidth, outHeight), filter).crop(window)`, computing only the
 * window. `source` defaults to the whole image, `window` to the whole output. Uses the frame
 * kernels where the runtime has them (same integer arithmetic, same pixels), else JavaScript.
 */
export function resizeWindow(
  image: RgbImage,
  outWidth: number,
  outHeight: number,
  filter: ResampleFilter,
  source?: Rect,
  window?: Rect,
): RgbImage {
  const plan = planResize(image, outWidth, outHeight, filter, source, window);
  return kernelResize(image, plan) ?? resizeWithJavaScript(image, plan);
}

/** The scalar reference implementation of a planned resize. */
export function resizeWithJavaScript(image: RgbImage, plan: ResizePlan): RgbImage {
  const { source, window, horizontal, vertical, rowFirst, rowEnd } = plan;
  const rows = rowEnd - rowFirst;
  const stride = image.width * 3;
  const temp = new Uint8Array(window.width * rows * 3);
  const src = image.data;
  if (horizontal) {
    const { ksize, bounds, weights } = horizontal;
    horizontalPass(
      src,
      stride,
      (source.y + rowFirst) * stride + source.x * 3,
      rows,
      temp,
      window.x,
      window.width,
      ksize,
      bounds,
      weights,
    );
  } else {
    for (let r = 0; r < rows; r++) {
      const from = (source.y + rowFirst + r) * stride + (source.x + window.x) * 3;
      temp.set(src.subarray(from, from + window.width * 3), r * window.width * 3);
    }
  }
  if (!vertical) return makeRgbImage(window.width, window.height, temp);
  const out = new Uint8Array(window.width * window.height * 3);
  verticalPass(
    temp,
    window.width * 3,
    rowFirst,
    out,
    window.y,
    window.height,
    vertical.ksize,
    vertical.bounds,
    vertical.weights,
  );
  return makeRgbImage(window.width, window.height, out);
}
/** Output columns `[colFirst, colFirst+cols)` for `rows` source rows starting at byte `srcStart`. */
function horizontalPass(
  src: Uint8Array,
  srcStride: number,
  srcStart: number,
  rows: number,
  out: Uint8Array,
  colFirst: number,
  cols: number,
  ksize: number,
  bounds: Int32Array,
  weights: Int32Array,
): void {
  let o = 0;
  for (let r = 0; r < rows; r++) {
    const rowStart = srcStart + r * srcStride;
    for (let c = 0; c < cols; c++) {
      const xx = colFirst + c;
      const taps = bounds[xx * 2 + 1];
      const k = xx * ksize;
      let p = rowStart + bounds[xx * 2] * 3;
      let s0 = ROUNDING_HALF,
        s1 = ROUNDING_HALF,
        s2 = ROUNDING_HALF;
      for (let t = 0; t < taps; t++) {
        const w = weights[k + t];
        s0 += src[p] * w;
        s1 += src[p + 1] * w;
        s2 += src[p + 2] * w;
        p += 3;
      }
      out[o] = clip8(s0);
      out[o + 1] = clip8(s1);
      out[o + 2] = clip8(s2);
      o += 3;
    }
  }
}

/** Output rows `[rowFirstOut, +rowsOut)`; `src` holds source rows from `srcRowFirst` on. */
function verticalPass(
  src: Uint8Array,
  stride: number,
  srcRowFirst: number,
  out: Uint8Array,
  rowFirstOut: number,
  rowsOut: number,
  ksize: number,
  bounds: Int32Array,
  weights: Int32Array,
): void {
  const acc = new Int32Array(stride);
  for (let r = 0; r < rowsOut; r++) {
    const yy = rowFirstOut + r;
    const ymin = bounds[yy * 2] - srcRowFirst;
    const taps = bounds[yy * 2 + 1];
    const k = yy * ksize;
    acc.fill(ROUNDING_HALF);
    for (let t = 0; t < taps; t++) {
      const w = weights[k + t];
      const rowStart = (ymin + t) * stride;
      for (let i = 0; i < stride; i++) acc[i] += src[rowStart + i] * w;
    }
    const outStart = r * stride;
    for (let i = 0; i < stride; i++) out[outStart + i] = clip8(acc[i]);
  }
}
