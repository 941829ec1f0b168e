/**
 * Loading the original BIKE YAML configs (`resume`, `pretrain`, `seed`, `data`, `network`, `solver`,
 * `logging`) into a typed `BikeConfig`, with `--set key.path=value` overrides.
 *
 * Every problem is collected before anything is thrown, each with the file (or the `--set` argument),
 * the line and the full dotted key: unknown keys (with a "did you mean" by edit distance), wrong
 * types, values out of range, and, when a purpose is given, keys that purpose needs but the config
 * lacks. The schema and the defaults (what the original does when a key is absent) are in
 * config-schema.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { checkArch } from './config-arch.ts';
import { parseYaml } from './config-yaml.ts';
import { MAX_BATCH_VALUES } from './config-schema.ts';
import { closestMatch } from './edit-distance.ts';
import {
  SECTION_FIELDS,
  SECTION_NAMES,
  TOP_LEVEL_FIELDS,
  allKeyPaths,
  fieldSpecOf,
  type BikeConfig,
  type ConfigPurpose,
  type FieldSpec,
  type SectionName,
} from './config-schema.ts';

export type {
  BikeConfig,
  ConfigPurpose,
  DataConfig,
  NetworkConfig,
  SolverConfig,
  LoggingConfig,
} from './config-schema.ts';
export type { ArchSpec, ClipHyperParameters, ClipModelName } from './config-arch.ts';
export { CLIP_MODEL_NAMES, CLIP_HYPERPARAMETER_KEYS, describeArch } from './config-arch.ts';

export interface ConfigIssue {
  /** The config file, or the `--set` argument at fault. */
  source: string;
  line?: number;
  /** Full dotted key path; empty for problems with the document as a whole. */
  key: string;
  message: string;
}

export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line !== undefined ? `${issue.source}:${issue.line}` : issue.source;
  return issue.key ? `${where}: ${issue.key}: ${issue.message}` : `${where}: ${issue.message}`;
}

export class ConfigError extends Error {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(
      `invalid config (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${issues.map((i) => `  ${formatIssue(i)}`).join('\n')}`,
    );
    this.name = 'ConfigError';
    this.issues = issues;
  }

  /** The config file (or `--set` argument) of the first problem. */
  get file(): string {
    return this.issues[0]?.source ?? '';
  }

  /** The 1-based line of the first problem, when known. */
  get line(): number | undefined {
    return this.issues[0]?.line;
  }

  /** The dotted key of the first problem (empty for the document as a whole). */
  get key(): string {
    return this.issues[0]?.key ?? '';
  }
}

export interface ConfigOptions {
  /** `key.path=value` strings, applied in order after the file; the value is read as YAML. */
  overrides?: readonly string[];
  /** Also require the keys this command reads (see `requiredFor` in the schema). */
  purpose?: ConfigPurpose;
  /** Where relative weight paths in `network.arch` are looked up (the original: the working directory). */
  cwd?: string;
  /** Replaces the file-existence test for `network.arch` paths. */
  fileExists?: (path: string) => boolean;
}

type Raw = Record<string, unknown>;

function isMapping(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return `a list ${JSON.stringify(v)}`;
  if (v instanceof Date) return `a date ${v.toISOString()}`;
  if (isMapping(v)) return 'a mapping';
  if (typeof v === 'string') return `text "${v}"`;
  return `${typeof v} ${String(v)}`;
}

function suggestKey(key: string, section: SectionName | null): string {
  const sameLevel = section
    ? Object.keys(SECTION_FIELDS[section])
    : [...Object.keys(TOP_LEVEL_FIELDS), ...SECTION_NAMES];
  const local = closestMatch(key, sameLevel);
  if (local) return `; did you mean ${section ? `${section}.` : ''}${local}?`;
  // A known key put in the wrong section, or a top-level key that belongs to a section.
  const elsewhere = allKeyPaths().filter((p) => p.split('.').pop() === key);
  if (elsewhere.length > 0) return `; did you mean ${elsewhere.join(' or ')}?`;
  return `; known keys here: ${sameLevel.join(', ')}`;
}

interface Checked {
  value?: unknown;
  problem?: string;
}

