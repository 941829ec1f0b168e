/**
 * `loadConfig` for library callers: the engine's reader (every problem reported by file, line and
 * key), with a return type in which the keys the purpose requires are no longer optional.
 */
import { loadConfig as readConfig, type BikeConfig, type ConfigPurpose } from '../engine/config/config.ts';
import {
  DATA_FIELDS,
  LOGGING_FIELDS,
  NETWORK_FIELDS,
  SOLVER_FIELDS,
  TOP_LEVEL_FIELDS,
  requiredKeysOf,
  type RequiredKeysOf,
} from '../engine/config/config-schema.ts';

export type {
  BikeConfig,
  ConfigPurpose,
  DataConfig,
  NetworkConfig,
  SolverConfig,
  LoggingConfig,
} from '../engine/config/config.ts';

type Sections = {
  top: typeof TOP_LEVEL_FIELDS;
  data: typeof DATA_FIELDS;
  network: typeof NETWORK_FIELDS;
  solver: typeof SOLVER_FIELDS;
  logging: typeof LOGGING_FIELDS;
};
/** The keys purpose `P` requires, by section: the schema's `requiredFor`, read by the type checker. */
type RequiredFor<P extends ConfigPurpose> = {
  readonly [S in keyof Sections]: readonly RequiredKeysOf<Sections[S], P>[];
};

function requiredFor<P extends ConfigPurpose>(purpose: P): RequiredFor<P> {
  return {
    top: requiredKeysOf(TOP_LEVEL_FIELDS, purpose),
    data: requiredKeysOf(DATA_FIELDS, purpose),
    network: requiredKeysOf(NETWORK_FIELDS, purpose),
    solver: requiredKeysOf(SOLVER_FIELDS, purpose),
    logging: requiredKeysOf(LOGGING_FIELDS, purpose),
  };
}

/** The keys each purpose requires, by section (the schema's `requiredFor`, src/engine/config/config-schema.ts). */
export const REQUIRED_KEYS: { readonly [P in ConfigPurpose]: RequiredFor<P> } = {
  train: requiredFor('train'),
  test: requiredFor('test'),
  'train-attributes': requiredFor('train-attributes'),
};

/** `T` with the keys `K` present and not null. */
type WithRequired<T, K extends PropertyKey> = Omit<T, K & keyof T> & { [Q in K & keyof T]-?: NonNullable<T[Q]> };

/** A config checked for `P`: the keys `P` requires are typed as present. */
export type ConfigFor<P extends ConfigPurpose> = WithRequired<
  Omit<BikeConfig, 'data' | 'network' | 'solver' | 'logging'>,
  RequiredKeysOf<Sections['top'], P>
> & {
  data: WithRequired<BikeConfig['data'], RequiredKeysOf<Sections['data'], P>>;
  network: WithRequired<BikeConfig['network'], RequiredKeysOf<Sections['network'], P>>;
  solver: WithRequired<BikeConfig['solver'], RequiredKeysOf<Sections['solver'], P>>;
  logging: WithRequired<BikeConfig['logging'], RequiredKeysOf<Sections['logging'], P>>;
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
