import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, manualSeed, noGrad, randn, randint, tidy, tensor, backward, nn } from '../torch/index.ts';
import { CLIP, createClip, stochasticDepthRates } from './model.ts';
import { clipArchitecture, inferClipConfig, type ClipConfig } from './config.ts';
import { Transformer, dropPath } from './layers.ts';
import { assertClose } from '../testing/assert-close.ts';
import { VisionTransformer } from './vision-transformer.ts';

/** A small ViT CLIP (fast to build and run). */
const TINY_VIT: ClipConfig = {
  embed_dim: 16,
  image_resolution: 16,
  vision_layers: 3,
  vision_width: 64,
  vision_patch_size: 8,
  context_length: 12,
  vocab_size: 50,
  transformer_width: 64,
  transformer_heads: 2,
  transformer_layers: 2,
};
const TINY_RESNET: ClipConfig = {
  embed_dim: 16,
  image_resolution: 64,
  vision_layers: [1, 2, 1, 1],
  vision_width: 8,
  vision_patch_size: null,
  context_length: 12,
  vocab_size: 50,
  transformer_width: 64,
  transformer_heads: 2,
  transformer_layers: 2,
};

function disposeModel(model: nn.Module): void {
  for (const t of model.stateDict().values()) t.dispose();
}

function tokens(n: number, contextLength: number, vocab: number): Tensor {
  // Start token 0, random words, the largest id as end of text, zero padding.
  const rows: number[][] = [];
  for (let i = 0; i < n; i++) {
    const length = 3 + i;
    rows.push(
      Array.from({ length: contextLength }, (_, j) =>
        j < length - 1 ? 1 + ((i * 7 + j * 3) % (vocab - 2)) : j === length - 1 ? vocab - 1 : 0,
      ),
    );
  }
  return tensor(rows, { dtype: 'int64' });
}

test('inference reads a ResNet state dict back to its hyper-parameters', () => {
  manualSeed(1);
  const model = noGrad(() => new CLIP(TINY_RESNET));
  assert.deepEqual(
    inferClipConfig(model.stateDict()),
    { ...TINY_RESNET, transformer_heads: 1 },
    'heads are width // 64, as the original',
  );
  const vit = noGrad(() => new CLIP(TINY_VIT));
  assert.deepEqual(inferClipConfig(vit.stateDict()), { ...TINY_VIT, transformer_heads: 1 });
  disposeModel(model);
  disposeModel(vit);
});

test('inference names the key it cannot find', () => {
  const shapes = new Map([['visual.proj', { shape: [4, 4] }]]);
  assert.throws(
    () => inferClipConfig(shapes, 'x.safetensors'),
    /x\.safetensors: cannot infer .*'visual\.conv1\.weight' is missing/,
  );
  assert.throws(
    () => inferClipConfig(new Map([['token_embedding.weight', { shape: [3, 4] }]]), 'y.pt'),
    /y\.pt: .*neither 'visual\.proj' \(ViT\) nor 'visual\.layer1\.\*'/,
  );
});

test("released architectures have OpenAI's parameter counts (ViT-B/32 151.3M, RN50 102.0M)", () => {
  for (const [name, count] of [
    ['ViT-B/32', 151_277_313],
    ['RN50', 102_007_137],
  ] as const) {
    const model = createClip(name);
    assert.deepEqual(model.config, clipArchitecture(name));
    assert.equal(model.parameterCount(), count, name);
    disposeModel(model);
  }
});

test('OpenAI initialisation: the standard deviations of initialize_parameters', () => {
  manualSeed(0);
  const config = { ...TINY_VIT, vocab_size: 4000, transformer_width: 128, transformer_layers: 4 };
  const model = noGrad(() => new CLIP(config));
  const std = (t: Tensor) => noGrad(() => t.std().item());
  const close = (actual: number, expected: number, what: string) =>
    assert.ok(Math.abs(actual / expected - 1) < 0.08, `${what}: std ${actual}, expected ${expected}`);
  close(std(model.token_embedding.weight), 0.02, 'token_embedding');
  close(std(model.positional_embedding), 0.01, 'positional_embedding');
  close(std(model.text_projection), 128 ** -0.5, 'text_projection');
  const block = model.transformer.blocks[0]!;
  close(std(block.attn.in_proj_weight), 128 ** -0.5, 'in_proj_weight');
  close(std(block.attn.out_proj.weight), 128 ** -0.5 * 8 ** -0.5, 'out_proj');
  close(std((block.mlp.layers[0] as nn.Linear).weight), 256 ** -0.5, 'c_fc');
  close(std(model.visual.stateDict().get('positional_embedding')!), 64 ** -0.5, 'visual positional_embedding');
  assert.ok(Math.abs(model.logit_scale.item() - Math.log(1 / 0.07)) < 1e-6);
  const resnet = noGrad(() => new CLIP(TINY_RESNET));
  for (const [name, p] of resnet.namedParameters())
    if (/layer\d\.\d+\.bn3\.weight$/.test(name))
      assert.equal(
        noGrad(() => p.abs().sum().item()),
        0,
        `${name} starts at zero`,
      );
  disposeModel(model);
  disposeModel(resnet);
});