function checkValue(
  spec: FieldSpec,
  value: unknown,
  key: string,
  fileExists: (p: string) => boolean,
): Checked | { archProblems: { key: string; message: string }[] } {
  const kind = spec.kind;
  switch (kind.type) {
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value))
        return { problem: `expected an integer, got ${describe(value)}` };
      if (kind.max !== undefined && (value > kind.max || value < (kind.min ?? -Infinity))) {
        return { problem: `expected an integer in ${kind.min ?? '-inf'}..${kind.max}, got ${value}` };
      }
      if (kind.min !== undefined && value < kind.min)
        return { problem: `expected an integer >= ${kind.min}, got ${value}` };
      return { value };
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value))
        return { problem: `expected a number, got ${describe(value)}` };
      if (kind.min !== undefined && value < kind.min)
        return { problem: `expected a number >= ${kind.min}, got ${value}` };
      if (kind.max !== undefined && (kind.maxExclusive ? value >= kind.max : value > kind.max)) {
        return { problem: `expected a number ${kind.maxExclusive ? '<' : '<='} ${kind.max}, got ${value}` };
      }
      return { value };
    case 'bool':
      return typeof value === 'boolean' ? { value } : { problem: `expected True or False, got ${describe(value)}` };
    case 'string':
      return typeof value === 'string' ? { value } : { problem: `expected text, got ${describe(value)}` };
    case 'enum': {
      if (typeof value === 'string' && kind.values.includes(value)) return { value };
      const guess = typeof value === 'string' ? closestMatch(value, kind.values) : undefined;
      return {
        problem: `expected one of ${kind.values.join(', ')}, got ${describe(value)}${guess ? `; did you mean ${guess}?` : ''}`,
      };
    }
    case 'bool-or-string':
      return typeof value === 'boolean' || typeof value === 'string'
        ? { value }
        : { problem: `expected False or a variant name, got ${describe(value)}` };
    case 'int-or-int-list': {
      const min = kind.min ?? -Infinity;
      const okInt = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= min;
      if (okInt(value)) return { value };
      if (Array.isArray(value) && value.length > 0 && value.every(okInt)) return { value: [...value] };
      return { problem: `expected an integer >= ${min} or a non-empty list of them, got ${describe(value)}` };
    }
    case 'arch': {
      const result = checkArch(value, key, fileExists);
      return result.arch ? { value: result.arch } : { archProblems: result.problems };
    }
  }
}

/** The config with every key at its default (what the original does when the key is absent). */
export function defaultConfig(): BikeConfig {
  const pick = (fields: Record<string, FieldSpec>) =>
    Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, f.default]));
  return {
    ...(pick(TOP_LEVEL_FIELDS) as Pick<BikeConfig, 'resume' | 'pretrain' | 'seed'>),
    data: pick(SECTION_FIELDS.data) as unknown as BikeConfig['data'],
    network: pick(SECTION_FIELDS.network) as unknown as BikeConfig['network'],
    solver: pick(SECTION_FIELDS.solver) as unknown as BikeConfig['solver'],
    logging: pick(SECTION_FIELDS.logging) as unknown as BikeConfig['logging'],
  };
}

/**
 * Splits `key.path=value` and reads the value as YAML (empty = null). For a text setting, a value
 * that is not valid YAML is taken as it is, so `data.image_tmpl={}-{:06d}.jpg` needs no quoting.
 */
export function parseOverride(spec: string): { key: string; value: unknown } {
  const eq = spec.indexOf('=');
  if (eq <= 0)
    throw new ConfigError([
      { source: `--set ${spec}`, key: '', message: 'expected key.path=value (for example solver.lr=1.e-5)' },
    ]);
  const key = spec.slice(0, eq).trim();
  const text = spec.slice(eq + 1);
  if (text.trim() === '') return { key, value: null };
  const parsed = parseYaml(text);
  if (parsed.problems.length > 0 && fieldSpecOf(key)?.kind.type === 'string') return { key, value: text };
  if (parsed.problems.length > 0) {
    throw new ConfigError([
      { source: `--set ${spec}`, key, message: `the value is not valid YAML: ${parsed.problems[0]!.message}` },
    ]);
  }
  return { key, value: parsed.value };
}

