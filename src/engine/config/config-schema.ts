/**
 * Every key of the original BIKE YAML configs, its type, and what the original does when it is absent.
 *
 * The original reads configs with `yaml.load` into a `DotMap`: an absent key reads as an empty, falsy
 * DotMap. So a flag the code only tests for truth (`if config.network.fix_text`) defaults to false, an
 * optional path to "none", while a value it computes with (`num_segments`, `lr`) has no default: the
 * script fails without it. Those are listed with `requiredFor`: the commands that read them (`train` =
 * train.py, `test` = test.py / test_zeroshot.py / test_charades.py, `train-attributes` =
 * train_attributes.py), checked when a config is loaded for that purpose.
 * Keys that appear in the shipped configs but that no original script reads are accepted and marked
 * `unusedByOriginal`.
 */
import type { ArchSpec } from './config-arch.ts';
import { MAX_LOADER_WORKERS } from '../../data/loader-limits.ts';

export type ConfigPurpose = 'train' | 'test' | 'train-attributes';

export interface DataConfig {
  dataset: string | null;
  modality: 'RGB' | 'video' | null;
  num_segments: number | null;
  seg_length: number;
  batch_size: number | null;
  workers: number | null;
  num_classes: number | null;
  image_tmpl: string | null;
  train_root: string | null;
  train_list: string | null;
  val_root: string | null;
  val_list: string | null;
  label_list: string | null;
  input_size: number | null;
  random_shift: boolean;
  output_path: string | null;
  shot: number | null;
  fps: number;
  index_bias: number;
  dense: boolean;
  select_topk_attributes: number | null;
  attributes_train_path: string | null;
  attributes_val_path: string | null;
}

export interface NetworkConfig {
  arch: ArchSpec | null;
  init: boolean;
  tm: boolean | string;
  drop_out: number | null;
  emb_dropout: number | null;
  sim_header: 'None' | 'Transf' | null;
  interaction: 'DP' | 'VCS' | null;
  joint_st: boolean;
  drop: number;
  fix_text: boolean;
  fix_video: boolean;
  type: string | null;
}

export interface SolverConfig {
  type: 'cosine' | 'multistep' | null;
  epochs: number | null;
  start_epoch: number | null;
  epoch_offset: number;
  optim: 'adam' | 'sgd' | 'adamw' | null;
  lr: number | null;
  lr_warmup_step: number | null;
  lr_decay_step: number | number[] | null;
  momentum: number | null;
  weight_decay: number | null;
  loss_type: 'NCE' | 'DS' | null;
  evaluate: boolean;
  clip_ratio: number | null;
  grad_accumulation_steps: number | null;
}

export interface LoggingConfig {
  print_freq: number | null;
  eval_freq: number | null;
}

export interface BikeConfig {
  resume: string | null;
  pretrain: string | null;
  seed: number | null;
  data: DataConfig;
  network: NetworkConfig;
  solver: SolverConfig;
  logging: LoggingConfig;
}

export type ValueKind =
  | { type: 'int'; min?: number; max?: number }
  | { type: 'number'; min?: number; max?: number; maxExclusive?: boolean }
  | { type: 'bool' }
  | { type: 'string' }
  | { type: 'enum'; values: readonly string[] }
  | { type: 'bool-or-string' }
  | { type: 'int-or-int-list'; min?: number }
  | { type: 'arch' };

export interface FieldSpec {
  kind: ValueKind;
  /** The value when the key is absent or empty; `null` when the original has none. */
  default: unknown;
  /** Commands that read the key and fail without it. */
  requiredFor?: readonly ConfigPurpose[];
  /** Required by these commands only when another setting asks for it. */
  requiredWhen?: { purposes: readonly ConfigPurpose[]; test: (config: BikeConfig) => boolean; because: string };
  /** Present in the shipped configs, read by no original script. */
  unusedByOriginal?: boolean;
  doc: string;
}

/**
 * Upper bounds of the sizes a config sets: far above any published setting (8-32 frames, 224 or 336
 * pixels, batches of tens, a worker per core), low enough that a typo is refused at load time
 * instead of failing later inside an allocation.
 */
