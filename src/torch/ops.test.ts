// Creation, conversions, arithmetic, matrix products, element-wise math and reductions against known
// values (hand-computed, or printed by PyTorch 1.13 on the same libtorch where noted).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  tensor,
  zeros,
  ones,
  full,
  eye,
  empty,
  arange,
  linspace,
  rand,
  randn,
  randint,
  randperm,
  manualSeed,
  fromTypedArray,
  einsum,
  where,
  tidy,
  native,
  type TypedArray,
} from './index.ts';
import type { DType } from './dtype.ts';
import { assertClose } from '../testing/assert-close.ts';

test('zeros, ones, full, eye, empty: shape, dtype and values', () =>
  tidy(() => {
    const z = zeros([2, 3]);
    assert.deepEqual(z.shape, [2, 3]);
    assert.equal(z.dtype, 'float32');
    assert.deepEqual(z.toArray(), [0, 0, 0, 0, 0, 0]);
    assert.deepEqual(ones([2], { dtype: 'int64' }).toTypedArray(), new BigInt64Array([1n, 1n]));
    assert.deepEqual(full([2, 2], -1.5, { dtype: 'float64' }).toNested(), [
      [-1.5, -1.5],
      [-1.5, -1.5],
    ]);
    assert.deepEqual(eye(3).toNested(), [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ]);
    assert.deepEqual(empty([4, 0]).shape, [4, 0]);
    assert.equal(zeros([]).ndim, 0);
    assert.equal(zeros([3], { requiresGrad: true }).requiresGrad, true);
  }));

test('arange and linspace follow PyTorch (integer arguments give int64, end exclusive)', () =>
  tidy(() => {
    const a = arange(5);
    assert.equal(a.dtype, 'int64');
    assert.deepEqual(a.toArray(), [0, 1, 2, 3, 4]);
    assert.deepEqual(arange(2, 11, 3).toArray(), [2, 5, 8]);
    assert.deepEqual(arange(5, 0, -2).toArray(), [5, 3, 1]);
    const f = arange(0, 1, 0.25);
    assert.equal(f.dtype, 'float32');
    assert.deepEqual(f.toArray(), [0, 0.25, 0.5, 0.75]);
    assert.deepEqual(arange(0, 3, 1, { dtype: 'float64' }).toTypedArray(), new Float64Array([0, 1, 2]));
    assert.deepEqual(linspace(-1, 1, 5).toArray(), [-1, -0.5, 0, 0.5, 1]);
    assert.deepEqual(linspace(0, 1, 1).toArray(), [0]);
  }));

test('rand, randn, randint and randperm reproduce PyTorch under manualSeed', () =>
  tidy(() => {
    // Printed by `torch.manual_seed(0); torch.rand(4)` etc. with PyTorch 1.13 (same CPU generator).
    manualSeed(0);
    assert.deepEqual(
      rand([4]).toArray(),
      [0.49625658988952637, 0.7682217955589294, 0.08847743272781372, 0.13203048706054688],
    );
    manualSeed(0);
    assert.deepEqual(
      randn([4]).toArray(),
      [1.5409960746765137, -0.293428897857666, -2.1787893772125244, 0.5684312582015991],
    );
    manualSeed(0);
    const ints = randint(0, 10, [6]);
    assert.equal(ints.dtype, 'int64');
    assert.deepEqual(ints.toArray(), [4, 9, 3, 0, 3, 9]);
    manualSeed(0);
    assert.deepEqual(randperm(6).toArray(), [2, 5, 3, 0, 1, 4]);
    // A sequence of draws continues the generator exactly as PyTorch does.
    manualSeed(3);
    assert.deepEqual(rand([3]).toArray(), [0.004263520240783691, 0.10556936264038086, 0.2858424782752991]);
    assert.deepEqual(randn([2]).toArray(), [0.24532555043697357, 1.1185930967330933]);
    assert.deepEqual(randint(-5, 5, [4]).toArray(), [0, -4, 4, -1]);
    // The RNG state can be saved and restored.
    const state = native.getRngState();
    const first = rand([3]).toArray();
    native.setRngState(state);
    assert.deepEqual(rand([3]).toArray(), first);
  }));

