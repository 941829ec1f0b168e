/**
 * `loadConfig` for library callers: the engine's reader (every problem reported by file, line and
 * key), with a return type in which the keys the purpose requires are no longer optional.
 */
import { loadConfig as readConfig, type BikeConfig, type ConfigPurpose } from '../engine/config/config.ts';

export type {
  BikeConfig,
  ConfigPurpose,
  DataConfig,
  NetworkConfig,
  SolverConfig,
  LoggingConfig,
} from '../engine/config/config.ts';

/** The keys each purpose requires (the schema's `requiredFor`, src/engine/config-schema.ts; a test keeps them equal). */
export const REQUIRED_KEYS = {
  train: {
    top: ['seed'],
    data: [
      'dataset',
      'modality',
      'num_segments',
      'batch_size',
      'workers',
      'train_root',
      'train_list',
      'val_root',
      'val_list',
      'label_list',
      'input_size',
      'output_path',
    ],
    network: ['arch', 'drop_out', 'emb_dropout', 'sim_header', 'interaction'],
    solver: [
      'type',
      'epochs',
      'start_epoch',
      'optim',
      'lr',
      'lr_warmup_step',
      'loss_type',
      'clip_ratio',
      'grad_accumulation_steps',
    ],
    logging: ['print_freq', 'eval_freq'],
  },
  test: {
    top: [],
    data: [
      'dataset',
      'modality',
      'num_segments',
      'batch_size',
      'workers',
      'val_root',
      'val_list',
      'label_list',
      'input_size',
    ],
    network: ['arch', 'drop_out', 'emb_dropout', 'sim_header', 'interaction'],
    solver: [],
    logging: ['print_freq'],
  },
  'train-attributes': {
    top: ['seed'],
    data: [
      'dataset',
      'modality',
      'num_segments',
      'batch_size',
      'workers',
      'train_root',
      'train_list',
      'val_root',
      'val_list',
      'label_list',
      'input_size',
      'output_path',
      'select_topk_attributes',
      'attributes_train_path',
      'attributes_val_path',
    ],
    network: ['arch', 'drop_out', 'emb_dropout'],
    solver: [
      'type',
      'epochs',
      'start_epoch',
      'optim',
      'lr',
      'lr_warmup_step',
      'loss_type',
      'clip_ratio',
      'grad_accumulation_steps',
    ],
    logging: ['print_freq', 'eval_freq'],
  },
} as const satisfies Record<
  ConfigPurpose,
  {
    top: readonly (keyof BikeConfig)[];
    data: readonly string[];
    network: readonly string[];
    solver: readonly string[];
    logging: readonly string[];
  }
>;

type Keys = typeof REQUIRED_KEYS;
/** `T` with the keys `K` present and not null. */
type WithRequired<T, K extends PropertyKey> = Omit<T, K & keyof T> & { [Q in K & keyof T]-?: NonNullable<T[Q]> };

/** A config checked for `P`: the keys `P` requires are typed as present. */
export type ConfigFor<P extends ConfigPurpose> = WithRequired<
  Omit<BikeConfig, 'data' | 'network' | 'solver' | 'logging'>,
  Keys[P]['top'][number]
> & {
  data: WithRequired<BikeConfig['data'], Keys[P]['data'][number]>;
  network: WithRequired<BikeConfig['network'], Keys[P]['network'][number]>;
  solver: WithRequired<BikeConfig['solver'], Keys[P]['solver'][number]>;
  logging: WithRequired<BikeConfig['logging'], Keys[P]['logging'][number]>;
};

export interface LoadConfigOptions<P extends ConfigPurpose> {
  /** What the config is for: its required keys are checked, and typed as present. */
  purpose: P;
  /** `key.path=value` overrides applied after the file (the value is read as YAML), like `--set`. */
  overrides?: readonly string[];
  /** Where relative weight paths in `network.arch` are looked up (default: the working directory). */
  cwd?: string;
}

/**
 * Reads an original BIKE YAML config and checks it for `purpose`; throws ConfigError (with `file`,
 * `line`, `key` and every `issues` entry) on unknown keys, wrong types or missing required keys.
 *
 * @example
 * ```ts
 * const config = loadConfig('configs/k400/k400_train_rgb_vitb-16-f8.yaml', { purpose: 'train', overrides: ['solver.lr=1.e-5'] });
 * config.solver.lr.toFixed(6); // a number: required for training
 * ```
 */
export function loadConfig<P extends ConfigPurpose>(file: string, options: LoadConfigOptions<P>): ConfigFor<P> {
  return readConfig(file, {
    purpose: options.purpose,
    overrides: options.overrides,
    cwd: options.cwd,
  }) as unknown as ConfigFor<P>;
}
