/**
 * `bike train`: the epoch loop of train.py (video branch) and train_attributes.py (attribute branch).
 * Every `logging.eval_freq` epochs the model is validated; rank 0 then saves the `last` checkpoint and,
 * when the top-1 improved, the `best` one (the attribute branch also saves its validation scores for
 * fusion, as the original's `save_sims`). With `solver.evaluate` the run only validates.
 */
import path from 'node:path';
import { isTensor, type Tensor } from '../../torch/index.ts';
import { collectAttributeScores, attributeLoss } from './attribute-training.ts';
import type { AttributeBatchSource } from '../datasets/attribute-data.ts';
import type { BatchSource, VideoBatch } from '../datasets/batch-source.ts';
import { HEAD_PREFIX, MODEL_PREFIX, saveCheckpoint, withPrefix } from '../models/checkpoint.ts';
import { runTrainingEpoch, type EpochContext } from './epoch-runner.ts';
import { collectScores, encodeClasses, topAccuracy, type ScoreCollection } from '../evaluation/collect-scores.ts';
import { saveScores } from '../evaluation/score-files.ts';
import { packOptimizerState, torchRngStates } from './train-state.ts';
import { attributeScoresPath, setUpTraining, type TrainOptions, type TrainingSession } from './training-setup.ts';
import { videoLoss } from './video-training.ts';

export interface EpochResult {
  epoch: number;
  loss: number;
  top1: number | null;
  top5: number | null;
}

export interface TrainResult {
  runDir: string;
  epochs: EpochResult[];
  bestMetric: number;
  /** Sidecars of the checkpoints written (rank 0). */
  lastCheckpoint: string | null;
  bestCheckpoint: string | null;
}

/** Validation scores of the branch (all ranks gathered, list order). */
async function validate(session: TrainingSession): Promise<ScoreCollection> {
  const { model, collectives, logger, config, device } = session;
  const classes = encodeClasses(model, session.classTokens);
  try {
    if (session.branch === 'attributes') {
      return await collectAttributeScores({
        model,
        source: session.val.source as AttributeBatchSource,
        classes,
        collectives,
        device,
        logger,
        printFreq: config.logging.print_freq ?? 10,
      });
    }
    return await collectScores({
      model,
      source: session.val.source as BatchSource,
      classes,
      collectives,
      device,
      aggregation: 'val',
      logger,
      label: 'validate',
      printFreq: config.logging.print_freq ?? 10,
    });
  } finally {
    classes.cls.dispose();
    classes.tokens.dispose();
  }
}

/** Every tensor of a checkpoint: weights, optimizer state, pending gradients, libtorch's RNG state. */
function checkpointTensors(session: TrainingSession): {
  tensors: Map<string, Tensor>;
  optimizerJson: unknown;
  owned: Tensor[];
} {
  const { model, optimizer, branch } = session;
  const head = branch === 'attributes' ? model.sentence_head! : model.video_head;
  const packed = packOptimizerState(optimizer.stateDict());
  const owned: Tensor[] = [];
  const tensors = new Map<string, Tensor>([
    ...withPrefix(model.clip.stateDict(), MODEL_PREFIX),
    ...withPrefix(head.stateDict(), HEAD_PREFIX),
    ...packed.tensors,
  ]);
  optimizer.paramGroups
    .flatMap((g) => g.params)
    .forEach((p, i) => {
      const grad = p.grad;
      if (grad) {
        tensors.set(`grad.${i}`, grad);
        owned.push(grad);
      }
    });
  for (const [name, state] of torchRngStates(session.device)) {
    owned.push(state);
    tensors.set(name, state);
  }
  return { tensors, optimizerJson: packed.json, owned };
}

function save(
  session: TrainingSession,
  name: 'last' | 'best',
  epoch: number,
  iteration: number,
  bestMetric: number,
): string {
  const { tensors, optimizerJson, owned } = checkpointTensors(session);
  try {
    return saveCheckpoint(session.runDir, name, tensors, {
      epoch,
      iteration,
      bestMetric,
      metricName: 'top1',
      branch: session.branch,
      optimizer: optimizerJson,
      scheduler: session.schedule.stateDict(),
      scaler: session.plan.scaler ? session.plan.scaler.stateDict() : null,
      rng: { data: 'per-sample generators seeded by (seed, epoch, video index); nothing to save' },
      config: session.config,
    });
  } finally {
    for (const t of owned) if (isTensor(t)) t.dispose();
  }
}

