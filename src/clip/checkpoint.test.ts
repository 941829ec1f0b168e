import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, backward, full, manualSeed, noGrad, randn, tidy } from '../torch/index.ts';
import { ResidualAttentionBlock } from './layers.ts';
import { checkpoint } from './checkpoint.ts';

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
