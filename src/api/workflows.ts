/**
 * The `bike` commands as functions: `train`, `test`, `zeroShot` and `generateAttributes` take typed
 * options and return typed results, report every step to `onProgress`, and run in this process
 * (or as one rank of a torchrun-style launch: RANK, WORLD_SIZE, MASTER_ADDR, ... are read from the
 * environment). The device defaults to this rank's GPU when CUDA is available, else the CPU.
 */
import {
  generateAttributes as runAttributes,
  type AttributeGenerationResult,
} from '../engine/inference/attribute-generation.ts';
import {
  ConfigError,
  loadConfig as readConfig,
  missingRequired,
  type BikeConfig,
  type ConfigPurpose,
} from '../engine/config/config.ts';
import { resolveDevice } from '../engine/distributed/device-policy.ts';
import { openCollectives } from '../engine/distributed/distributed-env.ts';
import { runTest, runZeroShot, type TestResult, type ZeroShotResult } from '../engine/evaluation/test-runs.ts';
import type { ProgressListener } from '../engine/logging/logging.ts';
import { parsePrecision, type Precision } from '../engine/training/precision.ts';
import { train as runTraining, type TrainResult } from '../engine/training/trainer.ts';

export type { AttributeGenerationResult } from '../engine/inference/attribute-generation.ts';
export type { TestResult, ZeroShotResult } from '../engine/evaluation/test-runs.ts';
export type { ProgressEvent, ProgressListener } from '../engine/logging/logging.ts';
export type { Precision } from '../engine/training/precision.ts';
export type { EpochResult, TrainResult } from '../engine/training/trainer.ts';

interface CommonOptions {
  /** `key.path=value` overrides applied to the config file (like `--set`). */
  overrides?: readonly string[];
  /** `cpu`, `cuda` or `cuda:N` (default: this rank's GPU when CUDA is available, else the CPU). */
  device?: string;
  /** CLIP's BPE vocabulary (file or Hugging Face tokenizer folder); default BIKE_CLIP_VOCAB or beside the weights. */
  vocab?: string;
  /** Loader worker threads (default `data.workers`). */
  workers?: number;
  /** Print log lines and the progress bar on stdout (default false; run logs are written either way). */
  log?: boolean;
  /** Hears every step of every loop. */
  onProgress?: ProgressListener;
}

export interface TrainOptions extends CommonOptions {
  /** An original BIKE YAML config (copied into the run directory). */
  config: string;
  /** `video` (train.py, default) or `attributes` (train_attributes.py). */
  branch?: 'video' | 'attributes';
  /** Default `amp` (float32 on the CPU). */
  precision?: Precision;
  /** Run folder name under `output_path/dataset/arch` (default: the start time). */
  runName?: string;
}

export interface EvaluationOptions extends CommonOptions {
  /** A YAML config file, or a config already loaded (checked for the `test` purpose). */
  config: string | BikeConfig;
  /** Trained weights: run directory, checkpoint, weights file, original BIKE checkpoint. */
  weights: string;
  /** Spatial crops per clip: 1, 3, 5 or 10 (default 1). */
  testCrops?: number;
  /** Clips per video (default 1). */
  testClips?: number;
  /** Dense (I3D-style) frame sampling. */
  dense?: boolean;
}

export interface TestOptions extends EvaluationOptions {
  /** Attribute-branch scores to fuse with (saved by the attribute training). */
  fuse?: string;
  /** Weight of the video branch in the fusion (default 0.7). */
  fuseWeight?: number;
  /** Where to save the scores and labels (safetensors). */
  saveScores?: string;
}

export interface GenerateAttributesOptions extends CommonOptions {
  config: string | BikeConfig;
  /** CLIP weights, or a BIKE checkpoint / run directory (its CLIP is used). */
  weights: string;
  /** Words to choose from, one per line (default: the class names). */
  lexicon?: string;
  /** Words per video (default max(5, data.select_topk_attributes)). */
  topk?: number;
  trainOut?: string;
  valOut?: string;
}

