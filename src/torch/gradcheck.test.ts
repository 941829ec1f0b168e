// Finite-difference gradient checks (float64, central differences) of the tensor ops the models
// differentiate through, plus grad() and retained graphs. Layers, attention and custom functions
// are in gradcheck-nn.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  randn,
  rand,
  tensor,
  cat,
  stack,
  einsum,
  manualSeed,
  tidy,
  grad,
  backward,
  applyCustom,
  type Tensor,
} from './index.ts';
import { gradcheck, type GradcheckOptions } from './gradcheck.ts';

const f64 = (shape: number[]) => randn(shape, { dtype: 'float64', requiresGrad: true });
const long = (values: unknown) => tensor(values, { dtype: 'int64' });

/** Runs gradcheck inside a scope and asserts it checked every element. */
function check(name: string, fn: () => Tensor, inputs: Tensor[], options: GradcheckOptions = {}): void {
  tidy(() => {
    const report = gradcheck(fn, inputs, options);
    const total = inputs.reduce((n, t) => n + t.numel, 0);
    assert.equal(report.checked, total, `${name}: every element checked`);
    assert.ok(report.maxError < 1e-5, `${name}: max error ${report.maxError}`);
  });
}

test('gradcheck itself fails on a wrong gradient and names the element', () =>
  tidy(() => {
    manualSeed(0);
    const x = f64([3]);
    const wrong = () =>
      applyCustom(
        {
          forward: ([t]) => [t!.mul(t!)],
          backward: ([g], [t]) => [g!.mul(t!).mul(3)], // should be 2x
        },
        [x],
      )[0]!;
    assert.throws(() => gradcheck(wrong, [x]), /gradcheck: input 0 \[3\] element 0: autograd .* vs finite difference/);
    assert.throws(() => gradcheck(() => x.sum(), [x.detach().float().requiresGrad_()]), /use float64/);
  }));

test('matmul (matrix, vector, batched broadcast), mm, bmm, einsum', () => {
  manualSeed(1);
  const a = f64([3, 4]);
  const b = f64([4, 2]);
  check('matmul', () => a.matmul(b), [a, b]);
  const v = f64([4]);
  check('matmul matrix-vector', () => a.matmul(v), [a, v]);
  const batch = f64([2, 3, 4]);
  check('matmul batch x matrix', () => batch.matmul(b), [batch, b]);
  check('mm', () => a.mm(b), [a, b]);
  const c = f64([2, 4, 3]);
  check('bmm', () => batch.bmm(c), [batch, c]);
  const d = f64([5, 4]);
  check('einsum bd,cd->bc', () => einsum('bd,cd->bc', a, d), [a, d]);
});

test('exp, log, sqrt, pow (scalar and tensor exponent), div, mul, sub, clamp, tanh, sigmoid, relu', () => {
  manualSeed(2);
  const x = f64([2, 3]);
  const positive = rand([2, 3], { dtype: 'float64' }).add(0.5).requiresGrad_();
  const y = f64([2, 3]);
  check('exp', () => x.exp(), [x]);
  check('log', () => positive.log(), [positive]);
  check('sqrt', () => positive.sqrt(), [positive]);
  check('pow scalar', () => x.pow(3), [x]);
  check('pow tensor', () => positive.pow(y), [positive, y]);
  check('div', () => x.div(positive), [x, positive]);
  check('div scalar', () => x.div(0.3), [x]);
  check('mul/sub broadcast', () => x.mul(y.select(0, 0)).sub(y), [x, y]);
  check('tanh', () => x.tanh(), [x]);
  check('sigmoid', () => x.sigmoid(), [x]);
  // Keep clamp/relu inputs away from their kinks, where a finite difference straddles two slopes.
  const awayFromZero = tensor(
    [
      [-1.3, 0.7, 2.1],
      [0.4, -0.6, -2.2],
    ],
    { dtype: 'float64', requiresGrad: true },
  );
  check('relu', () => awayFromZero.relu(), [awayFromZero]);
  check('clamp', () => awayFromZero.clamp(-1, 1), [awayFromZero]);
  const scale = tensor(2.5, { dtype: 'float64', requiresGrad: true });
  check('logit scale exp times matrix', () => x.mul(scale.exp()), [x, scale]);
});

test('reductions: sum, mean (all and over dims), max/amax over dims, norm, var', () => {
  manualSeed(3);
  const x = f64([3, 4, 2]);
  check('sum', () => x.sum(), [x]);
  check('sum dim', () => x.sum(1), [x]);
  check('sum dims keepdim', () => x.sum([0, 2], true), [x]);
  check('mean', () => x.mean(), [x]);
  check('mean dim', () => x.mean(-1), [x]);
  check('mean dims', () => x.mean([0, 1]), [x]);
  check('max over dim', () => x.maxDim(1).values, [x]);
  check('max over dim keepdim', () => x.maxDim(-1, true).values, [x]);
  check('max of all', () => x.max(), [x]);
  check('amax', () => x.amax([0, 2]), [x]);
  check('norm dim', () => x.norm(2, -1), [x]);
  check('var dim', () => x.var(1), [x]);
  check('cumsum', () => x.cumsum(1), [x]);
});

