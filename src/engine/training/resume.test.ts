/**
 * Resuming after an interruption gives bitwise the weights (and optimizer state) of a run that was never
 * interrupted: one `bike train` runs three epochs; another is killed with SIGKILL once its first
 * checkpoint exists, and a third resumes from that checkpoint to the end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { makeSyntheticDataset, tinyConfig } from '../../testing/synthetic-frames.ts';
import { lastJson, runBike, spawnBike } from '../../testing/run-bike.ts';
import { loadCheckpoint } from '../models/checkpoint.ts';

const EPOCHS = 3;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

test(
  'a run killed after an epoch and resumed ends with the same weights as an uninterrupted run',
  { timeout: 240_000 },
  async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bike-resume-'));
    const dataset = await makeSyntheticDataset({
      dir,
      trainPerClass: 6,
      valPerClass: 2,
      frames: 8,
      width: 48,
      height: 36,
    });
    const out = path.join(dir, 'runs');
    const config = path.join(dir, 'resume.yaml');
    // Dropout on, so libtorch's random state matters; accumulation of 4 over 6 batches leaves gradients
    // pending at every epoch's end, which the checkpoint must carry.
    writeFileSync(
      config,
      tinyConfig({ dataset, outputPath: out, epochs: EPOCHS, batchSize: 4, numSegments: 4 })
        .replace('emb_dropout: 0.0', 'emb_dropout: 0.1')
        .replace('grad_accumulation_steps: 1', 'grad_accumulation_steps: 4'),
    );
    const runRoot = path.join(out, 'synthetic', 'custom-vit1x64p8-r32-txt1x64-e32');

    const full = await runBike(['train', config, '--log-time', 'full', '--json']);
    assert.equal(full.code, 0, full.stderr);
    assert.equal(lastJson<{ epochs: unknown[] }>(full).epochs.length, EPOCHS);

    // Interrupted run: SIGKILL as soon as its first checkpoint is complete.
    const killedDir = path.join(runRoot, 'killed');
    const child = spawnBike(['train', config, '--log-time', 'killed', '--quiet']);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, signal) => resolve(signal)),
    );
    const sidecar = path.join(killedDir, 'last.json');
    for (let waited = 0; !existsSync(sidecar); waited += 5) {
      if (waited > 120_000) assert.fail(`the run wrote no checkpoint in 2 minutes: ${stderr}`);
      await sleep(5);
    }
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    const interruptedAt = loadCheckpoint(sidecar).sidecar.epoch;
    assert.ok(interruptedAt < EPOCHS - 1, `the run was killed before its end (checkpoint of epoch ${interruptedAt})`);

    const resumed = await runBike(['train', config, '--log-time', 'resumed', '--set', `resume=${sidecar}`, '--json']);
    assert.equal(resumed.code, 0, resumed.stderr);
    const epochs = lastJson<{ epochs: { epoch: number }[] }>(resumed).epochs.map((e) => e.epoch);
    assert.deepEqual(
      epochs,
      Array.from({ length: EPOCHS - 1 - interruptedAt }, (_, i) => interruptedAt + 1 + i),
    );

    const a = loadCheckpoint(path.join(runRoot, 'full', 'last.json'));
    const b = loadCheckpoint(path.join(runRoot, 'resumed', 'last.json'));
    assert.equal(a.sidecar.epoch, EPOCHS - 1);
    assert.equal(b.sidecar.epoch, EPOCHS - 1);
    assert.equal(b.sidecar.iteration, a.sidecar.iteration);
    assert.deepEqual([...b.tensors.keys()].sort(), [...a.tensors.keys()].sort());
    const trainedNames = [...a.tensors.keys()].filter(
      (k) =>
        k.startsWith('model.visual') ||
        k.startsWith('fusion_model.') ||
        k.startsWith('optimizer.') ||
        k.startsWith('grad.'),
    );
    assert.ok(
      trainedNames.some((k) => k.startsWith('grad.')),
      'pending gradients are part of the checkpoint',
    );
    for (const name of [...a.tensors.keys()]) {
      const x = Buffer.from(a.tensors.get(name)!.toRaw().data);
      const y = Buffer.from(b.tensors.get(name)!.toRaw().data);
      assert.ok(x.equals(y), `${name} differs between the uninterrupted and the resumed run`);
    }
    assert.deepEqual(b.sidecar.optimizer, a.sidecar.optimizer);
    assert.deepEqual(b.sidecar.scheduler, a.sidecar.scheduler);
    // The uninterrupted run's weights did change, so the comparison means something.
    const first = loadCheckpoint(sidecar);
    const changed = trainedNames
      .filter((k) => k.startsWith('fusion_model.'))
      .some(
        (k) => !Buffer.from(first.tensors.get(k)!.toRaw().data).equals(Buffer.from(a.tensors.get(k)!.toRaw().data)),
      );
    assert.ok(changed, 'training after the checkpoint changed the head');
    assert.match(readFileSync(path.join(runRoot, 'resumed', 'log.txt'), 'utf8'), /resuming at epoch/);
  },
);
