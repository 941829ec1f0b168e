/**
 * The last steps of the original's transforms: `Stack` + `ToTorchFormatTensor(div=True)` +
 * `GroupNormalize`: HWC bytes to a CHW float32 block, `(x / 255 - mean) / std` evaluated in float32
 * as torch does (through a 256-entry table per channel, so the values are those torch computes),
 * optionally mirrored (`FLIP_LEFT_RIGHT`) or turned grey (`torchvision Grayscale(3)`: PIL's 'L').
 */
import type { Rect, RgbImage } from './rgb-image.ts';

/** CLIP's normalisation, as in utils/Augmentation.py and test.py. */
export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const;

export interface Normalization {
  mean: readonly number[];
  std: readonly number[];
}

const tableCache = new Map<string, Float32Array>();

/** `table[c * 256 + v]` = torch's float32 `(float(v) / 255 - mean[c]) / std[c]`. */
export function normalizationTable({ mean, std }: Normalization): Float32Array {
  if (mean.length !== 3 || std.length !== 3) {
    throw new Error(`normalisation mean/std: expected 3 values each (RGB), got ${mean.length} and ${std.length}`);
  }
  const key = `${mean.join(',')}/${std.join(',')}`;
  let table = tableCache.get(key);
  if (!table) {
    table = new Float32Array(768);
    for (let c = 0; c < 3; c++) {
      const m = Math.fround(mean[c]!);
      const s = Math.fround(std[c]!);
      if (!(s > 0)) throw new Error(`normalisation std[${c}] = ${std[c]}: expected a positive number`);
      // Each float32 operation rounded separately, as torch's div(255), sub_(mean), div_(std).
      for (let v = 0; v < 256; v++) table[c * 256 + v] = Math.fround(Math.fround(Math.fround(v / 255) - m) / s);
    }
    tableCache.set(key, table);
  }
  return table;
}

/**
 * Writes `region` of `image` as a `[3, region.height, region.width]` block at `out[offset...]`.
 * Pixels of the region outside the image are black (PIL's `crop` pads with 0).
 */
export function writeNormalizedFrame(
  out: Float32Array,
  offset: number,
  image: RgbImage,
  region: Rect,
  table: Float32Array,
  flip: boolean,
  grayscale: boolean,
): void {
  const { width: w, height: h } = region;
  const plane = w * h;
  if (offset < 0 || offset + 3 * plane > out.length) {
    throw new Error(`frame block of 3x${h}x${w} at ${offset} does not fit the output of ${out.length} values`);
  }
  const inside = region.x >= 0 && region.y >= 0 && region.x + w <= image.width && region.y + h <= image.height;
  if (!inside) {
    const zero0 = table[0]!,
      zero1 = table[256]!,
      zero2 = table[512]!;
    out.fill(zero0, offset, offset + plane);
    out.fill(zero1, offset + plane, offset + 2 * plane);
    out.fill(zero2, offset + 2 * plane, offset + 3 * plane);
  }
  const src = image.data;
  const stride = image.width * 3;
  const x0 = Math.max(0, -region.x),
    x1 = Math.min(w, image.width - region.x);
  const y0 = Math.max(0, -region.y),
    y1 = Math.min(h, image.height - region.y);
  for (let y = y0; y < y1; y++) {
    const rowStart = (region.y + y) * stride + region.x * 3;
    let o0 = offset + y * w;
    // Mirroring: output column x reads source column (w - 1 - x) of the region.
    let step = 1;
    let x = x0;
    if (flip) {
      o0 += w - 1 - x0;
      step = -1;
    } else {
      o0 += x0;
    }
    let o = o0;
    let p = rowStart + x0 * 3;
    if (grayscale) {
      for (; x < x1; x++, p += 3, o += step) {
        // PIL's RGB -> L: ITU-R 601-2 luma in 16-bit fixed point, rounded.
        const l = (src[p]! * 19595 + src[p + 1]! * 38470 + src[p + 2]! * 7471 + 0x8000) >> 16;
        out[o] = table[l]!;
        out[o + plane] = table[256 + l]!;
        out[o + 2 * plane] = table[512 + l]!;
      }
    } else {
      for (; x < x1; x++, p += 3, o += step) {
        out[o] = table[src[p]!]!;
        out[o + plane] = table[256 + src[p + 1]!]!;
        out[o + 2 * plane] = table[512 + src[p + 2]!]!;
      }
    }
  }
}