export const MAX_NUM_SEGMENTS = 1024;
export const MAX_INPUT_SIZE = 4096;
export const MAX_BATCH_SIZE = 65_536;
export { MAX_LOADER_WORKERS };
/** Values in one batch of clips (batch_size x num_segments x 3 x input_size^2) that a Float32Array can hold. */
export const MAX_BATCH_VALUES = 2 ** 31 - 1;

// Literal tuples, so that the fields' types keep which purposes require them (`RequiredKeysOf`).
const ALL = ['train', 'test', 'train-attributes'] as const satisfies readonly ConfigPurpose[];
const TRAINING = ['train', 'train-attributes'] as const satisfies readonly ConfigPurpose[];
const int = (min?: number, max?: number): ValueKind => ({ type: 'int', min, max });
const num = (min?: number, max?: number, maxExclusive = false): ValueKind => ({
  type: 'number',
  min,
  max,
  maxExclusive,
});
const bool: ValueKind = { type: 'bool' };
const str: ValueKind = { type: 'string' };
const oneOf = (...values: string[]): ValueKind => ({ type: 'enum', values });

export const TOP_LEVEL_FIELDS = {
  resume: { kind: str, default: null, doc: 'checkpoint to resume training from (model, head, epoch)' },
  pretrain: { kind: str, default: null, doc: 'checkpoint whose model and head weights initialise training' },
  seed: { kind: int(0), default: null, requiredFor: TRAINING, doc: 'random seed; each rank adds its rank' },
} satisfies Record<'resume' | 'pretrain' | 'seed', FieldSpec>;

export const DATA_FIELDS = {
  dataset: {
    kind: str,
    default: null,
    requiredFor: ALL,
    doc: 'dataset name; names the output folder, "something" selects Something-Something scaling',
  },
  modality: {
    kind: oneOf('RGB', 'video'),
    default: null,
    requiredFor: ALL,
    doc: 'RGB: folders of frame images; video: video files decoded directly',
  },
  num_segments: {
    kind: int(1, MAX_NUM_SEGMENTS),
    default: null,
    requiredFor: ALL,
    doc: 'frames sampled per video (T)',
  },
  seg_length: {
    kind: int(1),
    default: 1,
    unusedByOriginal: true,
    doc: 'frames per segment (the original always uses 1)',
  },
  batch_size: {
    kind: int(1, MAX_BATCH_SIZE),
    default: null,
    requiredFor: ALL,
    doc: 'videos per batch on each process',
  },
  workers: {
    kind: int(0, MAX_LOADER_WORKERS),
    default: null,
    requiredFor: ALL,
    doc: 'data-loading workers per process',
  },
  num_classes: {
    kind: int(1),
    default: null,
    unusedByOriginal: true,
    doc: 'number of classes (the original counts the label list instead)',
  },
  image_tmpl: {
    kind: str,
    default: null,
    requiredWhen: {
      purposes: ALL,
      test: (c) => c.data.modality === 'RGB',
      because: 'data.modality is RGB (frames are read from image files)',
    },
    doc: 'frame file name template, Python format syntax, e.g. img_{:05d}.jpg',
  },
  train_root: { kind: str, default: null, requiredFor: TRAINING, doc: 'root folder of the training videos' },
  train_list: { kind: str, default: null, requiredFor: TRAINING, doc: 'training annotation list' },
  val_root: { kind: str, default: null, requiredFor: ALL, doc: 'root folder of the validation/test videos' },
  val_list: { kind: str, default: null, requiredFor: ALL, doc: 'validation/test annotation list' },
  label_list: { kind: str, default: null, requiredFor: ALL, doc: 'class names (id,name CSV)' },
  input_size: {
    kind: int(1, MAX_INPUT_SIZE),
    default: null,
    requiredFor: ALL,
    doc: 'crop size in pixels (224 or 336)',
  },
  random_shift: { kind: bool, default: false, doc: 'random segment offsets when training (absent: false)' },
  output_path: { kind: str, default: null, requiredFor: TRAINING, doc: 'folder for logs and checkpoints' },
  shot: { kind: int(1), default: null, doc: 'few-shot: videos kept per class for training (absent: all)' },
  fps: {
    kind: num(0),
    default: 24,
    unusedByOriginal: true,
    doc: 'Charades frame rate (the original dataset class always uses its default 24)',
  },
  index_bias: {
    kind: int(0),
    default: 1,
    unusedByOriginal: true,
    doc: 'number of the first frame file (the original dataset class always uses its default 1)',
  },
  dense: {
    kind: bool,
    default: false,
    doc: 'dense (I3D-style) frame sampling when training/validating (absent: false)',
  },
  select_topk_attributes: {
    kind: int(1),
    default: null,
    requiredFor: ['train-attributes'] as const,
    doc: 'attribute words per video for the attribute branch',
  },
  attributes_train_path: {
    kind: str,
    default: null,
    requiredFor: ['train-attributes'] as const,
    doc: 'attribute JSON of the training videos',
  },
  attributes_val_path: {
    kind: str,
    default: null,
    requiredFor: ['train-attributes'] as const,
    doc: 'attribute JSON of the validation videos',
  },
} satisfies Record<keyof DataConfig, FieldSpec>;

