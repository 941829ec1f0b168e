/**
 * `bike test` (test.py, test_charades.py's metric, utils' ActivityNet mAP) and `bike zeroshot`
 * (test_zeroshot.py): trained weights on the config's validation/test list with the original's
 * multi-view protocol, then top-1/top-5; for ActivityNet also top-1/top-3 and mAP of the scores; with
 * `--fuse` the video scores are fused with saved attribute-branch scores (0.7 / 0.3); `--save-scores`
 * keeps the scores and labels for a later fusion. Zero-shot adds the per-frame feature protocol over
 * all classes and the 10 half-class splits.
 */
import type { BikeModel } from '../../bike/bike-model.ts';
import { unitNormalise } from '../../bike/interactions.ts';
import { DEFAULT_VIDEO_BRANCH_WEIGHT, fuseScores } from '../../bike/scores.ts';
import { fromTypedArray, noGrad, tidy } from '../../torch/index.ts';
import {
  charadesMetrics,
  isCharadesTestList,
  readCharadesTestList,
  type CharadesMetrics,
  type CharadesTestList,
} from './charades.ts';
import type { Collectives } from '../distributed/collectives.ts';
import type { BikeConfig } from '../config/config.ts';
import { evalRecords, readClassNames, videoSource } from '../datasets/datasets.ts';
import { collectScores, encodeClasses, topAccuracy, type ScoreCollection } from './collect-scores.ts';
import { RunLogger, type ProgressListener } from '../logging/logging.ts';
import { singleLabelMetrics } from './metrics.ts';
import { planInference, type InferencePrecision } from '../training/precision.ts';
import { loadModelFor } from '../models/load-model.ts';
import { SubstitutionRecord, type SubstitutionSummary } from '../logging/substitutions.ts';
import { alignScores, loadScores, saveScores } from './score-files.ts';
import { classPromptTokens, resolveTokenizer } from '../datasets/text-prompts.ts';
import { zeroShotFullClasses, zeroShotHalfClasses, type HalfClassesResult, type TopAccuracy } from './zeroshot.ts';

export interface EvaluationOptions {
  config: BikeConfig;
  /** Trained weights: our checkpoint or run directory, an original BIKE checkpoint, or a prefixed safetensors file (`clip.`, `video_head.`). */
  weights: string;
  testCrops: number;
  testClips: number;
  dense: boolean;
  device?: string;
  vocab?: string;
  workers?: number;
  quiet?: boolean;
  collectives: Collectives;
  logger?: RunLogger;
  /** Arithmetic of the forward passes (default `auto`: see `planInference`). */
  precision?: InferencePrecision;
  /** Hears every step of the test pass (when no logger is given). */
  onProgress?: ProgressListener;
}

export interface TestOptions extends EvaluationOptions {
  /** Attribute-branch scores to fuse with (a file saved by the attribute training). */
  fuse?: string;
  /** Weight of the video branch in the fusion (default 0.7). */
  fuseWeight?: number;
  /** Where to save this run's scores and labels. */
  saveScores?: string;
}

export interface TestResult {
  videos: number;
  /** Single-label datasets (null for Charades, which is multi-label). */
  top1: number | null;
  top5: number | null;
  /** Charades: mAP over the test set and the original's running batch average (percent). */
  charades?: CharadesMetrics;
  /** ActivityNet: top-1 / top-3 on the scores and mAP of their softmax (percent). */
  activityNet?: { top1: number; top3: number; mAP: number };
  fused?: { top1: number; top5: number; weight: number };
  /** Inputs that could not be read and were replaced (frames by frame 1, counted per file). */
  substitutions?: SubstitutionSummary;
}

export interface ZeroShotResult extends TestResult {
  /** The per-frame feature protocol of test_zeroshot.py over every class. */
  full: TopAccuracy;
  half: Omit<HalfClassesResult, 'pickedClasses'> & { pickedClasses: number[][] };
}

interface LoadedEvaluation {
  model: BikeModel;
  classNames: string[];
  records: { path: string }[];
  collection: ScoreCollection;
  classCls: Float32Array;
  /** Multi-hot targets when the test list is Charades'. */
  charades: CharadesTestList | null;
  /** Videos per gathered batch (batch_size x world size). */
  batchVideos: number;
  substitutions: SubstitutionRecord;
}

