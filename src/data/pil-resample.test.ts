import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  axisCoefficients,
  planResize,
  planSourceRect,
  resizeWindow,
  resizeWithJavaScript,
  type ResampleFilter,
} from './pil-resample.ts';
import { SimdFrameOps } from './simd-kernels.ts';
import { NativeFrameOps } from './native-frame-ops.ts';
import type { FrameOps } from './frame-ops.ts';
import { makeRgbImage, type Rect, type RgbImage } from './rgb-image.ts';
import { Rng } from './rng.ts';

/** The 7x5 test image: value (x*37 + y*11 + c*50 + x*y*13) mod 256. */
function patternImage(): RgbImage {
  const img = makeRgbImage(7, 5);
  for (let y = 0; y < 5; y++)
    for (let x = 0; x < 7; x++)
      for (let c = 0; c < 3; c++) {
        img.data[(y * 7 + x) * 3 + c] = (x * 37 + y * 11 + c * 50 + x * y * 13) % 256;
      }
  return img;
}

// Outputs of Pillow 9.4 `Image.resize` on patternImage() (computed once with PIL, pasted here).
const PIL_BICUBIC_4x3 = [
  20, 70, 125, 95, 147, 169, 156, 148, 133, 129, 98, 88, 49, 105, 156, 146, 155, 151, 95, 66, 87, 108, 137, 165, 84,
  130, 176, 143, 113, 104, 103, 134, 165, 174, 93, 90,
];
const PIL_BILINEAR_10x6 = [
  0, 50, 100, 20, 70, 120, 46, 96, 146, 72, 122, 172, 98, 148, 198, 124, 174, 224, 150, 200, 237, 176, 226, 84, 202,
  136, 46, 222, 16, 66, 8, 58, 108, 34, 84, 134, 67, 117, 167, 100, 150, 200, 133, 183, 107, 165, 148, 73, 188, 55, 102,
  87, 89, 91, 72, 93, 108, 97, 83, 133, 17, 67, 117, 49, 99, 149, 90, 140, 190, 130, 180, 230, 170, 123, 104, 158, 74,
  54, 96, 44, 94, 62, 85, 135, 75, 125, 175, 107, 157, 207, 27, 77, 127, 65, 115, 165, 112, 162, 186, 160, 210, 159,
  139, 92, 104, 97, 50, 100, 48, 98, 142, 95, 145, 115, 143, 145, 136, 181, 124, 174, 36, 86, 136, 80, 130, 180, 135,
  169, 171, 190, 179, 47, 79, 107, 90, 46, 96, 146, 101, 148, 188, 156, 158, 64, 183, 111, 56, 191, 49, 99, 44, 94, 144,
  93, 143, 193, 155, 141, 191, 218, 24, 74, 113, 74, 124, 86, 136, 186, 148, 186, 236, 211, 69, 119, 158, 67, 117, 66,
  116, 166,
];
// image.crop((1, 1, 6, 5)).resize((3, 3), BICUBIC)
const PIL_CROP_BICUBIC_3x3 = [
  86, 142, 199, 173, 130, 72, 79, 43, 101, 130, 184, 173, 106, 81, 107, 82, 141, 116, 167, 131, 146, 91, 109, 142, 180,
  123, 130,
];

/** Every kernel set this machine runs: WebAssembly always (Node >= 20), the addon's where the CPU has AVX2. */
const kernelSets: FrameOps[] = [SimdFrameOps.create()!, NativeFrameOps.create()].filter((ops) => ops !== null);

/** The scalar reference first, then each kernel set's pixels for the same plan. */
function allKernels(
  image: RgbImage,
  w: number,
  h: number,
  filter: ResampleFilter,
  source?: Rect,
  window?: Rect,
): RgbImage[] {
  const plan = planResize(image, w, h, filter, source, window);
  return [
    resizeWithJavaScript(image, plan),
    ...kernelSets.map((ops) => {
      ops.reset();
      return ops.download(ops.resize(image, plan));
    }),
  ];
}

test('matches Pillow byte for byte (down and up, bicubic and bilinear, with a source box)', () => {
  const img = patternImage();
  for (const out of allKernels(img, 4, 3, 'bicubic')) assert.deepEqual([...out.data], PIL_BICUBIC_4x3);
  for (const out of allKernels(img, 10, 6, 'bilinear')) assert.deepEqual([...out.data], PIL_BILINEAR_10x6);
  for (const out of allKernels(img, 3, 3, 'bicubic', { x: 1, y: 1, width: 5, height: 4 })) {
    assert.deepEqual([...out.data], PIL_CROP_BICUBIC_3x3);
  }
});

test('the frame kernels agree with the scalar code on random images', () => {
  const rng = new Rng(7);
  for (let trial = 0; trial < 25; trial++) {
    const w = rng.intInclusive(1, 90),
      h = rng.intInclusive(1, 90);
    const img = makeRgbImage(w, h);
    for (let i = 0; i < img.data.length; i++) img.data[i] = rng.nextInt(256);
    const ow = rng.intInclusive(1, 120),
      oh = rng.intInclusive(1, 120);
    const filter: ResampleFilter = trial % 2 ? 'bicubic' : 'bilinear';
    const [js, ...kernels] = allKernels(img, ow, oh, filter);
    kernels.forEach((out, k) =>
      assert.deepEqual(out.data, js!.data, `${kernelSets[k]!.kind} trial ${trial}: ${w}x${h} -> ${ow}x${oh} ${filter}`),
    );
  }
});

