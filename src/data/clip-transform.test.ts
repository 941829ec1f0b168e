import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyTrainTransform,
  planTrainTransform,
  testFrameRegion,
  testTransform,
  trainFrameRegion,
  trainTransform,
  type ClipArray,
} from './clip-transform.ts';
import { CLIP_MEAN, CLIP_STD, normalizationTable } from './frame-tensor.ts';
import type { UniformSource } from './crop-geometry.ts';
import { makeRgbImage, type Rect, type RgbImage } from './rgb-image.ts';
import { Rng } from './rng.ts';

const S = 224;
const table = normalizationTable({ mean: CLIP_MEAN, std: CLIP_STD });

/** 341x256 (already at scale 256, so the resize is an exact copy): R = x mod 256, G = y, B = tag. */
function coordinateFrame(tag: number, width = 341, height = 256): RgbImage {
  const img = makeRgbImage(width, height);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 3;
      img.data[p] = x % 256;
      img.data[p + 1] = y % 256;
      img.data[p + 2] = tag;
    }
  return img;
}

/** Byte value behind a normalised value of channel c (exact: the table is one-to-one). */
function byteOf(value: number, c: number): number {
  const v = table.subarray(c * 256, c * 256 + 256).indexOf(value);
  assert.ok(v >= 0, `value ${value} is not a normalised byte of channel ${c}`);
  return v;
}

function pixel(clip: ClipArray, frame: number, y: number, x: number): [number, number, number] {
  const plane = S * S;
  const base = frame * 3 * plane + y * S + x;
  return [byteOf(clip.data[base]!, 0), byteOf(clip.data[base + plane]!, 1), byteOf(clip.data[base + 2 * plane]!, 2)];
}

test('multi-crop views: shape, offsets and crop-major order of the original (1, 3, 5, 10 crops)', () => {
  // 2 clips x 2 frames, tagged 0..3 in the blue channel.
  const frames = [0, 1, 2, 3].map((t) => coordinateFrame(t * 50));
  const expected: Record<number, [number, number, boolean][]> = {
    1: [[58, 16, false]],
    3: [
      [0, 16, false],
      [116, 16, false],
      [58, 16, false],
    ],
    5: [
      [0, 0, false],
      [116, 0, false],
      [0, 32, false],
      [116, 32, false],
      [58, 16, false],
    ],
    10: [
      [0, 0, false],
      [0, 0, true],
      [116, 0, false],
      [116, 0, true],
      [0, 32, false],
      [0, 32, true],
      [116, 32, false],
      [116, 32, true],
      [58, 16, false],
      [58, 16, true],
    ],
  };
  for (const crops of [1, 3, 5, 10]) {
    const clip = testTransform(frames, { inputSize: S, testCrops: crops });
    assert.deepEqual(clip.shape, [crops * 4, 3, S, S]);
    assert.equal(clip.views, crops);
    assert.equal(clip.data.length, crops * 4 * 3 * S * S);
    expected[crops]!.forEach(([x, y, flip], v) => {
      for (let i = 0; i < 4; i++) {
        const left = flip ? x + S - 1 : x;
        const right = flip ? x : x + S - 1;
        assert.deepEqual(
          pixel(clip, v * 4 + i, 0, 0),
          [left % 256, y, i * 50],
          `${crops} crops, view ${v}, frame ${i}, top-left`,
        );
        assert.deepEqual(
          pixel(clip, v * 4 + i, S - 1, S - 1),
          [right % 256, y + S - 1, i * 50],
          `${crops} crops, view ${v}, frame ${i}, bottom-right`,
        );
      }
    });
  }
  assert.throws(() => testTransform(frames, { inputSize: S, testCrops: 4 }), /test_crops 4: only 1, 3, 5 or 10/);
});

test('normalisation is float32 (x / 255 - mean) / std', () => {
  const clip = testTransform([coordinateFrame(200)], { inputSize: S });
  assert.equal(
    clip.data[2 * S * S],
    Math.fround(Math.fround(Math.fround(200 / 255) - Math.fround(CLIP_MEAN[2])) / Math.fround(CLIP_STD[2])),
  );
});

/** Replays fixed draws: floats for nextFloat, and intInclusive always returns its low end. */
class ScriptedDraws implements UniformSource {
  constructor(private readonly floats: number[]) {}
  nextFloat(): number {
    const v = this.floats.shift();
    if (v === undefined) throw new Error('ScriptedDraws: out of floats');
    return v;
  }
  intInclusive(low: number): number {
    return low;
  }
}

// Area fraction 0.08 + 0.92 * 0.5, aspect 3/4 + (4/3 - 3/4) * 0.5, no side swap: 222x213 at (0, 0).
const CROP_DRAWS = [0.5, 0.5, 0.9];

