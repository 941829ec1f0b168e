import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  frameAveragedScores,
  halfClassSplit,
  meanAndStd,
  zeroShotFullClasses,
  zeroShotHalfClasses,
  type ClassFeatures,
  type FrameFeatures,
} from './zeroshot.ts';

/** One-hot class features in `dim` dimensions, and videos whose frames point (mostly) at a class. */
function toyProblem(classes: number, framesOf: number[][]): { video: FrameFeatures; text: ClassFeatures } {
  const dim = classes;
  const text = { data: new Float32Array(classes * dim), classes, dim };
  for (let c = 0; c < classes; c++) text.data[c * dim + c] = 1;
  const frames = framesOf[0]!.length;
  const video = { data: new Float32Array(framesOf.length * frames * dim), videos: framesOf.length, frames, dim };
  framesOf.forEach((perFrame, v) =>
    perFrame.forEach((c, f) => {
      video.data[(v * frames + f) * dim + c] = 0.05;
    }),
  );
  return { video, text };
}

test('scores: softmax of 100 * frame . class over the chosen classes, averaged over frames', () => {
  const { video, text } = toyProblem(3, [
    [0, 0],
    [1, 2],
  ]);
  const all = frameAveragedScores(video, text);
  assert.deepEqual([all.rows, all.cols], [2, 3]);
  const e = Math.exp(5);
  const p = e / (e + 2); // one class at logit 5, two at 0
  assert.ok(Math.abs(all.data[0]! - p) < 1e-6);
  assert.ok(Math.abs(all.data[4]! - (p + (1 - p) / 2) / 2) < 1e-6, 'video 1: class 1 wins one frame of two');
  const subset = frameAveragedScores(video, text, [1], [2, 0]);
  assert.deepEqual([subset.rows, subset.cols], [1, 2]);
  assert.ok(Math.abs(subset.data[0]! - (1 / 2) * (0.5 + e / (e + 1))) < 1e-6, 'softmax runs over the subset only');
  assert.ok(all.data instanceof Float32Array, 'float32 scores, as the original tensors');
  assert.deepEqual(frameAveragedScores(video, text, [], [0]), { data: new Float32Array(0), rows: 0, cols: 1 });
});

test('full and half-classes accuracy on a toy problem', () => {
  // 4 classes, 8 videos; video v is labelled v % 4 and its frames point at class v % 4, except video 7.
  const { video, text } = toyProblem(4, [[0], [1], [2], [3], [0], [1], [2], [0]]);
  const labels = [0, 1, 2, 3, 0, 1, 2, 3];
  assert.deepEqual(zeroShotFullClasses(video, text, labels), { top1: 87.5, top5: 100 });
  const half = zeroShotHalfClasses(video, text, labels);
  assert.equal(half.top1.length, 10);
  half.pickedClasses.forEach((picked, s) => assert.deepEqual(Array.from(picked), Array.from(halfClassSplit(4, s))));
  half.top1.forEach((acc, s) => {
    const picked = new Set(half.pickedClasses[s]);
    // Video 7 (label 3, looks like class 0) is wrong whenever 3 is picked: class 0 beats it, or, when 0
    // is not picked, both classes score 0.5 and torch's topk keeps the lower class first.
    const kept = labels.filter((l) => picked.has(l)).length;
    const wrong = picked.has(3) ? 1 : 0;
    assert.equal(acc, (100 * (kept - wrong)) / kept, `split ${s}`);
  });
  assert.ok(
    half.top5.every((a) => a === 100),
    'two classes per split: top-5 always hits',
  );
  const { mean, std } = meanAndStd(half.top1);
  assert.equal(half.top1Mean, mean);
  assert.equal(half.top1Std, std);
});

test('a picked class without any video drops out of the split, as np.unique(true_label[sel]) does', () => {
  // No video has label 1; a split that picks 1 keeps only its other class, so top-1 is trivially 100.
  const { video, text } = toyProblem(4, [[3], [0], [2], [0]]);
  const labels = [0, 0, 2, 3];
  const half = zeroShotHalfClasses(video, text, labels);
  half.pickedClasses.forEach((picked, s) => {
    if (picked.includes(1)) assert.equal(half.top1[s], 100, `split ${s} picks ${Array.from(picked)}`);
  });
});

test('mean and population standard deviation (ddof 0)', () => {
  assert.deepEqual(meanAndStd([1, 3]), { mean: 2, std: 1 });
  assert.throws(() => meanAndStd([]), /no values/);
});

test('shape and label errors name what is wrong', () => {
  const { video, text } = toyProblem(3, [[0], [1]]);
  assert.throws(() => zeroShotFullClasses(video, text, [0]), /1 labels for 2 videos/);
  assert.throws(() => zeroShotFullClasses(video, text, [0, 3]), /label\[1\] = 3 is not a class index in \[0, 3\)/);
  assert.throws(
    () => zeroShotFullClasses(video, { ...text, dim: 2, data: new Float32Array(6) }, [0, 1]),
    /class features have dim 2 but video features have dim 3/,
  );
  assert.throws(
    () => zeroShotFullClasses({ ...video, frames: 2 }, text, [0, 1]),
    /hold 6 values; \[2, 2, 3\] needs 12/,
  );
  assert.throws(
    () => zeroShotHalfClasses(video, text, [0, 0]),
    /split \d: no video has a label among the picked classes/,
  );
  assert.throws(() => frameAveragedScores(video, text, [0, 2]), /frameAveragedScores: video index 2 outside \[0, 2\)/);
  assert.throws(
    () => frameAveragedScores(video, text, [0], [1, -1]),
    /frameAveragedScores: class index -1 outside \[0, 3\)/,
  );
  assert.throws(() => frameAveragedScores(video, text, [0.5]), /video index 0.5/);
});
