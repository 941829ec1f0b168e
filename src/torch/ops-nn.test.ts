// Neural-network functions against values printed by PyTorch 1.13 (`torch.nn.functional`, same
// inputs) or against explicit compositions and plain-JS loops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, tensor, arange, randn, ones, zeros, manualSeed, tidy, noGrad, F, nn } from './index.ts';
import { assertClose, maxAbsDiff } from '../testing/assert-close.ts';

const long = (values: unknown) => tensor(values, { dtype: 'int64' });
const x = () =>
  tensor([
    [0.5, -1.0, 2.0],
    [1.5, 0.25, -0.75],
  ]);

test('linear, relu, sigmoid, gelu (exact and tanh), quickGelu', () =>
  tidy(() => {
    const w = tensor([
      [0.1, 0.2, 0.3],
      [-0.4, 0.5, -0.6],
    ]);
    assertClose(F.linear(x(), w, tensor([0.01, -0.02])), [0.46, -1.9200001, -0.015, -0.045]);
    assertClose(F.linear(x(), w), x().matmul(w.t()), { message: 'no bias' });
    assert.deepEqual(x().relu().toArray(), [0.5, 0, 2, 1.5, 0.25, 0]);
    assertClose(x().sigmoid(), [0.6224594, 0.2689414, 0.880797, 0.8175744, 0.5621765, 0.3208213]);
    assertClose(F.gelu(x()), [0.3457312, -0.1586553, 1.9545, 1.3997891, 0.1496766, -0.1699705]);
    assertClose(F.gelu(x(), 'tanh'), [0.345714, -0.158808, 1.9545977, 1.3995715, 0.1496754, -0.1700395]);
    assertClose(
      F.quickGelu(x()),
      x()
        .toArray()
        .map((v) => v / (1 + Math.exp(-1.702 * v))),
    );
  }));

test('quickGelu gives the same bits with and without a graph, and leaves its input alone', () =>
  tidy(() => {
    manualSeed(3);
    const input = randn([64, 96]).requiresGrad_();
    const before = input.toArray();
    const graphed = F.quickGelu(input); // records a graph: the out-of-place composition
    assert.ok(graphed.requiresGrad);
    const plain = noGrad(() => F.quickGelu(input)); // no graph: computed in one buffer
    assert.equal(plain.requiresGrad, false);
    assert.deepEqual(plain.toArray(), graphed.toArray());
    assert.deepEqual(input.toArray(), before);
    assert.deepEqual(F.quickGelu(input.detach()).toArray(), graphed.toArray());
  }));

test('softmax and logSoftmax along either dim', () =>
  tidy(() => {
    assertClose(F.softmax(x(), 1), [0.1752904, 0.0391126, 0.785597, 0.7184404, 0.2058366, 0.0757231]);
    assertClose(F.softmax(x(), 0), [0.2689414, 0.2227001, 0.9399133, 0.7310586, 0.7772999, 0.0600866]);
    assertClose(F.softmax(x(), -1).sum(-1), [1, 1]);
    assertClose(F.logSoftmax(x(), 1), [-1.7413113, -3.2413113, -0.2413113, -0.3306726, -1.5806726, -2.5806725]);
    assert.equal(F.softmax(x(), 1, 'float64').dtype, 'float64');
    // A fully masked row gives NaN in PyTorch; a row with one -inf gives 0 there.
    assert.deepEqual(F.softmax(tensor([0, -Infinity]), 0).toArray(), [1, 0]);
  }));

test('layerNorm, batchNorm (train updates running stats, eval uses them), normalize', () =>
  tidy(() => {
    assertClose(
      F.layerNorm(x(), [3], tensor([1, 2, 0.5]), tensor([0, 0.1, -0.1])),
      [0, -2.3494816, 0.5123703, 1.267493, -0.0810704, -0.6884789],
      { atol: 1e-6 },
    );
    const plain = F.layerNorm(x(), [3]);
    assertClose(plain.mean(-1), [0, 0], { atol: 1e-6 });
    assertClose(plain.var(-1, false), [1, 1], { atol: 1e-4 }); // not exactly 1: eps 1e-5 in the denominator

    const bn = new nn.BatchNorm2d(2);
    const input = arange(0, 16, 1, { dtype: 'float32' }).view(2, 2, 2, 2);
    const out = bn.forward(input);
    // Channel 0 holds [0,1,2,3,8,9,10,11]: mean 5.5, squared deviations sum to 138: biased var 138/8, unbiased 138/7.
    assertClose(
      out.select(1, 0).flatten(),
      [0, 1, 2, 3, 8, 9, 10, 11].map((v) => (v - 5.5) / Math.sqrt(138 / 8 + 1e-5)),
      { atol: 1e-5 },
    );
    assertClose(bn.running_mean, [0.55, 0.95], { atol: 1e-6 });
    assertClose(bn.running_var, [0.9 + 0.1 * (138 / 7), 0.9 + 0.1 * (138 / 7)], { atol: 1e-5 });
    assert.equal(bn.num_batches_tracked.item(), 1);
    bn.eval();
    const evalOut = bn.forward(input);
    assertClose(
      evalOut.select(1, 0).flatten(),
      [0, 1, 2, 3, 8, 9, 10, 11].map((v) => (v - 0.55) / Math.sqrt(bn.running_var.toArray()[0]! + 1e-5)),
      { atol: 1e-5 },
    );
    assert.equal(bn.num_batches_tracked.item(), 1, 'eval does not count batches');

    const n = F.normalize(
      tensor([
        [3, 4],
        [0, 0],
      ]),
    );
    assert.deepEqual(n.toNested(), [[0.6, 0.8].map(Math.fround), [0, 0]], 'zero rows stay zero (eps clamp)');
  }));