test('cat, stack, slice, select, narrow, index, indexSelect, gather, view/permute/expand', () => {
  manualSeed(4);
  const a = f64([2, 3]);
  const b = f64([1, 3]);
  check('cat dim 0', () => cat([a, b]), [a, b]);
  check('cat dim 1', () => cat([a, a.mul(2)], 1), [a]);
  check('stack', () => stack([a, a.exp()], 2), [a]);
  const x = f64([4, 5]);
  check('slice with step', () => x.slice(1, 1, 5, 2), [x]);
  check('slice negative', () => x.slice(0, -2), [x]);
  check('select', () => x.select(1, 3), [x]);
  check('narrow', () => x.narrow(0, 1, 2), [x]);
  check('index rows (repeated)', () => x.index([long([3, 0, 3])]), [x]);
  check('index boolean mask', () => x.index([tensor([true, false, true, true])]), [x]);
  check('index pairs', () => x.index([long([0, 2]), long([4, 1])]), [x]);
  check('indexSelect', () => x.indexSelect(1, long([0, 0, 4])), [x]);
  check(
    'gather',
    () =>
      x.gather(
        1,
        long([
          [0, 1],
          [2, 2],
          [4, 0],
          [3, 3],
        ]),
      ),
    [x],
  );
  check('view/permute/transpose', () => x.view(2, 2, 5).permute(2, 0, 1).transpose(0, 1).contiguous(), [x]);
  check('expand/repeat', () => b.expand(4, 3).mul(b.repeat(4, 1)), [b]);
  check('chunk/split', () => x.chunk(2, 1)[1]!.mul(x.split([1, 2, 2], 1)[2]!), [x]);
  check('maskedFill', () => x.maskedFill(x.detach().gt(0), 0), [x]);
  check('where', () => x.where(x.detach().gt(0), x.mul(-3)), [x]);
});

test('grad() returns gradients without touching .grad, supports createGraph and unused inputs', () =>
  tidy(() => {
    const x = tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
    const unused = tensor([1], { dtype: 'float64', requiresGrad: true });
    const y = x.pow(3).sum();
    const [gx, gUnused] = grad([y], [x, unused], { createGraph: true });
    assert.deepEqual(gx!.toArray(), [3, 12, 27], 'd/dx x^3 = 3x^2');
    assert.equal(gUnused, null, 'an unused input gives null');
    assert.equal(x.grad, null, 'grad() leaves .grad alone');
    const [second] = grad([gx!.sum()], [x]);
    assert.deepEqual(second!.toArray(), [6, 12, 18], 'second derivative 6x through createGraph');
    const z = x.mul(2);
    const [gz] = grad([z], [x], { gradOutputs: [tensor([1, 0, 2], { dtype: 'float64' })] });
    assert.deepEqual(gz!.toArray(), [2, 0, 4], 'vector-Jacobian product with gradOutputs');
  }));

test('backward with retainGraph runs twice and accumulates; without it the second run fails', () =>
  tidy(() => {
    const x = tensor([1, -2], { dtype: 'float64', requiresGrad: true });
    const y = x.exp().sum();
    y.backward(undefined, { retainGraph: true });
    const once = x.grad!.toArray();
    assert.deepEqual(once, [Math.exp(1), Math.exp(-2)]);
    y.backward();
    assert.deepEqual(
      x.grad!.toArray(),
      once.map((g) => 2 * g),
      'gradients accumulate',
    );
    assert.throws(() => y.backward(), /backward through the graph a second time/);
    x.grad = null;
    const w = tensor([3], { dtype: 'float64', requiresGrad: true });
    backward([x.mul(w).sum(), w.pow(2).sum()]);
    assert.deepEqual(x.grad!.toArray(), [3, 3]);
    assert.deepEqual(w.grad!.toArray(), [1 - 2 + 6], 'several outputs at once');
    const mid = x.mul(2).retainGrad();
    mid.sum().backward();
    assert.deepEqual(mid.grad!.toArray(), [1, 1], 'retainGrad keeps a non-leaf gradient');
  }));

test('a custom function whose backward runs ops, with two inputs and an unused output', () => {
  manualSeed(5);
  const a = f64([3]);
  const b = f64([3]);
  const fn = {
    // y = a * sin(b), z = a + b (z's gradient may arrive as null)
    forward: ([x, y]: Tensor[]) => [x!.mul(y!.sin()), x!.add(y!)],
    backward: ([gy, gz]: (Tensor | null)[], [x, y]: Tensor[]) => {
      let ga = gy!.mul(y!.sin());
      let gb = gy!.mul(x!).mul(y!.cos());
      if (gz) {
        ga = ga.add(gz);
        gb = gb.add(gz);
      }
      return [ga, gb];
    },
  };
  check(
    'custom both outputs',
    () => {
      const [y, z] = applyCustom(fn, [a, b]);
      return cat([y!, z!.mul(0.5)]);
    },
    [a, b],
  );
  check('custom first output only', () => applyCustom(fn, [a, b])[0]!, [a, b]);
  check('custom composed with ops', () => applyCustom(fn, [a.exp(), b.mul(2)])[0]!.pow(2), [a, b]);
});