/** Builds the network for the weights, runs the test protocol and gathers the scores. */
async function evaluateVideos(
  options: EvaluationOptions,
  logger: RunLogger,
  keepFeatures: boolean,
): Promise<LoadedEvaluation> {
  const { config, collectives } = options;
  const device = options.device ?? 'cpu';
  const loaded = loadModelFor('test', { config, weights: options.weights, device });
  const model = loaded.model;
  logger.info(`load model: epoch ${loaded.epoch ?? 'unknown'} (${loaded.format}, ${loaded.weightsPath})`);
  const plan = planInference(options.precision ?? 'auto', device);
  plan.prepare(model);
  logger.info(plan.description);
  const classNames = await readClassNames(config);
  const tokenizer = resolveTokenizer({ vocab: options.vocab, weightsPath: loaded.weightsPath });
  const classTokens = classPromptTokens(
    tokenizer,
    classNames,
    loaded.clipConfig.context_length,
    loaded.clipConfig.vocab_size,
  ).to(device);
  const charades = (await isCharadesTestList(config)) ? await readCharadesTestList(config, classNames.length) : null;
  const records = charades ? charades.records : await evalRecords(config, classNames.length, true);
  const substitutions = new SubstitutionRecord(logger);
  const source = videoSource(config, records, 'test', {
    substitutions,
    rank: collectives.rank,
    worldSize: collectives.worldSize,
    testCrops: options.testCrops,
    testClips: options.testClips,
    dense: options.dense,
    workers: options.workers,
  });
  const classes = plan.run(() => encodeClasses(model, classTokens));
  try {
    logger.info(
      `test: ${records.length} videos, ${options.testCrops} crop(s) x ${options.testClips} clip(s)${options.dense ? ', dense sampling' : ''}, ${classNames.length} classes`,
    );
    const collection = await collectScores({
      model,
      source,
      classes,
      collectives,
      device,
      aggregation: 'test',
      keepFeatures,
      logger,
      label: 'test',
      printFreq: config.logging.print_freq ?? 10,
      forward: plan.run,
    });
    const classCls = tidy(() =>
      noGrad(() => unitNormalise(classes.cls.to('float32')).to('cpu').toTypedArray()),
    ) as Float32Array;
    return {
      model,
      classNames,
      records,
      collection,
      classCls,
      charades,
      batchVideos: (config.data.batch_size ?? 1) * collectives.worldSize,
      substitutions,
    };
  } finally {
    classes.cls.dispose();
    classes.tokens.dispose();
    classTokens.dispose();
    await source.close();
  }
}

function isActivityNet(dataset: string | null): boolean {
  return /anet|activitynet/i.test(dataset ?? '');
}