test('the same seed gives the same weights', () => {
  const weightsOf = () => {
    manualSeed(5);
    const m = noGrad(() => new CLIP(TINY_VIT));
    const values = [...m.stateDict().values()].map((t) => t.toArray());
    disposeModel(m);
    return values;
  };
  assert.deepEqual(weightsOf(), weightsOf());
});

test('encoders give [N, D] image and [n, D] / [n, L, D] text features; cls is the EOT token of tokens', () => {
  manualSeed(2);
  for (const config of [TINY_VIT, TINY_RESNET]) {
    const model = noGrad(() => new CLIP(config)).eval();
    tidy(() =>
      noGrad(() => {
        const image = model.encodeImage(randn([3, 3, config.image_resolution, config.image_resolution]));
        assert.deepEqual(image.shape, [3, 16]);
        const text = tokens(2, 12, 50);
        const { cls, tokens: perToken } = model.encodeText(text);
        assert.deepEqual(cls.shape, [2, 16]);
        assert.deepEqual(perToken.shape, [2, 12, 16]);
        for (let i = 0; i < 2; i++) {
          const eot = 3 + i - 1;
          const diff = cls.select(0, i).sub(perToken.select(0, i).select(0, eot)).abs().max().item();
          assert.ok(diff < 1e-5, `row ${i}: cls differs from the EOT token by ${diff}`);
        }
      }),
    );
    disposeModel(model);
  }
});

test('the text encoder is causal: tokens after the EOT do not change the EOT feature', () => {
  manualSeed(3);
  const model = noGrad(() => new CLIP(TINY_VIT)).eval();
  tidy(() =>
    noGrad(() => {
      const a = tokens(1, 12, 50);
      const b = a.clone();
      b.indexPut_([tensor([0], { dtype: 'int64' }), tensor([10], { dtype: 'int64' })], tensor([7], { dtype: 'int64' }));
      const fa = model.encodeText(a);
      const fb = model.encodeText(b);
      assert.ok(fa.cls.sub(fb.cls).abs().max().item() < 1e-6);
      assert.ok(
        fa.tokens.select(1, 10).sub(fb.tokens.select(1, 10)).abs().max().item() > 1e-4,
        'the changed position itself does change',
      );
    }),
  );
  disposeModel(model);
});

test('input errors name the shapes', () => {
  const model = noGrad(() => new CLIP(TINY_VIT));
  assert.throws(() => model.encodeImage(randn([1, 3, 20, 20])), /expected frames \[N, 3, 16, 16\], got \[1,3,20,20\]/);
  assert.throws(() => model.encodeText(randint(0, 5, [2, 77])), /expected token ids \[n, 12\], got \[2,77\]/);
  assert.throws(
    () => new CLIP({ ...TINY_VIT, transformer_heads: 3 }),
    /transformer_width 64 is not divisible by transformer_heads 3/,
  );
  assert.throws(
    () => new CLIP({ ...TINY_VIT, vision_patch_size: 5 }),
    /image_resolution 16 is not a multiple of vision_patch_size 5/,
  );
  assert.throws(() => new CLIP(TINY_RESNET, { dropout: 0.1 }), /needs a ViT image encoder/);
  disposeModel(model);
});

test('strict loading names missing, unexpected and mis-shaped keys', () => {
  const model = noGrad(() => new CLIP(TINY_VIT));
  const state = new Map(model.stateDict());
  state.delete('visual.ln_post.bias');
  state.set('visual.extra_weight', state.get('logit_scale')!);
  state.set('ln_final.weight', tensor([1, 2, 3]));
  assert.throws(
    () => model.loadStateDict(state),
    (e: Error) =>
      /missing keys: visual\.ln_post\.bias/.test(e.message) &&
      /unexpected keys: visual\.extra_weight/.test(e.message) &&
      /ln_final\.weight: checkpoint \[3\] vs model \[64\]/.test(e.message),
  );
  disposeModel(model);
});

