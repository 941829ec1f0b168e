/**
 * The one road from weights to a ready model (open_clip's `create_model` / `load_checkpoint`), used by
 * test, zero-shot, attribute generation, predict and the library's VideoClassifier:
 *
 * - `loadModelFor('test' | 'predict', ...)`: trained weights (our run directory or checkpoint, our
 *   weights file, an original BIKE checkpoint, our safetensors layout) rebuilt as the config says:
 *   CLIP's architecture inferred from the weights and loaded strictly, the video head loaded, or an
 *   error where the config's head has parameters the weights lack;
 * - `loadModelFor('clip', ...)`: a frozen CLIP from plain CLIP weights (anything CLIP's loader reads)
 *   or from the CLIP part of a BIKE checkpoint, for attribute generation and zero-shot predict;
 * - `loadWeightsInto(model, location, ...)`: `pretrain` / `resume` weights into the network training
 *   built from its config (CLIP and the branch's head, the original's two state dicts);
 * - `zeroShotModel(clip, numSegments)`: the parameter-free head of the paper's zero-shot setting
 *   around such a CLIP (no temporal transformer, Video Concept Spotting).
 *
 * The config keys a purpose reads are checked by `loadConfig(file, { purpose })` (config.ts), so a
 * config that passed it has them; `requireSetting` names the key for configs built another way.
 */
import { existsSync, statSync } from 'node:fs';
import { BikeModel } from '../../bike/bike-model.ts';
import { ORIGINAL_TEMPORAL_LAYERS } from '../../bike/video-head.ts';
import { inferClipConfig, type ClipConfig } from '../../clip/config.ts';
import { loadClip, loadClipStateDict } from '../../clip/load.ts';
import { CLIP } from '../../clip/model.ts';
import { ConfigError, type BikeConfig } from '../config/config.ts';
import { buildNetworkForWeights } from './model-factory.ts';
import { StateDictError } from '../../torch/nn/module.ts';
import { checkpointInDirectory, disposeWeights, readTrainedWeights, type TrainedWeights } from './model-weights.ts';
import { WeightsError } from './weights-error.ts';

/** True when `location` is one of our checkpoints: a sidecar `.json`, or a run directory holding one. */
export function isBikeCheckpoint(location: string): boolean {
  if (!existsSync(location)) return false;
  if (statSync(location).isDirectory()) return checkpointInDirectory(location) !== null;
  return location.endsWith('.json');
}

export interface LoadedClipOnly {
  clip: CLIP;
  /** The file the weights came from (its folder may hold the tokenizer vocabulary). */
  weightsPath: string;
}

export interface LoadedTrainedModel {
  model: BikeModel;
  config: BikeConfig;
  clipConfig: ClipConfig;
  /** The file the weights came from. */
  weightsPath: string;
  epoch: number | null;
  format: TrainedWeights['format'];
}

export interface TrainedModelOptions {
  /** Trained weights: run directory, checkpoint sidecar, weights file, original BIKE checkpoint. */
  weights: string;
  /** The config the network is rebuilt from; default: the one our checkpoint carries. */
  config?: BikeConfig;
  /** How the weights are named in errors (e.g. `--model`; default `weights`). */
  what?: string;
  device?: string;
  /** Evaluation mode and no gradients (default true). */
  frozen?: boolean;
}

export interface ClipOnlyOptions {
  /** CLIP weights (OpenAI `.pt`, Hugging Face, safetensors) or a BIKE checkpoint / run directory. */
  weights: string;
  /** Frames per video the image encoder sees (joint space-time attention sizes; default 8). */
  numSegments?: number;
  device?: string;
}

/** Runs a weights reader; what it refuses becomes a WeightsError naming the file (a model that does not fit stays a StateDictError). */
function reading<T>(file: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (
      error instanceof WeightsError ||
      error instanceof StateDictError ||
      error instanceof ConfigError ||
      !(error instanceof Error)
    )
      throw error;
    throw new WeightsError(file, error.message, { cause: error });
  }
}

/** Loads the CLIP of `options.weights`, frozen (evaluation mode, no gradients). */
function loadClipOnly(options: ClipOnlyOptions): LoadedClipOnly {
  const T = options.numSegments ?? 8;
  let clip: CLIP;
  let weightsPath = options.weights;
  if (isBikeCheckpoint(options.weights)) {
    const weights = reading(options.weights, () => readTrainedWeights(options.weights));
    try {
      clip = new CLIP(inferClipConfig(weights.model, weights.source), { T });
      loadClipStateDict(clip, weights.model, weights.source);
      weightsPath = weights.source;
    } finally {
      disposeWeights(weights);
    }
  } else {
    clip = reading(options.weights, () => loadClip(options.weights, { T })).model;
  }
  clip.requiresGrad_(false);
  clip.eval();
  if (options.device && options.device !== 'cpu') clip.to(options.device);
  return { clip, weightsPath };
}

