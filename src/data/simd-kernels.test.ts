import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimdFrameOps, simdKernelsAvailable } from './simd-kernels.ts';
import { NativeFrameOps } from './native-frame-ops.ts';
import { CLIP_MEAN, CLIP_STD, normalizationTable, writeNormalizedFrame } from './frame-tensor.ts';
import { planResize } from './pil-resample.ts';
import { makeRgbImage } from './rgb-image.ts';
import { Rng } from './rng.ts';
import type { FrameOps } from './frame-ops.ts';

/** WebAssembly everywhere; the addon's AVX2 kernels where the CPU has them. */
const kernelSets: FrameOps[] = [SimdFrameOps.create()!, NativeFrameOps.create()].filter((ops) => ops !== null);

test("the kernels' normalisation equals the table-driven JavaScript, mirrored and grey included, any width >= 4", () => {
  assert.ok(simdKernelsAvailable());
  for (const ops of kernelSets) normalizesAsJavaScript(ops);
});

function normalizesAsJavaScript(ops: FrameOps): void {
  const rng = new Rng(3);
  const table = normalizationTable({ mean: CLIP_MEAN, std: CLIP_STD });
  for (let trial = 0; trial < 40; trial++) {
    const width = rng.intInclusive(4, 41),
      height = rng.intInclusive(1, 9);
    const image = makeRgbImage(width + 3, height + 2);
    for (let i = 0; i < image.data.length; i++) image.data[i] = rng.nextInt(256);
    const region = { x: rng.intInclusive(0, 3), y: rng.intInclusive(0, 2), width, height };
    const flip = trial % 2 === 1,
      grey = trial % 4 >= 2;
    const want = new Float32Array(3 * width * height + 5);
    writeNormalizedFrame(want, 5, image, region, table, flip, grey);
    ops.reset();
    // A same-size resize is a plain copy into the kernel memory.
    const inArena = ops.resize(image, planResize(image, image.width, image.height, 'bilinear'));
    const got = new Float32Array(want.length);
    ops.normalize(inArena, region, CLIP_MEAN, CLIP_STD, flip, grey, got, 5);
    assert.deepEqual(got, want, `${ops.kind} trial ${trial}: ${width}x${height} flip=${flip} grey=${grey}`);
  }
}

test("the kernels' normalisation refuses regions it cannot do", () => {
  for (const ops of kernelSets) refusesBadRegions(ops);
});

function refusesBadRegions(ops: FrameOps): void {
  ops.reset();
  const image = makeRgbImage(8, 8);
  const inArena = ops.resize(image, planResize(image, 8, 8, 'bilinear'));
  const out = new Float32Array(3 * 64);
  assert.throws(
    () => ops.normalize(inArena, { x: 0, y: 0, width: 3, height: 2 }, CLIP_MEAN, CLIP_STD, false, false, out, 0),
    /at least 4 pixels wide/,
  );
  assert.throws(
    () => ops.normalize(inArena, { x: 6, y: 0, width: 4, height: 2 }, CLIP_MEAN, CLIP_STD, false, false, out, 0),
    /inside 8x8/,
  );
}
