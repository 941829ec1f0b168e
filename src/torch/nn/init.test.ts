import { test } from 'node:test';
import assert from 'node:assert/strict';
import { manualSeed, nn } from '../index.ts';

// Values printed by PyTorch 1.13 (Debian's python3-torch) for the same seed:
//   torch.manual_seed(3); m = torch.nn.MultiheadAttention(8, 2)
//   m.in_proj_weight.flatten()[:3], m.out_proj.weight.flatten()[:3]
test('seeded MultiheadAttention draws its initial weights in PyTorch order', () => {
  manualSeed(3);
  const m = new nn.MultiheadAttention(8, 2);
  const close = (a: number[], b: number[]) =>
    a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) < 1e-7, `${v} vs ${b[i]}`));
  close(
    m.in_proj_weight.flatten().slice(0, 0, 3).toArray(),
    [-0.1964232474565506, 0.006457192357629538, 0.2660737633705139],
  );
  close(
    m.out_proj.weight.flatten().slice(0, 0, 3).toArray(),
    [-0.35053861141204834, -0.27890458703041077, -0.15143223106861115],
  );
  assert.deepEqual(m.out_proj.bias!.toArray(), new Array(8).fill(0));
  assert.deepEqual([...m.stateDict().keys()], ['in_proj_weight', 'in_proj_bias', 'out_proj.weight', 'out_proj.bias']);
});
