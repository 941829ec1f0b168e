import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, rand, Tensor } from '../../torch/index.ts';
import { AdamW } from '../../torch/optim/adam.ts';
import { packOptimizerState, restoreTorchRngState, torchRngStates, unpackOptimizerState } from './train-state.ts';

test('optimizer state survives the split into checkpoint tensors and JSON', () => {
  const make = () => [tensor([1, 2, 3], { requiresGrad: true }), tensor([[4, 5]], { requiresGrad: true })];
  const params = make();
  const optimizer = new AdamW(
    [
      { params: [params[0]!], lr: 0.1 },
      { params: [params[1]!], lr: 0.01 },
    ],
    { weight_decay: 0.2 },
  );
  for (let step = 0; step < 2; step++) {
    params[0]!.mul(params[0]!).sum().add(params[1]!.sum()).backward();
    optimizer.step();
    optimizer.zeroGrad();
  }
  const packed = packOptimizerState(optimizer.stateDict());
  assert.deepEqual([...packed.tensors.keys()].sort(), [
    'optimizer.state.0.exp_avg',
    'optimizer.state.0.exp_avg_sq',
    'optimizer.state.1.exp_avg',
    'optimizer.state.1.exp_avg_sq',
  ]);
  const json = JSON.parse(JSON.stringify(packed.json));
  assert.equal(json.state['0'].step, 2);

  const copies = make();
  const restored = new AdamW([
    { params: [copies[0]!], lr: 1 },
    { params: [copies[1]!], lr: 1 },
  ]);
  restored.loadStateDict(unpackOptimizerState(packed.tensors, json, 'test'));
  assert.equal(restored.paramGroups[1]!.lr, 0.01);
  assert.equal(restored.paramGroups[0]!.weight_decay, 0.2);
  const entry = restored.state.get(copies[0]!)!;
  assert.equal(entry.step, 2);
  assert.deepEqual((entry.exp_avg as Tensor).toArray(), (optimizer.state.get(params[0]!)!.exp_avg as Tensor).toArray());
  assert.throws(
    () => unpackOptimizerState(new Map(), { nonsense: true }, 'ckpt.json'),
    /checkpoint ckpt\.json: "optimizer" must hold param_groups and state/,
  );
});

test('libtorch random state is saved and restored', () => {
  const states = torchRngStates('cpu');
  const first = rand([4]).toArray();
  restoreTorchRngState(states, 'test');
  assert.deepEqual(rand([4]).toArray(), first);
  assert.throws(() => restoreTorchRngState(new Map(), 'ckpt.json'), /no "rng\.torch_cpu" tensor/);
});
