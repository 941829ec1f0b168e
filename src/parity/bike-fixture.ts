/**
 * The reference fixture directory of the BIKE parity checks (`meta.json`, `io.safetensors`,
 * `weights.safetensors`, `checkpoint_official.pt`): reading and validating it, and building the
 * models it describes. Every shape and hyper-parameter comes from the files.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor, type nn } from '../torch/index.ts';
import { loadSafetensors } from '../torch/serialization/serialization.ts';
import { CLIP } from '../clip/model.ts';
import { parseClipConfig, type ClipConfig } from '../clip/config.ts';
import { BikeModel, type BikeModelOptions } from '../bike/bike-model.ts';
import { SIM_HEADERS, type SimHeader } from '../bike/video-head.ts';
import { INTERACTIONS, type Interaction } from '../bike/interactions.ts';
import { LOSS_TYPES, type LossType } from '../bike/losses.ts';

export interface FixtureSolver {
  optim: string;
  lr: number;
  clip_ratio: number;
  weight_decay: number;
  betas: [number, number];
  eps: number;
  type: string;
  epochs: number;
  lr_warmup_step: number;
  fix_text: boolean;
  fix_video: boolean;
  loss_type: LossType;
}

export interface FixtureMeta {
  clip_config: ClipConfig;
  num_segments: number;
  batch: number;
  classes: string[];
  prompts: string[];
  train_labels: number[];
  attribute_lists: string[][];
  multiview: { videos: number; test_crops: number; test_clips: number };
  solver: FixtureSolver;
  adamw_steps: string;
  video_head: { sim_header: SimHeader; interaction: Interaction; temporal_layers: number; heads: number };
}

export class FixtureError extends Error {}

function at(json: unknown, path: string): unknown {
  let node = json;
  for (const part of path.split('.')) node = (node as Record<string, unknown> | null | undefined)?.[part];
  return node;
}

/** Reads and validates `meta.json`: each problem names its key. */
export function readFixtureMeta(file: string): FixtureMeta {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new FixtureError(`${file}: not valid JSON (${(error as Error).message})`);
  }
  const fail = (path: string, expected: string): never => {
    throw new FixtureError(
      `${file}: "${path}" must be ${expected}, got ${JSON.stringify(at(json, path))?.slice(0, 80)}`,
    );
  };
  const int = (path: string, min = 1) => {
    const v = at(json, path);
    return typeof v === 'number' && Number.isInteger(v) && v >= min ? v : fail(path, `an integer >= ${min}`);
  };
  const num = (path: string) => {
    const v = at(json, path);
    return typeof v === 'number' && Number.isFinite(v) ? v : fail(path, 'a number');
  };
  const strings = (path: string) => {
    const v = at(json, path);
    return Array.isArray(v) && v.every((s) => typeof s === 'string')
      ? (v as string[])
      : fail(path, 'a list of strings');
  };
  const oneOf = <T extends string>(path: string, options: readonly T[]): T => {
    const v = at(json, path);
    return options.includes(v as T) ? (v as T) : fail(path, `one of ${options.join(', ')}`);
  };
  const labels = at(json, 'train_labels');
  if (!Array.isArray(labels) || !labels.every((v) => Number.isInteger(v) && v >= 0))
    fail('train_labels', 'a list of class indices');
  const attributeLists = at(json, 'attribute_lists');
  if (
    !Array.isArray(attributeLists) ||
    !attributeLists.every((l) => Array.isArray(l) && l.every((s) => typeof s === 'string'))
  ) {
    fail('attribute_lists', 'a list of lists of strings');
  }
  const betas = at(json, 'solver.betas');
  if (!Array.isArray(betas) || betas.length !== 2 || !betas.every((b) => typeof b === 'number'))
    fail('solver.betas', 'two numbers');
  const bool = (path: string, absent: boolean) => {
    const v = at(json, path);
    return v === undefined ? absent : typeof v === 'boolean' ? v : fail(path, 'true or false');
  };
  let clipConfig: ClipConfig;
  try {
    clipConfig = parseClipConfig(at(json, 'clip_config'), `${file} clip_config`);
  } catch (error) {
    throw new FixtureError((error as Error).message);
  }
  const steps = at(json, 'adamw_steps');
  return {
    clip_config: clipConfig,
    num_segments: int('num_segments'),
    batch: int('batch'),
    classes: strings('classes'),
    prompts: strings('prompts'),
    train_labels: labels as number[],
    attribute_lists: attributeLists as string[][],
    multiview: {
      videos: int('multiview.videos'),
      test_crops: int('multiview.test_crops'),
      test_clips: int('multiview.test_clips'),
    },
    solver: {
      optim: oneOf('solver.optim', ['adamw', 'adam', 'sgd']),
      lr: num('solver.lr'),
      clip_ratio: num('solver.clip_ratio'),
      weight_decay: num('solver.weight_decay'),
      betas: betas as [number, number],
      eps: num('solver.eps'),
      type: oneOf('solver.type', ['cosine', 'multistep']),
      epochs: int('solver.epochs'),
      lr_warmup_step: int('solver.lr_warmup_step', 0),
      fix_text: bool('solver.fix_text', false),
      fix_video: bool('solver.fix_video', false),
      loss_type: oneOf('solver.loss_type', LOSS_TYPES),
    },
    adamw_steps: typeof steps === 'string' ? steps : fail('adamw_steps', 'a description string'),
    video_head: {
      sim_header: oneOf('video_head.sim_header', SIM_HEADERS),
      interaction: oneOf('video_head.interaction', INTERACTIONS),
      temporal_layers: int('video_head.temporal_layers'),
      heads: int('video_head.heads'),
    },
  };
}

