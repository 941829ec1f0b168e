import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native, tensor, randn, type Tensor } from './index.ts';
import { autocast, GradScaler } from './amp.ts';
import { AdamW, SGD, clipGradNorm } from './optim/index.ts';

test('CPU autocast with bfloat16 makes a matmul output bfloat16, and restores the previous setting afterwards', () => {
  const a = randn([4, 3]);
  const b = randn([3, 2]);
  const inside = autocast(() => a.matmul(b), { device: 'cpu', dtype: 'bfloat16' });
  assert.equal(inside.dtype, 'bfloat16');
  assert.equal(a.matmul(b).dtype, 'float32');
  // Restored also when the function throws; `enabled: false` switches it off inside an enclosing autocast.
  assert.throws(
    () =>
      autocast(
        () => {
          throw new Error('boom');
        },
        { device: 'cpu' },
      ),
    /boom/,
  );
  assert.equal(a.matmul(b).dtype, 'float32');
  const nested = autocast(() => autocast(() => a.matmul(b), { device: 'cpu', enabled: false }), { device: 'cpu' });
  assert.equal(nested.dtype, 'float32');
  const [enabled] = native.enterAutocast('cpu', false, 15);
  native.exitAutocast('cpu', enabled, 15);
  assert.equal(enabled, false);
  assert.throws(
    () => autocast(() => 0, { device: 'cpu', dtype: 'float16' }),
    /CPU autocast supports only dtype 'bfloat16'/,
  );
});

function setup(options: ConstructorParameters<typeof GradScaler>[0] = {}): {
  p: Tensor;
  optimizer: SGD;
  scaler: GradScaler;
} {
  const p = tensor([1, 2, 3]).keep().requiresGrad_(true);
  return { p, optimizer: new SGD([p], { lr: 0.5 }), scaler: new GradScaler(options) };
}

test('GradScaler defaults: scale 2^16, growth 2, backoff 0.5, interval 2000; scale() multiplies the loss', () => {
  const { p, scaler } = setup();
  assert.equal(scaler.getScale(), 65536);
  assert.deepEqual(scaler.stateDict(), {
    scale: 65536,
    growth_factor: 2,
    backoff_factor: 0.5,
    growth_interval: 2000,
    _growth_tracker: 0,
  });
  const loss = p.sum();
  assert.deepEqual(scaler.scale(loss).toArray(), [6 * 65536]);
});

test('GradScaler skips the step when a gradient holds inf, and backs off the scale', () => {
  const { p, optimizer, scaler } = setup();
  scaler.scale(p.sum()).backward();
  p.grad = tensor([1, Infinity, 3]);
  assert.equal(scaler.step(optimizer), false);
  scaler.update();
  assert.deepEqual(p.toArray(), [1, 2, 3]);
  assert.equal(scaler.getScale(), 32768);
  assert.equal(scaler.stateDict()._growth_tracker, 0);
  // NaN counts as well.
  optimizer.zeroGrad();
  scaler.scale(p.sum()).backward();
  p.grad = tensor([NaN, 0, 0]);
  assert.equal(scaler.step(optimizer), false);
  scaler.update();
  assert.equal(scaler.getScale(), 16384);
});

test('GradScaler steps with the unscaled gradients when they are finite', () => {
  const { p, optimizer, scaler } = setup();
  scaler.scale(p.mul(p).sum()).backward(); // d/dp sum(p^2) = 2p, times the scale
  assert.deepEqual(
    p.grad!.toArray(),
    [2, 4, 6].map((g) => g * 65536),
  );
  assert.equal(scaler.step(optimizer), true);
  scaler.update();
  assert.deepEqual(p.toArray(), [1 - 0.5 * 2, 2 - 0.5 * 4, 3 - 0.5 * 6]);
  assert.equal(scaler.stateDict()._growth_tracker, 1);
  assert.equal(scaler.getScale(), 65536);
});

test('GradScaler grows the scale after growthInterval clean steps', () => {
  const { p, optimizer, scaler } = setup({ initScale: 8, growthInterval: 3 });
  const scales: number[] = [];
  for (let i = 0; i < 7; i++) {
    optimizer.zeroGrad();
    scaler.scale(p.sum()).backward();
    scaler.step(optimizer);
    scaler.update();
    scales.push(scaler.getScale());
  }
  assert.deepEqual(scales, [8, 8, 16, 16, 16, 32, 32]);
  assert.equal(scaler.stateDict()._growth_tracker, 1);
});

