/**
 * `network.arch`: which CLIP to build. The original (`clip.load`) accepts a released model name or a
 * path to a weights file; a mapping of CLIP hyper-parameters (the constructor arguments of the original
 * `CLIP` class) is accepted too, for building a randomly initialised model of any size.
 */
import { closestMatch } from './edit-distance.ts';
import { CLIP_ARCHITECTURES, CLIP_CONFIG_KEYS, type ClipArchitectureName, type ClipConfig } from '../../clip/config.ts';

// The CLIP layer owns the released architectures and the hyper-parameter keys; configs name them.
export const CLIP_MODEL_NAMES = Object.keys(CLIP_ARCHITECTURES) as ClipArchitectureName[];
export type ClipModelName = ClipArchitectureName;
/** The `CLIP(...)` constructor arguments; `vision_layers` is a list of four stage depths for ResNets. */
export type ClipHyperParameters = Omit<ClipConfig, 'vision_heads'>;

export type ArchSpec =
  | { kind: 'name'; name: ClipModelName }
  | { kind: 'file'; path: string }
  | { kind: 'hyperparameters'; hyperparameters: ClipHyperParameters };

export const CLIP_HYPERPARAMETER_KEYS = CLIP_CONFIG_KEYS;

/** The arch as the original writes it in paths and logs (name, file path, or a short description). */
export function describeArch(arch: ArchSpec): string {
  if (arch.kind === 'name') return arch.name;
  if (arch.kind === 'file') return arch.path;
  const h = arch.hyperparameters;
  const vision = Array.isArray(h.vision_layers)
    ? `RN[${h.vision_layers.join(',')}]x${h.vision_width}`
    : `ViT-${h.vision_layers}x${h.vision_width}/${h.vision_patch_size}`;
  return `CLIP(${vision}@${h.image_resolution}, text ${h.transformer_layers}x${h.transformer_width}, embed ${h.embed_dim})`;
}

export interface ArchCheck {
  arch?: ArchSpec;
  /** Problems, each with the dotted key at fault (under `network.arch`). */
  problems: { key: string; message: string }[];
}

function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return `a list ${JSON.stringify(v)}`;
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

function checkHyperParameters(value: Record<string, unknown>, key: string): ArchCheck {
  const problems: ArchCheck['problems'] = [];
  const known = CLIP_HYPERPARAMETER_KEYS as readonly string[];
  for (const k of Object.keys(value)) {
    if (!known.includes(k)) {
      const guess = closestMatch(k, known);
      problems.push({
        key: `${key}.${k}`,
        message: `unknown CLIP hyper-parameter${guess ? `; did you mean ${key}.${guess}?` : `; expected ${known.join(', ')}`}`,
      });
    }
  }
  const missing = CLIP_HYPERPARAMETER_KEYS.filter((k) => !Object.hasOwn(value, k));
  if (missing.length > 0) {
    problems.push({
      key,
      message: `CLIP hyper-parameters ${missing.join(', ')} missing; a mapping needs all of ${known.join(', ')}`,
    });
  }
  const layers = value.vision_layers;
  const resnet = Array.isArray(layers);
  for (const k of CLIP_HYPERPARAMETER_KEYS) {
    if (!Object.hasOwn(value, k)) continue;
    const v = value[k];
    if (k === 'vision_layers') {
      const ok = isPositiveInt(v) || (Array.isArray(v) && v.length === 4 && v.every(isPositiveInt));
      if (!ok)
        problems.push({
          key: `${key}.${k}`,
          message: `expected a positive integer (ViT) or a list of 4 positive integers (ResNet), got ${describeValue(v)}`,
        });
    } else if (k === 'vision_patch_size') {
      if (resnet ? v !== null : !isPositiveInt(v)) {
        problems.push({
          key: `${key}.${k}`,
          message: resnet
            ? `must be empty (null) for a ResNet (vision_layers is a list), got ${describeValue(v)}`
            : `expected a positive integer, got ${describeValue(v)}`,
        });
      }
    } else if (!isPositiveInt(v)) {
      problems.push({ key: `${key}.${k}`, message: `expected a positive integer, got ${describeValue(v)}` });
    }
  }
  if (problems.length === 0) {
    const h = value as unknown as ClipHyperParameters;
    if (h.transformer_width % h.transformer_heads !== 0) {
      problems.push({
        key: `${key}.transformer_heads`,
        message: `transformer_width ${h.transformer_width} is not divisible by transformer_heads ${h.transformer_heads}`,
      });
    }
    if (!resnet && h.image_resolution % (h.vision_patch_size as number) !== 0) {
      problems.push({
        key: `${key}.vision_patch_size`,
        message: `image_resolution ${h.image_resolution} is not a multiple of vision_patch_size ${h.vision_patch_size}`,
      });
    }
  }
  if (problems.length > 0) return { problems };
  const h = { ...(value as unknown as ClipHyperParameters) };
  if (Array.isArray(h.vision_layers)) h.vision_layers = [...h.vision_layers] as [number, number, number, number];
  return { arch: { kind: 'hyperparameters', hyperparameters: h }, problems };
}

/**
 * Interprets a `network.arch` value. `fileExists` decides whether a string that is not a model name
 * names a weights file (the original resolves it against the working directory).
 */
export function checkArch(value: unknown, key: string, fileExists: (path: string) => boolean): ArchCheck {
  if (typeof value === 'string') {
    if ((CLIP_MODEL_NAMES as readonly string[]).includes(value))
      return { arch: { kind: 'name', name: value as ClipModelName }, problems: [] };
    if (fileExists(value)) return { arch: { kind: 'file', path: value }, problems: [] };
    const guess = closestMatch(value, CLIP_MODEL_NAMES);
    return {
      problems: [
        {
          key,
          message: `"${value}" is neither a CLIP model name${guess ? ` (did you mean "${guess}"?)` : ''} nor an existing weights file; model names: ${CLIP_MODEL_NAMES.join(', ')}`,
        },
      ],
    };
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    return checkHyperParameters(value as Record<string, unknown>, key);
  }
  return {
    problems: [
      {
        key,
        message: `expected a CLIP model name, a weights file path or a mapping of CLIP hyper-parameters, got ${describeValue(value)}`,
      },
    ],
  };
}