test('klDiv (batchmean, mean, none), crossEntropy (hard, smoothed, soft targets), mse, bce', () =>
  tidy(() => {
    const target = F.softmax(
      tensor([
        [0.2, 0.1, -0.3],
        [1.0, 0.0, 0.5],
      ]),
      1,
    );
    const logProbs = F.logSoftmax(x(), 1);
    assertClose(F.klDiv(logProbs, target, 'batchmean'), [0.5382238030433655]);
    assertClose(F.klDiv(logProbs, target, 'mean'), [0.17940793931484222]);
    assertClose(
      F.klDiv(logProbs, target, 'none'),
      [0.3267078, 0.8000327, -0.2848697, -0.1770641, -0.0185573, 0.430198],
    );
    assertClose(F.klDiv(logProbs, target.log(), 'batchmean', true), [0.5382238030433655], { message: 'log target' });
    assertClose(F.crossEntropy(x(), long([2, 0])), [0.28599196672439575]);
    assertClose(F.crossEntropy(x(), long([2, 0]), { labelSmoothing: 0.1 }), [0.4193252921104431]);
    assertClose(F.crossEntropy(x(), target), [1.587126612663269], { message: 'probability targets' });
    assertClose(F.crossEntropy(x(), long([2, 0]), { reduction: 'none' }), [0.2413113, 0.3306726]);
    assertClose(F.crossEntropy(x(), long([2, -100])), [0.2413113], { message: 'ignore_index' });
    assertClose(F.mseLoss(tensor([1, 2]), tensor([2, 4])), [2.5]);
    assertClose(F.binaryCrossEntropyWithLogits(tensor([0]), tensor([1])), [Math.log(2)]);
  }));

test('embedding looks up rows; nn.Embedding matches', () =>
  tidy(() => {
    const table = arange(0, 8, 1, { dtype: 'float32' }).view(4, 2);
    assert.deepEqual(
      F.embedding(
        table,
        long([
          [3, 0],
          [1, 1],
        ]),
      ).toNested(),
      [
        [
          [6, 7],
          [0, 1],
        ],
        [
          [2, 3],
          [2, 3],
        ],
      ],
    );
    const emb = new nn.Embedding(10, 3);
    assert.deepEqual(emb.forward(long([9])).toArray(), emb.weight.select(0, 9).toArray());
  }));

test('conv2d equals a direct convolution loop, with and without padding, stride and groups', () =>
  tidy(() => {
    const input = arange(0, 2 * 2 * 4 * 4, 1, { dtype: 'float32' })
      .view(2, 2, 4, 4)
      .div(10);
    const weight = arange(0, 3 * 2 * 3 * 3, 1, { dtype: 'float32' })
      .view(3, 2, 3, 3)
      .div(50)
      .sub(0.3);
    const bias = tensor([0.1, -0.1, 0]);
    for (const [stride, padding] of [
      [1, 1],
      [2, 0],
      [1, 0],
    ] as const) {
      const got = F.conv2d(input, weight, bias, { stride, padding });
      assertClose(got, naiveConv2d(input, weight, bias, stride, padding), {
        atol: 1e-4,
        message: `stride ${stride} padding ${padding}`,
      });
    }
    // PyTorch 1.13: F.conv2d(img, w, None, stride=2, padding=0).flatten()
    assertClose(
      F.conv2d(input, weight, null, { stride: 2 }),
      [-1.4340005, 6.9899993, 15.4139986, -8.9220009, 20.2379971, 49.3980026],
      { atol: 1e-4 },
    );
    const grouped = F.conv2d(input, weight.slice(0, 0, 2).slice(1, 0, 1), null, { groups: 2, padding: 1 });
    assert.deepEqual(grouped.shape, [2, 2, 4, 4]);
    assertClose(
      grouped.select(1, 1),
      F.conv2d(input.slice(1, 1, 2), weight.slice(0, 1, 2).slice(1, 0, 1), null, { padding: 1 }).select(1, 0),
    );
  }));