test('unscale_ before clipping: gradients are unscaled once, then clipped, then stepped', () => {
  const p = tensor([0, 0]).keep().requiresGrad_(true);
  const optimizer = new SGD([p], { lr: 1 });
  const scaler = new GradScaler({ initScale: 1024 });
  scaler.scale(p.mul(tensor([3, 4])).sum()).backward();
  scaler.unscale_(optimizer);
  assert.deepEqual(p.grad!.toArray(), [3, 4]);
  assert.throws(
    () => scaler.unscale_(optimizer),
    /unscale_\(\) has already been called on this optimizer since the last update\(\)/,
  );
  const total = clipGradNorm([p], 1);
  assert.equal(total.item(), 5);
  scaler.step(optimizer);
  assert.throws(() => scaler.step(optimizer), /step\(\) has already been called since the last update\(\)/);
  assert.throws(() => scaler.unscale_(optimizer), /unscale_\(\) is being called after step\(\)/);
  scaler.update();
  const [a, b] = p.toArray();
  assert.ok(Math.abs(a! + 0.6) < 1e-6 && Math.abs(b! + 0.8) < 1e-6, `clipped step gave ${p.toArray()}`);
});

test('GradScaler works with AdamW and refuses float16 gradients and updates before scaling', () => {
  const p = tensor([1, 2]).keep().requiresGrad_(true);
  const optimizer = new AdamW([p], { lr: 0.1 });
  const scaler = new GradScaler();
  assert.throws(() => scaler.update(), /no scale exists yet: call scaler.scale\(loss\)/);
  scaler.scale(p.sum()).backward();
  p.grad = tensor([1, 1], { dtype: 'float16' });
  assert.throws(
    () => scaler.step(optimizer),
    /attempting to unscale FP16 gradients \(parameter group 0, parameter 0\)/,
  );
});

test('GradScaler state save/load, and a disabled scaler is a no-op', () => {
  const { p, optimizer, scaler } = setup({ initScale: 4, growthInterval: 2 });
  scaler.scale(p.sum()).backward();
  scaler.step(optimizer);
  scaler.update();
  const state = scaler.stateDict();
  assert.deepEqual(state, { scale: 4, growth_factor: 2, backoff_factor: 0.5, growth_interval: 2, _growth_tracker: 1 });
  const restored = new GradScaler();
  restored.loadStateDict(state);
  assert.deepEqual(restored.stateDict(), state);
  assert.throws(() => restored.loadStateDict({}), /the source state dict is empty/);

  const off = new GradScaler({ enabled: false });
  const loss = p.sum();
  assert.equal(off.scale(loss), loss);
  p.grad = tensor([1, 1, 1]);
  const before = p.toArray();
  assert.equal(off.step(optimizer), true);
  off.update();
  assert.deepEqual(
    p.toArray(),
    before.map((x) => x - 0.5),
  );
  assert.equal(off.getScale(), 1);
  assert.deepEqual(off.stateDict(), {});
});

test('clipGradNorm scales by maxNorm / (total + 1e-6) when above, returns the total norm, ignores missing grads', () => {
  const a = tensor([3, 4]).keep().requiresGrad_(true);
  const b = tensor([12]).keep().requiresGrad_(true);
  const c = tensor([7]).keep().requiresGrad_(true);
  a.grad = tensor([3, 4]);
  b.grad = tensor([12]);
  const total = clipGradNorm([a, b, c], 6.5);
  assert.equal(total.item(), 13);
  const coef = 6.5 / (13 + 1e-6);
  const got = [...a.grad!.toArray(), ...b.grad!.toArray()];
  [3, 4, 12].forEach((g, i) => assert.ok(Math.abs(got[i]! - g * coef) < 1e-6, `grad ${i}: ${got[i]} vs ${g * coef}`));
  assert.equal(c.grad, null);
  // Below the limit nothing changes (the coefficient is clamped to 1).
  a.grad = tensor([0.3, 0.4]);
  clipGradNorm(a, 1);
  assert.deepEqual(a.grad!.toArray(), [0.30000001192092896, 0.4000000059604645]);
  // Infinity norm: the largest absolute gradient.
  a.grad = tensor([-8, 2]);
  b.grad = tensor([5]);
  assert.equal(clipGradNorm([a, b], 4, { normType: Infinity }).item(), 8);
  assert.ok(Math.abs(a.grad!.toArray()[0]! + 4) < 1e-5);
  assert.equal(clipGradNorm([c], 1).item(), 0);
  c.grad = tensor([Infinity]);
  assert.throws(
    () => clipGradNorm([c], 1, { errorIfNonfinite: true }),
    /total norm of order 2 of the gradients is non-finite/,
  );
});
