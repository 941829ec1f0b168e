import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, tidy } from '../torch/index.ts';
import {
  EXACT,
  PARAMETERS,
  SCALED,
  compareExact,
  compareNamed,
  compareTensor,
  compareValues,
  firstDifference,
  measure,
} from './compare.ts';

test('scaled: |a-b| <= factor * max(1, max|expected|), on whichever scale is larger', () => {
  assert.equal(compareValues('small', [1.00009], [1], SCALED).ok, true);
  assert.equal(compareValues('small', [1.00011], [1], SCALED).ok, false);
  // max|expected| = 100 scales the bound to 1e-2.
  assert.equal(compareValues('large', [100.009, 0], [100, 0], SCALED).ok, true);
  assert.equal(compareValues('large', [100.011, 0], [100, 0], SCALED).ok, false);
  const detail = compareValues('d', [1.001], [1], SCALED).detail;
  assert.match(
    detail,
    /^max \|a-b\| = 1\.00e-3 > tolerance 0\.0001 \* max\(1, max\|expected\| = 1\.00e\+0\) = 1\.00e-4; 1 values; worst element 0: got 1\.001, expected 1$/,
  );
});

test('absolute, relative and exact tolerances', () => {
  assert.equal(compareValues('p', [1 + 5e-7], [1], PARAMETERS).ok, true);
  assert.equal(compareValues('p', [1 + 2e-6], [1], PARAMETERS).ok, false);
  assert.equal(compareValues('lr', [1e-5 * (1 + 1e-13), 0], [1e-5, 0], { kind: 'relative', rtol: 1e-12 }).ok, true);
  assert.equal(compareValues('lr', [1e-5 * (1 + 1e-11)], [1e-5], { kind: 'relative', rtol: 1e-12 }).ok, false);
  assert.match(compareValues('ids', [1, 2, 3], [1, 2, 3], EXACT).detail, /all 3 values equal \(tolerance: exact\)/);
  assert.match(
    compareValues('ids', [1, 2, 4], [1, 2, 3], EXACT, { label: (i) => `position ${i}` }).detail,
    /position 2: got 4, expected 3/,
  );
});

test('NaN, infinities, empty and mismatched lengths fail', () => {
  assert.equal(compareValues('nan', [Number.NaN], [0], SCALED).ok, false);
  assert.equal(compareValues('inf', [Infinity], [Infinity], SCALED).ok, false);
  assert.equal(compareValues('inf', [Infinity], [0], PARAMETERS).ok, false);
  assert.equal(compareValues('empty', [], [], SCALED).ok, false);
  assert.match(compareValues('short', [1], [1, 2], SCALED).detail, /got 1 values, expected 2/);
});

test('the mean statistic (preprocessing) and named values (accuracies)', () => {
  const mean = compareValues(
    'px',
    [0, 0, 0, 4],
    [0, 0, 0, 0],
    { kind: 'absolute', atol: 1 },
    { statistic: 'mean', unit: ' levels' },
  );
  assert.equal(mean.ok, true);
  assert.match(mean.detail, /^mean \|a-b\| = 1\.00e\+0 levels <= tolerance 1\.00e\+0 levels absolute/);
  assert.equal(measure([0, 0, 3], [0, 0, 0], { kind: 'absolute', atol: 0 }, 'mean').error, 1);
  const named = compareNamed(
    'acc',
    [
      ['top1', 50, 50],
      ['top5', 80.5, 80],
    ],
    { kind: 'absolute', atol: 1e-4 },
    ' points',
  );
  assert.equal(named.ok, false);
  assert.match(named.detail, /worst top5: got 80\.5, expected 80/);
});

test('tensors: shapes must match (a one-element tensor may stand for a scalar); integers compare exactly', () => {
  tidy(() => {
    assert.equal(compareTensor('t', tensor([[1, 2]]), tensor([[1, 2.00001]])).ok, true);
    assert.match(
      compareTensor('t', tensor([1, 2]), tensor([[1, 2]])).detail,
      /shape \[2\] differs from the expected \[1,2\]/,
    );
    assert.equal(compareTensor('scalar', tensor([3]), tensor(3)).ok, true);
    assert.equal(compareExact('ids', tensor([1, 2], { dtype: 'int64' }), tensor([1, 2], { dtype: 'int64' })).ok, true);
    assert.equal(compareExact('ids', tensor([1, 2], { dtype: 'int64' }), tensor([1, 3], { dtype: 'int64' })).ok, false);
  });
});

test('firstDifference names the first differing position', () => {
  assert.equal(firstDifference([1, 2], [1, 2]), null);
  assert.equal(firstDifference([1, 5], [1, 2]), 'position 1: got 5, expected 2');
  assert.equal(firstDifference([1], [1, 2]), 'got 1 values, expected 2');
});
