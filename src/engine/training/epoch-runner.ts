/**
 * One training epoch as the original loops (`train` in train.py, `train_sentence` in
 * train_attributes.py) run it, whatever the branch computes per batch:
 * - the LR schedule is stepped at iteration 1 and every 10th with the fractional epoch
 *   `epoch + i / len(loader)`;
 * - the loss is divided by `grad_accumulation_steps` and back-propagated (scaled under amp);
 * - every `grad_accumulation_steps` batches the gradients are averaged over the ranks (DDP's all-reduce,
 *   in buckets), the optimizer steps (through the loss scaler under amp) and the gradients are dropped.
 *   Gradients of a last incomplete accumulation carry over into the next epoch, as in the original;
 * - every `print_freq` batches a line in the original's format; every batch a metrics record.
 */
import { tidy, type Tensor } from '../../torch/index.ts';
import type { LRScheduler } from '../../torch/optim/lr-scheduler.ts';
import { stepBikeSchedule } from './lr-schedule.ts';
import type { Optimizer } from '../../torch/optim/optimizer.ts';
import { allReduceGradients, type Collectives } from '../distributed/collectives.ts';
import { Progress, type RunLogger } from '../logging/logging.ts';
import { AverageMeter, etaSeconds, formatDuration } from '../logging/meters.ts';
import type { PrecisionPlan } from './precision.ts';

export interface EpochContext {
  optimizer: Optimizer;
  schedule: LRScheduler;
  plan: PrecisionPlan;
  collectives: Collectives;
  /** Parameters whose gradients are averaged over the ranks. */
  trainable: Tensor[];
  accumulationSteps: number;
  logger: RunLogger;
  printFreq: number;
  /** `solver.epochs`, for the ETA. */
  totalEpochs: number;
}

export interface EpochSummary {
  /** Mean of the (accumulation-divided) batch losses, weighted by batch size, as the original's meter. */
  loss: number;
  batches: number;
  seconds: number;
}

/** Python's `'{:.2e}'.format(x)`. */
export function pythonExponent(x: number, digits = 2): string {
  const [mantissa, exponent] = x.toExponential(digits).split('e') as [string, string];
  const sign = exponent.startsWith('-') ? '-' : '+';
  return `${mantissa}e${sign}${exponent.replace(/^[-+]/, '').padStart(2, '0')}`;
}

/**
 * Trains one epoch. `lossOf(batch)` runs the branch's forward pass (inside the precision plan's
 * autocast) and returns the undivided loss and the number of logits rows (for the loss meter).
 */
export async function runTrainingEpoch<B>(
  ctx: EpochContext,
  batches: AsyncIterable<B>,
  batchesPerEpoch: number,
  epoch: number,
  lossOf: (batch: B) => { loss: Tensor; rows: number },
): Promise<EpochSummary> {
  const { optimizer, plan, logger } = ctx;
  const batchTime = new AverageMeter();
  const dataTime = new AverageMeter();
  const losses = new AverageMeter();
  const maxIteration = ctx.totalEpochs * batchesPerEpoch;
  const lastLr = () => optimizer.paramGroups[optimizer.paramGroups.length - 1]!.lr;
  const progress = new Progress(
    logger,
    `epoch ${epoch}`,
    batchesPerEpoch,
    ctx.printFreq,
    (i) =>
      `Epoch: [${epoch}][${i}/${batchesPerEpoch}], lr: ${pythonExponent(lastLr())}, eta: ${formatDuration(etaSeconds(batchTime.average, epoch * batchesPerEpoch + i, maxIteration))}\t` +
      `Time ${batchTime.value.toFixed(3)} (${batchTime.average.toFixed(3)})\t` +
      `Data ${dataTime.value.toFixed(3)} (${dataTime.average.toFixed(3)})\t` +
      `Loss ${losses.value.toFixed(4)} (${losses.average.toFixed(4)})`,
  );
  const started = performance.now();
  let end = performance.now();
  let i = 0;
  const iterator = batches[Symbol.asyncIterator]();
  for (;;) {
    const next = await iterator.next();
    if (next.done) break;
    stepBikeSchedule(ctx.schedule, epoch, i, batchesPerEpoch);
    dataTime.update((performance.now() - end) / 1000);
    const { value, rows } = tidy(() => {
      const { loss, rows } = plan.forward(() => lossOf(next.value));
      const divided = loss.div(ctx.accumulationSteps);
      (plan.scaler ? plan.scaler.scale(divided) : divided).backward();
      return { value: divided.item(), rows };
    });
    if ((i + 1) % ctx.accumulationSteps === 0) {
      allReduceGradients(ctx.collectives, ctx.trainable);
      if (plan.scaler) {
        plan.scaler.step(optimizer);
        plan.scaler.update();
      } else {
        optimizer.step();
      }
      optimizer.zeroGrad();
    }
    if (!Number.isFinite(value) && !plan.scaler) {
      throw new Error(
        `epoch ${epoch}, iteration ${i}: the loss is ${value}; training diverged (lower solver.lr, or check the data)`,
      );
    }
    losses.update(value, rows);
    batchTime.update((performance.now() - end) / 1000);
    end = performance.now();
    const computeSeconds = batchTime.value - dataTime.value;
    logger.metrics({
      kind: 'iteration',
      epoch,
      iteration: i,
      global_iteration: epoch * batchesPerEpoch + i,
      loss: value,
      loss_avg: losses.average,
      lr: optimizer.paramGroups.map((g) => g.lr),
      data_time: dataTime.value,
      batch_time: batchTime.value,
    });
    progress.update(i, {
      loss: value,
      lossAverage: losses.average,
      lr: lastLr(),
      dataSeconds: dataTime.value,
      computeSeconds,
      etaSeconds: etaSeconds(batchTime.average, epoch * batchesPerEpoch + i, maxIteration),
    });
    i++;
  }
  progress.done();
  return { loss: losses.average, batches: i, seconds: (performance.now() - started) / 1000 };
}