test('typed arrays round-trip for every dtype', () =>
  tidy(() => {
    const cases: [DType, TypedArray][] = [
      ['float32', new Float32Array([1.5, -2.25, 3e-8, 65504])],
      ['float64', new Float64Array([1.5, -2.25, 1e-300, Math.PI])],
      ['int64', new BigInt64Array([0n, -1n, 2n ** 53n + 1n, -(2n ** 62n)])],
      ['int32', new Int32Array([0, -1, 2 ** 31 - 1, -(2 ** 31)])],
      ['int16', new Int16Array([0, -1, 32767, -32768])],
      ['int8', new Int8Array([0, -1, 127, -128])],
      ['uint8', new Uint8Array([0, 1, 128, 255])],
    ];
    for (const [dtype, data] of cases) {
      const t = fromTypedArray(data, [2, 2]);
      assert.equal(t.dtype, dtype);
      assert.deepEqual(t.shape, [2, 2]);
      assert.deepEqual(t.toTypedArray(), data, `${dtype} values survive`);
      assert.equal(t.toRaw().data.length, data.byteLength);
    }
    // Types without a JS array: bool via uint8, half types via float32 (exactly representable values).
    const b = tensor([true, false, true]);
    assert.equal(b.dtype, 'bool');
    assert.deepEqual(b.toArray(), [1, 0, 1]);
    for (const dtype of ['float16', 'bfloat16'] as DType[]) {
      const h = tensor([0.5, -3, 1024], { dtype });
      assert.equal(h.dtype, dtype);
      assert.deepEqual(h.toTypedArray(), new Float32Array([0.5, -3, 1024]));
    }
    assert.deepEqual(tensor([1.1], { dtype: 'float16' }).toArray(), [1.099609375], 'float16 rounds to nearest');
    assert.deepEqual(
      fromTypedArray(new Float64Array([1, 2]), [2], { dtype: 'int32' }).toTypedArray(),
      new Int32Array([1, 2]),
    );
    assert.deepEqual(tensor(7, { dtype: 'int64' }).shape, []);
    assert.equal(tensor(7, { dtype: 'int64' }).item(), 7);
  }));

test('dtype and device moves', () =>
  tidy(() => {
    const x = tensor([1.7, -1.7, 2.5]);
    assert.deepEqual(x.to('int64').toArray(), [1, -1, 2], 'float to int truncates toward zero');
    assert.deepEqual(x.to('float64').toTypedArray(), new Float64Array([Math.fround(1.7), Math.fround(-1.7), 2.5]));
    assert.deepEqual(x.to('bool').toArray(), [1, 1, 1]);
    assert.equal(x.to('float32'), x, 'a no-op move returns the same tensor');
    assert.equal(x.to('cpu'), x);
    assert.equal(x.to({ dtype: 'float16', device: 'cpu' }).dtype, 'float16');
    assert.equal(x.device, 'cpu');
    assert.equal(x.long().dtype, 'int64');
    assert.equal(x.long().float().dtype, 'float32');
    if (native.cudaDeviceCount() > 0) {
      const g = x.to('cuda');
      assert.equal(g.device, 'cuda:0');
      assert.deepEqual(g.to('cpu').toArray(), x.toArray());
    } else {
      assert.throws(() => x.to('cuda'), /'cuda' is not available/);
    }
  }));

