import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyCustom,
  backward,
  enableGrad,
  grad,
  isGradEnabled,
  liveCustomFunctions,
  manualSeed,
  randn,
  tidy,
  type CustomFunction,
  type Tensor,
} from './index.ts';
import { gradcheck } from './gradcheck.ts';
import { assertClose } from '../testing/assert-close.ts';

/**
 * `f(...inputs)` as a custom function whose backward recomputes `f` with grad on detached inputs
 * and differentiates it with `grad()`: an autograd pass started from inside a JS backward.
 */
function recomputed(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[]): Tensor {
  const fn: CustomFunction = {
    forward: (xs) => [f(...xs)],
    backward: ([dy], saved) => {
      if (!dy) return saved.map(() => null);
      return enableGrad(() => {
        const leaves = saved.map((t) => t.detach().requiresGrad_());
        return grad([f(...leaves)], leaves, { gradOutputs: [dy] });
      });
    },
  };
  return applyCustom(fn, inputs)[0]!;
}

const f64 = (shape: number[]) => randn(shape, { dtype: 'float64', requiresGrad: true });

/** A small two-layer block: enough operators that a wrong recomputation would show. */
const layer = (x: Tensor, w: Tensor) => x.matmul(w).tanh().mul(x.sigmoid());

/** Asserts that one top-level backward of each loss gives `leaves` the same gradients. */
function assertSameGradients(plainLoss: () => Tensor, nestedLoss: () => Tensor, leaves: Tensor[]): void {
  const gradsOf = (loss: () => Tensor) => {
    for (const t of leaves) t.grad = null;
    backward([loss()]);
    return leaves.map((t) => t.grad!.toArray());
  };
  const plain = gradsOf(plainLoss);
  gradsOf(nestedLoss).forEach((g, i) => assertClose(g, plain[i], { atol: 1e-12, rtol: 1e-12, message: `leaf ${i}` }));
}

test('a custom backward that calls grad() on a recomputed subgraph gives autograd gradients', () =>
  tidy(() => {
    manualSeed(1);
    const x = f64([4, 3]);
    const w = f64([3, 3]);
    assertSameGradients(
      () => layer(x, w).pow(2).sum(),
      () => recomputed(layer, [x, w]).pow(2).sum(),
      [x, w],
    );
  }));

test('nesting two deep: the recomputed subgraph itself holds a recomputed function', () =>
  tidy(() => {
    manualSeed(2);
    const x = f64([2, 3]);
    const w1 = f64([3, 3]);
    const w2 = f64([3, 3]);
    const two = (a: Tensor, b: Tensor, c: Tensor) => layer(layer(a, b), c);
    const twoNested = (a: Tensor, b: Tensor, c: Tensor) => layer(recomputed(layer, [a, b]), c);
    assertSameGradients(
      () => two(x, w1, w2).sum(),
      () => recomputed(twoNested, [x, w1, w2]).sum(),
      [x, w1, w2],
    );
  }));

test('nesting deeper: each level recomputes a function holding the next level', () =>
  tidy(() => {
    manualSeed(5);
    const x = f64([2, 3]);
    const w = f64([3, 3]);
    const depth = 6;
    const plainAt = (level: number, a: Tensor): Tensor => (level === 0 ? layer(a, w) : layer(plainAt(level - 1, a), w));
    // w goes in as an input at every level: the recomputation differentiates only what it is given.
    const nestedAt = (level: number, a: Tensor, v: Tensor): Tensor =>
      level === 0 ? layer(a, v) : recomputed((b, u) => layer(nestedAt(level - 1, b, u), u), [a, v]);
    assertSameGradients(
      () => plainAt(depth, x).sum(),
      () => nestedAt(depth, x, w).sum(),
      [x, w],
    );
  }));

