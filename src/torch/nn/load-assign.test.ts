import { test } from 'node:test';
import assert from 'node:assert/strict';
import { manualSeed, randn, tensor, zeros, nn } from '../index.ts';

test('withoutInitialization draws nothing: the generator is where it was, and initialisers resume after it', () => {
  manualSeed(11);
  const expected = randn([4]).toArray();
  manualSeed(11);
  const skipped = nn.init.withoutInitialization(() => {
    assert.equal(nn.init.initializationSkipped(), true);
    return new nn.Linear(64, 32);
  });
  assert.equal(nn.init.initializationSkipped(), false);
  assert.deepEqual(skipped.weight.shape, [32, 64]);
  assert.deepEqual(randn([4]).toArray(), expected, 'no draws were made inside');
  manualSeed(11);
  const drawn = new nn.Linear(64, 32);
  assert.notDeepEqual(randn([4]).toArray(), expected, 'a normal build draws (so the check above can fail)');
  assert.equal(drawn.weight.shape[0], 32);
  // An error inside still leaves the scope.
  assert.throws(
    () =>
      nn.init.withoutInitialization(() => {
        throw new Error('boom');
      }),
    /boom/,
  );
  assert.equal(nn.init.initializationSkipped(), false);
});

test('loadStateDict with assign adopts same-dtype tensors without a copy and casts the others', () => {
  const layer = new nn.Linear(3, 2);
  layer.requiresGrad_(false);
  const oldWeight = layer.weight;
  const weight = tensor([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  const bias = tensor([0.5, -0.5], { dtype: 'float64' });
  layer.loadStateDict({ weight, bias }, { assign: true });
  assert.equal(layer.weight, weight, 'the same tensor, not a copy');
  assert.equal(layer.stateDict().get('weight'), weight);
  assert.equal(oldWeight.isDisposed, true, 'the replaced parameter is freed');
  assert.equal(layer.weight.requiresGrad, false, 'the old requires-grad flag is kept');
  assert.equal(layer.bias!.dtype, 'float32');
  assert.notEqual(layer.bias, bias);
  assert.deepEqual(layer.bias!.toArray(), [0.5, -0.5]);
  assert.deepEqual(layer.forward(tensor([[1, 0, 0]])).toArray(), [1.5, 3.5]);
  // Checks come first: a wrong shape changes nothing.
  const before = layer.weight;
  assert.throws(
    () => layer.loadStateDict({ weight: zeros([3, 3]), bias: zeros([2]) }, { assign: true }),
    /shape mismatches: weight/,
  );
  assert.equal(layer.weight, before);
});
