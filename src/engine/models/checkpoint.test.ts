import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { tensor, arange } from '../../torch/index.ts';
import { loadCheckpoint, saveCheckpoint, type CheckpointState } from './checkpoint.ts';
import { readTrainedWeights, disposeWeights } from './model-weights.ts';

function state(epoch: number): CheckpointState {
  return {
    epoch,
    iteration: 10 * (epoch + 1),
    bestMetric: 42.5,
    metricName: 'top1',
    branch: 'video',
    optimizer: { steps: 3 },
    scheduler: { last: 1.5 },
    scaler: null,
    rng: { data: [1, 2, 3, 4] },
    config: { seed: 1 },
  };
}

test('a checkpoint round-trips its tensors and state, and a second save replaces the first', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bike-ckpt-'));
  const tensors = new Map([
    ['model.w', arange(0, 6).to('float32').reshape(2, 3)],
    ['fusion_model.b', tensor([1.5, -2])],
    ['rng.torch_cpu', tensor([1, 2, 3], { dtype: 'uint8' })],
  ]);
  const file = saveCheckpoint(dir, 'last', tensors, state(0));
  assert.equal(file, path.join(dir, 'last.json'));
  const loaded = loadCheckpoint(file);
  assert.equal(loaded.sidecar.epoch, 0);
  assert.equal(loaded.sidecar.iteration, 10);
  assert.deepEqual(loaded.sidecar.optimizer, { steps: 3 });
  assert.deepEqual(loaded.tensors.get('model.w')!.toArray(), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(loaded.tensors.get('model.w')!.shape, [2, 3]);
  assert.equal(loaded.tensors.get('rng.torch_cpu')!.dtype, 'uint8');
  const firstWeights = loaded.sidecar.weights;

  tensors.set(
    'model.w',
    tensor([
      [9, 9, 9],
      [9, 9, 9],
    ]),
  );
  saveCheckpoint(dir, 'last', tensors, state(1));
  const second = loadCheckpoint(file);
  assert.equal(second.sidecar.epoch, 1);
  assert.deepEqual(second.tensors.get('model.w')!.toArray(), [9, 9, 9, 9, 9, 9]);
  assert.notEqual(second.sidecar.weights, firstWeights);
  const weightFiles = readdirSync(dir).filter((f) => f.startsWith('last.') && f.endsWith('.safetensors'));
  assert.deepEqual(weightFiles, [second.sidecar.weights], 'the superseded weights file is removed');
  assert.ok(!readdirSync(dir).some((f) => f.endsWith('.tmp')), 'no temporary files remain');
});

test('a damaged or missing weights file is refused by name', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bike-ckpt-'));
  const file = saveCheckpoint(dir, 'best', new Map([['model.w', tensor([1, 2, 3])]]), state(2));
  const sidecar = JSON.parse(readFileSync(file, 'utf8'));
  const weights = path.join(dir, sidecar.weights);
  const bytes = readFileSync(weights);
  bytes[bytes.length - 1] ^= 0xff;
  writeFileSync(weights, bytes);
  assert.throws(() => loadCheckpoint(file), /SHA-256/);
  writeFileSync(file, JSON.stringify({ ...sidecar, weights: 'best.gone.safetensors' }));
  assert.throws(() => loadCheckpoint(file), /best\.gone\.safetensors is missing/);
  writeFileSync(file, '{"format": "something else"}');
  assert.throws(() => loadCheckpoint(file), /not a bike-ts checkpoint/);
});

test('readTrainedWeights reads our checkpoints and run directories', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bike-ckpt-'));
  saveCheckpoint(
    dir,
    'last',
    new Map([
      ['model.a', tensor([1])],
      ['fusion_model.b', tensor([2])],
      ['optimizer.x', tensor([3])],
    ]),
    state(4),
  );
  const fromDir = readTrainedWeights(dir);
  assert.equal(fromDir.format, 'checkpoint');
  assert.equal(fromDir.epoch, 4);
  assert.deepEqual([...fromDir.model.keys()], ['a']);
  assert.deepEqual([...fromDir.head!.keys()], ['b']);
  disposeWeights(fromDir);
  assert.throws(() => readTrainedWeights(path.join(dir, 'nothing.pt')), /no such file/);
  assert.throws(
    () => readTrainedWeights(mkdtempSync(path.join(tmpdir(), 'bike-empty-'))),
    /no best\.json or last\.json/,
  );
});