function finishTest(options: TestOptions, logger: RunLogger, e: LoadedEvaluation): TestResult {
  const { collection } = e;
  logger.info('-----Evaluation is finished------');
  if (e.charades) {
    const charades = charadesMetrics(
      collection.scores,
      collection.indices,
      e.charades,
      collection.classes,
      e.batchVideos,
    );
    logger.info(
      `Overall mAP ${charades.mAP.toFixed(3)}% (the original's running average over batches of ${e.batchVideos}: ${charades.runningMAP.toFixed(3)}%)`,
    );
    if (options.fuse)
      throw new Error(
        `--fuse ${options.fuse}: fusion needs single-label scores; ${options.config.data.val_list} is a multi-label Charades list`,
      );
    if (options.saveScores && options.collectives.rank === 0) {
      saveScores(options.saveScores, {
        scores: collection.scores,
        labels: new Int32Array(collection.videos).fill(-1),
        videos: Array.from(collection.indices, (i) => e.records[i]!.path),
        classes: collection.classes,
        branch: 'video-multilabel',
      });
      logger.info(`scores saved to ${options.saveScores}`);
    }
    return { videos: collection.videos, top1: null, top5: null, charades };
  }
  const { top1, top5 } = topAccuracy(collection);
  const result: TestResult = { videos: collection.videos, top1, top5 };
  logger.info(`Overall Prec@1 ${top1.toFixed(3)}% Prec@5 ${top5.toFixed(3)}%`);
  const matrix = { data: collection.scores, rows: collection.videos, cols: collection.classes };
  if (isActivityNet(options.config.data.dataset)) {
    const anet = singleLabelMetrics(matrix, collection.labels);
    result.activityNet = anet;
    logger.info(
      `ActivityNet: top-1 ${anet.top1.toFixed(3)}% top-3 ${anet.top3.toFixed(3)}% mAP ${anet.mAP.toFixed(3)}%`,
    );
  }
  const videos = Array.from(collection.indices, (i) => e.records[i]!.path);
  if (options.saveScores && options.collectives.rank === 0) {
    saveScores(options.saveScores, {
      scores: collection.scores,
      labels: collection.labels,
      videos,
      classes: collection.classes,
      branch: 'video',
    });
    logger.info(`scores and labels saved to ${options.saveScores}`);
  }
  if (options.fuse) {
    const attribute = loadScores(options.fuse);
    const aligned = alignScores(videos, collection.labels, collection.classes, attribute, options.fuse);
    const weight = options.fuseWeight ?? DEFAULT_VIDEO_BRANCH_WEIGHT;
    const fused = tidy(() => {
      const shape = [collection.videos, collection.classes];
      return fuseScores(
        fromTypedArray(collection.scores, shape),
        fromTypedArray(aligned, shape),
        weight,
      ).toTypedArray() as Float32Array;
    });
    const fusedAccuracy = topAccuracy({
      scores: fused,
      videos: collection.videos,
      classes: collection.classes,
      labels: collection.labels,
    });
    result.fused = { ...fusedAccuracy, weight };
    logger.info(
      `Fusion (video ${weight} / attributes ${(1 - weight).toFixed(2)}): Prec@1 ${fusedAccuracy.top1.toFixed(3)}% Prec@5 ${fusedAccuracy.top5.toFixed(3)}%`,
    );
  }
  return result;
}

export async function runTest(options: TestOptions): Promise<TestResult> {
  const logger =
    options.logger ??
    new RunLogger({ rank: options.collectives.rank, quiet: options.quiet, onProgress: options.onProgress });
  try {
    const evaluation = await evaluateVideos(options, logger, false);
    const result = finishTest(options, logger, evaluation);
    return { ...result, substitutions: evaluation.substitutions.finish('test') };
  } finally {
    if (!options.logger) logger.close();
  }
}

export async function runZeroShot(options: TestOptions): Promise<ZeroShotResult> {
  const logger =
    options.logger ??
    new RunLogger({ rank: options.collectives.rank, quiet: options.quiet, onProgress: options.onProgress });
  try {
    const evaluation = await evaluateVideos(options, logger, true);
    if (evaluation.charades)
      throw new Error(
        `bike zeroshot: ${options.config.data.val_list} is a multi-label Charades list; the zero-shot protocol needs one label per video`,
      );
    const base = finishTest(options, logger, evaluation);
    const c = evaluation.collection;
    const video = { data: c.features!, videos: c.videos, frames: c.framesPerVideo, dim: c.featureDim };
    const text = { data: evaluation.classCls, classes: evaluation.classNames.length, dim: c.featureDim };
    const full = zeroShotFullClasses(video, text, c.labels);
    logger.info('-----Full-classes Evaluation------');
    logger.info(`Overall Top1 ${full.top1.toFixed(3)}% Top5 ${full.top5.toFixed(3)}%`);
    const half = zeroShotHalfClasses(video, text, c.labels);
    logger.info('-----Half-classes Evaluation-----');
    logger.info(`Top1: mean ${half.top1Mean.toFixed(3)}%, std ${half.top1Std.toFixed(3)}%`);
    logger.info(`Top5: mean ${half.top5Mean.toFixed(3)}%, std ${half.top5Std.toFixed(3)}%`);
    const substitutions = evaluation.substitutions.finish('zero-shot');
    return {
      ...base,
      full,
      half: { ...half, pickedClasses: half.pickedClasses.map((picked) => Array.from(picked)) },
      substitutions,
    };
  } finally {
    if (!options.logger) logger.close();
  }
}