function naiveConv2d(input: Tensor, weight: Tensor, bias: Tensor, stride: number, padding: number): number[] {
  const [N, C, H, W] = input.shape as [number, number, number, number];
  const [O, , K] = weight.shape as [number, number, number];
  const inp = input.toArray();
  const w = weight.toArray();
  const b = bias.toArray();
  const Ho = Math.floor((H + 2 * padding - K) / stride) + 1;
  const Wo = Math.floor((W + 2 * padding - K) / stride) + 1;
  const out: number[] = [];
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let i = 0; i < Ho; i++)
        for (let j = 0; j < Wo; j++) {
          let acc = b[o]!;
          for (let c = 0; c < C; c++)
            for (let p = 0; p < K; p++)
              for (let q = 0; q < K; q++) {
                const y = i * stride + p - padding;
                const xx = j * stride + q - padding;
                if (y < 0 || y >= H || xx < 0 || xx >= W) continue;
                acc += inp[((n * C + c) * H + y) * W + xx]! * w[((o * C + c) * K + p) * K + q]!;
              }
          out.push(acc);
        }
  return out;
}

test('dropout zeroes and rescales in training, is the identity in eval', () =>
  tidy(() => {
    manualSeed(1);
    const input = ones([1000]);
    const dropped = F.dropout(input, 0.3, true).toArray();
    const kept = dropped.filter((v) => v !== 0);
    assert.ok(
      kept.every((v) => Math.abs(v - 1 / 0.7) < 1e-6),
      'survivors are scaled by 1/(1-p)',
    );
    assert.ok(Math.abs(kept.length / 1000 - 0.7) < 0.06, `about 70% survive (got ${kept.length})`);
    assert.equal(F.dropout(input, 0.3, false), input, 'eval returns the input');
    const layer = new nn.Dropout(0.5);
    layer.eval();
    assert.equal(layer.forward(input), input);
    layer.train();
    assert.ok(
      layer
        .forward(input)
        .toArray()
        .some((v) => v === 0),
    );
  }));

test('scaledDotProductAttention equals the explicit composition, with additive and boolean masks', () =>
  tidy(() => {
    manualSeed(2);
    const [B, L, S, D] = [3, 4, 5, 8];
    const q = randn([B, L, D]);
    const k = randn([B, S, D]);
    const v = randn([B, S, D]);
    const explicit = (mask?: Tensor) => {
      let scores = q.matmul(k.transpose(-2, -1)).div(Math.sqrt(D));
      if (mask) scores = scores.add(mask);
      return F.softmax(scores, -1).matmul(v);
    };
    assertClose(F.scaledDotProductAttention(q, k, v), explicit(), { atol: 1e-5 });
    const additive = randn([L, S]);
    assertClose(F.scaledDotProductAttention(q, k, v, { mask: additive }), explicit(additive), {
      atol: 1e-5,
      message: 'additive [L, S]',
    });
    const perBatch = randn([B, L, S]);
    assertClose(F.scaledDotProductAttention(q, k, v, { mask: perBatch }), explicit(perBatch), {
      atol: 1e-5,
      message: 'additive [B, L, S]',
    });
    // Boolean: true takes part (PyTorch 2's convention); equivalent to -inf where false.
    const allowed = tensor([[true, true, false, false, true]]).expand(L, S);
    const asAdditive = zeros([L, S]).maskedFill(allowed.logicalNot(), -Infinity);
    assertClose(F.scaledDotProductAttention(q, k, v, { mask: allowed }), explicit(asAdditive), {
      atol: 1e-5,
      message: 'boolean',
    });
    const causal = F.scaledDotProductAttention(q, k.slice(1, 0, L), v.slice(1, 0, L), { causal: true });
    assert.deepEqual(
      causal.select(1, 0).toNested(),
      v.select(1, 0).toNested(),
      'causal: the first query sees only the first key',
    );
    const q4 = randn([2, 3, L, D]);
    const k4 = randn([2, 3, S, D]);
    const v4 = randn([2, 3, S, D]);
    const ref4 = F.softmax(q4.matmul(k4.transpose(-2, -1)).div(Math.sqrt(D)), -1).matmul(v4);
    assertClose(F.scaledDotProductAttention(q4, k4, v4), ref4, { atol: 1e-5, message: '4-D heads layout' });
  }));

