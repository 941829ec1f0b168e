import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { F, Tensor, arange, cat, einsum, manualSeed, randn, stack, tidy } from '../torch/index.ts';
import { traceToOnnx } from './trace.ts';
import { ATEN_TO_ONNX } from './aten-onnx.ts';

const floats = (t: Tensor) => Float32Array.from(t.to('float32').contiguous().toTypedArray() as Float32Array);

/** Traces `fn` on `x`, runs the graph on `other` with ONNX Runtime and compares with libtorch on `other`. */
async function check(name: string, fn: (x: Tensor) => Tensor, shape: number[], tolerance = 1e-5): Promise<void> {
  const x = randn(shape);
  const other = randn(shape);
  const traced = traceToOnnx(name, [{ name: 'x', tensor: x }], (input) => ({ y: fn(input) }));
  const session = await ort.InferenceSession.create(traced.model);
  const out = await session.run({ x: new ort.Tensor('float32', floats(other), other.shape) });
  const expected = tidy(() => fn(other).keep());
  assert.deepEqual([...out.y!.dims], expected.shape, `${name}: shape`);
  const got = out.y!.data as Float32Array | BigInt64Array;
  const want =
    expected.dtype === 'int64'
      ? Array.from(expected.toTypedArray() as BigInt64Array, Number)
      : Array.from(floats(expected));
  const values = Array.from(got as ArrayLike<number | bigint>, Number);
  const worst = Math.max(0, ...values.map((v, i) => Math.abs(v - want[i]!)));
  assert.ok(worst <= tolerance, `${name}: max |ONNX Runtime - libtorch| = ${worst}`);
}

test('each mapped operator family runs in ONNX Runtime as in libtorch (on inputs other than the traced ones)', async () => {
  manualSeed(21);
  const w = randn([6, 5]);
  const b = randn([6]);
  await check('linear + gelu', (x) => F.gelu(F.linear(x, w, b)), [3, 4, 5]);
  await check(
    'slices, select, narrow',
    (x) => cat([x.slice(1, -3, null), x.narrow(1, 1, 2), x.select(1, -1).unsqueeze(1), x.slice(1, 0, 6, 2)], 1),
    [2, 6, 5],
  );
  await check(
    'split, chunk, unbind, stack',
    (x) => {
      const [a, c] = x.chunk(2, -1) as [Tensor, Tensor];
      const parts = x.unbind(0);
      return stack(
        [a.add(c), x.split([2, 2], -1)[1]!, parts[0]!.unsqueeze(0).expand(2, 4, 4).reshape(2, 4, 4).slice(2, 0, 2)],
        1,
      );
    },
    [2, 4, 4],
  );
  await check(
    'arithmetic with scalars, clamp, rsub, pow, rsqrt',
    (x) => x.mul(2).sub(0.5).rsub(1).clamp(-1, 2).pow(2).add(1).rsqrt().div(3),
    [4, 7],
  );
  await check(
    'comparisons, where and masked_fill',
    (x) =>
      x
        .where(x.gt(0.1).logicalOr(x.le(-0.5)), x.neg())
        .maskedFill(x.lt(-1).logicalAnd(x.ne(0)), 7)
        .maskedFill(x.ge(1.5).logicalNot().logicalNot(), -3),
    [5, 3],
  );
  await check(
    'softmax, log-softmax, reductions',
    (x) =>
      cat(
        [F.softmax(x, -1).sum(-1, true), F.logSoftmax(x, 1).mean(-1, true), x.amax(-1, true), x.norm(2, -1, true)],
        1,
      ),
    [4, 6],
  );
  await check('full sum and mean', (x) => x.sum().add(x.mean()).add(x.mean([])).reshape(1), [3, 3]);
  const table = randn([3, 3]);
  await check(
    'a constant changed in place between uses',
    (x) => {
      const before = x.add(table);
      table.mul_(2);
      const after = x.add(table);
      table.div_(2);
      return before.sub(after);
    },
    [3, 3],
  );
  await check(
    'repeat, expand, permute, transpose, flatten',
    (x) => x.repeat(1, 2, 1).permute(2, 0, 1).transpose(0, -1).flatten(1),
    [2, 3, 4],
  );
  await check(
    'matmul, bmm, einsum',
    (x) => einsum('bij,bkj->bik', x.bmm(x.transpose(1, 2)), x.transpose(1, 2).matmul(x).slice(1, 0, 3)),
    [2, 3, 3],
  );
  await check(
    "argmax and indexing (as CLIP's end-of-text)",
    (x) => x.index([arange(0, 3), x.sum(-1).argmax(-1)]),
    [3, 4, 5],
  );
  await check(
    'index_select and embedding-style gathers',
    (x) => F.embedding(x, arange(0, 3).flip(0)).add(x.indexSelect(0, arange(1, 4))),
    [4, 2],
  );
  // Constants made once: the traced graph and the libtorch reference must see the same ones.
  const mask = randn([4, 4]);
  await check(
    'scaled dot-product attention with an additive mask',
    (x) => F.scaledDotProductAttention(x, x.mul(0.5), x, { mask }),
    [2, 4, 8],
    1e-4,
  );
  await check(
    'causal attention',
    (x) => F.scaledDotProductAttention(x, x, x.mul(2), { causal: true }),
    [2, 5, 4],
    1e-4,
  );
  await check(
    'boolean-masked attention',
    (x) => F.scaledDotProductAttention(x, x, x, { mask: mask.gt(-0.5) }),
    [2, 4, 8],
    1e-4,
  );
  await check(
    'unary functions and casts',
    (x) =>
      x.abs().add(0.1).log().exp().sigmoid().tanh().to('float64').sqrt().to('float32').contiguous().clone().squeeze(),
    [1, 3, 4],
  );
  await check('argmax over everything, as int64', (x) => x.argmax(), [3, 4]);
  const conv = randn([4, 3, 3, 3]);
  const [mean, variance, gamma, beta] = [randn([4]), randn([4]).abs().add(0.5), randn([4]), randn([4])];
  await check(
    'conv2d, batch norm, average pooling, relu',
    (x) => {
      const y = F.conv2d(x, conv, null, { stride: 1, padding: 1 });
      return F.avgPool2d(F.batchNorm(y, mean, variance, gamma, beta, false).relu(), 2);
    },
    [2, 3, 8, 8],
    1e-4,
  );
  await check('layer norm without weights', (x) => F.layerNorm(x, [5]), [3, 5]);
});

test('arguments a converter cannot express are refused by name', () => {
  const x = randn([2, 3]);
  assert.throws(
    () => traceToOnnx('dtype', [{ name: 'x', tensor: x }], (input) => ({ y: F.softmax(input, -1, 'float64') })),
    /aten::softmax\.int has no ONNX mapping \(a dtype argument\)/,
  );
  assert.throws(
    () => traceToOnnx('p1', [{ name: 'x', tensor: x }], (input) => ({ y: input.norm(1, -1) })),
    /aten::norm\.ScalarOpt_dim .*p = 1/,
  );
  assert.throws(
    () => traceToOnnx('training', [{ name: 'x', tensor: x }], (input) => ({ y: F.dropout(input, 0.5, true) })),
    /aten::dropout .*training mode/,
  );
  assert.ok(ATEN_TO_ONNX.size > 60, 'the mapping table is the one the tracer uses');
});
