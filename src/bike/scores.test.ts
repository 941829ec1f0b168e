import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, tidy } from '../torch/index.ts';
import { assertClose } from '../testing/assert-close.ts';
import { aggregateViews, fuseScores, validationScores } from './scores.ts';

const softmax = (row: number[]) => {
  const e = row.map(Math.exp);
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
};

test("aggregateViews: softmax per view, mean over a video's consecutive views, softmax again", () =>
  tidy(() => {
    const rows = [
      [1, 2, 0],
      [0, 0, 3],
      [2, 2, 2],
      [5, 0, 0],
    ];
    const perView = rows.map(softmax);
    const video0 = softmax([0, 1, 2].map((c) => (perView[0]![c]! + perView[1]![c]!) / 2));
    const video1 = softmax([0, 1, 2].map((c) => (perView[2]![c]! + perView[3]![c]!) / 2));
    assertClose(aggregateViews(tensor(rows), 2), [video0, video1], { atol: 1e-6 });
    // One view still gets both softmaxes, as test.py does.
    assertClose(aggregateViews(tensor([[1, 2, 0]]), 1), [softmax(softmax([1, 2, 0]))], { atol: 1e-6 });
    assert.throws(() => aggregateViews(tensor(rows), 3), /\[videos \* 3 views, classes\], got shape \[4,3\]/);
    assert.throws(() => aggregateViews(tensor(rows), 0), /views must be a positive integer/);
  }));

test("validationScores is train.py's single softmax", () =>
  tidy(() => {
    assertClose(validationScores(tensor([[1, 2, 0]]), 1), [softmax([1, 2, 0])], { atol: 1e-6 });
  }));

test('fuseScores weights the video branch 0.7 and the attributes 0.3 by default', () =>
  tidy(() => {
    assertClose(fuseScores(tensor([[1, 0]]), tensor([[0, 1]])), [[0.7, 0.3]], { atol: 1e-7 });
    assertClose(fuseScores(tensor([[1, 0]]), tensor([[0, 1]]), 0.5), [[0.5, 0.5]], { atol: 1e-7 });
    assert.throws(
      () => fuseScores(tensor([[1, 0]]), tensor([[0, 1, 0]])),
      /video scores \[1,2\] and attribute scores \[1,3\]/,
    );
    assert.throws(() => fuseScores(tensor([[1]]), tensor([[1]]), 1.5), /weight must be in \[0, 1\], got 1.5/);
  }));