test('train: one crop for all frames, flip mirrors, grayscale is PIL luma, in the original draw order', () => {
  const frames = [coordinateFrame(10), coordinateFrame(90)];
  const plain = trainTransform(frames, 5, { inputSize: S }, new ScriptedDraws([...CROP_DRAWS, 0.9, 0.9]));
  assert.deepEqual(plain.augmentation, {
    crop: { x: 0, y: 0, width: 222, height: 213 },
    flipped: false,
    grayscale: false,
  });
  assert.deepEqual(plain.clip.shape, [2, 3, S, S]);
  assert.equal(plain.label, 5);

  const flipped = trainTransform(frames, 5, { inputSize: S }, new ScriptedDraws([...CROP_DRAWS, 0.1, 0.9]));
  assert.equal(flipped.augmentation.flipped, true);
  for (const [f, y, x] of [
    [0, 0, 0],
    [1, 100, 37],
    [1, 223, 223],
  ] as const) {
    assert.deepEqual(pixel(flipped.clip, f, y, x), pixel(plain.clip, f, y, S - 1 - x), `frame ${f} (${y}, ${x})`);
  }

  const grey = trainTransform(frames, 5, { inputSize: S }, new ScriptedDraws([...CROP_DRAWS, 0.9, 0.1]));
  assert.equal(grey.augmentation.grayscale, true);
  for (const [f, y, x] of [
    [0, 5, 9],
    [1, 200, 150],
  ] as const) {
    const [r, g, b] = pixel(plain.clip, f, y, x);
    const l = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
    assert.deepEqual(pixel(grey.clip, f, y, x), [l, l, l]);
  }
  // Both frames share the crop: identical except the blue tag.
  assert.deepEqual(pixel(plain.clip, 0, 50, 60).slice(0, 2), pixel(plain.clip, 1, 50, 60).slice(0, 2));
});

test('train: the same seed gives the same clip; grayscale p=0.2 and flip p=0.5 show up over seeds', () => {
  const frames = [coordinateFrame(10), coordinateFrame(90)];
  const a = trainTransform(frames, 1, { inputSize: S }, new Rng(123));
  const b = trainTransform(frames, 1, { inputSize: S }, new Rng(123));
  assert.deepEqual(a.augmentation, b.augmentation);
  assert.deepEqual(a.clip.data, b.clip.data);
  let flips = 0,
    greys = 0;
  const crops = new Set<string>();
  for (let seed = 0; seed < 200; seed++) {
    const aug = trainTransform([coordinateFrame(0, 48, 36)], 1, { inputSize: 32 }, new Rng(seed)).augmentation;
    flips += aug.flipped ? 1 : 0;
    greys += aug.grayscale ? 1 : 0;
    crops.add(JSON.stringify(aug.crop));
  }
  assert.ok(flips > 70 && flips < 130, `${flips} flips in 200`);
  assert.ok(greys > 20 && greys < 60, `${greys} grayscale in 200`);
  assert.ok(crops.size > 100, `${crops.size} distinct crops in 200`);
});

test('Something-Something: exact 320x256 scale, flips swap left/right labels, never grayscale', () => {
  const frame = coordinateFrame(0, 320, 256);
  const flipped = trainTransform(
    [frame],
    86,
    { inputSize: S, dataset: 'something-something-v2' },
    new ScriptedDraws([...CROP_DRAWS, 0.1, 0.01]),
  );
  assert.equal(flipped.augmentation.flipped, true);
  assert.equal(flipped.augmentation.grayscale, false);
  assert.equal(flipped.label, 87);
  const kept = trainTransform(
    [frame],
    86,
    { inputSize: S, dataset: 'something-something-v2' },
    new ScriptedDraws([...CROP_DRAWS, 0.9, 0.01]),
  );
  assert.equal(kept.label, 86);
  const other = trainTransform(
    [frame],
    12,
    { inputSize: S, dataset: 'something-something-v2' },
    new ScriptedDraws([...CROP_DRAWS, 0.1, 0.01]),
  );
  assert.equal(other.label, 12);
});

test('train: when no sized crop fits, the fallback scales to input_size and crops at random', () => {
  // 1000x40 scales to 6400x256: every candidate crop is taller than 256, so all 10 tries fail.
  const frame = makeRgbImage(1000, 40);
  frame.data.fill(77);
  const draws = new ScriptedDraws([...Array.from({ length: 10 }, () => [0.5, 0.5, 0.9]).flat(), 0.9, 0.9]);
  const out = trainTransform([frame], 0, { inputSize: S }, draws);
  assert.equal(out.augmentation.crop, null);
  assert.deepEqual(out.clip.shape, [1, 3, S, S]);
  assert.deepEqual(pixel(out.clip, 0, 100, 100), [77, 77, 77]);
});