interface Origin {
  source: string;
  line?: number;
}

/** Parses config text; `source` names it in errors. Throws ConfigError listing every problem. */
export function parseConfig(text: string, source: string, options: ConfigOptions = {}): BikeConfig {
  const issues: ConfigIssue[] = [];
  const parsed = parseYaml(text);
  for (const p of parsed.problems) issues.push({ source, line: p.line, key: '', message: `YAML syntax: ${p.message}` });
  if (issues.length > 0) throw new ConfigError(issues);

  let raw: Raw = {};
  if (isMapping(parsed.value)) raw = parsed.value;
  else if (parsed.value !== null && parsed.value !== undefined) {
    throw new ConfigError([
      {
        source,
        key: '',
        message: `the document must be a mapping of sections (data, network, ...), got ${describe(parsed.value)}`,
      },
    ]);
  }
  const origins = new Map<string, Origin>();
  const originOf = (key: string): Origin => origins.get(key) ?? { source, line: parsed.lines.get(key) };

  for (const spec of options.overrides ?? []) {
    let override: { key: string; value: unknown };
    try {
      override = parseOverride(spec);
    } catch (error) {
      if (error instanceof ConfigError) issues.push(...error.issues);
      else throw error;
      continue;
    }
    const origin = { source: `--set ${spec}` };
    const parts = override.key.split('.');
    if ((SECTION_NAMES as string[]).includes(override.key)) {
      issues.push({
        ...origin,
        key: override.key,
        message: `is a section; set its keys one at a time, e.g. ${allKeyPaths().find((k) => k.startsWith(`${override.key}.`))}=...`,
      });
      continue;
    }
    if (!fieldSpecOf(override.key)) {
      const section =
        parts.length === 2 && (SECTION_NAMES as string[]).includes(parts[0]!) ? (parts[0] as SectionName) : null;
      const hint =
        section || parts.length === 1
          ? suggestKey(parts[parts.length - 1]!, section)
          : `; known keys: ${allKeyPaths().join(', ')}`;
      issues.push({ ...origin, key: override.key, message: `unknown key${hint}` });
      continue;
    }
    origins.set(override.key, origin);
    if (parts.length === 1) {
      raw[parts[0]!] = override.value;
    } else {
      const sectionValue = raw[parts[0]!];
      if (sectionValue !== null && sectionValue !== undefined && !isMapping(sectionValue)) continue; // the section itself is reported below
      const section = isMapping(sectionValue) ? sectionValue : {};
      section[parts[1]!] = override.value;
      raw[parts[0]!] = section;
    }
  }

  const cwd = options.cwd ?? process.cwd();
  const fileExists = options.fileExists ?? ((p: string) => existsSync(resolve(cwd, p)));
  const config = defaultConfig() as unknown as Record<string, unknown>;
  const store = (target: Record<string, unknown>, key: string, path: string, spec: FieldSpec, value: unknown) => {
    if (value === null || value === undefined) return; // empty reads as absent, as in the original's DotMap
    const checked = checkValue(spec, value, path, fileExists);
    if ('archProblems' in checked) {
      for (const p of checked.archProblems) {
        const origin = origins.get(path) ?? { source, line: parsed.lines.get(p.key) ?? parsed.lines.get(path) };
        issues.push({ ...origin, key: p.key, message: p.message });
      }
    } else if (checked.problem !== undefined) {
      issues.push({ ...originOf(path), key: path, message: checked.problem });
    } else {
      target[key] = checked.value;
    }
  };

  for (const [key, value] of Object.entries(raw)) {
    if (Object.hasOwn(TOP_LEVEL_FIELDS, key)) {
      store(config, key, key, (TOP_LEVEL_FIELDS as Record<string, FieldSpec>)[key]!, value);
    } else if ((SECTION_NAMES as string[]).includes(key)) {
      if (value === null || value === undefined) continue;
      if (!isMapping(value)) {
        issues.push({
          ...originOf(key),
          key,
          message: `expected a mapping of ${key} settings, got ${describe(value)}`,
        });
        continue;
      }
      const fields = SECTION_FIELDS[key as SectionName];
      const target = config[key] as Record<string, unknown>;
      for (const [subKey, subValue] of Object.entries(value)) {
        const path = `${key}.${subKey}`;
        if (Object.hasOwn(fields, subKey)) store(target, subKey, path, fields[subKey]!, subValue);
        else
          issues.push({
            ...originOf(path),
            key: path,
            message: `unknown key${suggestKey(subKey, key as SectionName)}`,
          });
      }
    } else {
      issues.push({ ...originOf(key), key, message: `unknown key${suggestKey(key, null)}` });
    }
  }

  const typed = config as unknown as BikeConfig;
  if (issues.length === 0) issues.push(...crossFieldIssues(typed, originOf));
  if (issues.length === 0 && options.purpose) issues.push(...missingRequired(typed, options.purpose, source));
  if (issues.length > 0) throw new ConfigError(issues);
  return typed;
}

