import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, manualSeed, noGrad, randint, randn, tensor, tidy } from '../torch/index.ts';
import { CLIP } from '../clip/model.ts';
import { BikeModel, type BikeModelOptions } from './bike-model.ts';

const CLIP_CONFIG = {
  embed_dim: 16,
  image_resolution: 16,
  vision_layers: 1,
  vision_width: 64,
  vision_patch_size: 8,
  context_length: 77,
  vocab_size: 49408,
  transformer_width: 64,
  transformer_heads: 1,
  transformer_layers: 1,
};
const OPTIONS: BikeModelOptions = {
  numSegments: 3,
  simHeader: 'Transf',
  interaction: 'VCS',
  embedDim: 16,
  contextLength: 77,
  temporalLayers: 1,
  temporalHeads: 2,
  attributeBranch: true,
};

function tinyModel(seed: number, options: Partial<BikeModelOptions> = {}): BikeModel {
  manualSeed(seed);
  return new BikeModel(new CLIP(CLIP_CONFIG, { T: OPTIONS.numSegments }), { ...OPTIONS, ...options });
}

/** Prompt-like token rows: start token, a few ids, end token (the largest id), padding. */
function tokens(rows: number): Tensor {
  return tensor(
    Array.from({ length: rows }, (_, r) => {
      const row = new Array(77).fill(0);
      row[0] = 49406;
      row[1] = 1000 + r;
      row[2] = 2000 + 3 * r;
      row[3] = 49407;
      return row;
    }),
    { dtype: 'int64' },
  );
}

test('state-dict names carry the BIKE prefixes: clip., video_head., sentence_head.', () => {
  const names = [...tinyModel(0).stateDict().keys()];
  assert.ok(names.includes('clip.logit_scale'));
  assert.ok(names.includes('clip.visual.conv1.weight'));
  assert.ok(names.includes('video_head.frame_position_embeddings.weight'));
  assert.ok(names.includes('sentence_head.query_fc.2.weight'));
  assert.ok(names.every((n) => /^(clip|video_head|sentence_head)\./.test(n)));
});

test('a training step: [B, B] logits scaled by exp(logit_scale); fix_text leaves the text encoder without gradients', () => {
  const model = tinyModel(1);
  model.freeze({ fixText: true, fixVideo: false });
  tidy(() => {
    const frames = randn([4 * 3, 3, 16, 16]);
    const labels = tensor([0, 2, 0, 1], { dtype: 'int64' });
    const step = model.trainingStep(frames, labels, tokens(3), 'NCE');
    assert.deepEqual(step.logits.shape, [4, 4]);
    assert.deepEqual(step.groundTruth.toNested(), [
      [1, 0, 1, 0],
      [0, 1, 0, 0],
      [1, 0, 1, 0],
      [0, 0, 0, 1],
    ]);
    const unscaled = noGrad(() =>
      model.similarity(model.encodeVideos(frames), model.encodeText(tokens(3).indexSelect(0, labels))),
    );
    assert.ok(step.logits.detach().sub(unscaled.mul(model.logitScale().detach())).abs().max().item() < 1e-5);
    step.loss.backward();
  });
  const grads = new Map([...model.namedParameters()].map(([n, p]) => [n, p.grad !== null]));
  assert.equal(grads.get('clip.visual.conv1.weight'), true);
  assert.equal(grads.get('clip.logit_scale'), true);
  assert.equal(grads.get('video_head.transformer.resblocks.0.attn.in_proj_weight'), true);
  assert.equal(grads.get('clip.token_embedding.weight'), false);
  assert.equal(grads.get('clip.transformer.resblocks.0.attn.in_proj_weight'), false);
  assert.equal(grads.get('sentence_head.query_fc.0.weight'), false);
});

test('param groups follow the trained branch', () => {
  const model = tinyModel(2);
  const video = model.paramGroups({ lr: 1e-3, clipRatio: 0.1 });
  assert.deepEqual(video[1]!.params, model.video_head.parameters());
  const attributes = model.paramGroups({ lr: 1e-3, clipRatio: 0.1, branch: 'attributes' });
  assert.deepEqual(attributes[1]!.params, model.sentence_head!.parameters());
  assert.ok(Math.abs(attributes[0]!.lr - 1e-4) < 1e-15);
  assert.throws(
    () => tinyModel(3, { attributeBranch: false }).paramGroups({ lr: 1, clipRatio: 1, branch: 'attributes' }),
    /attribute branch is off/,
  );
});

test('original state dicts load with module. prefixes, into the head they belong to', () => {
  const source = tinyModel(4);
  const target = tinyModel(5);
  const under = (prefix: string) =>
    new Map(
      [...source.stateDict()]
        .filter(([k]) => k.startsWith(prefix))
        .map(([k, v]) => [`module.${k.slice(prefix.length)}`, v]),
    );
  assert.equal(target.loadOriginalStateDicts(under('clip.'), under('video_head.')), 'video_head');
  assert.equal(target.loadOriginalStateDicts(under('clip.'), under('sentence_head.')), 'sentence_head');
  tidy(() =>
    noGrad(() => {
      source.eval();
      target.eval();
      const frames = randn([2 * 3, 3, 16, 16]);
      const a = source.predict(frames, source.classFeatures(tokens(4)));
      const b = target.predict(frames, target.classFeatures(tokens(4)));
      assert.equal(a.sub(b).abs().max().item(), 0);
      const sentences = randint(1, 1000, [2, 77]);
      assert.equal(
        source
          .attributeSimilarity(sentences, source.classFeatures(tokens(4)))
          .sub(target.attributeSimilarity(sentences, target.classFeatures(tokens(4))))
          .abs()
          .max()
          .item(),
        0,
      );
    }),
  );
  const broken = under('video_head.');
  broken.delete('module.frame_position_embeddings.weight');
  assert.throws(
    () => target.loadOriginalStateDicts(under('clip.'), broken),
    /missing keys: frame_position_embeddings.weight/,
  );
});

test('frames and prompts are checked by name', () => {
  const model = tinyModel(6);
  tidy(() => {
    assert.throws(
      () => model.encodeVideos(randn([4, 3, 16, 16])),
      /expected frames \[videos \* 3, 3, H, W\] \(num_segments 3\), got shape \[4,3,16,16\]/,
    );
    assert.throws(() => model.forward(randn([6, 3, 16, 16]), tokens(3)), /2 videos but 3 prompts/);
  });
  assert.throws(() => tinyModel(7, { numSegments: 0 }), /num_segments must be a positive integer, got 0/);
});
