import { test } from 'node:test';
import assert from 'node:assert/strict';
import { manualSeed, noGrad, randn, tensor, tidy } from '../torch/index.ts';
import { assertClose } from '../testing/assert-close.ts';
import { VideoHead, originalTemporalHeads } from './video-head.ts';
import { conceptSpottingLogits, dotProductLogits } from './interactions.ts';
import { TfLayerNorm } from './temporal-transformer.ts';

const options = { embedDim: 16, contextLength: 77, layers: 2, heads: 2 };

test('a None head has no parameters and passes features through', () => {
  const head = new VideoHead({ simHeader: 'None', interaction: 'DP', ...options });
  assert.equal(head.parameters().length, 0);
  tidy(() => {
    const video = randn([2, 4, 16]);
    assert.equal(head.aggregate(video), video);
  });
});

test('initialisation follows the original init_weights', () => {
  manualSeed(0);
  const head = new VideoHead({
    simHeader: 'Transf',
    interaction: 'VCS',
    embedDim: 64,
    contextLength: 77,
    layers: 2,
    heads: 2,
  });
  const p = head.stateDict();
  const std = (name: string) => noGrad(() => p.get(name)!.std().item());
  assert.ok(Math.abs(std('frame_position_embeddings.weight') - 0.02) < 0.002);
  assert.ok(Math.abs(std('transformer.resblocks.0.mlp.c_fc.weight') - 0.02) < 0.002);
  assert.ok(Math.abs(std('transformer.resblocks.0.attn.out_proj.weight') - 0.02) < 0.003);
  // The packed in-projection keeps PyTorch's Xavier uniform: std = sqrt(2 / (fan_in + fan_out)).
  assert.ok(Math.abs(std('transformer.resblocks.0.attn.in_proj_weight') - Math.sqrt(2 / (64 + 192))) < 0.01);
  for (const name of [
    'transformer.resblocks.0.mlp.c_fc.bias',
    'transformer.resblocks.1.attn.in_proj_bias',
    'transformer.resblocks.0.ln_1.bias',
  ]) {
    assert.equal(
      noGrad(() => p.get(name)!.abs().max().item()),
      0,
      name,
    );
  }
  assert.deepEqual(p.get('transformer.resblocks.0.ln_2.weight')!.toArray(), new Array(64).fill(1));
});

test('TfLayerNorm puts epsilon inside the square root (1e-12)', () => {
  const ln = new TfLayerNorm(3);
  tidy(() => {
    const x = tensor([[1, 2, 6]]);
    const mean = 3;
    const variance = (4 + 1 + 9) / 3;
    assertClose(
      ln.forward(x),
      [[(1 - mean) / Math.sqrt(variance), (2 - mean) / Math.sqrt(variance), (6 - mean) / Math.sqrt(variance)]],
      { atol: 1e-6 },
    );
  });
});

test('DP: mean over time, then cosine similarity', () =>
  tidy(() => {
    const video = tensor([
      [
        [1, 0],
        [3, 0],
      ],
      [
        [0, 2],
        [2, 0],
      ],
    ]);
    const classes = tensor([
      [1, 0],
      [1, 1],
    ]);
    // video 0 pools to (2, 0); video 1 to (1, 1).
    assertClose(
      dotProductLogits(video, classes),
      [
        [1, Math.SQRT1_2],
        [Math.SQRT1_2, 1],
      ],
      { atol: 1e-6 },
    );
  }));

test('VCS weights frames by word-frame similarity at temperature 0.01, averaged over words', () =>
  tidy(() => {
    const video = tensor([
      [
        [1, 0],
        [0, 1],
      ],
    ]); // one video, two frames pointing at x and y
    const words = tensor([
      [
        [1, 0],
        [1, 0.001],
      ],
    ]); // one class, two words, both near x
    const cls = tensor([[0.6, 0.8]]);
    const logits = conceptSpottingLogits(video, words, cls);
    // By hand: each word's softmax over the two frames at T = 0.01, then the mean over words.
    const w0 = 1 / (1 + Math.exp(-100)); // word 0 sims (1, 0)
    const n = Math.hypot(1, 0.001);
    const w1 = 1 / (1 + Math.exp(-(1 / n - 0.001 / n) * 100));
    const a = (w0 + w1) / 2;
    const expected = a * 0.6 + (1 - a) * 0.8;
    assertClose(logits, [[expected]], { atol: 1e-6 });
  }));

test('VCS with a single frame is the cosine of that frame with the class (as DP)', () =>
  tidy(() => {
    manualSeed(1);
    const video = randn([3, 1, 8]);
    const cls = randn([5, 8]);
    const words = randn([5, 77, 8]);
    assertClose(conceptSpottingLogits(video, words, cls), dotProductLogits(video, cls), { atol: 1e-6 });
  }));

test('the Transf head adds frame positions and a residual; output depends on frame order', () => {
  manualSeed(2);
  const head = new VideoHead({ simHeader: 'Transf', interaction: 'DP', ...options });
  tidy(() =>
    noGrad(() => {
      const video = randn([2, 5, 16]);
      const out = head.aggregate(video);
      assert.deepEqual(out.shape, [2, 5, 16]);
      const reversed = head.aggregate(video.flip(1)).flip(1);
      assert.ok(out.sub(reversed).abs().max().item() > 1e-4, 'position embeddings make the order matter');
      const cls = randn([3, 16]);
      assert.deepEqual(head.forward(video, null, cls).shape, [2, 3]);
    }),
  );
});

test('bad input is refused by name', () => {
  assert.throws(
    () => new VideoHead({ simHeader: 'LSTM' as never, interaction: 'DP', ...options }),
    /sim_header must be one of None, Transf, got "LSTM"/,
  );
  assert.throws(
    () => new VideoHead({ simHeader: 'None', interaction: 'XX' as never, ...options }),
    /interaction must be one of DP, VCS/,
  );
  assert.throws(
    () => new VideoHead({ simHeader: 'Transf', interaction: 'DP', ...options, heads: 3 }),
    /heads must be a positive integer dividing the width 16/,
  );
  const head = new VideoHead({ simHeader: 'Transf', interaction: 'VCS', ...options, contextLength: 4 });
  tidy(() => {
    assert.throws(() => head.aggregate(randn([1, 5, 16])), /5 frames exceed the 4 frame position embeddings/);
    assert.throws(() => head.aggregate(randn([5, 16])), /expected video features \[batch, T, D\], got shape \[5,16\]/);
    assert.throws(
      () => head.forward(randn([1, 3, 16]), null, randn([2, 16])),
      /VCS interaction needs the token features/,
    );
    assert.throws(
      () => conceptSpottingLogits(randn([1, 3, 16]), randn([3, 77, 16]), randn([2, 16])),
      /3 token rows but 2 class embeddings/,
    );
  });
});

test('originalTemporalHeads is the text width // 64', () => {
  assert.equal(originalTemporalHeads(512), 8);
  assert.equal(originalTemporalHeads(768), 12);
  assert.equal(originalTemporalHeads(128), 2);
});