test('in-place updates change the tensor and its views', () =>
  tidy(() => {
    const x = zeros([2, 3]);
    const row = x.select(0, 1);
    row.fill_(2);
    assert.deepEqual(
      x.toNested(),
      [
        [0, 0, 0],
        [2, 2, 2],
      ],
      'fill_ on a view writes through',
    );
    x.add_(1).mul_(3).sub_(1).div_(2);
    assert.deepEqual(x.toNested(), [
      [1, 1, 1],
      [4, 4, 4],
    ]);
    x.add_(tensor([1, 2, 3]), 10);
    assert.deepEqual(x.toNested(), [
      [11, 21, 31],
      [14, 24, 34],
    ]);
    x.clamp_(12, 30);
    assert.deepEqual(x.toNested(), [
      [12, 21, 30],
      [14, 24, 30],
    ]);
    x.copy_(tensor([1, 2, 3])).addcmul_(tensor([2, 2, 2]), tensor([1, 2, 3]), 0.5);
    assert.deepEqual(x.toNested(), [
      [2, 4, 6],
      [2, 4, 6],
    ]);
    x.addcdiv_(tensor([2, 4, 6]), tensor([2, 2, 2]), 2);
    assert.deepEqual(x.toNested(), [
      [4, 8, 12],
      [4, 8, 12],
    ]);
    x.lerp_(zeros([2, 3]), 0.25);
    assert.deepEqual(x.toNested(), [
      [3, 6, 9],
      [3, 6, 9],
    ]);
    x.indexPut_([tensor([0, 1], { dtype: 'int64' }), tensor([2, 0], { dtype: 'int64' })], tensor([-1, -2]));
    assert.deepEqual(x.toNested(), [
      [3, 6, -1],
      [-2, 6, 9],
    ]);
    x.indexPut_([tensor([0, 0], { dtype: 'int64' })], tensor([1, 1, 1]), true);
    assert.deepEqual(
      x.toNested(),
      [
        [5, 8, 1],
        [-2, 6, 9],
      ],
      'accumulate adds repeated indices',
    );
    x.zero_();
    assert.deepEqual(x.toArray(), [0, 0, 0, 0, 0, 0]);
    assert.ok(native.sameStorage(x.handle, row.handle));
  }));

test('broadcasting arithmetic and type promotion', () =>
  tidy(() => {
    const col = tensor([[1], [2]]);
    const row = tensor([10, 20, 30]);
    assert.deepEqual(col.add(row).toNested(), [
      [11, 21, 31],
      [12, 22, 32],
    ]);
    assert.deepEqual(row.sub(col).toNested(), [
      [9, 19, 29],
      [8, 18, 28],
    ]);
    assert.deepEqual(col.mul(row).toNested(), [
      [10, 20, 30],
      [20, 40, 60],
    ]);
    assert.deepEqual(row.div(col).toNested(), [
      [10, 20, 30],
      [5, 10, 15],
    ]);
    assert.deepEqual(row.add(row, 0.5).toArray(), [15, 30, 45], 'add with alpha');
    assert.deepEqual(row.rsub(100).toArray(), [90, 80, 70]);
    assert.deepEqual(row.neg().toArray(), [-10, -20, -30]);
    const ints = tensor([7, -7], { dtype: 'int64' });
    assert.equal(ints.add(1).dtype, 'int64', 'integer scalars keep integer tensors integral');
    assert.equal(ints.add(0.5).dtype, 'float32');
    assert.deepEqual(ints.div(2).toArray(), [3.5, -3.5], 'true division');
    assert.equal(tensor([1], { dtype: 'float64' }).add(tensor([1])).dtype, 'float64');
    assert.deepEqual(row.gt(15).toArray(), [0, 1, 1]);
    assert.deepEqual(row.le(tensor([10, 10, 40])).toArray(), [1, 0, 1]);
    assert.deepEqual(row.eq(20).logicalOr(row.eq(30)).logicalNot().toArray(), [1, 0, 0]);
    assert.deepEqual(row.maximum(tensor([15])).toArray(), [15, 20, 30]);
    assert.deepEqual(row.minimum(tensor([15])).toArray(), [10, 15, 15]);
  }));

test('matmul, mm, bmm and einsum', () =>
  tidy(() => {
    const a = tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    const b = tensor([
      [1, 0],
      [0, 1],
      [1, 1],
    ]);
    assert.deepEqual(a.matmul(b).toNested(), [
      [4, 5],
      [10, 11],
    ]);
    assert.deepEqual(a.mm(b).toNested(), [
      [4, 5],
      [10, 11],
    ]);
    assert.deepEqual(a.matmul(tensor([1, 1, 1])).toArray(), [6, 15], 'matrix-vector');
    const batch = a
      .unsqueeze(0)
      .expand(2, 2, 3)
      .mul(tensor([1, 2]).view(2, 1, 1));
    const bb = b.unsqueeze(0).repeat(2, 1, 1);
    assert.deepEqual(batch.bmm(bb).toNested(), [
      [
        [4, 5],
        [10, 11],
      ],
      [
        [8, 10],
        [20, 22],
      ],
    ]);
    assert.deepEqual(batch.matmul(b).shape, [2, 2, 2], 'matmul broadcasts a matrix over the batch');
    assert.deepEqual(einsum('ij,jk->ik', a, b).toNested(), [
      [4, 5],
      [10, 11],
    ]);
    assert.deepEqual(einsum('ij->ji', a).toNested(), [
      [1, 4],
      [2, 5],
      [3, 6],
    ]);
    assert.deepEqual(einsum('bij,bjk->bik', batch, bb).toNested(), batch.bmm(bb).toNested());
    assert.deepEqual(einsum('i,i->', tensor([1, 2, 3]), tensor([4, 5, 6])).item(), 32);
    // BIKE's attribute/video similarity: einsum('bd,cd->bc') equals x @ y.T
    const x = randn([3, 4]);
    const y = randn([5, 4]);
    assertClose(einsum('bd,cd->bc', x, y), x.matmul(y.t()), { atol: 1e-6 });
  }));