test('MultiheadAttention equals its composition; PyTorch boolean masks mark positions to ignore', () =>
  tidy(() => {
    manualSeed(3);
    const [L, N, E, H] = [4, 2, 6, 2];
    const mha = new nn.MultiheadAttention(E, H);
    noGrad(() => mha.in_proj_bias.copy_(randn([3 * E]).mul(0.1)));
    const input = randn([L, N, E]);
    const explicit = (mask?: Tensor) => {
      const [q, k, v] = F.linear(input, mha.in_proj_weight, mha.in_proj_bias).chunk(3, -1) as [Tensor, Tensor, Tensor];
      const heads = (t: Tensor) => t.reshape(L, N * H, E / H).transpose(0, 1);
      let scores = heads(q)
        .matmul(heads(k).transpose(1, 2))
        .div(Math.sqrt(E / H));
      if (mask) scores = scores.add(mask);
      const out = F.softmax(scores, -1).matmul(heads(v)).transpose(0, 1).reshape(L, N, E);
      return mha.out_proj.forward(out);
    };
    assertClose(mha.forward(input), explicit(), { atol: 1e-5 });
    const causal = zeros([L, L]).add(-Infinity).triu(1);
    assertClose(mha.forward(input, input, input, causal), explicit(causal), {
      atol: 1e-5,
      message: 'additive causal mask',
    });
    const ignore = ones([L, L], { dtype: 'bool' }).triu(1);
    assertClose(mha.forward(input, input, input, ignore), explicit(causal), {
      atol: 1e-5,
      message: 'boolean mask (true = ignore)',
    });
    const memory = randn([5, N, E]);
    assert.deepEqual(mha.forward(input, memory, memory).shape, [L, N, E], 'cross-attention');
    // Queries from a slice, keys and values from one tensor (one packed key-value product): the rows
    // of self-attention, and the same as three separate projections.
    assertClose(mha.forward(input.slice(0, 0, 2), input, input), explicit().slice(0, 0, 2), {
      atol: 1e-5,
      message: 'first-row queries against every position',
    });
    assertClose(mha.forward(input.slice(0, 0, 2), input, input.clone()), explicit().slice(0, 0, 2), {
      atol: 1e-5,
      message: 'separate key and value tensors',
    });
    assert.deepEqual(
      [...mha.namedParameters()].map(([n]) => n),
      ['in_proj_weight', 'in_proj_bias', 'out_proj.weight', 'out_proj.bias'],
    );
    // Without a graph to record, unmasked self-attention takes libtorch's fused kernel: the same values.
    const composed = mha.forward(input);
    assert.ok(composed.requiresGrad, 'with gradients: the composed path');
    const fused = noGrad(() => mha.forward(input));
    assert.deepEqual(fused.shape, [L, N, E]);
    assertClose(fused, composed, { atol: 1e-6, message: 'fused (inference) vs composed' });
    assertClose(
      noGrad(() => mha.forward(input, input, input, causal)),
      explicit(causal),
      { atol: 1e-5, message: 'a mask keeps the composed path' },
    );
    mha.requiresGrad_(false);
    assertClose(mha.forward(input), composed, { atol: 1e-6, message: 'frozen weights, input without grad: fused' });
  }));

test('interpolate: nearest, bilinear (align_corners both ways), bicubic as PyTorch', () =>
  tidy(() => {
    const img = arange(0, 16, 1, { dtype: 'float32' }).view(1, 1, 4, 4).div(10);
    assertClose(F.interpolate(img, [2, 3], 'nearest'), [0, 0.1, 0.2, 0.8, 0.9, 1.0]);
    assertClose(
      F.interpolate(img, [3, 5], 'bilinear'),
      [
        0.0666667, 0.1366667, 0.2166667, 0.2966667, 0.3666667, 0.6, 0.67, 0.75, 0.83, 0.9, 1.1333334, 1.2033334,
        1.2833333, 1.3633332, 1.4333334,
      ],
    );
    assertClose(
      F.interpolate(img, [3, 5], 'bilinear', true),
      [0, 0.075, 0.15, 0.225, 0.3, 0.6, 0.675, 0.75, 0.825, 0.9, 1.2, 1.275, 1.35, 1.425, 1.5],
    );
    const bicubic = F.interpolate(img, [6, 6], 'bicubic');
    assert.deepEqual(bicubic.shape, [1, 1, 6, 6]);
    assertClose(bicubic.select(2, 0).flatten(), [-0.0434028, 0.0059028, 0.0865741, 0.1439815, 0.2246528, 0.2739584]);
    assertClose(bicubic.select(2, 5).flatten(), [1.2260419, 1.2753472, 1.3560185, 1.4134262, 1.4940972, 1.5434029]);
    assert.ok(maxAbsDiff(F.interpolate(img, [4, 4], 'bilinear'), img) < 1e-7, 'same size is the identity');
    assertClose(F.adaptiveAvgPool2d(img, 1), [img.mean().item()]);
    assertClose(F.avgPool2d(img, 2), [0.25, 0.45, 1.05, 1.25]);
  }));
