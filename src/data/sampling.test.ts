import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from './rng.ts';
import {
  charadesTrainIndices,
  linspaceInt,
  paddedTrainIndices,
  resolveIndexBias,
  roundHalfEven,
  testIndices,
  trainIndices,
  valIndices,
} from './sampling.ts';
import type { CharadesSegment } from './charades.ts';

test('numpy helpers: round half to even, linspace with integer dtype (NumPy 2 floors)', () => {
  assert.deepEqual([0.5, 1.5, 2.5, 3.5, 2.4999, 2.5001, 7.5].map(roundHalfEven), [0, 2, 2, 4, 2, 3, 8]);
  assert.deepEqual(linspaceInt(0, -0.625, 2), [0, -1]);
  assert.deepEqual(linspaceInt(0, 11.5, 4), [0, 3, 7, 11]);
  assert.deepEqual(linspaceInt(0, 5, 1), [0]);
  assert.equal(resolveIndexBias(undefined, 'frame{:d}.jpg'), 0);
  assert.equal(resolveIndexBias(null, 'img_{:05d}.jpg'), 1);
  assert.equal(resolveIndexBias(0, 'img_{:05d}.jpg'), 0);
});

/** Possible values of every training segment, from numpy's round over (n - 1) / T (computed with numpy). */
const TRAIN_BOUNDS: [number, number, [number, number][]][] = [
  [
    6,
    4,
    [
      [0, 1],
      [1, 2],
      [2, 4],
      [4, 5],
    ],
  ],
  [
    11,
    4,
    [
      [0, 2],
      [2, 5],
      [5, 8],
      [8, 10],
    ],
  ],
  [
    3,
    8,
    [
      [0, 0],
      [0, 0],
      [0, 1],
      [1, 1],
      [1, 1],
      [1, 2],
      [2, 2],
      [2, 2],
    ],
  ],
  [
    7,
    2,
    [
      [0, 3],
      [3, 6],
    ],
  ],
];

test('training sampler draws exactly the original range per segment (both ends included)', () => {
  const rng = new Rng(11);
  for (const [n, T, bounds] of TRAIN_BOUNDS) {
    const seen = bounds.map(() => new Set<number>());
    for (let k = 0; k < 400; k++) {
      const idx = trainIndices(n, { numSegments: T }, rng);
      assert.equal(idx.length, T);
      idx.forEach((v, i) => seen[i]!.add(v - 1));
    }
    bounds.forEach(([lo, hi], i) => {
      const expected = Array.from({ length: hi - lo + 1 }, (_, j) => lo + j);
      assert.deepEqual(
        [...seen[i]!].sort((a, b) => a - b),
        expected,
        `n=${n} T=${T} segment ${i}`,
      );
    });
  }
  const a = trainIndices(300, { numSegments: 8 }, new Rng(5));
  assert.deepEqual(trainIndices(300, { numSegments: 8 }, new Rng(5)), a, 'same seed, same indices');
});

test('dense training and validation: start 0 up to 129 frames, random start with stride after', () => {
  assert.deepEqual(trainIndices(100, { numSegments: 8, dense: true }, new Rng(1)), [1, 17, 33, 49, 65, 81, 97, 13]);
  const starts = new Set<number>();
  const rng = new Rng(2);
  for (let k = 0; k < 2000; k++) {
    const idx = trainIndices(300, { numSegments: 8, dense: true }, rng);
    const start = idx[0]! - 1;
    assert.ok(start >= 0 && start <= 171, `start ${start}`);
    idx.forEach((v, i) => assert.equal(v - 1, (start + 16 * i) % 300));
    starts.add(start);
  }
  assert.ok(starts.has(0) && starts.has(171) && !starts.has(172), 'numpy randint(0, sample_pos - 1) range');
  assert.throws(() => valIndices(300, { numSegments: 8, dense: true }), /pass a seeded Rng/);
  assert.deepEqual(
    valIndices(129, { numSegments: 8, dense: true }),
    [1, 17, 33, 49, 65, 81, 97, 113],
    'randint(0, 1) is always 0',
  );
  assert.throws(() => valIndices(130, { numSegments: 8, dense: true }), /130-frame video draws a random start/);
});

test('padded (TSN) training sampler: every frame of short videos, sorted; one per integer segment otherwise', () => {
  const rng = new Rng(3);
  for (let k = 0; k < 50; k++) {
    const short = paddedTrainIndices(5, { numSegments: 8 }, rng).map((v) => v - 1);
    assert.equal(short.length, 8);
    assert.deepEqual(
      short,
      short.slice().sort((a, b) => a - b),
    );
    for (let f = 0; f < 5; f++) assert.ok(short.includes(f), `frame ${f} of 5 missing`);
    // ticks = i * 20 // 8 (numpy): 0 2 5 7 10 12 15 17 20
    const ticks = [0, 2, 5, 7, 10, 12, 15, 17, 20];
    paddedTrainIndices(20, { numSegments: 8 }, rng).forEach((v, i) =>
      assert.ok(v - 1 >= ticks[i]! && v - 1 < ticks[i + 1]!),
    );
    const pairs = paddedTrainIndices(20, { numSegments: 4, segLength: 2 }, rng);
    assert.equal(pairs.length, 8);
    for (let i = 0; i < 8; i += 2) assert.equal(pairs[i + 1], pairs[i]! + 1, 'consecutive frames within a segment');
  }
});

test('Charades training clips are shifted to the interval start', () => {
  const segment: CharadesSegment = {
    videoId: '46GP8',
    label: 92,
    startTime: 11.9,
    endTime: 21.2,
    totalTime: 24.83,
    line: 2,
  };
  const rng = new Rng(4);
  for (let k = 0; k < 50; k++) {
    const idx = charadesTrainIndices(segment, 24, { numSegments: 16 }, rng);
    assert.equal(idx.length, 16);
    for (const v of idx) assert.ok(v >= 285 + 1 && v <= 285 + 223, `index ${v} outside the interval's frames`);
  }
  const empty = { ...segment, startTime: 24.9, endTime: 30 };
  assert.throws(
    () => charadesTrainIndices(empty, 24, { numSegments: 16 }, rng),
    /video 46GP8 \(line 2\) spans -1 frames/,
  );
});

test('bad inputs are clear errors', () => {
  assert.throws(() => valIndices(0, { numSegments: 8 }), /video with 0 frames; expected at least 1/);
  assert.throws(() => testIndices(10, { numSegments: 0, testClips: 1 }), /num_segments must be an integer >= 1, got 0/);
  assert.throws(() => testIndices(10, { numSegments: 8, testClips: 0 }), /test_clips must be an integer >= 1/);
  assert.throws(() => trainIndices(2.5, { numSegments: 8 }, new Rng(0)), /2\.5 frames/);
  // Documented fallback for the original's ZeroDivisionError: one dense clip from frame 0.
  assert.deepEqual(testIndices(300, { numSegments: 8, dense: true, testClips: 1 }), [1, 17, 33, 49, 65, 81, 97, 113]);
});
