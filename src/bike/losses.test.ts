import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, tidy } from '../torch/index.ts';
import { assertClose } from '../testing/assert-close.ts';
import { dualSoftmaxLoss, groundTruthMatrix, lossFunction, nceLoss, symmetricLoss } from './losses.ts';

/** NCELoss by hand: mean over all n*n entries of p * (log p - log q), times n. */
function nceByHand(logits: number[][], gt: number[][]): number {
  const n = logits.length;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const target = gt[i]!.map((v) => Math.exp(10 * v));
    const tz = target.reduce((a, b) => a + b, 0);
    const lz = Math.log(logits[i]!.reduce((a, b) => a + Math.exp(b), 0));
    for (let k = 0; k < n; k++) {
      const p = target[k]! / tz;
      total += p * (Math.log(p) - (logits[i]![k]! - lz));
    }
  }
  return (total / (n * n)) * n;
}

const transpose = (m: number[][]) => m[0]!.map((_, k) => m.map((row) => row[k]!));

test('the ground truth marks every pair with the same label, repeated labels included', () =>
  tidy(() => {
    const gt = groundTruthMatrix(tensor([0, 3, 0, 5], { dtype: 'int64' }));
    assert.deepEqual(gt.toNested(), [
      [1, 0, 1, 0],
      [0, 1, 0, 0],
      [1, 0, 1, 0],
      [0, 0, 0, 1],
    ]);
    assert.equal(gt.dtype, 'float32');
    assert.throws(() => groundTruthMatrix(tensor([[0, 1]], { dtype: 'int64' })), /1-D tensor, got shape \[1,2\]/);
  }));

test('NCE loss is the batch-scaled mean KL against softmax(10 * gt)', () =>
  tidy(() => {
    const logits = [
      [2, 0.5, 1],
      [0.1, 3, -1],
      [1, 1, 2.5],
    ];
    const gt = [
      [1, 0, 1],
      [0, 1, 0],
      [1, 0, 1],
    ];
    assertClose(nceLoss(tensor(logits), tensor(gt)), nceByHand(logits, gt), { atol: 1e-5 });
    const symmetric = (nceByHand(logits, gt) + nceByHand(transpose(logits), gt)) / 2;
    assertClose(symmetricLoss(tensor(logits), tensor(gt), 'NCE'), symmetric, { atol: 1e-5 });
  }));

test('DS loss reweights the logits by a softmax over the batch at temperature 1000 first', () =>
  tidy(() => {
    // Logits in the hundreds, where the temperature-1000 prior is visibly different from uniform.
    const logits = [
      [20, 100, 60],
      [150, 10, -50],
      [90, 40, 120],
    ];
    const gt = [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ];
    const n = 3;
    const reweighted = logits.map((row, i) =>
      row.map((v, k) => {
        const column = logits.map((r) => Math.exp(r[k]! / 1000));
        return v * (column[i]! / column.reduce((a, b) => a + b, 0)) * n;
      }),
    );
    assertClose(dualSoftmaxLoss(tensor(logits), tensor(gt)), nceByHand(reweighted, gt), { atol: 1e-4, rtol: 1e-5 });
    assert.ok(
      Math.abs(dualSoftmaxLoss(tensor(logits), tensor(gt)).item() - nceLoss(tensor(logits), tensor(gt)).item()) > 0.1,
    );
  }));

test('loss types and shapes are checked by name', () =>
  tidy(() => {
    assert.throws(() => lossFunction('CE' as never), /loss_type must be one of NCE, DS, got "CE"/);
    assert.throws(
      () =>
        nceLoss(
          tensor([[1, 2]]),
          tensor([
            [1, 0],
            [0, 1],
          ]),
        ),
      /logits \[1,2\] and ground truth \[2,2\]/,
    );
  }));