function configFor(
  config: string | BikeConfig,
  purpose: ConfigPurpose,
  overrides: readonly string[] | undefined,
): BikeConfig {
  if (typeof config === 'string') return readConfig(config, { purpose, overrides });
  if (overrides?.length) throw new Error('overrides apply to a config file; change the loaded config object instead');
  const issues = missingRequired(config, purpose, 'config');
  if (issues.length > 0) throw new ConfigError(issues);
  return config;
}

async function withCollectives<T>(run: (collectives: ReturnType<typeof openCollectives>) => Promise<T>): Promise<T> {
  const collectives = openCollectives();
  try {
    return await run(collectives);
  } finally {
    collectives.close();
  }
}

/**
 * Fine-tunes BIKE as the config says (train.py, or train_attributes.py with `branch: 'attributes'`).
 *
 * @example
 * ```ts
 * const result = await train({ config: 'configs/k400/train.yaml', onProgress: (e) => console.log(e.phase, e.step, e.total, e.metrics.loss) });
 * console.log(result.runDir, result.bestMetric);
 * ```
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const branch = options.branch ?? 'video';
  const config = readConfig(options.config, {
    purpose: branch === 'attributes' ? 'train-attributes' : 'train',
    overrides: options.overrides,
  });
  const device = resolveDevice(options.device);
  return withCollectives((collectives) =>
    runTraining({
      config,
      configFile: options.config,
      branch,
      precision: parsePrecision(options.precision ?? 'amp', 'precision'),
      device,
      logTime: options.runName,
      vocab: options.vocab,
      quiet: !options.log,
      workers: options.workers,
      collectives,
      onProgress: options.onProgress,
    }),
  );
}

function evaluationOptions(options: TestOptions, collectives: ReturnType<typeof openCollectives>) {
  return {
    config: configFor(options.config, 'test', options.overrides),
    weights: options.weights,
    testCrops: options.testCrops ?? 1,
    testClips: options.testClips ?? 1,
    dense: options.dense ?? false,
    fuse: options.fuse,
    fuseWeight: options.fuseWeight,
    saveScores: options.saveScores,
    device: resolveDevice(options.device),
    vocab: options.vocab,
    workers: options.workers,
    quiet: !options.log,
    collectives,
    onProgress: options.onProgress,
  };
}

/**
 * Tests trained weights with the original protocol (test.py): top-1/top-5, multi-view, fusion.
 *
 * @example
 * ```ts
 * const { top1, top5 } = await test({ config: 'configs/k400/test.yaml', weights: 'runs/k400/ViT-B/16/best-run', testCrops: 3, testClips: 4 });
 * ```
 */
export async function test(options: TestOptions): Promise<TestResult> {
  return withCollectives((collectives) => runTest(evaluationOptions(options, collectives)));
}

/**
 * Zero-shot evaluation (test_zeroshot.py): the test protocol, full classes and the 10 half-class splits.
 *
 * @example
 * ```ts
 * const { full, half } = await zeroShot({ config: 'configs/ucf101/zeroshot.yaml', weights: 'runs/k400/best-run' });
 * console.log(full.top1, half.top1Mean, half.top1Std);
 * ```
 */
export async function zeroShot(options: EvaluationOptions): Promise<ZeroShotResult> {
  return withCollectives((collectives) => runZeroShot(evaluationOptions(options, collectives)));
}

/**
 * Writes the attribute JSON of the training and validation videos with a frozen CLIP (the input of
 * the attribute branch).
 *
 * @example
 * ```ts
 * const { files } = await generateAttributes({ config: 'configs/k400/train.yaml', weights: 'ViT-B-16.pt', topk: 5 });
 * ```
 */
export async function generateAttributes(options: GenerateAttributesOptions): Promise<AttributeGenerationResult> {
  const config = configFor(options.config, 'test', options.overrides);
  return withCollectives((collectives) =>
    runAttributes({
      config,
      weights: options.weights,
      lexicon: options.lexicon,
      topk: options.topk,
      trainOut: options.trainOut,
      valOut: options.valOut,
      device: resolveDevice(options.device),
      vocab: options.vocab,
      workers: options.workers,
      quiet: !options.log,
      collectives,
      onProgress: options.onProgress,
    }),
  );
}