export const NETWORK_FIELDS = {
  arch: {
    kind: { type: 'arch' },
    default: null,
    requiredFor: ALL,
    doc: 'CLIP model: a name (ViT-B/32 ...), a weights file, or a mapping of CLIP hyper-parameters',
  },
  init: {
    kind: bool,
    default: false,
    doc: 'load all pretrained CLIP weights; false loads only the visual ones (absent: false)',
  },
  tm: {
    kind: { type: 'bool-or-string' },
    default: false,
    doc: 'temporal modelling inside the image encoder (False, or a variant name); the released model ignores it',
  },
  drop_out: { kind: num(0, 1, true), default: null, requiredFor: ALL, doc: 'stochastic-depth rate of the encoders' },
  emb_dropout: { kind: num(0, 1, true), default: null, requiredFor: ALL, doc: 'dropout on the token embeddings' },
  sim_header: {
    kind: oneOf('None', 'Transf'),
    default: null,
    requiredFor: ['train', 'test'] as const,
    doc: 'temporal head: None (mean) or Transf (temporal transformer)',
  },
  interaction: {
    kind: oneOf('DP', 'VCS'),
    default: null,
    requiredFor: ['train', 'test'] as const,
    doc: 'video-text interaction: DP (dot product) or VCS (video concept spotting)',
  },
  joint_st: { kind: bool, default: false, doc: 'joint space-time attention in the image encoder (absent: false)' },
  drop: { kind: num(0), default: 0, unusedByOriginal: true, doc: 'unused by the original' },
  fix_text: { kind: bool, default: false, doc: 'freeze the text encoder (absent: false)' },
  fix_video: { kind: bool, default: false, doc: 'freeze the image encoder (absent: false)' },
  type: {
    kind: str,
    default: null,
    unusedByOriginal: true,
    doc: 'model variant label (e.g. clip_anet); unused by the original',
  },
} satisfies Record<keyof NetworkConfig, FieldSpec>;

