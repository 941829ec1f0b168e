import { test } from 'node:test';
import assert from 'node:assert/strict';
import { greaterNanFirst, stdNthElement, stdPartialSort, stdSort, torchSortDescendingIndices, torchTopkIndices } from './torch-order.ts';

// Recorded from PyTorch 1.13 on CPU: `x.topk(k, 0, True, True)[1]` and `torch.sort(x, 0, True)[1]`.
const RECORDED = [
  { values: [0.25, 0, 0, 0, 0, 0.25, 0, 0, 0.25, 0, 0.25, 0], k: 5, topk: [10, 8, 5, 0, 9], sort: [0, 5, 8, 10, 1, 2, 3, 4, 6, 7, 9, 11] },
  { values: [1, 1, 1, 1, 1, 1], k: 5, topk: [3, 5, 4, 0, 2], sort: [0, 1, 2, 3, 4, 5] },
  { values: [0.5, 0.5, 0, 0.5, 0, 0.5, 0], k: 3, topk: [1, 5, 3], sort: [0, 1, 3, 5, 2, 4, 6] },
  { values: new Array(20).fill(0), k: 1, topk: [12], sort: [10, 19, 18, 17, 16, 15, 14, 13, 12, 11, 0, 9, 8, 7, 6, 5, 4, 3, 2, 1] },
];

test('topk and sort reproduce torch CPU tie order', () => {
  for (const c of RECORDED) {
    assert.deepEqual(Array.from(torchTopkIndices(c.values, c.k)), c.topk, `topk of ${JSON.stringify(c.values)}`);
    assert.deepEqual(Array.from(torchSortDescendingIndices(c.values)), c.sort, `sort of ${JSON.stringify(c.values)}`);
  }
});

test('introsort path (more than 16 values) and partial_sort path (k * 64 <= n) match torch', () => {
  const forty = Array.from({ length: 40 }, (_, i) => i % 3);
  assert.deepEqual(Array.from(torchSortDescendingIndices(forty)),
    [29, 20, 17, 23, 14, 26, 11, 8, 32, 5, 35, 2, 38, 31, 1, 34, 28, 25, 37, 22, 16, 13, 4, 10, 19, 7, 30, 39, 0, 3, 36, 6, 33, 9, 12, 27, 15, 24, 18, 21]);
  const fourHundred = Array.from({ length: 400 }, (_, i) => i % 4);
  assert.deepEqual(Array.from(torchTopkIndices(fourHundred, 5)), [3, 7, 15, 19, 11]);
});

function pseudoRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

test('the libstdc++ algorithms order, select and partially sort correctly on random data', () => {
  const random = pseudoRandom(7);
  for (let round = 0; round < 200; round++) {
    const n = 1 + Math.floor(random() * 90);
    const keys = Float64Array.from({ length: n }, () => Math.floor(random() * 6));
    const expected = Array.from(keys).sort((a, b) => b - a);
    const sorted = { keys: keys.slice(), ids: Int32Array.from({ length: n }, (_, i) => i) };
    stdSort(sorted, 0, n, greaterNanFirst);
    assert.deepEqual(Array.from(sorted.keys), expected);
    for (let i = 0; i < n; i++) assert.equal(sorted.keys[i], keys[sorted.ids[i]!], 'ids travel with their keys');

    const k = 1 + Math.floor(random() * n);
    const selected = { keys: keys.slice(), ids: Int32Array.from({ length: n }, (_, i) => i) };
    stdNthElement(selected, 0, k - 1, n, greaterNanFirst);
    assert.equal(selected.keys[k - 1], expected[k - 1]);
    for (let i = 0; i < k - 1; i++) assert.ok(selected.keys[i]! >= selected.keys[k - 1]!);
    for (let i = k; i < n; i++) assert.ok(selected.keys[i]! <= selected.keys[k - 1]!);

    const partial = { keys: keys.slice(), ids: Int32Array.from({ length: n }, (_, i) => i) };
    stdPartialSort(partial, 0, k, n, greaterNanFirst);
    assert.deepEqual(Array.from(partial.keys.subarray(0, k)), expected.slice(0, k));
  }
});

test('NaN ranks above every number; k outside [1, n] is refused', () => {
  assert.deepEqual(Array.from(torchTopkIndices([1, NaN, 3], 2)), [1, 2]);
  assert.equal(torchSortDescendingIndices([2, NaN, 5])[0], 1);
  assert.throws(() => torchTopkIndices([1, 2], 3), /k = 3 must be an integer in \[1, 2\]/);
  assert.throws(() => torchTopkIndices([1, 2], 0), /k = 0/);
});

test('strided access reads one column of a row-major matrix', () => {
  // 3 x 2 matrix; column 1 is [5, 7, 6].
  const m = [1, 5, 2, 7, 3, 6];
  assert.deepEqual(Array.from(torchSortDescendingIndices(m, 1, 3, 2)), [1, 2, 0]);
  assert.deepEqual(Array.from(torchTopkIndices(m, 1, 2, 2)), [1]); // row 1: [2, 7]
});