test('input_size other than 224 scales the short side to input_size, as the original', () => {
  const clip = testTransform([coordinateFrame(0, 448, 336)], { inputSize: 336 });
  assert.deepEqual(clip.shape, [1, 3, 336, 336]);
  // 448x336 is already at scale 336: the centre crop starts at x = 56, y = 0.
  const plane = 336 * 336;
  assert.equal(byteOf(clip.data[0]!, 0), 56);
  assert.equal(byteOf(clip.data[plane + 335 * 336]!, 1), 335 % 256);
});

test('a crop larger than the scaled frame is padded with black, as torchvision CenterCrop does', () => {
  // Something-Something test scale is exactly 320x240; a 256 crop needs 8 rows of padding on top.
  const clip = testTransform([coordinateFrame(30, 320, 240)], {
    inputSize: 256,
    dataset: 'something-something-v2',
    stage: 'test',
  });
  assert.deepEqual(clip.shape, [1, 3, 256, 256]);
  const plane = 256 * 256;
  const at = (c: number, y: number, x: number) => byteOf(clip.data[c * plane + y * 256 + x]!, c);
  assert.deepEqual([at(0, 0, 0), at(1, 7, 100), at(2, 7, 255)], [0, 0, 0]);
  // Row 8 is source row 0; columns start at round((320 - 256) / 2) = 32.
  assert.deepEqual([at(0, 8, 0), at(1, 8, 0), at(2, 8, 0)], [32, 0, 30]);
  assert.deepEqual([at(0, 247, 255), at(1, 247, 255)], [(32 + 255) % 256, 239]);
  assert.deepEqual([at(0, 248, 10), at(1, 255, 10)], [0, 0]);
});

/** The rectangle `region` of `frame` as a frame part (what a decoder that stops early returns). */
function framePart(frame: RgbImage, region: Rect): RgbImage {
  const part = makeRgbImage(region.width, region.height);
  for (let y = 0; y < region.height; y++) {
    const from = ((region.y + y) * frame.width + region.x) * 3;
    part.data.set(frame.data.subarray(from, from + region.width * 3), y * region.width * 3);
  }
  part.partOf = { x: region.x, y: region.y, frameWidth: frame.width, frameHeight: frame.height };
  return part;
}

function noiseFrame(rng: Rng, width: number, height: number): RgbImage {
  const img = makeRgbImage(width, height);
  for (let i = 0; i < img.data.length; i++) img.data[i] = rng.nextInt(256);
  return img;
}

test("transforms read only the frame region they name: parts of frames give the whole frames' clip", () => {
  const rng = new Rng(21);
  for (let trial = 0; trial < 12; trial++) {
    const width = rng.intInclusive(230, 460),
      height = rng.intInclusive(230, 340);
    const frames = [noiseFrame(rng, width, height), noiseFrame(rng, width, height)];
    const options = { inputSize: trial % 3 ? 224 : 112 };
    const seed = 100 + trial;
    const plan = planTrainTransform({ width, height }, options, new Rng(seed));
    const region = trainFrameRegion(plan, options);
    const whole = trainTransform(frames, 3, options, new Rng(seed));
    if (region) {
      assert.ok(region.width < width || region.height < height, 'a crop reads less than the frame');
      const parts = applyTrainTransform(
        frames.map((f) => framePart(f, region)),
        3,
        plan,
        options,
      );
      assert.deepEqual(
        parts.clip.data,
        whole.clip.data,
        `train trial ${trial}: ${width}x${height}, region ${JSON.stringify(region)}`,
      );
    } else {
      assert.equal(whole.augmentation.crop, null, 'only the fallback crop reads whole frames');
    }
    const testOptions = { ...options, testCrops: [1, 3, 5, 10][trial % 4]! };
    const testRegion = testFrameRegion({ width, height }, testOptions)!;
    assert.ok(testRegion);
    assert.deepEqual(
      testTransform(
        frames.map((f) => framePart(f, testRegion)),
        testOptions,
      ).data,
      testTransform(frames, testOptions).data,
      `test trial ${trial}`,
    );
  }
  // A part that lacks pixels the transform reads is refused, not read past.
  const frame = noiseFrame(rng, 320, 240);
  const region = testFrameRegion(frame, { inputSize: 224 })!;
  const short = framePart(frame, { ...region, width: region.width - 1 });
  assert.throws(
    () => testTransform([short], { inputSize: 224 }),
    /resize reads .* of the frame, but only .* was decoded/,
  );
});