export const FIXTURE_FILES = ['meta.json', 'io.safetensors', 'weights.safetensors'] as const;

export interface BikeFixture {
  dir: string;
  meta: FixtureMeta;
  io: Map<string, Tensor>;
  weights: Map<string, Tensor>;
  /** An `input.*` / `expect.*` tensor; a missing one is an error naming the file. */
  get(name: string): Tensor;
  has(name: string): boolean;
  /** Every `expect.<prefix>*` name. */
  expectedNames(prefix: string): string[];
}

/** The fixture files absent from `dir` (empty when all are there). */
export function missingFixtureFiles(dir: string, files: readonly string[] = FIXTURE_FILES): string[] {
  return files.filter((f) => !existsSync(join(dir, f))).map((f) => join(dir, f));
}

export function loadBikeFixture(dir: string): BikeFixture {
  const meta = readFixtureMeta(join(dir, 'meta.json'));
  const ioPath = join(dir, 'io.safetensors');
  const io = loadSafetensors(ioPath);
  const weights = loadSafetensors(join(dir, 'weights.safetensors'));
  for (const t of [...io.values(), ...weights.values()]) t.keep();
  return {
    dir,
    meta,
    io,
    weights,
    get(name) {
      const t = io.get(name);
      if (!t) throw new FixtureError(`${ioPath}: tensor "${name}" is missing`);
      return t;
    },
    has: (name) => io.has(name),
    expectedNames: (prefix) => [...io.keys()].filter((k) => k.startsWith(`expect.${prefix}`)),
  };
}

export function disposeFixture(fixture: BikeFixture): void {
  for (const t of [...fixture.io.values(), ...fixture.weights.values()]) t.dispose();
}

/** The model options the fixture's meta describes. */
export function bikeOptionsFromMeta(meta: FixtureMeta, attributeBranch: boolean): BikeModelOptions {
  return {
    numSegments: meta.num_segments,
    simHeader: meta.video_head.sim_header,
    interaction: meta.video_head.interaction,
    embedDim: meta.clip_config.embed_dim,
    contextLength: meta.clip_config.context_length,
    temporalLayers: meta.video_head.temporal_layers,
    temporalHeads: meta.video_head.heads,
    attributeBranch,
  };
}

/** A BIKE model on the fixture's tiny CLIP, with the given options overridden (weights random). */
export function buildFixtureModel(meta: FixtureMeta, overrides: Partial<BikeModelOptions> = {}): BikeModel {
  const clip = new CLIP(meta.clip_config, { T: meta.num_segments });
  return new BikeModel(clip, { ...bikeOptionsFromMeta(meta, false), ...overrides });
}

/** The model of `weights.safetensors` (CLIP, video head and sentence head), loaded strictly. */
export function loadFixtureModel(fixture: BikeFixture): BikeModel {
  const model = buildFixtureModel(fixture.meta, { attributeBranch: true });
  model.loadStateDict(fixture.weights);
  return model;
}

/** `weights.safetensors` tensors under `prefix`, with the prefix removed. */
export function weightsUnder(fixture: BikeFixture, prefix: string): Map<string, Tensor> {
  return new Map(
    [...fixture.weights].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]),
  );
}

/** Frees a model's parameters and buffers now rather than at garbage collection. */
export function disposeModule(module: nn.Module): void {
  for (const t of module.parameters()) t.dispose();
  for (const [, t] of module.namedBuffers()) t.dispose();
}
