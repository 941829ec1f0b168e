import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Tensor,
  autocast,
  backward,
  full,
  grad,
  manualSeed,
  nn,
  noGrad,
  rand,
  randn,
  tidy,
  F,
} from '../torch/index.ts';
import { ResidualAttentionBlock } from './layers.ts';
import { checkpoint, checkpointFunction } from './checkpoint.ts';

/** Runs one block forward and backward (checkpointed or not) from the same seeds; returns values and gradients. */
function run(options: { checkpointed: boolean; masked: boolean; dropout: number; inputGrad: boolean }) {
  manualSeed(11);
  const L = 5;
  const mask = options.masked ? noGrad(() => full([L, L], -Infinity).triu(1)).keep() : null;
  const block = noGrad(() => new ResidualAttentionBlock(16, 4, mask, options.dropout));
  block.to('float64');
  block.train();
  return tidy(() => {
    const x = randn([L, 3, 16], { dtype: 'float64' }).requiresGrad_(options.inputGrad);
    const upstream = randn([L, 3, 16], { dtype: 'float64' });
    manualSeed(12);
    const out = options.checkpointed ? checkpoint(block, x) : block.forward(x);
    const gradFn = out.gradFn;
    backward([out.mul(upstream).sum()]);
    const grads = [...block.namedParameters()].map(([name, p]) => [name, p.grad!.toArray()] as const);
    return { out: out.toArray(), gradFn, dx: options.inputGrad ? x.grad!.toArray() : null, grads };
  });
}

function assertClose(actual: number[], expected: number[], what: string): void {
  const scale = Math.max(1, ...expected.map(Math.abs));
  const maxDiff = Math.max(...actual.map((v, i) => Math.abs(v - expected[i]!)));
  assert.ok(maxDiff <= 1e-10 * scale, `${what}: differs by ${maxDiff}`);
}

for (const masked of [false, true]) {
  for (const dropout of [0, 0.3]) {
    test(`a checkpointed block has autograd's values and gradients (${masked ? 'causal mask' : 'no mask'}, dropout ${dropout})`, () => {
      const plain = run({ checkpointed: false, masked, dropout, inputGrad: true });
      const recomputed = run({ checkpointed: true, masked, dropout, inputGrad: true });
      assert.match(recomputed.gradFn ?? '', /^JsBackward/, 'the block ran as a custom function');
      assertClose(recomputed.out, plain.out, 'output');
      assertClose(recomputed.dx!, plain.dx!, 'input gradient');
      assert.deepEqual(
        recomputed.grads.map(([n]) => n),
        plain.grads.map(([n]) => n),
      );
      recomputed.grads.forEach(([name, g], i) => assertClose(g, plain.grads[i]![1], name));
    });
  }
}

test('parameters get gradients even when the block input does not require grad', () => {
  const plain = run({ checkpointed: false, masked: true, dropout: 0.2, inputGrad: false });
  const recomputed = run({ checkpointed: true, masked: true, dropout: 0.2, inputGrad: false });
  recomputed.grads.forEach(([name, g], i) => assertClose(g, plain.grads[i]![1], name));
});

test('without grad recording, checkpoint is a plain forward', () => {
  const block = noGrad(() => new ResidualAttentionBlock(8, 2));
  tidy(() =>
    noGrad(() => {
      const x = randn([3, 2, 8]);
      const out: Tensor = checkpoint(block, x);
      assert.equal(out.gradFn, null);
      assert.ok(out.sub(block.forward(x)).abs().max().item() === 0);
    }),
  );
});

