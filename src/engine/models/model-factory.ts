/**
 * The network a config describes, as the original scripts build it: `clip.load(network.arch, ...)`
 * with the config's stochastic depth, embedding dropout, joint space-time attention and frame count,
 * then `video_header(sim_header, interaction)` (a 6-layer temporal transformer with
 * `transformer_width // 64` heads) and, for the attribute branch, `sentence_text_logit`.
 *
 * `network.arch`:
 * - a hyper-parameter mapping: randomly initialised CLIP of that size;
 * - a weights file: its architecture is inferred from the weights; `network.init: True` loads all of
 *   them, `False` only the image encoder's (the original's `pretrain` flag);
 * - a released model name: its weights are looked up where the original's downloader keeps them
 *   (`~/.cache/clip/<file>`, or BIKE_CLIP_CACHE); nothing is downloaded. Without them, `init: False`
 *   builds the architecture randomly initialised and `init: True` is an error saying where to put them.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BikeModel } from '../../bike/bike-model.ts';
import { ORIGINAL_TEMPORAL_LAYERS, originalTemporalHeads } from '../../bike/video-head.ts';
import { CLIP } from '../../clip/model.ts';
import { clipConfigOf, loadClipStateDict, readClipWeights } from '../../clip/load.ts';
import { clipArchitecture, inferClipConfig, type ClipConfig } from '../../clip/config.ts';
import type { Tensor } from '../../torch/index.ts';
import { requireSetting, type BikeConfig } from '../config/config.ts';

/** File names of OpenAI's released weights (the last part of the download URLs). */
export const OPENAI_WEIGHT_FILES: Record<string, string> = {
  RN50: 'RN50.pt',
  RN101: 'RN101.pt',
  RN50x4: 'RN50x4.pt',
  RN50x16: 'RN50x16.pt',
  RN50x64: 'RN50x64.pt',
  'ViT-B/32': 'ViT-B-32.pt',
  'ViT-B/16': 'ViT-B-16.pt',
  'ViT-L/14': 'ViT-L-14.pt',
  'ViT-L/14-336px': 'ViT-L-14-336px.pt',
};

export function clipCacheDirectory(env: NodeJS.ProcessEnv = process.env): string {
  return env.BIKE_CLIP_CACHE ?? path.join(os.homedir(), '.cache', 'clip');
}

export interface BuildOptions {
  /** Build the attribute branch's sentence head (train_attributes.py). */
  attributeBranch?: boolean;
  /** Log lines about what was loaded. */
  log?: (message: string) => void;
  env?: NodeJS.ProcessEnv;
}

export interface BuiltNetwork {
  model: BikeModel;
  clipConfig: ClipConfig;
  /** The CLIP weights file used, if any (its folder may hold the tokenizer vocabulary). */
  weightsPath: string | null;
}

function readWeights(file: string): { stateDict: Map<string, Tensor>; config: ClipConfig } {
  const weights = readClipWeights(file);
  for (const group of [weights.fusionStateDict, ...weights.extra.values()])
    for (const t of group?.values() ?? []) t.dispose();
  return { stateDict: weights.stateDict, config: clipConfigOf(weights) };
}

/** The temporal transformer's heads, with the original's rule and a clear error where it gives none. */
export function temporalHeads(clipConfig: ClipConfig, simHeader: string): number {
  const heads = originalTemporalHeads(clipConfig.transformer_width);
  if (simHeader === 'Transf') {
    if (heads < 1) {
      throw new Error(
        `network.sim_header Transf: the temporal transformer gets transformer_width // 64 = ${heads} heads (transformer_width ${clipConfig.transformer_width}); use transformer_width >= 64 or sim_header None`,
      );
    }
    if (clipConfig.embed_dim % heads !== 0) {
      throw new Error(
        `network.sim_header Transf: embed_dim ${clipConfig.embed_dim} is not divisible by the temporal transformer's ${heads} heads (transformer_width // 64)`,
      );
    }
  }
  return Math.max(1, heads);
}