test('each custom backward runs under the grad mode of its own pass', () =>
  tidy(() => {
    const seen: string[] = [];
    const probe = (label: string, x: Tensor) =>
      applyCustom(
        {
          forward: ([t]) => [t!.mul(2)],
          backward: ([g]) => {
            seen.push(`${label}:${isGradEnabled()}`);
            return [g!.mul(2)];
          },
        },
        [x],
      )[0]!;
    const x = f64([3]);
    const outer = applyCustom(
      {
        forward: ([t]) => [t!.mul(1)],
        backward: ([g], [t]) => {
          seen.push(`outer:${isGradEnabled()}`);
          const leaf = enableGrad(() => t!.detach().requiresGrad_());
          // The nested pass builds a graph of its gradients (its custom backward records with grad
          // on); the outer one does not.
          const [inner] = enableGrad(() => grad([probe('inner', leaf).sum()], [leaf], { createGraph: true }));
          return [g!.mul(inner!.detach())];
        },
      },
      [x],
    )[0]!;
    backward([probe('top', outer).sum()]);
    assert.deepEqual(seen, ['top:false', 'outer:false', 'inner:true']);
    assertClose(x.grad!, [4, 4, 4], { atol: 0, rtol: 0 });
  }));

test('an error inside the nested pass reaches the custom backward that started it', () =>
  tidy(() => {
    const x = f64([3]);
    const failing = (t: Tensor) =>
      applyCustom(
        {
          forward: ([a]) => [a!.mul(3)],
          backward: () => {
            throw new Error('the inner backward failed');
          },
        },
        [t],
      )[0]!;
    let caught: unknown = null;
    const outer = applyCustom(
      {
        forward: ([t]) => [t!.exp()],
        backward: ([g], [t]) => {
          const leaf = enableGrad(() => t!.detach().requiresGrad_());
          try {
            enableGrad(() => grad([failing(leaf).sum()], [leaf]));
          } catch (e) {
            caught = e;
          }
          return [g!.mul(t!.exp())];
        },
      },
      [x],
    )[0]!;
    backward([outer.sum()]);
    assert.match(String(caught), /grad: .*the inner backward failed/);
    assertClose(x.grad!, x.detach().exp(), { atol: 1e-12, rtol: 1e-12, message: 'the outer pass finished' });
  }));

test('an uncaught error in the nested pass fails the outer backward cleanly, and the next backward works', () =>
  tidy(() => {
    manualSeed(3);
    const x = f64([2, 3]);
    const w = f64([3, 3]);
    const broken = recomputed(
      (a, b) =>
        applyCustom(
          {
            forward: ([t]) => [t!.mul(2)],
            backward: () => {
              throw new Error('recomputation blew up');
            },
          },
          [a.matmul(b)],
        )[0]!,
      [x, w],
    );
    assert.throws(() => backward([broken.sum()]), /backward: grad: .*recomputation blew up/);
    assertSameGradients(
      () => layer(x, w).sum(),
      () => recomputed(layer, [x, w]).sum(),
      [x, w],
    );
  }));

test('gradcheck passes on a recomputing custom function (and nested, two deep)', () =>
  tidy(() => {
    manualSeed(4);
    const x = f64([3, 2]);
    const w = f64([2, 2]);
    const v = f64([2, 2]);
    const once = gradcheck(() => recomputed(layer, [x, w]), [x, w]);
    assert.ok(once.maxError < 1e-6, `max error ${once.maxError}`);
    const twice = gradcheck(() => recomputed((a, b, c) => layer(recomputed(layer, [a, b]), c), [x, w, v]), [x, w, v]);
    assert.equal(twice.checked, x.numel + w.numel + v.numel);
    assert.ok(twice.maxError < 1e-6, `max error ${twice.maxError}`);
  }));

test('custom functions made inside nested passes are released with their graphs', () => {
  const before = liveCustomFunctions();
  tidy(() => {
    manualSeed(6);
    const x = f64([2, 3]);
    const w = f64([3, 3]);
    backward([recomputed((a, b) => layer(recomputed(layer, [a, b]), b), [x, w]).sum()]);
    assert.ok(x.grad !== null && w.grad !== null);
  });
  assert.equal(liveCustomFunctions(), before, 'no backward function is left registered');
});
