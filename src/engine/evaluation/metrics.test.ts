import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  argmaxRows,
  averagePrecisionPerClass,
  confusionMatrix,
  meanAveragePrecision,
  meanClassAccuracy,
  oneHot,
  perClassAccuracy,
  runningMeanAveragePrecision,
  singleLabelMetrics,
  softmaxRows,
  topkAccuracy,
  type ScoreMatrix,
} from './metrics.ts';

const close = (actual: number, expected: number, tolerance = 1e-12) =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${actual} != ${expected}`);

test('top-k accuracy counts a row when its label is among the k best', () => {
  const scores: ScoreMatrix = { data: new Float32Array([0.1, 0.5, 0.4, 0.3, 0.2, 0.9]), rows: 2, cols: 3 };
  assert.deepEqual(topkAccuracy(scores, [2, 2], [1, 2]), [50, 100]);
  assert.deepEqual(topkAccuracy(scores, [0, 0], [1, 2, 5]), [0, 50, 100]); // k >= classes counts every row
});

test('top-k accuracy resolves exact ties the way torch.topk does', () => {
  // Four classes tie at 0.25; torch's topk(5) on CPU returns [10, 8, 5, 0, 9].
  const row = [0.25, 0, 0, 0, 0, 0.25, 0, 0, 0.25, 0, 0.25, 0];
  const scores = { data: row, rows: 1, cols: 12 };
  assert.deepEqual(topkAccuracy(scores, [10]), [100, 100]);
  assert.deepEqual(topkAccuracy(scores, [0]), [0, 100]);
  assert.deepEqual(topkAccuracy(scores, [1]), [0, 0]);
});

// Recorded from PyTorch 1.13 on CPU: `x.topk(k, 0, True, True)[1]` and `torch.sort(x, 0, True)[1]`.
// Lengths 20 and 40 take std::sort's introsort path, 400 with k = 5 topk's partial_sort path (k * 64 <= n).
const RECORDED_TIE_ORDERS = [
  {
    values: [0.25, 0, 0, 0, 0, 0.25, 0, 0, 0.25, 0, 0.25, 0],
    k: 5,
    topk: [10, 8, 5, 0, 9],
    sort: [0, 5, 8, 10, 1, 2, 3, 4, 6, 7, 9, 11],
  },
  { values: [1, 1, 1, 1, 1, 1], k: 5, topk: [3, 5, 4, 0, 2], sort: [0, 1, 2, 3, 4, 5] },
  { values: [0.5, 0.5, 0, 0.5, 0, 0.5, 0], k: 3, topk: [1, 5, 3], sort: [0, 1, 3, 5, 2, 4, 6] },
  {
    values: new Array<number>(20).fill(0),
    k: 1,
    topk: [12],
    sort: [10, 19, 18, 17, 16, 15, 14, 13, 12, 11, 0, 9, 8, 7, 6, 5, 4, 3, 2, 1],
  },
  {
    values: Array.from({ length: 40 }, (_, i) => i % 3),
    k: 1,
    topk: [11],
    sort: [
      29, 20, 17, 23, 14, 26, 11, 8, 32, 5, 35, 2, 38, 31, 1, 34, 28, 25, 37, 22, 16, 13, 4, 10, 19, 7, 30, 39, 0, 3,
      36, 6, 33, 9, 12, 27, 15, 24, 18, 21,
    ],
  },
  { values: Array.from({ length: 400 }, (_, i) => i % 4), k: 5, topk: [3, 7, 15, 19, 11] },
];

/** The classes `topkAccuracy` ranks first, read back through it: label c is at position p when it counts for k = p + 1 but not k = p. */
function topkOrderSeenByAccuracy(values: number[], k: number): number[] {
  assert.ok(k < values.length, 'k below the number of classes (a larger k counts every row)');
  const ks = Array.from({ length: k }, (_, i) => i + 1);
  const order = new Array<number>(k).fill(-1);
  for (let c = 0; c < values.length; c++) {
    const position = topkAccuracy({ data: values, rows: 1, cols: values.length }, [c], ks).indexOf(100);
    if (position >= 0) {
      assert.equal(order[position], -1, `two classes at position ${position}`);
      order[position] = c;
    }
  }
  return order;
}

/** The row order `averagePrecisionPerClass` walks, read back: with row r the only positive of class r, AP = 1 / (rank of r). */
function sortOrderSeenByAveragePrecision(values: number[]): number[] {
  const n = values.length;
  const scores = { data: values.flatMap((v) => new Array<number>(n).fill(v)), rows: n, cols: n };
  const targets = {
    data: Array.from({ length: n * n }, (_, i) => (Math.floor(i / n) === i % n ? 1 : 0)),
    rows: n,
    cols: n,
  };
  const ap = averagePrecisionPerClass(scores, targets);
  const order = new Array<number>(n).fill(-1);
  for (let r = 0; r < n; r++) order[Math.round(1 / ap[r]!) - 1] = r;
  return order;
}

test('top-k accuracy and average precision order ties exactly as torch 1.13 topk / sort on CPU', () => {
  for (const c of RECORDED_TIE_ORDERS) {
    assert.deepEqual(topkOrderSeenByAccuracy(c.values, c.k), c.topk, `topk(${c.k}) of ${JSON.stringify(c.values)}`);
    if (c.sort)
      assert.deepEqual(sortOrderSeenByAveragePrecision(c.values), c.sort, `sort of ${JSON.stringify(c.values)}`);
  }
});

test('NaN scores rank above every number, in top-k accuracy and in average precision', () => {
  assert.deepEqual(topkAccuracy({ data: [1, NaN, 3], rows: 1, cols: 3 }, [1], [1]), [100]);
  assert.deepEqual(topkAccuracy({ data: [1, NaN, 3], rows: 1, cols: 3 }, [2], [1, 2]), [0, 100]);
  assert.deepEqual(sortOrderSeenByAveragePrecision([2, NaN, 5]), [1, 2, 0]);
});

test('average precision as torchnet APMeter; a class without positives scores 0 and counts in the mean', () => {
  const scores = { data: [0.9, 0.1, 0.5, 0.8, 0.7, 0.5, 0.3, 0.6, 0.5, 0.2, 0.4, 0.5], rows: 4, cols: 3 };
  const targets = { data: [1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0], rows: 4, cols: 3 };
  const ap = averagePrecisionPerClass(scores, targets);
  close(ap[0]!, 5 / 6);
  close(ap[1]!, 1);
  assert.equal(ap[2], 0);
  close(meanAveragePrecision(scores, targets), (5 / 6 + 1) / 3);
});

test('running mAP averages the cumulative mAP after each batch, weighted by batch size', () => {
  const scores = { data: [0.9, 0.1, 0.8, 0.7, 0.3, 0.6, 0.2, 0.4], rows: 4, cols: 2 };
  const targets = { data: [1, 0, 0, 1, 1, 0, 0, 0], rows: 4, cols: 2 };
  close(meanAveragePrecision(scores, targets), 11 / 12);
  // batch 2: mAP after 2 rows = 1, after 4 rows = 11/12.
  close(runningMeanAveragePrecision(scores, targets, 2), (1 * 2 + (11 / 12) * 2) / 4);
  // batch 3: after 3 rows 11/12 (weight 3), after 4 rows 11/12 (weight 1).
  close(runningMeanAveragePrecision(scores, targets, 3), 11 / 12);
  close(runningMeanAveragePrecision(scores, targets, 4), 11 / 12);
});

test('running mAP re-sorts prefixes when scores tie, as the original meter does', () => {
  // Column 0 ties everywhere: the rank of the positive row depends on the sort of each prefix.
  const rows = 20;
  const scores = { data: Array.from({ length: rows * 2 }, (_, i) => (i % 2 === 0 ? 0.5 : i / 100)), rows, cols: 2 };
  const targets = { data: Array.from({ length: rows * 2 }, (_, i) => (i === 6 || i === 15 ? 1 : 0)), rows, cols: 2 };
  let expected = 0;
  for (let seen = 5; seen <= rows; seen += 5) expected += meanAveragePrecision(scores, targets, seen) * 5;
  close(runningMeanAveragePrecision(scores, targets, 5), expected / rows);
  // The same computation in PyTorch 1.13 (torch.sort on each prefix, as torchnet's APMeter) gives:
  close(runningMeanAveragePrecision(scores, targets, 5), 0.16760150156915188, 1e-7);
});

test('single-label metrics: top-1/top-3 of the logits, mAP (percent) of their softmax', () => {
  const logits = { data: [2, 1, 0, 0, 3, 1], rows: 2, cols: 3 };
  const m = singleLabelMetrics(logits, [0, 2]);
  assert.equal(m.top1, 50);
  assert.equal(m.top3, 100);
  close(m.mAP, (100 * 2) / 3, 1e-9); // classes 0 and 2 rank their positive first, class 1 has none
});

test('softmax rows are float32 and saturate exactly', () => {
  const p = softmaxRows({ data: [0, 200, 0, 1, 2, 3], rows: 2, cols: 3 });
  assert.ok(p instanceof Float32Array);
  assert.deepEqual(Array.from(p.subarray(0, 3)), [0, 1, 0]);
  close(p[3]! + p[4]! + p[5]!, 1, 1e-6);
  assert.deepEqual(Array.from(argmaxRows({ data: [1, 3, 3, 0, -1, -2], rows: 2, cols: 3 })), [1, 0]);
});

test('confusion matrix and per-class accuracy', () => {
  const counts = confusionMatrix([0, 1, 1, 2], [0, 1, 2, 2], 4);
  assert.deepEqual(Array.from(counts), [1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
  const perClass = perClassAccuracy(counts, 4);
  assert.deepEqual(Array.from(perClass.subarray(0, 3)), [100, 100, 50]);
  assert.ok(Number.isNaN(perClass[3]!), 'a class with no samples is NaN, not 0');
  close(meanClassAccuracy(counts, 4), 250 / 3);
  assert.deepEqual(Array.from(oneHot([2, 0], 3).data), [0, 0, 1, 1, 0, 0]);
});

test('bad inputs are refused with the shape, index or value at fault', () => {
  const scores = { data: new Float32Array(6), rows: 2, cols: 3 };
  assert.throws(
    () => topkAccuracy({ data: new Float32Array(5), rows: 2, cols: 3 }, [0, 1]),
    /data holds 5 values but dims \[2, 3\] need 6/,
  );
  assert.throws(() => topkAccuracy(scores, [0]), /1 labels for 2 score rows/);
  assert.throws(() => topkAccuracy(scores, [0, 3]), /label\[1\] = 3 is not a class index in \[0, 3\)/);
  assert.throws(() => topkAccuracy(scores, [0, 1], [0]), /k = 0/);
  assert.throws(
    () => averagePrecisionPerClass(scores, { data: [0, 0, 2, 0, 0, 0], rows: 2, cols: 3 }),
    /targets\[0, 2\] = 2; targets must be binary/,
  );
  assert.throws(
    () => averagePrecisionPerClass(scores, { data: [0, 0, 0], rows: 1, cols: 3 }),
    /targets are \[1, 3\] but scores are \[2, 3\]/,
  );
  assert.throws(
    () => runningMeanAveragePrecision(scores, { data: new Array(6).fill(0), rows: 2, cols: 3 }, 0),
    /batchSize = 0/,
  );
  assert.throws(() => confusionMatrix([0, 5], [0, 1], 3), /predictions: label\[1\] = 5/);
  assert.throws(() => perClassAccuracy(new Int32Array(4), 3), /holds 4 counts; expected 3x3/);
});
