// Native memory is freed by scopes, not by the garbage collector: scope semantics, and a long
// training loop whose resident memory stays flat.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
import {
  tensor,
  randn,
  zeros,
  tidy,
  noGrad,
  scopeDepth,
  manualSeed,
  liveCustomFunctions,
  aten,
  native,
  applyCustom,
  F,
  nn,
  type Tensor,
} from './index.ts';

test('tidy frees intermediates and keeps what it returns, in arrays, objects and Maps', () => {
  let intermediate: Tensor | undefined;
  const result = tidy(() => {
    const a = tensor([1, 2]);
    intermediate = a.mul(3);
    const sum = intermediate.add(a);
    return { sum, list: [a.neg()], map: new Map([['x', a.exp()]]), label: 'not a tensor' };
  });
  assert.equal(intermediate!.isDisposed, true, 'an intermediate is freed');
  assert.equal(result.sum.isDisposed, false);
  assert.deepEqual(result.sum.toArray(), [4, 8]);
  assert.deepEqual(result.list[0]!.toArray(), [-1, -2]);
  assert.equal(result.map.get('x')!.isDisposed, false);
  for (const t of [result.sum, result.list[0]!, result.map.get('x')!]) t.dispose();
  assert.equal(scopeDepth(), 0);
});

test('nested tidy hands returned tensors to the enclosing scope, which frees them unless returned', () => {
  let fromInner: Tensor | undefined;
  let innerTemp: Tensor | undefined;
  const outer = tidy(() => {
    fromInner = tidy(() => {
      innerTemp = tensor([1]).add(1);
      return innerTemp.mul(10);
    });
    assert.equal(innerTemp!.isDisposed, true, 'inner intermediate freed when the inner scope closes');
    assert.equal(fromInner.isDisposed, false, 'inner result alive in the outer scope');
    assert.equal(scopeDepth(), 1);
    return fromInner.add(1);
  });
  assert.equal(fromInner!.isDisposed, true, 'the outer scope frees the inner result it did not return');
  assert.deepEqual(outer.toArray(), [21]);
  outer.dispose();
});

test('keep() escapes every scope; dispose() inside a scope is harmless', () => {
  let kept: Tensor | undefined;
  tidy(() => {
    tidy(() => {
      kept = tensor([7]).keep();
      const early = tensor([1]);
      early.dispose();
    });
  });
  assert.equal(kept!.isDisposed, false);
  assert.equal(kept!.item(), 7);
  kept!.dispose();
  assert.equal(kept!.isDisposed, true);
});

test('an exception inside tidy frees its tensors and closes the scope', () => {
  let created: Tensor | undefined;
  assert.throws(
    () =>
      tidy(() => {
        created = tensor([1, 2, 3]);
        created.matmul(zeros([5, 5])); // throws: shape mismatch
      }),
    /aten::matmul/,
  );
  assert.equal(created!.isDisposed, true, 'tensors of the failed scope are freed');
  assert.equal(scopeDepth(), 0, 'the failed scope is closed');
  assert.throws(() => tidy((() => Promise.resolve(tensor([1]))) as () => never), /synchronous function/);
  assert.equal(scopeDepth(), 0);
});

test('a scope frees the raw handles of results nobody wrapped', () => {
  const x = tensor([3, 1, 2]).keep();
  const maxDim = aten('max.dim');
  const before = native.liveHandles();
  for (let i = 0; i < 1000; i++) {
    // Two results, only the first looked at: the second handle is freed by the scope all the same.
    tidy(() => {
      native.shape((maxDim(x.handle, 0, false) as never[])[0]!);
    });
  }
  assert.equal(native.liveHandles(), before, 'no handle is left behind by 1000 scopes');
  const raw = tidy(() => (maxDim(x.handle, 0, false) as unknown[])[1]);
  assert.equal(native.isLive(raw), false, 'a raw handle does not outlive its scope');
  assert.equal(native.liveHandles(), before);
  assert.throws(() => aten('neg')({}), /self: expected a tensor handle/);
  assert.throws(() => aten('neg')(5n), /self: expected a tensor handle/);
  assert.throws(() => aten('neg')(raw), /self: this tensor was disposed/);
  x.dispose();
});

