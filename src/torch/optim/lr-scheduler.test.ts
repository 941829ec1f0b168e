import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WarmupCosineAnnealingLR, WarmupMultiStepLR } from './lr-scheduler.ts';

function groups(...lrs: number[]): { paramGroups: { lr: number; initial_lr?: number }[] } {
  return { paramGroups: lrs.map((lr) => ({ lr })) };
}

/** The original formulas, written out: linear warm-up from 0, then half a cosine to 0 at total_epoch. */
function cosineReference(base: number, epoch: number, warmup: number, total: number): number {
  if (epoch < warmup) return (epoch / warmup) * base;
  const progress = Math.min((epoch - warmup) / (total - warmup), 1);
  return (base * (Math.cos(Math.PI * progress) + 1)) / 2;
}

test('construction records initial_lr and steps to epoch 0 (warm-up starts at lr 0)', () => {
  const optimizer = groups(5e-6, 5e-5);
  const scheduler = new WarmupCosineAnnealingLR(optimizer, 30, { warmupEpochs: 5 });
  assert.deepEqual(
    optimizer.paramGroups.map((g) => g.initial_lr),
    [5e-6, 5e-5],
  );
  assert.deepEqual(
    optimizer.paramGroups.map((g) => g.lr),
    [0, 0],
  );
  assert.equal(scheduler.lastEpoch, 0);
});

test('WarmupCosineAnnealingLR at fractional epochs, one lr per group from its own base', () => {
  const optimizer = groups(5e-6, 5e-5);
  const scheduler = new WarmupCosineAnnealingLR(optimizer, 30, { warmupEpochs: 5 });
  for (const epoch of [0.36, 1, 4.96, 5, 5.4, 17.25, 29.96, 30, 31]) {
    scheduler.step(epoch);
    const expected = [5e-6, 5e-5].map((base) => cosineReference(base, epoch, 5, 30));
    optimizer.paramGroups.forEach((g, i) =>
      assert.ok(
        Math.abs(g.lr - expected[i]!) <= 1e-12 * expected[i]! + 1e-30,
        `epoch ${epoch} group ${i}: ${g.lr} vs ${expected[i]}`,
      ),
    );
    assert.deepEqual(
      scheduler.getLastLr(),
      optimizer.paramGroups.map((g) => g.lr),
    );
  }
  scheduler.step(2);
  assert.equal(optimizer.paramGroups[1]!.lr, 2e-5); // (2 / 5) * 5e-5, exactly as Python computes it
  scheduler.step(31);
  assert.equal(optimizer.paramGroups[1]!.lr, 0); // progress is capped at 1
});

test('per-group warm-up settings, warm-up lrs, powers and a final factor', () => {
  const optimizer = groups(1, 2);
  const scheduler = new WarmupCosineAnnealingLR(optimizer, 10, {
    warmupEpochs: [2, 4],
    warmupLrs: [0.5, 0],
    warmupPowers: [1, 2],
    finalFactor: 0.1,
  });
  scheduler.step(1);
  assert.deepEqual(
    optimizer.paramGroups.map((g) => g.lr),
    [0.5 * (1 - 0.5) + 0.5, 0.25 ** 2 * 2],
  );
  scheduler.step(10);
  assert.ok(Math.abs(optimizer.paramGroups[0]!.lr - 0.1) < 1e-15);
  assert.throws(
    () => new WarmupCosineAnnealingLR(groups(1, 2), 10, { warmupEpochs: [1, 2, 3] }),
    /warmup_epochs: length of \[1,2,3\] \(3\) != 2 parameter groups/,
  );
  assert.throws(
    () => new WarmupCosineAnnealingLR(groups(1), 5, { warmupEpochs: 5 }),
    /warmup_epochs\[0\] \(5\) must be below total_epoch \(5\)/,
  );
});

test('WarmupMultiStepLR: gamma ** (milestones passed), after warm-up', () => {
  const optimizer = groups(0.1, 1);
  const scheduler = new WarmupMultiStepLR(optimizer, [10, 20], { warmupEpochs: 2 });
  const at = (epoch: number) => {
    scheduler.step(epoch);
    return optimizer.paramGroups.map((g) => g.lr);
  };
  assert.deepEqual(at(1), [0.05, 0.5]);
  assert.deepEqual(at(9.99), [0.1, 1]);
  assert.deepEqual(at(10), [0.1 * 0.1, 0.1]);
  assert.deepEqual(at(25), [0.1 * 0.010000000000000002, 0.010000000000000002]); // Python: 0.1 ** 2
  assert.throws(() => new WarmupMultiStepLR(groups(1), [20, 10]), /milestones should be a list of increasing integers/);
  assert.throws(
    () => new WarmupMultiStepLR(groups(1), [5], { warmupEpochs: 5 }),
    /milestones\[0\] \(5\) <= max\(warmup_epochs\) \(5\)/,
  );
});

test('resuming needs initial_lr; state save/load restores the schedule', () => {
  assert.throws(
    () => new WarmupCosineAnnealingLR(groups(1), 10, { lastEpoch: 3 }),
    /param 'initial_lr' is not specified in param_groups\[0\]/,
  );
  const a = groups(1, 2);
  const scheduler = new WarmupCosineAnnealingLR(a, 10, { warmupEpochs: 2 });
  scheduler.step(3.5);
  const state = JSON.parse(JSON.stringify(scheduler.stateDict())) as Record<string, unknown>;
  assert.equal(state.last_epoch, 3.5);
  assert.deepEqual(state.base_lrs, [1, 2]);
  const b = groups(7, 8);
  const restored = new WarmupCosineAnnealingLR(b, 20, { warmupEpochs: 1 });
  restored.loadStateDict(state);
  assert.equal(restored.lastEpoch, 3.5);
  restored.step(6);
  scheduler.step(6);
  assert.deepEqual(
    b.paramGroups.map((g) => g.lr),
    a.paramGroups.map((g) => g.lr),
  );
  assert.throws(
    () => new WarmupCosineAnnealingLR(groups(1), 10).loadStateDict(state),
    /'num_groups' is 2; this scheduler drives 1 parameter groups/,
  );
  assert.throws(
    () => new WarmupMultiStepLR(groups(1, 2), [5]).loadStateDict(state),
    /milestones must be a non-empty list/,
  );
});
