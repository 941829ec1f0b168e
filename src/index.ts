/**
 * bike-ts: BIKE video recognition (CVPR 2023) on libtorch, for Node and TypeScript. This file is the
 * package's one public entry (`import ... from 'bike-ts'`); nothing else is importable.
 *
 * - Inference: {@link VideoClassifier} (a trained run, an original BIKE checkpoint, or plain CLIP
 *   weights with class names) classifies video files, frame folders, encoded bytes or decoded frames.
 * - Workflows: {@link train}, {@link test}, {@link zeroShot}, {@link generateAttributes} and
 *   {@link loadConfig}, with progress as `onProgress({ phase, step, total, metrics })` events.
 * - Building blocks: {@link BikeModel}, {@link CLIP}, {@link loadClip}, {@link ClipTokenizer} and the
 *   tensor library as the `torch` namespace.
 * - Errors a caller may handle, with the fields that name the input: {@link ConfigError},
 *   {@link AnnotationError}, {@link MediaError}, {@link WeightsError}, {@link StateDictError},
 *   {@link ShapeError}, {@link DeviceError}.
 *
 * @example
 * ```ts
 * import { VideoClassifier } from 'bike-ts';
 *
 * const classifier = await VideoClassifier.load({ model: 'runs/k400/ViT-B/16/20260101_120000' });
 * const result = await classifier.classify('video.mp4', { topK: 3 });
 * for (const c of result.top) console.log(c.name, c.probability);
 * classifier.dispose();
 * ```
 */

// Inference.
export {
  VideoClassifier,
  type VideoClassifierOptions,
  type VideoInput,
  type ClassifyOptions,
  type Classification,
  type ClassScore,
  type ClassSaliency,
  type RgbImage,
  type BatchClassifyOptions,
  type TimelineClassifyOptions,
  type Timeline,
  type DecodedClip,
  type TimelineOptions,
  type SubstitutedFrame,
} from './api/video-classifier.ts';

export type { InferencePrecision } from './engine/training/precision.ts';

// Workflows.
export {
  train,
  test,
  zeroShot,
  generateAttributes,
  type TrainOptions,
  type EvaluationOptions,
  type TestOptions,
  type GenerateAttributesOptions,
  type TrainResult,
  type EpochResult,
  type TestResult,
  type ZeroShotResult,
  type AttributeGenerationResult,
  type ProgressEvent,
  type ProgressListener,
  type Precision,
} from './api/workflows.ts';
export {
  loadConfig,
  REQUIRED_KEYS,
  type ConfigFor,
  type LoadConfigOptions,
  type BikeConfig,
  type ConfigPurpose,
  type DataConfig,
  type NetworkConfig,
  type SolverConfig,
  type LoggingConfig,
} from './api/config.ts';

// Errors.
export { ConfigError, type ConfigIssue } from './engine/config/config.ts';
export { AnnotationError } from './data/annotation-error.ts';
export { MediaError } from './data/media-error.ts';
export { WeightsError } from './engine/models/weights-error.ts';
export { DeviceError } from './engine/distributed/device-policy.ts';
export { StateDictError } from './torch/nn/module.ts';
export { ShapeError } from './torch/shape-error.ts';

// Building blocks.
export { BikeModel, type BikeModelOptions, type TextFeatures } from './bike/bike-model.ts';
export { CLIP, type ClipOptions } from './clip/model.ts';
export { loadClip, type LoadClipOptions, type LoadedClip } from './clip/load.ts';
export type { ClipConfig } from './clip/config.ts';
export { ClipTokenizer } from './clip/tokenizer.ts';
export {
  resolveTokenizer as loadTokenizer,
  classPromptTokens,
  type VocabularyOptions,
} from './engine/datasets/text-prompts.ts';
export {
  loadModelFor,
  zeroShotModel,
  type LoadedTrainedModel,
  type LoadedClipOnly,
  type ModelPurpose,
} from './engine/models/load-model.ts';
/** The tensor library over libtorch: `Tensor`, ops, `tidy`, autograd, `nn`, `optim`, `F`, safetensors. */
export * as torch from './torch/index.ts';