/** Builds CLIP and the heads from the config, loading CLIP weights as `network.arch` / `network.init` say. */
export function buildNetwork(config: BikeConfig, options: BuildOptions = {}): BuiltNetwork {
  const log = options.log ?? (() => {});
  const network = config.network;
  const arch = requireSetting(network.arch, 'network.arch', 'building the network');
  const numSegments = requireSetting(config.data.num_segments, 'data.num_segments', 'building the network');
  if (network.tm !== false && network.tm !== 'False') {
    throw new Error(
      `config network.tm: ${JSON.stringify(network.tm)} (temporal modelling inside the image encoder) is not part of the released BIKE model; set it to False`,
    );
  }
  const clipOptions = {
    dropout: network.drop_out ?? 0,
    embDropout: network.emb_dropout ?? 0,
    joint: network.joint_st,
    T: numSegments,
  };

  let weights: Map<string, Tensor> | null = null;
  let weightsPath: string | null = null;
  let clipConfig: ClipConfig;
  if (arch.kind === 'hyperparameters') {
    clipConfig = { ...arch.hyperparameters } as ClipConfig;
    log(`CLIP: randomly initialised custom architecture ${JSON.stringify(arch.hyperparameters)}`);
  } else if (arch.kind === 'file') {
    weightsPath = arch.path;
    ({ stateDict: weights, config: clipConfig } = readWeights(arch.path));
  } else {
    const file = path.join(clipCacheDirectory(options.env), OPENAI_WEIGHT_FILES[arch.name]!);
    if (existsSync(file)) {
      weightsPath = file;
      ({ stateDict: weights, config: clipConfig } = readWeights(file));
    } else if (network.init) {
      throw new Error(
        `config network.arch ${arch.name} with network.init True needs OpenAI's ${arch.name} weights: nothing is downloaded here; ` +
          `put them at ${file} (or set BIKE_CLIP_CACHE), or give network.arch the path of a weights file`,
      );
    } else {
      clipConfig = clipArchitecture(arch.name);
      log(`CLIP: ${arch.name} randomly initialised (network.init is False and ${file} does not exist)`);
    }
  }

  const clip = new CLIP(clipConfig, clipOptions);
  if (weights) {
    try {
      if (network.init) {
        loadClipStateDict(clip, weights, weightsPath!);
        log(`CLIP: loaded all pretrained weights from ${weightsPath}`);
      } else {
        // The original's pretrain=False: only the image encoder's weights, loaded non-strictly.
        const visual = new Map([...weights].filter(([name]) => name.includes('visual')));
        clip.loadStateDict(visual, { strict: false });
        log(
          `CLIP: loaded the image encoder's ${visual.size} pretrained tensors from ${weightsPath} (network.init is False: the rest is randomly initialised)`,
        );
      }
    } finally {
      for (const t of weights.values()) t.dispose();
    }
  }
  // train_attributes.py builds no video head; ours has one, parameter-free unless the config asks for more.
  const attributes = options.attributeBranch ?? false;
  const simHeader = attributes
    ? (network.sim_header ?? 'None')
    : requireSetting(network.sim_header, 'network.sim_header', 'building the network');
  const interaction = attributes
    ? (network.interaction ?? 'DP')
    : requireSetting(network.interaction, 'network.interaction', 'building the network');
  const model = new BikeModel(clip, {
    numSegments,
    simHeader,
    interaction,
    embedDim: clipConfig.embed_dim,
    contextLength: clipConfig.context_length,
    temporalLayers: ORIGINAL_TEMPORAL_LAYERS,
    temporalHeads: temporalHeads(clipConfig, simHeader),
    attributeBranch: attributes,
  });
  return { model, clipConfig, weightsPath };
}

/**
 * The network for trained weights (test, zero-shot, attribute generation): CLIP's architecture is
 * inferred from the weights themselves (`build_model`), so no pretrained CLIP file is needed; the
 * heads follow the config. The weights are loaded strictly (every name and shape must match).
 */
export function buildNetworkForWeights(
  config: BikeConfig,
  clipStateDict: Map<string, Tensor>,
  source: string,
  options: BuildOptions = {},
): BuiltNetwork {
  const network = config.network;
  const numSegments = requireSetting(config.data.num_segments, 'data.num_segments', 'building the network');
  const clipConfig = inferClipConfig(clipStateDict, source);
  const clip = new CLIP(clipConfig, {
    dropout: network.drop_out ?? 0,
    embDropout: network.emb_dropout ?? 0,
    joint: network.joint_st,
    T: numSegments,
  });
  loadClipStateDict(clip, clipStateDict, source);
  const attributes = options.attributeBranch ?? false;
  const simHeader = attributes
    ? (network.sim_header ?? 'None')
    : requireSetting(network.sim_header, 'network.sim_header', 'building the network');
  const model = new BikeModel(clip, {
    numSegments,
    simHeader,
    interaction: attributes
      ? (network.interaction ?? 'DP')
      : requireSetting(network.interaction, 'network.interaction', 'building the network'),
    embedDim: clipConfig.embed_dim,
    contextLength: clipConfig.context_length,
    temporalLayers: ORIGINAL_TEMPORAL_LAYERS,
    temporalHeads: temporalHeads(clipConfig, simHeader),
    attributeBranch: attributes,
  });
  return { model, clipConfig, weightsPath: source };
}