/** Loads trained weights into the network their config describes (see the file comment). */
function loadTrainedModel(options: TrainedModelOptions): LoadedTrainedModel {
  const what = options.what ?? 'weights';
  const weights = reading(options.weights, () => readTrainedWeights(options.weights));
  try {
    let config = options.config;
    if (!config) {
      if (!weights.sidecar?.config)
        throw new WeightsError(
          options.weights,
          `${what} ${options.weights}: the weights carry no config (not a bike checkpoint); pass the run's config (--config <the run's yaml>)`,
        );
      config = weights.sidecar.config as BikeConfig;
    }
    if (weights.sidecar && weights.sidecar.branch !== 'video') {
      throw new WeightsError(
        options.weights,
        `${what} ${options.weights}: a ${weights.sidecar.branch}-branch checkpoint; the video branch's run is needed (fuse attribute scores with --fuse)`,
      );
    }
    const built = buildNetworkForWeights(config, weights.model, weights.source);
    const model = built.model;
    try {
      if (weights.head && weights.head.size > 0) {
        if ([...weights.head.keys()].some((k) => k.startsWith('query_fc.'))) {
          throw new WeightsError(
            weights.source,
            `${what} ${weights.source}: they hold the attribute branch's sentence head; use the video branch's own checkpoint, and fuse attribute scores with --fuse`,
          );
        }
        model.video_head.loadStateDict(weights.head);
      } else if (model.video_head.parameters().length > 0) {
        throw new WeightsError(
          weights.source,
          `${what} ${weights.source}: no video head weights (fusion_model_state_dict), but network.sim_header ${config.network.sim_header} has parameters`,
        );
      }
      if (options.frozen ?? true) {
        model.eval();
        model.requiresGrad_(false);
      }
      if (options.device && options.device !== 'cpu') model.to(options.device);
      return {
        model,
        config,
        clipConfig: built.clipConfig,
        weightsPath: weights.source,
        epoch: weights.epoch,
        format: weights.format,
      };
    } catch (error) {
      for (const t of model.stateDict().values()) t.dispose();
      throw error;
    }
  } finally {
    disposeWeights(weights);
  }
}

/** The parameter-free video head of the zero-shot setting around a CLIP: mean over frames, concept spotting. */
export function zeroShotModel(clip: CLIP, numSegments: number): BikeModel {
  const model = new BikeModel(clip, {
    numSegments,
    simHeader: 'None',
    interaction: 'VCS',
    embedDim: clip.config.embed_dim,
    contextLength: clip.contextLength,
    temporalLayers: ORIGINAL_TEMPORAL_LAYERS,
    temporalHeads: 1,
  });
  model.eval();
  model.requiresGrad_(false);
  return model;
}

export type ModelPurpose = 'test' | 'predict' | 'clip';

/** Weights to a ready model for `purpose` (see the file comment). */
export function loadModelFor(purpose: 'test' | 'predict', options: TrainedModelOptions): LoadedTrainedModel;
export function loadModelFor(purpose: 'clip', options: ClipOnlyOptions): LoadedClipOnly;
export function loadModelFor(
  purpose: ModelPurpose,
  options: TrainedModelOptions | ClipOnlyOptions,
): LoadedTrainedModel | LoadedClipOnly {
  if (purpose === 'clip') return loadClipOnly(options as ClipOnlyOptions);
  return loadTrainedModel(options as TrainedModelOptions);
}

export interface LoadIntoOptions {
  /** The config key that named the weights (`pretrain`, `resume`), for messages. */
  key: string;
  /** Which head the weights are for: the video head or the attribute branch's sentence head. */
  branch: 'video' | 'attributes';
  log?: (message: string) => void;
}

/** Loads `pretrain` / `resume` weights into CLIP and the branch's head; returns what was read (the caller disposes it). */
export function loadWeightsInto(model: BikeModel, location: string, options: LoadIntoOptions): TrainedWeights {
  const { key } = options;
  let weights: TrainedWeights;
  try {
    weights = readTrainedWeights(location, {
      headPrefix: options.branch === 'attributes' ? 'sentence_head.' : undefined,
    });
  } catch (error) {
    throw new WeightsError(location, `config ${key}: ${(error as Error).message}`, { cause: error });
  }
  try {
    const head = weights.head && weights.head.size > 0 ? weights.head : null;
    const loaded = model.loadOriginalStateDicts(weights.model, head);
    options.log?.(
      `=> loaded ${key} '${weights.source}' (${weights.format}${weights.epoch !== null ? `, epoch ${weights.epoch}` : ''}; head: ${loaded ?? 'none'})`,
    );
  } catch (error) {
    disposeWeights(weights);
    throw new WeightsError(
      weights.source,
      `config ${key}: ${weights.source} does not fit the network of this config: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return weights;
}
