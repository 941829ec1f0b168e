/**
 * The reference fixture through the model and evaluation layers: the CLIP architecture inferred from
 * its weights, the original checkpoint_official.pt loaded as CLIP, as a video head and as trained
 * weights, and the zero-shot protocol and its numpy half-class splits on zeroshot.json.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { noGrad, tidy, type nn } from '../torch/index.ts';
import { loadSafetensors } from '../torch/serialization/serialization.ts';
import { readSafetensorsFileSync } from '../torch/serialization/safetensors-format.ts';
import { inferClipConfig, parseClipConfig } from '../clip/config.ts';
import { loadClip, splitPrefixed } from '../clip/load.ts';
import type { CLIP } from '../clip/model.ts';
import { VideoHead } from '../bike/video-head.ts';
import { readTrainedWeights } from '../engine/models/model-weights.ts';
import { LegacyRandomState } from '../engine/evaluation/numpy-legacy-random.ts';
import { zeroShotFullClasses, zeroShotHalfClasses } from '../engine/evaluation/zeroshot.ts';
import { DEFAULT_FIXTURE_DIR as fixtureDir } from './run.ts';

function disposeModel(model: nn.Module): void {
  for (const t of model.stateDict().values()) t.dispose();
}

function maxDifference(a: number[][], b: number[][]): number {
  let max = 0;
  a.forEach((row, i) => row.forEach((v, j) => (max = Math.max(max, Math.abs(v - b[i]![j]!)))));
  return max;
}

test('the architecture inferred from the fixture weights is meta.json clip_config', () => {
  tidy(() => {
    const meta = JSON.parse(readFileSync(join(fixtureDir, 'meta.json'), 'utf8')) as { clip_config: unknown };
    const { clip } = splitPrefixed(loadSafetensors(join(fixtureDir, 'weights.safetensors')), 'weights.safetensors');
    assert.deepEqual(inferClipConfig(clip, 'weights.safetensors'), parseClipConfig(meta.clip_config));
  });
});

test('the original checkpoint_official.pt gives the outputs of weights.safetensors', () => {
  const fromCheckpoint = loadClip(join(fixtureDir, 'checkpoint_official.pt'));
  const fromSafetensors = loadClip(join(fixtureDir, 'weights.safetensors'));
  assert.equal(fromCheckpoint.format, 'bike-checkpoint');
  assert.equal(fromSafetensors.format, 'prefixed-safetensors');
  assert.deepEqual(fromCheckpoint.config, fromSafetensors.config);
  const io = loadSafetensors(join(fixtureDir, 'io.safetensors'));
  const outputs = (model: CLIP) =>
    tidy(() =>
      noGrad(() => {
        model.eval();
        const { cls, tokens } = model.encodeText(io.get('input.text_tokens')!);
        return [
          model.encodeImage(io.get('input.frames')!).toArray(),
          cls.toArray(),
          tokens.toArray(),
          [model.logit_scale.item()],
        ];
      }),
    );
  assert.ok(maxDifference(outputs(fromCheckpoint.model), outputs(fromSafetensors.model)) <= 1e-6);
  // The video head travels beside the CLIP weights for the BIKE layer.
  const videoHead = [
    ...splitPrefixed(loadSafetensors(join(fixtureDir, 'weights.safetensors')), 'weights')
      .groups.get('video_head')!
      .keys(),
  ].sort();
  assert.deepEqual([...fromCheckpoint.fusionStateDict!.keys()].sort(), videoHead);
  assert.deepEqual([...fromSafetensors.fusionStateDict!.keys()].sort(), videoHead);
  assert.deepEqual([...fromSafetensors.extra.keys()], ['sentence_head']);
  disposeModel(fromCheckpoint.model);
  disposeModel(fromSafetensors.model);
});

test('the Transf head has the original state-dict names, which load strictly from the fixture', () => {
  const weights = loadSafetensors(join(fixtureDir, 'weights.safetensors'));
  const headWeights = new Map(
    [...weights].filter(([k]) => k.startsWith('video_head.')).map(([k, v]) => [k.slice('video_head.'.length), v]),
  );
  const head = new VideoHead({
    simHeader: 'Transf',
    interaction: 'VCS',
    embedDim: 64,
    contextLength: 77,
    layers: 6,
    heads: 2,
  });
  assert.deepEqual([...head.stateDict().keys()].sort(), [...headWeights.keys()].sort());
  head.loadStateDict(headWeights);
  assert.ok(head.stateDict().get('transformer.resblocks.5.mlp.c_proj.weight'));
});

test('original BIKE checkpoints load with the same tensors as the fixture safetensors', () => {
  const original = readTrainedWeights(join(fixtureDir, 'checkpoint_official.pt'));
  assert.equal(original.format, 'original');
  const reference = readSafetensorsFileSync(join(fixtureDir, 'weights.safetensors')).tensors;
  const clipNames = [...reference.keys()].filter((k) => k.startsWith('clip.')).map((k) => k.slice(5));
  assert.deepEqual([...original.model.keys()].sort(), clipNames.sort());
  assert.ok([...original.model.keys()].every((k) => !k.includes('module.')));
  const name = 'visual.conv1.weight';
  const expected = new Float32Array(reference.get(`clip.${name}`)!.data.slice().buffer);
  assert.deepEqual(Float32Array.from(original.model.get(name)!.toArray()), expected);
  assert.ok(original.head && original.head.size > 0, 'the head state dict is read');

  const fixtureLayout = readTrainedWeights(join(fixtureDir, 'weights.safetensors'));
  assert.equal(fixtureLayout.format, 'safetensors');
  assert.equal(fixtureLayout.model.size, clipNames.length);
  assert.ok([...fixtureLayout.head!.keys()].every((k) => !k.startsWith('video_head.')));
  const sentence = readTrainedWeights(join(fixtureDir, 'weights.safetensors'), { headPrefix: 'sentence_head.' });
  assert.ok([...sentence.head!.keys()].some((k) => k.startsWith('query_fc.')));
});

test('half-class splits of the reference fixture: seed(s), permutation(C)[:C // 2]', () => {
  const splits = JSON.parse(readFileSync(join(fixtureDir, 'zeroshot.json'), 'utf8')).splits_by_num_classes as Record<
    string,
    number[][]
  >;
  assert.ok(Object.keys(splits).length > 0);
  for (const [classes, perSplit] of Object.entries(splits)) {
    const c = Number(classes);
    perSplit.forEach((expected, s) => {
      assert.deepEqual(
        Array.from(new LegacyRandomState(s).permutation(c).subarray(0, Math.floor(c / 2))),
        expected,
        `C=${c} split ${s}`,
      );
    });
  }
});

test('reproduces the original evaluation on the reference fixture', () => {
  const tensors = readSafetensorsFileSync(join(fixtureDir, 'zeroshot.safetensors')).tensors;
  const expected = JSON.parse(readFileSync(join(fixtureDir, 'zeroshot.json'), 'utf8'));
  const f32 = (name: string) => new Float32Array(tensors.get(name)!.data.slice().buffer);
  const v = tensors.get('input.video_frame_features')!;
  const c = tensors.get('input.class_features')!;
  const video = { data: f32('input.video_frame_features'), videos: v.shape[0]!, frames: v.shape[1]!, dim: v.shape[2]! };
  const text = { data: f32('input.class_features'), classes: c.shape[0]!, dim: c.shape[1]! };
  const labels = Array.from(new BigInt64Array(tensors.get('input.labels')!.data.slice().buffer), Number);
  const near = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 1e-4, `${what}: ${a} vs ${b}`);
  const full = zeroShotFullClasses(video, text, labels);
  near(full.top1, expected.full.top1, 'full top1');
  near(full.top5, expected.full.top5, 'full top5');
  const half = zeroShotHalfClasses(video, text, labels);
  half.top1.forEach((a, s) => near(a, expected.half.top1[s], `half top1 split ${s}`));
  half.top5.forEach((a, s) => near(a, expected.half.top5[s], `half top5 split ${s}`));
  near(half.top1Mean, expected.half.top1_mean, 'top1 mean');
  near(half.top1Std, expected.half.top1_std, 'top1 std');
  near(half.top5Mean, expected.half.top5_mean, 'top5 mean');
  near(half.top5Std, expected.half.top5_std, 'top5 std');
});