test('a window equals the same crop of the full resize', () => {
  const rng = new Rng(11);
  const img = makeRgbImage(61, 47);
  for (let i = 0; i < img.data.length; i++) img.data[i] = rng.nextInt(256);
  const full = resizeWindow(img, 50, 39, 'bicubic');
  const win: Rect = { x: 13, y: 7, width: 22, height: 19 };
  const part = resizeWindow(img, 50, 39, 'bicubic', undefined, win);
  for (let y = 0; y < win.height; y++) {
    const want = full.data.subarray(((y + win.y) * 50 + win.x) * 3, ((y + win.y) * 50 + win.x + win.width) * 3);
    assert.deepEqual(part.data.subarray(y * win.width * 3, (y + 1) * win.width * 3), want, `row ${y}`);
  }
});

test('same size is an exact copy (PIL skips the pass) and coefficients sum to one', () => {
  const img = patternImage();
  assert.deepEqual(resizeWindow(img, 7, 5, 'bicubic').data, img.data);
  const c = axisCoefficients(427, 341, 'bicubic');
  for (let i = 0; i < c.outSize; i++) {
    let sum = 0;
    for (let t = 0; t < c.bounds[i * 2 + 1]!; t++) sum += c.weights[i * c.ksize + t]!;
    assert.ok(Math.abs(sum - (1 << 22)) <= c.ksize, `output ${i}: fixed-point weights sum to ${sum}`);
  }
});

test('rectangles outside the image or output are refused with the rectangle named', () => {
  const img = patternImage();
  assert.throws(
    () => resizeWindow(img, 4, 3, 'bicubic', { x: 3, y: 0, width: 5, height: 5 }),
    /source rectangle \(x=3, y=0, 5x5\).*inside 7x5/,
  );
  assert.throws(
    () => resizeWindow(img, 4, 3, 'bicubic', undefined, { x: 0, y: 0, width: 5, height: 3 }),
    /output window.*inside 4x3/,
  );
  assert.throws(() => resizeWindow(img, 0, 3, 'bicubic'), /output size 0x3/);
});

test('the frame kernels equal the scalar code on extreme pixels, windows and both tap parities', () => {
  // 0/255 stripes drive the sums to both clip limits; the sizes give odd and even tap counts, an
  // upscale whose centre weight is exactly 1 (the largest split weight) and a long downscale.
  const img = makeRgbImage(64, 48);
  for (let y = 0; y < 48; y++)
    for (let x = 0; x < 64; x++)
      for (let c = 0; c < 3; c++) img.data[(y * 64 + x) * 3 + c] = ((x >> c) + y) % 2 ? 255 : 0;
  const sizes: [number, number][] = [
    [51, 38],
    [50, 37],
    [128, 96],
    [64, 96],
    [7, 5],
    [3, 2],
  ];
  for (const filter of ['bicubic', 'bilinear'] as const) {
    for (const [w, h] of sizes) {
      const windows: (Rect | undefined)[] = [
        undefined,
        { x: Math.floor(w / 4), y: Math.floor(h / 3), width: Math.max(1, w >> 1), height: Math.max(1, h >> 1) },
      ];
      for (const window of windows) {
        const [js, ...kernels] = allKernels(img, w, h, filter, undefined, window);
        kernels.forEach((out, k) =>
          assert.deepEqual(
            out.data,
            js!.data,
            `${kernelSets[k]!.kind}: ${filter} 64x48 -> ${w}x${h} window ${JSON.stringify(window)}`,
          ),
        );
      }
    }
  }
});

test('the frame kernels resize a frame decoded in part (just the pixels the plan reads) as the whole frame', () => {
  const rng = new Rng(13);
  const img = makeRgbImage(90, 70);
  for (let i = 0; i < img.data.length; i++) img.data[i] = rng.nextInt(256);
  for (const filter of ['bicubic', 'bilinear'] as const) {
    const plan = planResize(
      img,
      70,
      50,
      filter,
      { x: 4, y: 3, width: 80, height: 60 },
      { x: 20, y: 10, width: 30, height: 25 },
    );
    const reads = planSourceRect(plan);
    const part = makeRgbImage(reads.width, reads.height);
    for (let y = 0; y < reads.height; y++) {
      const from = ((reads.y + y) * 90 + reads.x) * 3;
      part.data.set(img.data.subarray(from, from + reads.width * 3), y * reads.width * 3);
    }
    part.partOf = { x: reads.x, y: reads.y, frameWidth: 90, frameHeight: 70 };
    const want = resizeWithJavaScript(img, plan);
    for (const ops of kernelSets) {
      ops.reset();
      assert.deepEqual(ops.download(ops.resize(part, plan)).data, want.data, `${ops.kind} ${filter}`);
      const short = { ...part, partOf: { ...part.partOf, x: reads.x + 1 } };
      assert.throws(() => ops.resize(short, plan), /was decoded/);
    }
  }
});