test('element-wise math: exp, log, sqrt, pow, clamp, abs and friends', () =>
  tidy(() => {
    const x = tensor([0.25, 1, 4]);
    assertClose(x.exp(), [Math.exp(0.25), Math.E, Math.exp(4)], { rtol: 1e-6 });
    assertClose(x.log(), [Math.log(0.25), 0, Math.log(4)], { atol: 1e-7 });
    assert.deepEqual(x.sqrt().toArray(), [0.5, 1, 2]);
    assert.deepEqual(x.rsqrt().toArray(), [2, 1, 0.5]);
    assert.deepEqual(x.pow(2).toArray(), [0.0625, 1, 16]);
    assert.deepEqual(x.pow(tensor([2, 3, 0.5])).toArray(), [0.0625, 1, 2]);
    assert.deepEqual(x.reciprocal().toArray(), [4, 1, 0.25]);
    const y = tensor([-2.5, -0.5, 0.5, 2.5]);
    assert.deepEqual(y.clamp(-1, 1).toArray(), [-1, -0.5, 0.5, 1]);
    assert.deepEqual(y.clamp(0).toArray(), [0, 0, 0.5, 2.5], 'min only');
    assert.deepEqual(y.clamp(null, 0).toArray(), [-2.5, -0.5, 0, 0], 'max only');
    assert.deepEqual(y.abs().toArray(), [2.5, 0.5, 0.5, 2.5]);
    assert.deepEqual(y.sign().toArray(), [-1, -1, 1, 1]);
    assert.deepEqual(y.floor().toArray(), [-3, -1, 0, 2]);
    assert.deepEqual(y.round().toArray(), [-2, -0, 0, 2], 'round half to even');
    assert.deepEqual(y.relu().toArray(), [0, 0, 0.5, 2.5]);
    assertClose(y.tanh(), [-2.5, -0.5, 0.5, 2.5].map(Math.tanh), { atol: 1e-7 });
    assertClose(
      y.sigmoid(),
      [-2.5, -0.5, 0.5, 2.5].map((v) => 1 / (1 + Math.exp(-v))),
      { atol: 1e-7 },
    );
    assertClose(y.sin(), [-2.5, -0.5, 0.5, 2.5].map(Math.sin), { atol: 1e-7 });
    assertClose(y.cos(), [-2.5, -0.5, 0.5, 2.5].map(Math.cos), { atol: 1e-7 });
    assert.deepEqual(tensor([-1, 0]).log().toArray(), [NaN, -Infinity]);
    assert.deepEqual(tensor([1, Infinity, NaN]).isfinite().toArray(), [1, 0, 0]);
  }));

test('where selects by a boolean condition with broadcasting', () =>
  tidy(() => {
    const cond = tensor([[true, false, true]]);
    const a = tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    const b = tensor([-1]);
    assert.deepEqual(where(cond, a, b).toNested(), [
      [1, -1, 3],
      [4, -1, 6],
    ]);
    assert.deepEqual(a.where(a.gt(3), zeros([1])).toNested(), [
      [0, 0, 0],
      [4, 5, 6],
    ]);
  }));