test('stochastic depth: rates rise linearly to drop_out; blocks drop whole samples in training only', () => {
  assert.deepEqual(
    stochasticDepthRates(0.2, 3).map((r) => Math.round(r * 1e6) / 1e6),
    [0, 0.1, 0.2],
  );
  manualSeed(4);
  const model = noGrad(() => new CLIP(TINY_VIT, { dropout: 0.2 }));
  assert.deepEqual(
    (model.visual as VisionTransformer).transformer.blocks.map((b) => Math.round(b.dropout * 1e6) / 1e6),
    [0, 0.1, 0.2],
  );
  assert.deepEqual(
    model.transformer.blocks.map((b) => Math.round(b.dropout * 1e6) / 1e6),
    [0, 0.1],
    'text layers take the first vision rates',
  );
  tidy(() =>
    noGrad(() => {
      const x = randn([4000, 1, 2]);
      const dropped = dropPath(x, 0.25, true);
      const zeroRows = dropped.abs().sum([1, 2]).eq(0).sum().item();
      assert.ok(zeroRows > 850 && zeroRows < 1150, `about a quarter of 4000 samples dropped, got ${zeroRows}`);
      const kept = dropped.abs().sum([1, 2]).ne(0);
      const ratio = dropped.index([kept]).div(x.index([kept]));
      assert.ok(
        ratio
          .sub(1 / 0.75)
          .abs()
          .max()
          .item() < 1e-5,
        'survivors are scaled by 1/keep_prob',
      );
      assert.equal(dropPath(x, 0.25, false), x);
      const frames = randn([2, 3, 16, 16]);
      model.eval();
      const a = model.encodeImage(frames);
      assert.ok(a.sub(model.encodeImage(frames)).abs().max().item() === 0, 'eval mode is deterministic');
      model.train();
      const outputs = Array.from({ length: 6 }, () => model.encodeImage(frames));
      assert.ok(
        outputs.some((o) => o.sub(a).abs().max().item() > 1e-6),
        'training mode drops paths',
      );
    }),
  );
  disposeModel(model);
});

test('joint space-time attention: one feature per video, time embeddings matter, loads plain CLIP weights', () => {
  manualSeed(6);
  const T = 4;
  const joint = noGrad(() => new CLIP(TINY_VIT, { joint: true, T })).eval();
  const plain = noGrad(() => new CLIP(TINY_VIT));
  assert.deepEqual(joint.visual.stateDict().get('time_embedding')!.shape, [T, 64]);
  tidy(() =>
    noGrad(() => {
      const frames = randn([2 * T, 3, 16, 16]);
      const out = joint.encodeImage(frames);
      assert.deepEqual(out.shape, [2, 16]);
      // Videos are independent: the second video's frames do not change the first video's feature.
      const other = frames.clone();
      other.slice(0, 0, T).copy_(randn([T, 3, 16, 16])); // the first video's frames
      const changed = joint.encodeImage(other);
      assert.ok(changed.select(0, 1).sub(out.select(0, 1)).abs().max().item() < 1e-5);
      assert.ok(changed.select(0, 0).sub(out.select(0, 0)).abs().max().item() > 1e-4);
      joint.visual
        .stateDict()
        .get('time_embedding')!
        .add_(randn([T, 64]));
      assert.ok(joint.encodeImage(frames).sub(out).abs().max().item() > 1e-4, 'time embeddings enter the tokens');
      assert.throws(
        () => joint.encodeImage(randn([T + 1, 3, 16, 16])),
        /5 frames are not a whole number of videos of T=4/,
      );
    }),
  );
  disposeModel(joint);
  disposeModel(plain);
});

test('gradient checkpointing gives the same values and gradients, with dropout masks replayed', () => {
  const run = (checkpointing: boolean) => {
    manualSeed(7);
    const model = noGrad(() => new CLIP(TINY_VIT, { dropout: 0.3, gradCheckpointing: checkpointing }));
    model.train();
    manualSeed(8);
    const result = tidy(() => {
      const image = model.encodeImage(randn([3, 3, 16, 16]));
      const { cls } = model.encodeText(tokens(2, 12, 50));
      const loss = image.matmul(cls.t()).pow(2).sum();
      backward([loss]);
      return { loss: loss.item(), after: randn([3]).toArray() };
    });
    const grads = new Map([...model.namedParameters()].map(([name, p]) => [name, p.grad?.toArray() ?? null]));
    disposeModel(model);
    return { ...result, grads };
  };
  const plain = run(false);
  const recomputed = run(true);
  assert.equal(recomputed.loss, plain.loss);
  assert.deepEqual(recomputed.after, plain.after, 'the random stream after the step is the same');
  for (const [name, g] of plain.grads) {
    const r = recomputed.grads.get(name);
    if (name === 'logit_scale') {
      assert.ok(g === null && r === null, 'logit_scale is not in this loss');
      continue;
    }
    assert.ok(g !== null && r !== null && r !== undefined, `${name} has a gradient`);
    const maxDiff = Math.max(...g.map((v, i) => Math.abs(v - r[i]!)));
    const scale = Math.max(1e-3, ...g.map(Math.abs));
    assert.ok(maxDiff <= 1e-5 * scale, `${name}: gradients differ by ${maxDiff}`);
  }
});

