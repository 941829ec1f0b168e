import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WarmupCosineAnnealingLR } from '../../torch/optim/lr-scheduler.ts';
import { bikeSchedulerStepsAt, createLrScheduler, stepBikeSchedule } from './lr-schedule.ts';

function groups(...lrs: number[]): { paramGroups: { lr: number; initial_lr?: number }[] } {
  return { paramGroups: lrs.map((lr) => ({ lr })) };
}

test('createLrScheduler follows _lr_scheduler: cosine, multistep from a list or a step, errors name the key', () => {
  // The cosine schedule itself is tested against the original formulas in torch/optim/lr-scheduler.test.ts.
  const cosine = groups(1, 0.5);
  const direct = groups(1, 0.5);
  createLrScheduler({ type: 'cosine', epochs: 10, lr_warmup_step: 2 }, cosine).step(6);
  new WarmupCosineAnnealingLR(direct, 10, { warmupEpochs: 2 }).step(6);
  assert.deepEqual(
    cosine.paramGroups.map((g) => g.lr),
    direct.paramGroups.map((g) => g.lr),
  );
  assert.ok(cosine.paramGroups[0]!.lr > 0 && cosine.paramGroups[0]!.lr < 1);
  const stepped = groups(1);
  const byStep = createLrScheduler({ type: 'multistep', epochs: 10, lr_warmup_step: 0, lr_decay_step: 4 }, stepped);
  assert.deepEqual(byStep.stateDict().milestones, [4, 8]);
  const listed = createLrScheduler(
    { type: 'multistep', epochs: 10, lr_warmup_step: 1, lr_decay_step: [3, 7] },
    groups(1),
  );
  assert.deepEqual(listed.stateDict().milestones, [3, 7]);
  assert.throws(
    () => createLrScheduler({ type: 'monitor', epochs: 10, lr_warmup_step: 0 }, groups(1)),
    /solver 'type' is "monitor"/,
  );
  assert.throws(
    () => createLrScheduler({ type: 'multistep', epochs: 10, lr_warmup_step: 0, lr_decay_step: 2.5 }, groups(1)),
    /solver 'lr_decay_step'/,
  );
  assert.throws(
    () => createLrScheduler({ type: 'cosine', epochs: undefined as never, lr_warmup_step: 0 }, groups(1)),
    /solver 'epochs' must be a finite number/,
  );
});

test('the original loop steps at iteration 1 and every 10th, with epoch + i / iterations', () => {
  assert.deepEqual(Array.from({ length: 25 }, (_, i) => i).filter(bikeSchedulerStepsAt), [0, 9, 19]);
  const optimizer = groups(1);
  const scheduler = new WarmupCosineAnnealingLR(optimizer, 30, { warmupEpochs: 5 });
  assert.equal(stepBikeSchedule(scheduler, 3, 5, 25), false);
  assert.equal(stepBikeSchedule(scheduler, 3, 9, 25), true);
  assert.equal(scheduler.lastEpoch, 3 + 9 / 25);
});