/** Settings that are valid one by one but not together, each reported at the key to change. */
function crossFieldIssues(config: BikeConfig, originOf: (key: string) => Origin): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const { epochs, lr_warmup_step: warmup, type } = config.solver;
  if (type !== 'multistep' && epochs !== null && warmup !== null && warmup >= epochs) {
    issues.push({
      ...originOf('solver.lr_warmup_step'),
      key: 'solver.lr_warmup_step',
      message: `expected 0 <= lr_warmup_step < solver.epochs (${epochs}), got ${warmup}: the cosine schedule starts after the warm-up, which must end before training does`,
    });
  }
  const { batch_size: batch, num_segments: segments, input_size: size } = config.data;
  if (batch !== null && segments !== null && size !== null && batch * segments * 3 * size * size > MAX_BATCH_VALUES) {
    issues.push({
      ...originOf('data.batch_size'),
      key: 'data.batch_size',
      message:
        `a batch of ${batch} videos x ${segments} frames (data.num_segments) x 3 x ${size}^2 pixels (data.input_size) is ` +
        `${(batch * segments * 3 * size * size).toExponential(2)} values, above the ${MAX_BATCH_VALUES} one array holds; lower data.batch_size, data.num_segments or data.input_size`,
    });
  }
  return issues;
}

/** Keys that `purpose` reads but `config` lacks (each names the purpose, or the setting that needs it). */
export function missingRequired(config: BikeConfig, purpose: ConfigPurpose, source: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const check = (path: string, spec: FieldSpec, value: unknown) => {
    if (value !== null && value !== undefined) return;
    if (spec.requiredFor?.includes(purpose)) {
      issues.push({ source, key: path, message: `required for ${purpose} but absent or empty (${spec.doc})` });
    } else if (spec.requiredWhen?.purposes.includes(purpose) && spec.requiredWhen.test(config)) {
      issues.push({
        source,
        key: path,
        message: `required because ${spec.requiredWhen.because}, but absent or empty (${spec.doc})`,
      });
    }
  };
  for (const [key, spec] of Object.entries(TOP_LEVEL_FIELDS)) check(key, spec, (config as unknown as Raw)[key]);
  for (const section of SECTION_NAMES) {
    const values = config[section] as unknown as Raw;
    for (const [key, spec] of Object.entries(SECTION_FIELDS[section])) check(`${section}.${key}`, spec, values[key]);
  }
  return issues;
}

/** Reads and checks a config file. Throws ConfigError listing every problem. */
export function loadConfig(path: string, options: ConfigOptions = {}): BikeConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError([
      { source: path, key: '', message: `cannot read the config file: ${(error as Error).message}` },
    ]);
  }
  return parseConfig(text, path, options);
}

/** A setting a command cannot do without: its value, or an error naming the key. */
export function requireSetting<T>(value: T | null | undefined, key: string, purpose: string): T {
  if (value === null || value === undefined) {
    const spec = fieldSpecOf(key);
    throw new ConfigError([
      { source: 'config', key, message: `required for ${purpose} but not set${spec ? ` (${spec.doc})` : ''}` },
    ]);
  }
  return value;
}
