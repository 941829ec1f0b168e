import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor, arange, tensor, fromTypedArray, tidy, aten } from '../index.ts';
import { native } from '../native.ts';
import {
  loadPtFile,
  loadSafetensors,
  loadSafetensorsWithMetadata,
  loadTorchScriptTensors,
  saveSafetensors,
} from './serialization.ts';
import { buildPtArchive, stateDictPickle } from './pt-test-archive.ts';
import type { DType } from '../dtype.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const scriptedPath = path.join(here, '..', 'testdata', 'tiny_scripted.pt');

const torchEqual = aten('equal');
function sameTensor(a: Tensor, b: Tensor): boolean {
  return a.dtype === b.dtype && a.shape.join() === b.shape.join() && torchEqual(a.handle, b.handle) === true;
}

function withTempDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(path.join(tmpdir(), 'bike-serialization-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('safetensors round trip of every dtype, non-contiguous and requires-grad tensors, with metadata', () => {
  withTempDir((dir) =>
    tidy(() => {
      const file = path.join(dir, 'all.safetensors');
      const values = [0, 1, -2, 3, 100, -7];
      const dtypes: DType[] = ['float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'int16', 'int8', 'uint8'];
      const tensors = new Map<string, Tensor>();
      for (const dtype of dtypes)
        tensors.set(
          dtype,
          tensor(
            values.map((v) => (dtype === 'uint8' ? Math.abs(v) : v)),
            { dtype },
          ).reshape(2, 3),
        );
      tensors.set(
        'bool',
        tensor([
          [true, false, true],
          [false, false, true],
        ]),
      );
      tensors.set('transposed', arange(0, 6, 1, { dtype: 'float32' }).reshape(2, 3).t());
      tensors.set('scalar', tensor(2.5, { dtype: 'float64' }));
      tensors.set('empty', tensor([], { dtype: 'float32' }).reshape(0, 4));
      tensors.set('param', tensor([1.5, -0.5], { requiresGrad: true }));
      saveSafetensors(file, tensors, { format: 'pt', note: 'round trip' });
      assert.deepEqual(readdirSync(dir), ['all.safetensors'], 'no temporary file is left behind');
      const { tensors: loaded, metadata } = loadSafetensorsWithMetadata(file);
      assert.deepEqual(metadata, { format: 'pt', note: 'round trip' });
      assert.deepEqual([...loaded.keys()].sort(), [...tensors.keys()].sort());
      for (const [name, t] of tensors)
        assert.ok(sameTensor(loaded.get(name)!, t.detach()), `${name} survives the round trip`);
      assert.deepEqual(loaded.get('transposed')!.toNested(), [
        [0, 3],
        [1, 4],
        [2, 5],
      ]);
      assert.equal(loaded.get('param')!.requiresGrad, false, 'gradients are not saved');
    }),
  );
});

test('saveSafetensors replaces an existing file atomically and reports bad input by name', () => {
  withTempDir((dir) =>
    tidy(() => {
      const file = path.join(dir, 'w.safetensors');
      saveSafetensors(file, { a: tensor([1, 2]) });
      saveSafetensors(file, { b: fromTypedArray(new Float64Array([3, 4, 5])) });
      const loaded = loadSafetensors(file);
      assert.deepEqual([...loaded.keys()], ['b']);
      assert.deepEqual(loaded.get('b')!.toArray(), [3, 4, 5]);

      const gone = tensor([1]);
      gone.dispose();
      assert.throws(() => saveSafetensors(file, { gone }), /"gone" was disposed/);
      assert.throws(() => saveSafetensors(file, { wrong: [1, 2] as unknown as Tensor }), /"wrong" is not a Tensor/);
      assert.deepEqual([...loadSafetensors(file).keys()], ['b'], 'a failed save leaves the old file intact');
      assert.throws(
        () => saveSafetensors(path.join(dir, 'missing-dir', 'x.safetensors'), { a: tensor([1]) }),
        /missing-dir/,
      );
      assert.deepEqual(readdirSync(dir), ['w.safetensors']);
    }),
  );
});

test('loadSafetensors reads tensors straight from the file, checking the header against the file size first', () => {
  withTempDir((dir) => {
    const file = path.join(dir, 'w.safetensors');
    const values = { a: arange(6).reshape(2, 3), b: tensor([1.5, -2], { dtype: 'float64' }), c: tensor([true, false]) };
    saveSafetensors(file, values);
    const loaded = loadSafetensors(file);
    for (const [name, t] of Object.entries(values)) assert.ok(sameTensor(loaded.get(name)!, t), name);
    // Cut inside the data of the last tensor: refused by the header check, naming file and tensor.
    const bytes = readFileSync(file);
    const cut = path.join(dir, 'cut.safetensors');
    writeFileSync(cut, bytes.subarray(0, bytes.length - 1));
    assert.throws(
      () => loadSafetensors(cut),
      (e: Error) => e.message.includes(cut) && /tensor "c": data_offsets .* out of range/.test(e.message),
    );
    writeFileSync(cut, bytes.subarray(0, 12));
    assert.throws(
      () => loadSafetensors(cut),
      (e: Error) => e.message.includes(cut) && /header length \d+ is larger than the 4 bytes/.test(e.message),
    );
  });
});

test('loading a missing or malformed file names it', () => {
  withTempDir((dir) => {
    const missing = path.join(dir, 'nope.safetensors');
    assert.throws(
      () => loadSafetensors(missing),
      (e: Error) => e.message.includes(missing) && /no such file/.test(e.message),
    );
    assert.throws(() => loadPtFile(path.join(dir, 'nope.pt')), /nope\.pt: no such file/);
    const garbage = path.join(dir, 'garbage.safetensors');
    writeFileSync(garbage, 'not a safetensors file at all');
    assert.throws(
      () => loadSafetensors(garbage),
      (e: Error) => e.message.includes(garbage),
    );
  });
});

test("loadTorchScriptTensors reads the parameters and buffers of a scripted module, without libtorch's loader", () => {
  assert.equal('loadTorchScriptTensors' in native, false, 'the addon no longer runs torch::jit::load');
  tidy(() => {
    const tensors = loadTorchScriptTensors(scriptedPath);
    assert.deepEqual([...tensors.keys()].sort(), [
      'block.proj.bias',
      'block.proj.weight',
      'block.scale',
      'embedding',
      'steps',
    ]);
    const get = (name: string) => tensors.get(name)!;
    assert.equal(get('block.proj.weight').dtype, 'float32');
    assert.deepEqual(get('block.proj.weight').toNested(), [
      [-0.5, -0.25, 0],
      [0.25, 0.5, 0.75],
    ]);
    assert.deepEqual(get('block.proj.bias').toArray(), [0.125, -1]);
    assert.deepEqual(get('block.scale').toArray(), [0.5, 2]);
    assert.equal(get('embedding').dtype, 'float64');
    assert.deepEqual(get('embedding').shape, [2, 3]);
    assert.deepEqual(get('embedding').toArray(), [0, 1, 2, 3, 4, 5]);
    assert.equal(get('steps').dtype, 'int64');
    assert.deepEqual(get('steps').shape, []);
    assert.equal(get('steps').item(), 7);
    assert.equal(get('embedding').requiresGrad, false, 'loaded tensors are detached');
  });
});

test('loadTorchScriptTensors refuses a torch.save checkpoint and other files with the file named', () => {
  withTempDir((dir) =>
    tidy(() => {
      const checkpointPath = path.join(dir, 'checkpoint.pt');
      writeFileSync(checkpointPath, buildPtArchive(stateDictPickle({}), {}));
      const weightsPath = path.join(dir, 'weights.safetensors');
      saveSafetensors(weightsPath, new Map([['a', tensor([1, 2])]]));
      assert.throws(
        () => loadTorchScriptTensors(checkpointPath),
        (e: Error) =>
          e.message.includes(checkpointPath) && /not a TorchScript archive: read it with loadPtFile/.test(e.message),
      );
      assert.throws(
        () => loadTorchScriptTensors(weightsPath),
        (e: Error) => e.message.startsWith(`TorchScript archive ${weightsPath}`),
      );
      assert.throws(() => loadTorchScriptTensors(path.join(dir, 'absent.pt')), /absent\.pt: no such file/);
    }),
  );
});
