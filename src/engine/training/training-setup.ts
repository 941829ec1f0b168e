/**
 * Everything a training run needs before its first epoch, in the original's order (train.py /
 * train_attributes.py `main`): seed (`seed + rank`), run directory and logger (rank 0), network,
 * datasets, class prompts, `pretrain` weights, freezing, optimizer and schedule, then `resume` (model,
 * head and epoch from any checkpoint; from ours also the optimizer, schedule, loss scaler, iteration,
 * best metric and libtorch's random state, so the run continues exactly as if never interrupted), and
 * DDP's broadcast of rank 0's weights.
 */
import path from 'node:path';
import type { BikeModel, TextFeatures } from '../../bike/bike-model.ts';
import type { LossType } from '../../bike/losses.ts';
import { readAttributes } from '../../data/attributes.ts';
import { manualSeed, noGrad, tidy, type Tensor } from '../../torch/index.ts';
import type { LRScheduler } from '../../torch/optim/lr-scheduler.ts';
import type { Optimizer } from '../../torch/optim/optimizer.ts';
import { AttributeBatchSource } from '../datasets/attribute-data.ts';
import type { BatchSource } from '../datasets/batch-source.ts';
import type { CheckpointSidecar } from '../models/checkpoint.ts';
import { broadcastModule, type Collectives } from '../distributed/collectives.ts';
import { requireSetting, type BikeConfig } from '../config/config.ts';
import { resolveDevice } from '../distributed/device-policy.ts';
import { evalRecords, readClassNames, trainRecords, videoSource } from '../datasets/datasets.ts';
import { RunLogger, type ProgressListener } from '../logging/logging.ts';
import { buildNetwork } from '../models/model-factory.ts';
import { disposeWeights } from '../models/model-weights.ts';
import { loadWeightsInto } from '../models/load-model.ts';
import { SubstitutionRecord } from '../logging/substitutions.ts';
import { buildOptimizer, buildSchedule } from './optimizer-factory.ts';
import { planPrecision, type Precision, type PrecisionPlan } from './precision.ts';
import { createRunDirectory, runDirectoryPath } from '../logging/run-dir.ts';
import { classPromptTokens, resolveTokenizer } from '../datasets/text-prompts.ts';
import { restoreTorchRngState, unpackOptimizerState } from './train-state.ts';
import { canCacheText } from './video-training.ts';
import type { VideoRecord } from '../../data/video-list.ts';

export type Branch = 'video' | 'attributes';

export interface TrainOptions {
  config: BikeConfig;
  /** The config file (copied into the run directory). */
  configFile: string;
  branch: Branch;
  precision: Precision;
  /** `cpu`, `cuda` or `cuda:N`; default: this rank's GPU when CUDA is available, else the CPU (device-policy.ts). */
  device?: string;
  /** Run directory leaf name (default: now, or BIKE_LOG_TIME set by the launcher). */
  logTime?: string;
  vocab?: string;
  quiet?: boolean;
  /** Loader worker threads (default data.workers). */
  workers?: number;
  collectives: Collectives;
  /** Hears every step of the training and validation loops. */
  onProgress?: ProgressListener;
}

export interface TrainingSession {
  options: TrainOptions;
  config: BikeConfig;
  branch: Branch;
  device: string;
  collectives: Collectives;
  logger: RunLogger;
  runDir: string;
  model: BikeModel;
  plan: PrecisionPlan;
  optimizer: Optimizer;
  schedule: LRScheduler;
  classNames: string[];
  classTokens: Tensor;
  cachedText: TextFeatures | null;
  lossType: LossType;
  train: { source: BatchSource | AttributeBatchSource; records: readonly VideoRecord[] };
  val: { source: BatchSource | AttributeBatchSource; records: readonly VideoRecord[] };
  /** The run's substituted inputs (video branch): warned once per file, counted, summarised at the end. */
  substitutions: SubstitutionRecord;
  startEpoch: number;
  bestMetric: number;
  /** Parameters whose gradients are averaged over ranks. */
  trainable: Tensor[];
}

