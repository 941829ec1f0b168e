import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor, noGrad, tidy } from '../torch/index.ts';
import { loadPtFile, loadSafetensors, saveSafetensors } from '../torch/serialization/serialization.ts';
import { bikeParityChecks } from './bike-parity.ts';
import { buildFixtureModel, disposeFixture, loadBikeFixture, loadFixtureModel } from './bike-fixture.ts';
import { parseStepPlan } from './fixture-optimizer-steps.ts';

const FIXTURE = path.resolve(
  fileURLToPath(new URL('../../', import.meta.url)),
  '..',
  'shared',
  'fixtures',
  'bike-reference',
);

test('every bike check passes on the reference fixture and every expectation is covered', async () => {
  const results = await bikeParityChecks(FIXTURE);
  const failed = results.filter((r) => !r.ok);
  assert.deepEqual(failed, []);
  const names = results.map((r) => r.name).join('\n');
  const io = loadSafetensors(path.join(FIXTURE, 'io.safetensors'));
  // encode_* belong to the CLIP group; the per-iteration schedule to the optimizer group.
  const ours = [...io.keys()].filter(
    (k) => k.startsWith('expect.') && !k.startsWith('expect.encode_') && !k.startsWith('expect.lr_schedule_'),
  );
  for (const t of io.values()) t.dispose();
  const uncovered = ours.filter((k) => !names.includes(k));
  assert.deepEqual(uncovered, []);
  assert.ok(results.length > 200);
});

test('a directory without the fixture files gives one skipped result', async () => {
  const empty = mkdtempSync(path.join(tmpdir(), 'bike-parity-'));
  try {
    const results = await bikeParityChecks(empty);
    assert.equal(results.length, 1);
    assert.equal(results[0]!.skipped, true);
    assert.match(results[0]!.detail, /meta\.json.*io\.safetensors.*weights\.safetensors missing/);
  } finally {
    rmSync(empty, { recursive: true });
  }
});

test('a wrong expectation fails its check, and only that one', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bike-parity-'));
  try {
    for (const file of ['meta.json', 'weights.safetensors'])
      symlinkSync(path.join(FIXTURE, file), path.join(dir, file));
    const io = loadSafetensors(path.join(FIXTURE, 'io.safetensors'));
    const original = io.get('expect.logits.transf_dp')!;
    io.set(
      'expect.logits.transf_dp',
      noGrad(() => original.add(1e-3)),
    );
    saveSafetensors(path.join(dir, 'io.safetensors'), io);
    for (const t of io.values()) t.dispose();
    const results = await bikeParityChecks(dir);
    const failed = results.filter((r) => !r.ok && !r.skipped);
    assert.equal(failed.length, 1);
    assert.match(failed[0]!.name, /^expect\.logits\.transf_dp/);
    assert.match(failed[0]!.detail, /max \|a-b\| = 1\.00e-3 > tolerance 0\.0001/);
    // Without checkpoint_official.pt beside it, that check is skipped, not failed.
    assert.ok(results.some((r) => r.skipped && r.name === 'checkpoint_official.pt'));
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('the original checkpoint format (torch.save zip) loads into BikeModel and gives the outputs of weights.safetensors', () => {
  const fixture = loadBikeFixture(FIXTURE);
  const root = loadPtFile(path.join(FIXTURE, 'checkpoint_official.pt')) as Record<string, Record<string, Tensor>>;
  assert.equal(typeof root.epoch, 'number');
  const fromCheckpoint = buildFixtureModel(fixture.meta);
  const target = fromCheckpoint.loadOriginalStateDicts(
    new Map(Object.entries(root.model_state_dict!)),
    new Map(Object.entries(root.fusion_model_state_dict!)),
  );
  assert.equal(target, 'video_head');
  const reference = loadFixtureModel(fixture);
  tidy(() =>
    noGrad(() => {
      fromCheckpoint.eval();
      reference.eval();
      const frames = fixture.get('input.frames');
      const a = fromCheckpoint.predict(frames, fromCheckpoint.classFeatures(fixture.get('input.text_tokens')));
      const b = reference.predict(frames, reference.classFeatures(fixture.get('input.text_tokens')));
      assert.equal(a.sub(b).abs().max().item(), 0);
      assert.ok(a.sub(fixture.get('expect.logits.transf_vcs')).abs().max().item() < 1e-5);
    }),
  );
  disposeFixture(fixture);
});

test('the AdamW step plan is read from meta.json text', () => {
  assert.deepEqual(
    parseStepPlan('3 steps; before step s (0,1,2) the scheduler is stepped to epoch 1+s; step 0 uses ...'),
    { steps: 3, firstEpoch: 1 },
  );
  assert.throws(() => parseStepPlan('three steps'), /adamw_steps: expected "<N> steps;/);
});