test('a transformer asked for its first rows computes them alone in its last block: the same values and gradients', () => {
  const [L, N, D] = [6, 3, 16];
  const causal = tidy(() =>
    tensor(Array(L * L).fill(0))
      .view(L, L)
      .add(-Infinity)
      .triu(1)
      .keep(),
  );
  for (const mask of [null, causal]) {
    for (const checkpointing of [false, true]) {
      manualSeed(21);
      const stack = new Transformer(D, 3, 2, mask);
      stack.gradCheckpointing = checkpointing;
      stack.train();
      const label = `${mask ? 'causal mask' : 'no mask'}, checkpointing ${checkpointing}`;
      tidy(() => {
        const x = randn([L, N, D]).requiresGrad_();
        const gradsOf = (loss: Tensor) => {
          backward([loss]);
          const grads = [x, ...stack.parameters()].map((p) => p.grad!.clone());
          for (const p of [x, ...stack.parameters()]) p.grad = null;
          return grads;
        };
        const full = stack.forward(x).slice(0, 0, 2);
        const fullGrads = gradsOf(full.pow(2).sum());
        const first = stack.forward(x, { outputRows: 2 });
        assert.deepEqual(first.shape, [2, N, D], label);
        assertClose(first, full, { atol: 1e-5, message: label });
        const firstGrads = gradsOf(first.pow(2).sum());
        firstGrads.forEach((g, i) => assertClose(g, fullGrads[i], { atol: 1e-5, message: `${label}: gradient ${i}` }));
        stack.eval();
        assertClose(
          noGrad(() => stack.forward(x, { outputRows: 2 })),
          full,
          { atol: 1e-5, message: `${label}, eval without grad` },
        );
      });
      for (const t of stack.stateDict().values()) t.dispose();
    }
  }
  causal.dispose();
  const stack = new Transformer(D, 1, 2);
  for (const bad of [0, -1, 1.5, Number.NaN])
    assert.throws(
      () => tidy(() => stack.forward(randn([L, N, D]), { outputRows: bad })),
      /Transformer: outputRows must be a positive integer, got/,
    );
  for (const t of stack.stateDict().values()) t.dispose();
  // With stochastic depth active in training the last block runs whole, so the random draws (one per
  // position) and the values are the original's.
  manualSeed(22);
  const dropping = new Transformer(D, 2, 2, null, [0.5, 0.5]);
  dropping.train();
  tidy(() => {
    const x = randn([L, N, D]);
    manualSeed(23);
    const full = noGrad(() => dropping.forward(x)).slice(0, 0, 2);
    manualSeed(23);
    assertClose(
      noGrad(() => dropping.forward(x, { outputRows: 2 })),
      full,
      { atol: 0, rtol: 0 },
    );
  });
  for (const t of dropping.stateDict().values()) t.dispose();
});

test('a float64 model computes in float64 (LayerNorm keeps the type)', () => {
  manualSeed(9);
  const model = noGrad(() => new CLIP(TINY_VIT)).eval();
  model.to('float64');
  tidy(() =>
    noGrad(() => {
      const out = model.encodeImage(randn([1, 3, 16, 16]));
      assert.equal(out.dtype, 'float64');
      assert.equal(model.encodeText(tokens(1, 12, 50)).tokens.dtype, 'float64');
    }),
  );
  disposeModel(model);
});

test('emb_dropout drops embedding entries of both encoders in training only', () => {
  manualSeed(10);
  const model = createClip(TINY_VIT, { embDropout: 0.5 });
  tidy(() =>
    noGrad(() => {
      const frames = randn([2, 3, 16, 16]);
      const text = tokens(2, 12, 50);
      model.eval();
      const image = model.encodeImage(frames);
      const cls = model.encodeText(text).cls;
      model.train();
      assert.ok(model.encodeImage(frames).sub(image).abs().max().item() > 1e-4);
      assert.ok(model.encodeText(text).cls.sub(cls).abs().max().item() > 1e-4);
      model.eval();
      assert.equal(model.encodeImage(frames).sub(image).abs().max().item(), 0);
    }),
  );
  disposeModel(model);
});