/** One float32 block forward (in CPU bfloat16 autocast or not) and a backward outside autocast, as the trainer runs. */
function runAutocast(options: { checkpointed: boolean; bf16: boolean }) {
  manualSeed(21);
  const block = noGrad(() => new ResidualAttentionBlock(16, 4, null, 0.2));
  block.train();
  return tidy(() => {
    const x = randn([5, 3, 16]).requiresGrad_();
    const upstream = randn([5, 3, 16]);
    manualSeed(22);
    const forward = () => (options.checkpointed ? checkpoint(block, x) : block.forward(x));
    const out = options.bf16 ? autocast(forward, { device: 'cpu', dtype: 'bfloat16' }) : forward();
    backward([out.float().mul(upstream).sum()]);
    return {
      grads: [x.grad!.toArray(), ...block.parameters().map((p) => p.grad!.toArray())],
    };
  });
}

test('the recomputation replays the forward autocast (bfloat16), not the backward call setting', () => {
  const plain = runAutocast({ checkpointed: false, bf16: true });
  const recomputed = runAutocast({ checkpointed: true, bf16: true });
  const float32 = runAutocast({ checkpointed: false, bf16: false });
  const diff = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
  recomputed.grads.forEach((g, i) => {
    const scale = Math.max(1e-3, ...plain.grads[i]!.map(Math.abs));
    const d = diff(g, plain.grads[i]!);
    assert.ok(d <= 1e-6 * scale, `gradient ${i}: differs from autograd by ${d}`);
  });
  // The check is sharp enough to see a float32 recomputation.
  const gap = Math.max(...float32.grads.map((g, i) => diff(g, plain.grads[i]!)));
  assert.ok(gap > 1e-4, `float32 and bfloat16 gradients differ by ${gap}`);
});

/** A module that is not CLIP's: two layers, dropout and a random draw of its own. */
class NoisyMlp extends nn.Module {
  fc1 = this.registerModule('fc1', new nn.Linear(6, 8));
  drop = this.registerModule('drop', new nn.Dropout(0.4));
  fc2 = this.registerModule('fc2', new nn.Linear(8, 6));
  forward(x: Tensor): Tensor {
    const noise = rand(x.shape, { dtype: x.dtype }).mul(0.1);
    return this.fc2.forward(this.drop.forward(F.gelu(this.fc1.forward(x.add(noise)))));
  }
}

test('any module checkpoints: values, gradients and the random stream after it are as without', () => {
  const run = (checkpointed: boolean) => {
    manualSeed(31);
    const mlp = noGrad(() => new NoisyMlp());
    mlp.to('float64');
    mlp.train();
    return tidy(() => {
      const x = randn([4, 6], { dtype: 'float64' }).requiresGrad_();
      manualSeed(32);
      const out = checkpointed ? checkpoint(mlp, x) : mlp.forward(x);
      const loss = out.pow(2).sum();
      backward([loss]);
      return {
        loss: loss.item(),
        after: rand([4]).toArray(),
        grads: [x.grad!.toArray(), ...mlp.parameters().map((p) => p.grad!.toArray())],
      };
    });
  };
  const plain = run(false);
  const recomputed = run(true);
  assert.equal(recomputed.loss, plain.loss);
  assert.deepEqual(recomputed.after, plain.after, 'the random stream after backward is the same');
  recomputed.grads.forEach((g, i) => assertClose(g, plain.grads[i]!, `gradient ${i}`));
});

test('checkpointFunction: several inputs, one without grad, and parameters read from outside', () =>
  tidy(() => {
    manualSeed(41);
    const a = randn([3, 4], { dtype: 'float64' }).requiresGrad_();
    const b = randn([4, 4], { dtype: 'float64' });
    const w = randn([4, 2], { dtype: 'float64' }).requiresGrad_();
    const f = (x: Tensor, y: Tensor) => x.matmul(y).tanh().matmul(w).sigmoid();
    const plain = grad([f(a, b).sum()], [a, w]).map((g) => g!.toArray());
    const recomputed = grad([checkpointFunction(f, [a, b], [w]).sum()], [a, w]).map((g) => g!.toArray());
    recomputed.forEach((g, i) => assertClose(g, plain[i]!, `gradient ${i}`));
    assert.equal(a.grad, null, 'grad() over a checkpointed function leaves .grad alone');
    assert.equal(w.grad, null);
  }));