test('reductions: sum, mean, max, min, argmax, var, std, norm, cumsum', () =>
  tidy(() => {
    const x = tensor([
      [1, 5, 3],
      [4, 2, 6],
    ]);
    assert.equal(x.sum().item(), 21);
    assert.deepEqual(x.sum(0).toArray(), [5, 7, 9]);
    assert.deepEqual(x.sum(1, true).shape, [2, 1]);
    assert.deepEqual(x.sum([0, 1]).item(), 21);
    assert.equal(tensor([1, 2], { dtype: 'int32' }).sum().dtype, 'int64', 'integer sums widen to int64 as PyTorch');
    assert.equal(x.sum(undefined, false, 'float64').dtype, 'float64');
    assert.equal(x.mean().item(), 3.5);
    assert.deepEqual(x.mean(1).toArray(), [3, 4]);
    assert.deepEqual(x.mean(-1, true).toNested(), [[3], [4]]);
    assert.equal(x.max().item(), 6);
    assert.equal(x.min().item(), 1);
    const m = x.maxDim(1);
    assert.deepEqual(
      [m.values.toArray(), m.indices.toArray()],
      [
        [5, 6],
        [1, 2],
      ],
    );
    const n = x.minDim(0, true);
    assert.deepEqual([n.values.toNested(), n.indices.toNested()], [[[1, 2, 3]], [[0, 1, 0]]]);
    assert.deepEqual(x.amax([0, 1]).item(), 6);
    assert.equal(x.argmax().item(), 5, 'flat index without dim');
    assert.deepEqual(x.argmax(0).toArray(), [1, 0, 1]);
    assert.deepEqual(x.argmin(1).toArray(), [0, 1]);
    const s = tensor([
      [1, 2, 4],
      [3, 3, 9],
    ]);
    // torch.std(1) = [1.5275251865386963, 3.464101552963257], var(1, unbiased=False) = [1.5555555820465088, 8]
    assert.deepEqual(s.std(1).toArray(), [1.5275251865386963, 3.464101552963257]);
    assert.deepEqual(s.var(1, false).toArray(), [1.5555555820465088, 8]);
    assert.equal(tensor([3, -4, 12]).norm().item(), 13);
    assert.equal(tensor([3, -4, 12]).norm(1).item(), 19);
    assert.deepEqual(
      tensor([
        [3, 4],
        [6, 8],
      ])
        .norm(2, 1)
        .toArray(),
      [5, 10],
    );
    assert.deepEqual(
      tensor([
        [3, 4],
        [6, 8],
      ]).norm(2, -1, true).shape,
      [2, 1],
    );
    assert.deepEqual(
      tensor([
        [1, 2, 3],
        [4, 5, 6],
      ])
        .cumsum(1)
        .toNested(),
      [
        [1, 3, 6],
        [4, 9, 15],
      ],
    );
    assert.deepEqual(
      tensor([
        [1, 2, 3],
        [4, 5, 6],
      ])
        .cumsum(0)
        .toNested(),
      [
        [1, 2, 3],
        [5, 7, 9],
      ],
    );
    assert.equal(tensor([true, false]).any().item(), 1);
    assert.equal(tensor([true, false]).all().item(), 0);
  }));

test('topk, sort and argsort with values and indices', () =>
  tidy(() => {
    const x = tensor([
      [0.1, 0.9, 0.5, 0.7],
      [3, 1, 2, 0],
    ]);
    const top = x.topk(2);
    assert.deepEqual(top.values.toNested(), [
      [Math.fround(0.9), Math.fround(0.7)],
      [3, 2],
    ]);
    assert.deepEqual(top.indices.toNested(), [
      [1, 3],
      [0, 2],
    ]);
    const bottom = x.topk(1, 1, false);
    assert.deepEqual(bottom.indices.toNested(), [[0], [3]]);
    const colTop = x.topk(1, 0);
    assert.deepEqual(colTop.indices.toNested(), [[1, 1, 1, 0]]);
    const sorted = x.sort(1, true);
    assert.deepEqual(sorted.indices.toNested(), [
      [1, 3, 2, 0],
      [0, 2, 1, 3],
    ]);
    assert.deepEqual(x.sort().values.select(0, 1).toArray(), [0, 1, 2, 3]);
    assert.deepEqual(x.argsort(1).toNested(), [
      [0, 2, 3, 1],
      [3, 1, 2, 0],
    ]);
  }));