export async function setUpTraining(options: TrainOptions): Promise<TrainingSession> {
  const { config, branch, collectives } = options;
  const rank = collectives.rank;
  const device = options.device ?? resolveDevice();
  manualSeed(requireSetting(config.seed, 'seed', 'training') + rank);

  const logTime = options.logTime ?? process.env.BIKE_LOG_TIME;
  const runOptions = { logTime, suffix: branch === 'attributes' ? 'attributes' : undefined };
  const runDir =
    rank === 0 ? createRunDirectory(config, options.configFile, runOptions) : runDirectoryPath(config, runOptions);
  const logger = new RunLogger({ dir: runDir, rank, quiet: options.quiet, onProgress: options.onProgress });
  logger.info(
    `[INFO] ${collectives.worldSize > 1 ? `distributed training on ${collectives.worldSize} processes` : 'single-process training'} (${branch} branch, ${device})`,
  );
  logger.info(`config: ${JSON.stringify(config)}`);
  logger.info(`storing name: ${runDir}`);

  const plan = planPrecision(options.precision, device);
  logger.info(`precision: ${plan.description}`);
  const built = buildNetwork(config, { attributeBranch: branch === 'attributes', log: (m) => logger.info(m) });
  const model = built.model;
  if (plan.clipDtype === 'float16') model.clip.to('float16');
  if (device !== 'cpu') model.to(device);

  const classNames = await readClassNames(config);
  const tokenizer = resolveTokenizer({ vocab: options.vocab, weightsPath: built.weightsPath });
  const classTokens = classPromptTokens(
    tokenizer,
    classNames,
    built.clipConfig.context_length,
    built.clipConfig.vocab_size,
  )
    .to(device)
    .keep();
  const substitutions = new SubstitutionRecord(logger);
  const sourceOptions = { rank, worldSize: collectives.worldSize, workers: options.workers, substitutions };
  let train: TrainingSession['train'];
  let val: TrainingSession['val'];
  if (branch === 'video') {
    const picked = await trainRecords(config, classNames.length);
    if (picked.fewShot)
      logger.info(
        `few-shot: ${config.data.shot} videos per class (${picked.fewShot.length} videos), repeated to ${picked.records.length} per epoch`,
      );
    const valRecords = await evalRecords(config, classNames.length, false);
    train = { source: videoSource(config, picked.records, 'train', sourceOptions), records: picked.records };
    val = { source: videoSource(config, valRecords, 'val', sourceOptions), records: valRecords };
  } else {
    const topk = requireSetting(config.data.select_topk_attributes, 'data.select_topk_attributes', 'training');
    const make = async (
      records: VideoRecord[],
      key: 'attributes_train_path' | 'attributes_val_path',
      training: boolean,
    ) => {
      const file = requireSetting(config.data[key], `data.${key}`, 'training');
      const table = await readAttributes(file).catch((error: Error) => {
        throw new Error(`config data.${key}: ${error.message}`);
      });
      return new AttributeBatchSource({
        records,
        table,
        file,
        topk,
        tokenizer,
        contextLength: built.clipConfig.context_length,
        batchSize: requireSetting(config.data.batch_size, 'data.batch_size', 'training'),
        training,
        seed: config.seed ?? 0,
        rank,
        worldSize: collectives.worldSize,
      });
    };
    const trainList = (await trainRecords({ ...config, data: { ...config.data, shot: null } }, classNames.length))
      .records;
    const valList = await evalRecords(config, classNames.length, false);
    train = { source: await make(trainList, 'attributes_train_path', true), records: trainList };
    val = { source: await make(valList, 'attributes_val_path', false), records: valList };
  }
  logger.info(
    `classes: ${classNames.length}; training videos: ${train.records.length} (${train.source.batchesPerEpoch} batches per process); validation videos: ${val.records.length}`,
  );

  if (config.pretrain)
    disposeWeights(loadWeightsInto(model, config.pretrain, { key: 'pretrain', branch, log: (m) => logger.info(m) }));
  const frozen = model.freeze({
    fixText: branch === 'attributes' || config.network.fix_text,
    fixVideo: branch === 'video' && config.network.fix_video,
  });
  if (frozen.length) logger.info(`frozen CLIP parameters: ${frozen.length}`);
  const optimizer = buildOptimizer(config, model, branch);
  const schedule = buildSchedule(config, optimizer);

  let startEpoch = requireSetting(config.solver.start_epoch, 'solver.start_epoch', 'training');
  let bestMetric = 0;
  // eslint-disable-next-line no-useless-assignment -- the initial value is the path where nothing is assigned below
  let sidecar: CheckpointSidecar | null = null;
  if (config.resume) {
    const weights = loadWeightsInto(model, config.resume, { key: 'resume', branch, log: (m) => logger.info(m) });
    try {
      if (weights.epoch !== null) startEpoch = weights.epoch + 1;
      sidecar = weights.sidecar;
      if (sidecar) {
        if (sidecar.branch !== branch)
          throw new Error(
            `config resume: ${weights.source} is a ${sidecar.branch}-branch checkpoint; this run trains the ${branch} branch`,
          );
        optimizer.loadStateDict(
          unpackOptimizerState(weights.all, sidecar.optimizer, weights.source),
          `checkpoint ${weights.source} optimizer`,
        );
        schedule.loadStateDict(sidecar.scheduler as Record<string, unknown>);
        if (plan.scaler && sidecar.scaler && Object.keys(sidecar.scaler).length > 0)
          plan.scaler.loadStateDict(sidecar.scaler as object);
        bestMetric = sidecar.bestMetric ?? 0;
        restorePendingGradients(optimizer, weights.all);
      }
      logger.info(
        `=> resuming at epoch ${startEpoch}${sidecar ? ` (optimizer, schedule${plan.scaler ? ', loss scaler' : ''} and random state restored; best so far ${bestMetric})` : ''}`,
      );
      if (sidecar) restoreTorchRngState(weights.all, weights.source, device);
    } finally {
      disposeWeights(weights);
    }
  }
  broadcastModule(collectives, [...model.parameters(), ...[...model.namedBuffers()].map(([, b]) => b)]);

  const network = config.network;
  const cacheable = canCacheText(
    branch === 'attributes' || network.fix_text,
    network.drop_out ?? 0,
    network.emb_dropout ?? 0,
  );
  let cachedText: TextFeatures | null = null;
  if (cacheable) {
    cachedText = tidy(() =>
      noGrad(() => {
        const features = model.classFeatures(classTokens);
        return { cls: features.cls.keep(), tokens: features.tokens.keep() };
      }),
    );
    logger.info('class text features computed once (text encoder frozen)');
  }
  const trainable = model.parameters().filter((p) => p.requiresGrad);
  logger.info(`trainable parameters: ${trainable.reduce((n, p) => n + p.numel, 0)}`);
  return {
    options,
    config,
    branch,
    device,
    collectives,
    logger,
    runDir,
    model,
    plan,
    optimizer,
    schedule,
    classNames,
    classTokens,
    cachedText,
    lossType: requireSetting(config.solver.loss_type, 'solver.loss_type', 'training'),
    train,
    val,
    substitutions,
    startEpoch,
    bestMetric,
    trainable,
  };
}

/** Gradients a checkpoint carried over (an accumulation left incomplete at the epoch's end). */
function restorePendingGradients(optimizer: Optimizer, tensors: Map<string, Tensor>): void {
  const params = optimizer.paramGroups.flatMap((g) => g.params);
  for (const [name, t] of tensors) {
    if (!name.startsWith('grad.')) continue;
    const param = params[Number(name.slice('grad.'.length))];
    if (!param) throw new Error(`checkpoint: gradient "${name}" names no optimizer parameter`);
    param.grad = t.to({ dtype: param.dtype, device: param.device }).clone();
  }
}

/** The file a run writes its attribute-branch scores to (the original's save_sims). */
export function attributeScoresPath(runDir: string): string {
  return path.join(runDir, 'attribute-scores.safetensors');
}
