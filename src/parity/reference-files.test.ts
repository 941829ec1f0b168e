/**
 * The reference fixture's files through the torch layer's readers and writers: the original
 * checkpoint_official.pt (torch.save zip) against weights.safetensors, pickle attributes, the
 * optimizer state it holds, and the safetensors files read and rewritten byte for byte.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor, aten, tidy, zeros } from '../torch/index.ts';
import { AdamW, loadOptimizerCheckpoint } from '../torch/optim/index.ts';
import { pickleAttributes, readPtFile } from '../torch/serialization/pt-reader.ts';
import {
  parseSafetensors,
  readSafetensorsFile,
  readSafetensorsFileSync,
  serializeSafetensors,
} from '../torch/serialization/safetensors-format.ts';
import { loadPtFile, loadSafetensors } from '../torch/serialization/serialization.ts';
import { compareStateDict, ptReaderParityChecks } from './pt-reader-parity.ts';
import { DEFAULT_FIXTURE_DIR as fixtureDir } from './run.ts';

const checkpointPath = join(fixtureDir, 'checkpoint_official.pt');
const weightsPath = join(fixtureDir, 'weights.safetensors');

const torchEqual = aten('equal');
function sameTensor(a: Tensor, b: Tensor): boolean {
  return a.dtype === b.dtype && a.shape.join() === b.shape.join() && torchEqual(a.handle, b.handle) === true;
}

test('the fixture checkpoint matches weights.safetensors byte for byte', async () => {
  const checkpoint = readPtFile(checkpointPath) as Record<string, unknown>;
  assert.deepEqual(Object.keys(checkpoint), [
    'epoch',
    'model_state_dict',
    'fusion_model_state_dict',
    'optimizer_state_dict',
  ]);
  assert.equal(typeof checkpoint.epoch, 'number');
  const reference = parseSafetensors(readFileSync(weightsPath), weightsPath).tensors;
  assert.equal(compareStateDict(checkpoint.model_state_dict, reference, 'clip.'), null);
  assert.equal(compareStateDict(checkpoint.fusion_model_state_dict, reference, 'video_head.'), null);
  // The comparison can fail: a state dict under the wrong prefix is reported.
  assert.match(compareStateDict(checkpoint.model_state_dict, reference, 'video_head.') ?? '', /names differ/);
  for (const group of ['model_state_dict', 'fusion_model_state_dict']) {
    // state_dict() carries per-module versions as the OrderedDict's `_metadata` attribute.
    assert.equal(typeof pickleAttributes(checkpoint[group])?._metadata, 'object', `${group} _metadata`);
  }
  const results = await ptReaderParityChecks(fixtureDir);
  assert.equal(results.length, 2);
  for (const result of results) assert.ok(result.ok && !result.skipped, `${result.name}: ${result.detail}`);
});

test('checkpoint_official.pt state dicts equal the prefixed tensors of weights.safetensors', () => {
  tidy(() => {
    const checkpoint = loadPtFile(checkpointPath) as Record<string, unknown>;
    const weights = loadSafetensors(weightsPath);
    // The fixtures' README maps model_state_dict -> clip.*, fusion_model_state_dict -> video_head.*.
    for (const [stateDictName, prefix] of [
      ['model_state_dict', 'clip.'],
      ['fusion_model_state_dict', 'video_head.'],
    ] as const) {
      const stateDict = checkpoint[stateDictName] as Record<string, Tensor>;
      assert.equal(typeof stateDict, 'object', `${stateDictName} is a dict`);
      const fromCheckpoint = Object.keys(stateDict)
        .map((k) => prefix + k)
        .sort();
      const fromWeights = [...weights.keys()].filter((k) => k.startsWith(prefix)).sort();
      assert.ok(fromWeights.length > 0, `weights.safetensors has ${prefix}* tensors`);
      assert.deepEqual(fromCheckpoint, fromWeights, `${stateDictName} names match ${prefix}* names`);
      for (const [name, t] of Object.entries(stateDict)) {
        assert.ok(t instanceof Tensor, `${stateDictName}.${name} is a live Tensor`);
        assert.ok(sameTensor(t, weights.get(prefix + name)!), `${stateDictName}.${name} equals ${prefix}${name}`);
      }
    }
  });
});

test('loadPtFile keeps non-tensor values and pickle attributes', () => {
  tidy(() => {
    const checkpoint = loadPtFile(checkpointPath) as Record<string, unknown>;
    assert.ok(Number.isInteger(checkpoint.epoch), 'epoch stays a number');
    assert.deepEqual(checkpoint.optimizer_state_dict, {}, 'the fixture saves an empty optimizer dict');
    // torch.save of a state dict records `_metadata` on the OrderedDict; it must survive conversion.
    const attributes = pickleAttributes(checkpoint.model_state_dict);
    assert.ok(attributes && '_metadata' in attributes, 'model_state_dict keeps its _metadata attribute');
  });
});

test('reads the reference io.safetensors and weights.safetensors', async () => {
  const meta = JSON.parse(readFileSync(join(fixtureDir, 'meta.json'), 'utf8'));
  const numClasses = meta.classes.length as number;
  const io = await readSafetensorsFile(join(fixtureDir, 'io.safetensors'));
  const tokens = io.tensors.get('input.text_tokens');
  assert.ok(tokens);
  assert.equal(tokens.dtype, 'int64');
  assert.deepEqual(tokens.shape, [numClasses, meta.clip_config.context_length]);
  // Every prompt starts with <|startoftext|> (49406).
  assert.equal(Object.getPrototypeOf(tokens.data), Uint8Array.prototype, 'plain Uint8Array, not a Buffer');
  const ids = new BigInt64Array(tokens.data.slice().buffer);
  for (let row = 0; row < numClasses; row++) assert.equal(ids[row * 77], 49406n);
  const frames = io.tensors.get('input.frames');
  assert.ok(frames);
  const r = meta.clip_config.image_resolution;
  assert.deepEqual(frames.shape, [meta.batch * meta.num_segments, 3, r, r]);
  assert.equal(io.tensors.get('expect.logit_scale_exp')?.dtype, 'float32');

  const weights = readSafetensorsFileSync(join(fixtureDir, 'weights.safetensors'));
  const embedding = weights.tensors.get('clip.token_embedding.weight');
  assert.ok(embedding);
  assert.deepEqual(embedding.shape, [meta.clip_config.vocab_size, meta.clip_config.transformer_width]);
  assert.deepEqual(weights.tensors.get('clip.logit_scale')?.shape, []);
  assert.ok([...weights.tensors.keys()].some((name) => name.startsWith('video_head.')));

  // Our writer reproduces the reference bytes: same sorted layout, same padding.
  const original = readFileSync(join(fixtureDir, 'weights.safetensors'));
  const rewritten = serializeSafetensors(weights.tensors, weights.metadata);
  assert.equal(Buffer.compare(Buffer.from(rewritten), original), 0);
});

test("the original BIKE checkpoint's optimizer_state_dict loads (it holds no optimizer state)", () => {
  const checkpoint = readPtFile(checkpointPath) as Record<string, unknown>;
  const optimizer = new AdamW([
    { params: [zeros([2, 2])], lr: 0.01 },
    { params: [zeros([3])], lr: 0.1 },
  ]);
  assert.equal(loadOptimizerCheckpoint(optimizer, checkpoint.optimizer_state_dict, checkpointPath), false);
  assert.equal(optimizer.state.size, 0);
  assert.deepEqual(
    optimizer.paramGroups.map((g) => g.lr),
    [0.01, 0.1],
  );
});
