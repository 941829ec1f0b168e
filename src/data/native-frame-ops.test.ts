import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NativeFrameOps } from './native-frame-ops.ts';
import { planResize, resizeWithJavaScript } from './pil-resample.ts';
import { makeRgbImage } from './rgb-image.ts';
import { Rng } from './rng.ts';
import { native } from '../torch/native.ts';

const ops = NativeFrameOps.create();
const skip = ops ? false : 'the addon has no frame kernels here (no AVX2)';

test('a resize of an image in the working memory, after the memory grew, gives the scalar pixels', { skip }, () => {
  // The training path resizes twice per frame; a frame larger than the first memory makes it grow
  // between the two, and the first result must survive the move.
  const rng = new Rng(9);
  const image = makeRgbImage(900, 700);
  for (let i = 0; i < image.data.length; i++) image.data[i] = rng.nextInt(256);
  const first = planResize(image, 640, 500, 'bicubic', undefined, { x: 20, y: 10, width: 600, height: 470 });
  const second = planResize({ width: 600, height: 470 }, 224, 224, 'bilinear');
  const want = resizeWithJavaScript(resizeWithJavaScript(image, first), second);
  ops!.reset();
  const got = ops!.download(ops!.resize(ops!.resize(image, first), second));
  assert.deepEqual(got.data, want.data);
});

test('the native kernels refuse reads and writes outside their arrays, naming the argument', { skip }, () => {
  const src = new Uint8Array(30),
    out = new Uint8Array(30);
  const bounds = Int32Array.of(0, 2, 8, 3);
  const split = new Int16Array(2 * 2 * 4);
  assert.throws(
    () => native.resampleHorizontal!(src, 0, 30, 1, out, 0, bounds, split, 2),
    /resampleHorizontal: the rows read end past src \(30 bytes\)/,
  );
  assert.throws(
    () => native.resampleHorizontal!(src, 0, 15, 1, out, 28, Int32Array.of(0, 2), split, 2),
    /rows written end past out/,
  );
  assert.throws(
    () => native.resampleHorizontal!(src, 0, 15, 1, out, 0, Int32Array.of(-1, 2), split, 2),
    /column 0 has xmin -1/,
  );
  assert.throws(
    () => native.resampleHorizontal!(src, 0, 15, 1, out, 0, Int32Array.of(0, 5), split, 2),
    /column 0 has xmin 0 and 5 taps/,
  );
  assert.throws(
    () => native.resampleVertical!(src, 0, 6, 0, out, 0, Int32Array.of(3, 3), new Int32Array(3), 3),
    /resampleVertical: the rows read end past src/,
  );
  assert.throws(
    () => native.resampleVertical!(src, 0, 6, 2, out, 0, Int32Array.of(1, 2), new Int32Array(3), 3),
    /row 0 starts at source row 1/,
  );
  assert.throws(
    () => native.normalizeFrame!(src, 0, 6, 2, 5, new Float32Array(29), 0, new Float32Array(768), false, false),
    /normalizeFrame: the planes written end past out \(29 values\)/,
  );
  assert.throws(
    () => native.normalizeFrame!(src, 0, 6, 2, 5, new Float32Array(30), 0, new Float32Array(767), false, false),
    /table must hold 3 x 256 values/,
  );
  assert.throws(
    () => native.normalizeFrame!(src, 0.5, 6, 2, 5, new Float32Array(30), 0, new Float32Array(768), false, false),
    /srcOffset must be an integer >= 0/,
  );
  assert.throws(
    () =>
      native.resampleVertical!(
        new Float32Array(4) as unknown as Uint8Array,
        0,
        6,
        0,
        out,
        0,
        bounds,
        new Int32Array(6),
        3,
      ),
    /src must be a Uint8Array/,
  );
});
