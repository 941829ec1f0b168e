/**
 * The learning-rate schedule of an original BIKE config: `utils/solver.py`'s `_lr_scheduler` factory
 * from the `solver` keys, and the training loop's rule for stepping it (at iteration 1 and every 10th,
 * with `epoch + i / iterations_per_epoch`). The schedules themselves are src/torch/optim/lr-scheduler.ts.
 */
import {
  WarmupCosineAnnealingLR,
  WarmupMultiStepLR,
  type LRScheduler,
  type SchedulableOptimizer,
} from '../../torch/optim/lr-scheduler.ts';

function finite(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new Error(`${name} must be a finite number, got ${JSON.stringify(value)}`);
  return value;
}

/** The `solver` keys of an original BIKE config that choose the schedule. */
export interface ScheduleSettings {
  /** `cosine` or `multistep`. */
  type: string;
  epochs: number;
  lr_warmup_step: number;
  /** For `multistep`: a list of milestone epochs, or a step (milestones every `lr_decay_step` epochs). */
  lr_decay_step?: number | number[];
}

/** `utils/solver.py` `_lr_scheduler(config, optimizer)`. */
export function createLrScheduler(solver: ScheduleSettings, optimizer: SchedulableOptimizer): LRScheduler {
  const epochs = finite(solver.epochs, "solver 'epochs'");
  const warmupEpochs = finite(solver.lr_warmup_step, "solver 'lr_warmup_step'");
  if (solver.type === 'cosine') return new WarmupCosineAnnealingLR(optimizer, epochs, { warmupEpochs });
  if (solver.type === 'multistep') {
    const step = solver.lr_decay_step;
    let milestones: number[];
    if (Array.isArray(step)) milestones = step;
    else if (typeof step === 'number' && Number.isInteger(step) && step > 0) {
      milestones = Array.from({ length: Math.floor(epochs / step) }, (_, i) => step * (i + 1));
    } else {
      throw new Error(
        `solver 'lr_decay_step' must be a list of epochs or a positive integer for type 'multistep', got ${JSON.stringify(step)}`,
      );
    }
    return new WarmupMultiStepLR(optimizer, milestones, { warmupEpochs });
  }
  throw new Error(
    `unknown lr scheduler: solver 'type' is ${JSON.stringify(solver.type)} (expected 'cosine' or 'multistep')`,
  );
}

/** Whether the original training loop steps the schedule at 0-based iteration `i`: the 1st and every 10th. */
export function bikeSchedulerStepsAt(iteration: number): boolean {
  return iteration + 1 === 1 || (iteration + 1) % 10 === 0;
}

/**
 * The original loop's `lr_scheduler.step(epoch + i / len(train_loader))` at iterations where it steps;
 * returns whether it stepped.
 */
export function stepBikeSchedule(
  scheduler: LRScheduler,
  epoch: number,
  iteration: number,
  iterationsPerEpoch: number,
): boolean {
  if (!Number.isInteger(iterationsPerEpoch) || iterationsPerEpoch <= 0)
    throw new Error(`iterationsPerEpoch must be a positive integer, got ${iterationsPerEpoch}`);
  if (!bikeSchedulerStepsAt(iteration)) return false;
  scheduler.step(epoch + iteration / iterationsPerEpoch);
  return true;
}