test('a tensor that escaped its scope is freed when its Tensor is collected', async () => {
  const before = native.liveHandles();
  const escaped = [tidy(() => tensor([1]).add(1)), tidy(() => tensor([2]).add(1).keep())];
  assert.equal(native.liveHandles(), before + 2);
  escaped.length = 0;
  const gc = runInNewContext('gc') as () => void;
  for (let i = 0; i < 20 && native.liveHandles() > before; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.equal(native.liveHandles(), before, "both freed by their Tensors' finalizers");
});

test('module parameters outlive the scope that created the module', () => {
  const layer = tidy(() => new nn.Linear(3, 2));
  assert.equal(layer.weight.isDisposed, false);
  const out = tidy(() =>
    layer
      .forward(randn([1, 3]))
      .sum()
      .keep(),
  );
  assert.equal(typeof out.item(), 'number');
  out.dispose();
});

/** A small MLP trained by hand: forward, cross-entropy, backward, SGD under noGrad. */
function trainingStep(layers: nn.Linear[], input: Tensor, labels: Tensor, lr: number): number {
  return tidy(() => {
    let h = input;
    layers.forEach((layer, i) => {
      h = layer.forward(h);
      if (i < layers.length - 1) h = F.gelu(h);
    });
    const loss = F.crossEntropy(h, labels);
    loss.backward();
    noGrad(() => {
      for (const layer of layers) {
        for (const p of layer.parameters()) {
          p.add_(p.grad!, -lr);
          p.grad = null;
        }
      }
    });
    return loss.item();
  });
}

test('10,000 training steps keep resident memory flat (growth < 50 MB after warm-up)', () => {
  manualSeed(0);
  const layers = [new nn.Linear(16, 32), new nn.Linear(32, 32), new nn.Linear(32, 4)];
  const input = randn([8, 16]).keep();
  const labels = tensor([0, 1, 2, 3, 0, 1, 2, 3], { dtype: 'int64' }).keep();
  const customBefore = liveCustomFunctions();
  const mb = () => process.memoryUsage().rss / 2 ** 20;
  let firstLoss = NaN;
  let lastLoss = NaN;
  for (let step = 0; step < 500; step++) {
    const loss = trainingStep(layers, input, labels, 0.05);
    if (step === 0) firstLoss = loss;
  }
  const afterWarmup = mb();
  let peak = afterWarmup;
  for (let step = 500; step < 10_000; step++) {
    lastLoss = trainingStep(layers, input, labels, 0.05);
    if (step % 500 === 0) peak = Math.max(peak, mb());
  }
  const end = mb();
  peak = Math.max(peak, end);
  assert.equal(scopeDepth(), 0);
  assert.ok(
    lastLoss < firstLoss / 10,
    `the model learns (loss ${firstLoss} -> ${lastLoss}), so the steps did real work`,
  );
  assert.ok(
    peak - afterWarmup < 50,
    `resident memory grew ${(peak - afterWarmup).toFixed(1)} MB (after warm-up ${afterWarmup.toFixed(1)} MB, peak ${peak.toFixed(1)} MB)`,
  );
  assert.equal(liveCustomFunctions(), customBefore);
  input.dispose();
  labels.dispose();
});

test('custom autograd functions are released with their graphs', () => {
  const before = liveCustomFunctions();
  for (let i = 0; i < 200; i++) {
    tidy(() => {
      const x = randn([4], { requiresGrad: true });
      const [y] = applyCustom({ forward: ([t]) => [t!.mul(2)], backward: ([g]) => [g!.mul(2)] }, [x]);
      y!.sum().backward();
    });
  }
  assert.equal(liveCustomFunctions(), before, 'no backward function is left registered');
});

test('tensors no scope frees (made outside every scope, or returned from the outermost) are left to the collector, which weighs their memory', async () => {
  // 300 x 8 MB never disposed: without counting them as V8 external memory the collector would see
  // only small handles and let 2.4 GB pile up.
  const before = process.memoryUsage().rss;
  let peak = before;
  for (let i = 0; i < 300; i++) {
    const loose = i % 2 ? zeros([2 * 1024 * 1024]) : tidy(() => zeros([2 * 1024 * 1024]).add(1));
    loose.fill_(1);
    peak = Math.max(peak, process.memoryUsage().rss);
    // Node runs N-API finalizers from the event loop, so a program that never yields frees nothing.
    if (i % 10 === 9) await new Promise((resolve) => setImmediate(resolve));
  }
  assert.ok(peak - before < 1024 * 1024 * 1024, `resident memory grew by ${((peak - before) / 2 ** 20).toFixed(0)} MB`);
});