export async function train(options: TrainOptions): Promise<TrainResult> {
  const session = await setUpTraining(options);
  const { config, logger, model, collectives } = session;
  const epochs = config.solver.epochs!;
  const evalFreq = config.logging.eval_freq!;
  const result: TrainResult = {
    runDir: session.runDir,
    epochs: [],
    bestMetric: session.bestMetric,
    lastCheckpoint: null,
    bestCheckpoint: null,
  };
  try {
    const report = (scores: ScoreCollection, epoch: number) => {
      const { top1, top5 } = topAccuracy(scores);
      logger.info(`Testing Results: Prec@1 ${top1.toFixed(3)} Prec@5 ${top5.toFixed(3)}`);
      return { top1, top5, epoch };
    };
    if (config.solver.evaluate) {
      logger.info('===========evaluate===========');
      const scores = await validate(session);
      const { top1, top5 } = report(scores, session.startEpoch);
      if (session.branch === 'attributes' && collectives.rank === 0) writeAttributeScores(session, scores);
      result.epochs.push({ epoch: session.startEpoch, loss: NaN, top1, top5 });
      return result;
    }
    const ctx: EpochContext = {
      optimizer: session.optimizer,
      schedule: session.schedule,
      plan: session.plan,
      collectives,
      trainable: session.trainable,
      accumulationSteps: config.solver.grad_accumulation_steps!,
      logger,
      printFreq: config.logging.print_freq!,
      totalEpochs: epochs,
    };
    for (let epoch = session.startEpoch; epoch < epochs; epoch++) {
      model.train();
      const summary =
        session.branch === 'video'
          ? await runTrainingEpoch(
              ctx,
              (session.train.source as BatchSource).epoch(epoch),
              session.train.source.batchesPerEpoch,
              epoch,
              (batch: VideoBatch) => {
                const loss = videoLoss(
                  {
                    model,
                    collectives,
                    classTokens: session.classTokens,
                    cachedText: session.cachedText,
                    lossType: session.lossType,
                    device: session.device,
                  },
                  batch,
                );
                // videoLoss copied the frames into a tensor: the loader may reuse their array.
                (session.train.source as BatchSource).recycle?.(batch);
                return loss;
              },
            )
          : await runTrainingEpoch(
              ctx,
              (session.train.source as AttributeBatchSource).epoch(epoch),
              session.train.source.batchesPerEpoch,
              epoch,
              (batch) =>
                attributeLoss(
                  {
                    model,
                    collectives,
                    classTokens: session.classTokens,
                    cachedText: session.cachedText,
                    lossType: session.lossType,
                    device: session.device,
                  },
                  batch,
                ),
            );
      const record: EpochResult = { epoch, loss: summary.loss, top1: null, top5: null };
      if ((epoch + 1) % evalFreq === 0) {
        const scores = await validate(session);
        const { top1, top5 } = report(scores, epoch);
        record.top1 = top1;
        record.top5 = top5;
        const iteration = (epoch + 1) * session.train.source.batchesPerEpoch;
        if (collectives.rank === 0) {
          const isBest = top1 > result.bestMetric;
          result.bestMetric = Math.max(top1, result.bestMetric);
          logger.info(`Testing: ${top1}/${result.bestMetric}`);
          logger.info('Saving:');
          result.lastCheckpoint = save(session, 'last', epoch, iteration, result.bestMetric);
          if (isBest) {
            result.bestCheckpoint = save(session, 'best', epoch, iteration, result.bestMetric);
            if (session.branch === 'attributes') writeAttributeScores(session, scores);
          }
        } else {
          result.bestMetric = Math.max(top1, result.bestMetric);
        }
        // Other ranks wait for the checkpoint, so a crash right after an epoch never loses it.
        collectives.barrier();
      }
      logger.metrics({
        kind: 'epoch',
        epoch,
        loss: summary.loss,
        top1: record.top1,
        top5: record.top5,
        best_top1: result.bestMetric,
        seconds: summary.seconds,
        lr: session.optimizer.paramGroups.map((g) => g.lr),
      });
      result.epochs.push(record);
    }
    session.substitutions.finish('training');
    logger.info(`training finished: best Prec@1 ${result.bestMetric.toFixed(3)}; run directory ${session.runDir}`);
    return result;
  } finally {
    await closeSession(session);
  }
}

function writeAttributeScores(session: TrainingSession, scores: ScoreCollection): void {
  const file = attributeScoresPath(session.runDir);
  saveScores(file, {
    scores: scores.scores,
    labels: scores.labels,
    classes: scores.classes,
    branch: 'attributes',
    videos: Array.from(scores.indices, (i) => session.val.records[i]!.path),
  });
  session.logger.info(
    `attribute scores of the validation videos saved to ${path.relative(process.cwd(), file) || file}`,
  );
}

async function closeSession(session: TrainingSession): Promise<void> {
  const source = session.train.source as Partial<BatchSource>;
  const val = session.val.source as Partial<BatchSource>;
  await Promise.all([source.close?.(), val.close?.()]);
  session.logger.close();
}