export const SOLVER_FIELDS = {
  type: {
    kind: oneOf('cosine', 'multistep'),
    default: null,
    requiredFor: TRAINING,
    doc: 'learning-rate schedule (with linear warm-up)',
  },
  epochs: { kind: int(1), default: null, requiredFor: TRAINING, doc: 'training epochs' },
  start_epoch: { kind: int(0), default: null, requiredFor: TRAINING, doc: 'first epoch (resume overrides it)' },
  epoch_offset: { kind: int(0), default: 0, unusedByOriginal: true, doc: 'unused by the original' },
  optim: { kind: oneOf('adam', 'sgd', 'adamw'), default: null, requiredFor: TRAINING, doc: 'optimizer' },
  lr: {
    kind: num(0),
    default: null,
    requiredFor: TRAINING,
    doc: 'learning rate of the heads; CLIP gets lr * clip_ratio',
  },
  lr_warmup_step: { kind: num(0), default: null, requiredFor: TRAINING, doc: 'warm-up length in epochs' },
  lr_decay_step: {
    kind: { type: 'int-or-int-list', min: 1 },
    default: null,
    requiredWhen: {
      purposes: TRAINING,
      test: (c) => c.solver.type === 'multistep',
      because: 'solver.type is multistep',
    },
    doc: 'multistep schedule: decay every N epochs, or at the listed epochs',
  },
  momentum: {
    kind: num(0),
    default: null,
    requiredWhen: { purposes: TRAINING, test: (c) => c.solver.optim === 'sgd', because: 'solver.optim is sgd' },
    doc: 'SGD momentum',
  },
  weight_decay: {
    kind: num(0),
    default: null,
    requiredWhen: {
      purposes: TRAINING,
      test: (c) => c.solver.optim === 'sgd' || c.solver.optim === 'adamw',
      because: 'solver.optim is sgd or adamw',
    },
    doc: 'weight decay (adam always uses 0.2)',
  },
  loss_type: {
    kind: oneOf('NCE', 'DS'),
    default: null,
    requiredFor: TRAINING,
    doc: 'NCE (KL to the label-match matrix) or DS (dual softmax)',
  },
  evaluate: { kind: bool, default: false, doc: 'only evaluate, do not train (absent: false)' },
  clip_ratio: { kind: num(0), default: null, requiredFor: TRAINING, doc: 'CLIP learning rate = lr * clip_ratio' },
  grad_accumulation_steps: {
    kind: int(1),
    default: null,
    requiredFor: TRAINING,
    doc: 'batches whose gradients add up before an optimizer step',
  },
} satisfies Record<keyof SolverConfig, FieldSpec>;

export const LOGGING_FIELDS = {
  print_freq: { kind: int(1), default: null, requiredFor: ALL, doc: 'log every N batches' },
  eval_freq: { kind: int(1), default: null, requiredFor: TRAINING, doc: 'validate (and save) every N epochs' },
} satisfies Record<keyof LoggingConfig, FieldSpec>;

export const SECTION_FIELDS: Record<'data' | 'network' | 'solver' | 'logging', Record<string, FieldSpec>> = {
  data: DATA_FIELDS,
  network: NETWORK_FIELDS,
  solver: SOLVER_FIELDS,
  logging: LOGGING_FIELDS,
};

/** The keys of `fields` (a `*_FIELDS` table) whose `requiredFor` names purpose `P`. */
export type RequiredKeysOf<F, P extends ConfigPurpose> = {
  [K in keyof F]: F[K] extends { requiredFor: readonly (infer R)[] } ? (P extends R ? K : never) : never;
}[keyof F];

/** The same keys at run time, in the table's order. */
export function requiredKeysOf<F extends Record<string, FieldSpec>, P extends ConfigPurpose>(
  fields: F,
  purpose: P,
): RequiredKeysOf<F, P>[] {
  return Object.keys(fields).filter((k) => fields[k]!.requiredFor?.includes(purpose)) as RequiredKeysOf<F, P>[];
}

export type SectionName = keyof typeof SECTION_FIELDS;
export const SECTION_NAMES = Object.keys(SECTION_FIELDS) as SectionName[];

/** Every valid dotted key path (`seed`, `data.num_segments`, ...). */
export function allKeyPaths(): string[] {
  const paths = Object.keys(TOP_LEVEL_FIELDS);
  for (const section of SECTION_NAMES)
    for (const key of Object.keys(SECTION_FIELDS[section])) paths.push(`${section}.${key}`);
  return paths;
}

/** The spec of a dotted key path, or undefined. */
export function fieldSpecOf(path: string): FieldSpec | undefined {
  const parts = path.split('.');
  if (parts.length === 1 && Object.hasOwn(TOP_LEVEL_FIELDS, parts[0]!))
    return (TOP_LEVEL_FIELDS as Record<string, FieldSpec>)[parts[0]!];
  if (
    parts.length === 2 &&
    (SECTION_NAMES as string[]).includes(parts[0]!) &&
    Object.hasOwn(SECTION_FIELDS[parts[0] as SectionName], parts[1]!)
  ) {
    return SECTION_FIELDS[parts[0] as SectionName][parts[1]!];
  }
  return undefined;
}
