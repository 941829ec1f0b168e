/**
 * CLIP hyper-parameters: the constructor arguments of the original `CLIP` class, OpenAI's released
 * architectures by name, and the inference of an architecture from a state dict (the original's
 * `build_model`), so weights decide the shapes and nothing is hard-coded.
 */

/** The `CLIP(...)` constructor arguments (the keys of the original's `clip_config` mapping). */
export interface ClipConfig {
  embed_dim: number;
  image_resolution: number;
  /** An integer for a ViT image encoder; four stage depths for the modified ResNet. */
  vision_layers: number | [number, number, number, number];
  /** ViT width, or the ResNet stem width (64 for RN50). */
  vision_width: number;
  /** null for ResNet image encoders. */
  vision_patch_size: number | null;
  context_length: number;
  vocab_size: number;
  transformer_width: number;
  transformer_heads: number;
  transformer_layers: number;
  /**
   * Attention heads of the image encoder. The original derives them (`vision_width // 64` for a ViT,
   * `vision_width * 32 // 64` for a ResNet); set only for weights whose heads differ (e.g. a Hugging
   * Face config that says so).
   */
  vision_heads?: number;
}

export const CLIP_CONFIG_KEYS = [
  'embed_dim',
  'image_resolution',
  'vision_layers',
  'vision_width',
  'vision_patch_size',
  'context_length',
  'vocab_size',
  'transformer_width',
  'transformer_heads',
  'transformer_layers',
] as const;

const TEXT = { context_length: 77, vocab_size: 49408, transformer_layers: 12 } as const;

/** OpenAI's released CLIP models with their hyper-parameters (as their weights imply). */
export const CLIP_ARCHITECTURES = {
  RN50: {
    embed_dim: 1024,
    image_resolution: 224,
    vision_layers: [3, 4, 6, 3],
    vision_width: 64,
    vision_patch_size: null,
    ...TEXT,
    transformer_width: 512,
    transformer_heads: 8,
  },
  RN101: {
    embed_dim: 512,
    image_resolution: 224,
    vision_layers: [3, 4, 23, 3],
    vision_width: 64,
    vision_patch_size: null,
    ...TEXT,
    transformer_width: 512,
    transformer_heads: 8,
  },
  RN50x4: {
    embed_dim: 640,
    image_resolution: 288,
    vision_layers: [4, 6, 10, 6],
    vision_width: 80,
    vision_patch_size: null,
    ...TEXT,
    transformer_width: 640,
    transformer_heads: 10,
  },
  RN50x16: {
    embed_dim: 768,
    image_resolution: 384,
    vision_layers: [6, 8, 18, 8],
    vision_width: 96,
    vision_patch_size: null,
    ...TEXT,
    transformer_width: 768,
    transformer_heads: 12,
  },
  RN50x64: {
    embed_dim: 1024,
    image_resolution: 448,
    vision_layers: [3, 15, 36, 10],
    vision_width: 128,
    vision_patch_size: null,
    ...TEXT,
    transformer_width: 1024,
    transformer_heads: 16,
  },
  'ViT-B/32': {
    embed_dim: 512,
    image_resolution: 224,
    vision_layers: 12,
    vision_width: 768,
    vision_patch_size: 32,
    ...TEXT,
    transformer_width: 512,
    transformer_heads: 8,
  },
  'ViT-B/16': {
    embed_dim: 512,
    image_resolution: 224,
    vision_layers: 12,
    vision_width: 768,
    vision_patch_size: 16,
    ...TEXT,
    transformer_width: 512,
    transformer_heads: 8,
  },
  'ViT-L/14': {
    embed_dim: 768,
    image_resolution: 224,
    vision_layers: 24,
    vision_width: 1024,
    vision_patch_size: 14,
    ...TEXT,
    transformer_width: 768,
    transformer_heads: 12,
  },
  'ViT-L/14-336px': {
    embed_dim: 768,
    image_resolution: 336,
    vision_layers: 24,
    vision_width: 1024,
    vision_patch_size: 14,
    ...TEXT,
    transformer_width: 768,
    transformer_heads: 12,
  },
} as const satisfies Record<string, ClipConfig>;

export type ClipArchitectureName = keyof typeof CLIP_ARCHITECTURES;

export function isClipArchitectureName(name: string): name is ClipArchitectureName {
  return Object.hasOwn(CLIP_ARCHITECTURES, name);
}

/** A fresh copy of a released architecture's hyper-parameters. */
export function clipArchitecture(name: string): ClipConfig {
  if (!isClipArchitectureName(name)) {
    throw new Error(
      `unknown CLIP architecture '${name}'; expected one of ${Object.keys(CLIP_ARCHITECTURES).join(', ')}`,
    );
  }
  const config = CLIP_ARCHITECTURES[name] as ClipConfig;
  return {
    ...config,
    vision_layers: Array.isArray(config.vision_layers)
      ? ([...config.vision_layers] as ClipConfig['vision_layers'])
      : config.vision_layers,
  };
}

export function isResNetConfig(
  config: ClipConfig,
): config is ClipConfig & { vision_layers: [number, number, number, number] } {
  return Array.isArray(config.vision_layers);
}

/** Heads of the image encoder, as the original `CLIP.__init__` derives them. */
export function visionHeads(config: ClipConfig): number {
  if (config.vision_heads !== undefined) return config.vision_heads;
  return isResNetConfig(config) ? Math.floor((config.vision_width * 32) / 64) : Math.floor(config.vision_width / 64);
}

const isPositiveInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0;

/**
 * Checks a hyper-parameter mapping (e.g. a `clip_config` mapping from a JSON file). `source` names
 * where it came from in errors; every problem is listed with its key.
 */
export function parseClipConfig(value: unknown, source = 'clip config'): ClipConfig {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error(`${source}: expected a mapping of CLIP hyper-parameters (${CLIP_CONFIG_KEYS.join(', ')})`);
  const v = value as Record<string, unknown>;
  const problems: string[] = [];
  const known = [...CLIP_CONFIG_KEYS, 'vision_heads'] as string[];
  for (const key of Object.keys(v)) if (!known.includes(key)) problems.push(`unknown key '${key}'`);
  for (const key of CLIP_CONFIG_KEYS) if (!Object.hasOwn(v, key)) problems.push(`'${key}' is missing`);
  const resnet = Array.isArray(v.vision_layers);
  for (const key of [...CLIP_CONFIG_KEYS, 'vision_heads'] as const) {
    if (!Object.hasOwn(v, key)) continue;
    const x = v[key];
    if (key === 'vision_layers') {
      if (!(isPositiveInt(x) || (Array.isArray(x) && x.length === 4 && x.every(isPositiveInt))))
        problems.push(
          `'vision_layers' must be a positive integer (ViT) or 4 positive integers (ResNet), got ${JSON.stringify(x)}`,
        );
    } else if (key === 'vision_patch_size') {
      if (resnet ? x !== null && x !== undefined : !isPositiveInt(x))
        problems.push(
          `'vision_patch_size' must be ${resnet ? 'null for a ResNet' : 'a positive integer for a ViT'}, got ${JSON.stringify(x)}`,
        );
    } else if (!isPositiveInt(x)) {
      problems.push(`'${key}' must be a positive integer, got ${JSON.stringify(x)}`);
    }
  }
  if (problems.length === 0) {
    const c = v as unknown as ClipConfig;
    if (c.transformer_width % c.transformer_heads !== 0)
      problems.push(
        `transformer_width ${c.transformer_width} is not divisible by transformer_heads ${c.transformer_heads}`,
      );
    const heads = visionHeads({ ...c, vision_patch_size: resnet ? null : c.vision_patch_size });
    const visionEmbed = resnet ? c.vision_width * 32 : c.vision_width;
    if (heads < 1 || visionEmbed % heads !== 0)
      problems.push(
        `image encoder width ${visionEmbed} cannot be split into ${heads} attention heads (vision_width ${c.vision_width}${c.vision_heads === undefined ? ', heads = width // 64 as the original' : ''})`,
      );
    if (!resnet && c.image_resolution % (c.vision_patch_size as number) !== 0)
      problems.push(
        `image_resolution ${c.image_resolution} is not a multiple of vision_patch_size ${c.vision_patch_size}`,
      );
    if (resnet && c.image_resolution % 32 !== 0)
      problems.push(`image_resolution ${c.image_resolution} must be a multiple of 32 for a ResNet`);
  }
  if (problems.length) throw new Error(`${source}: ${problems.join('; ')}`);
  const c = { ...(v as unknown as ClipConfig) };
  if (resnet) {
    c.vision_layers = [...(c.vision_layers as number[])] as ClipConfig['vision_layers'];
    c.vision_patch_size = null;
  }
  return c;
}

/** What architecture inference needs of a state dict: names and shapes. */
export type ShapeSource = ReadonlyMap<string, { shape: readonly number[] }>;

function shapeOf(stateDict: ShapeSource, key: string, rank: number, why: string, source: string): readonly number[] {
  const t = stateDict.get(key);
  if (!t) throw new Error(`${source}: cannot infer the CLIP architecture: '${key}' is missing (needed for ${why})`);
  if (t.shape.length !== rank)
    throw new Error(`${source}: '${key}' has shape [${t.shape}], expected ${rank} dimensions (for ${why})`);
  return t.shape;
}

function distinctIndices(keys: string[], prefix: string): number {
  const ids = new Set<string>();
  for (const k of keys) if (k.startsWith(prefix)) ids.add(k.slice(prefix.length).split('.')[0]!);
  return ids.size;
}

/**
 * The hyper-parameters an OpenAI-layout state dict implies, exactly as the original `build_model`:
 * ViT when `visual.proj` exists, layer counts from block names, resolution from the positional
 * embeddings, heads = width // 64.
 */
export function inferClipConfig(stateDict: ShapeSource, source = 'state dict'): ClipConfig {
  const keys = [...stateDict.keys()];
  const vit = stateDict.has('visual.proj');
  let vision: Pick<ClipConfig, 'vision_layers' | 'vision_width' | 'vision_patch_size' | 'image_resolution'>;
  if (vit) {
    const conv = shapeOf(stateDict, 'visual.conv1.weight', 4, 'the ViT width and patch size', source);
    const layers = keys.filter((k) => k.startsWith('visual.') && k.endsWith('.attn.in_proj_weight')).length;
    if (layers === 0)
      throw new Error(
        `${source}: cannot infer the CLIP architecture: no 'visual.transformer.resblocks.N.attn.in_proj_weight' keys (a ViT needs at least one block)`,
      );
    const positions = shapeOf(stateDict, 'visual.positional_embedding', 2, 'the ViT image resolution', source)[0]!;
    const grid = Math.round(Math.sqrt(positions - 1));
    if (grid * grid + 1 !== positions)
      throw new Error(`${source}: 'visual.positional_embedding' has ${positions} rows; expected grid*grid + 1`);
    vision = {
      vision_layers: layers,
      vision_width: conv[0]!,
      vision_patch_size: conv[3]!,
      image_resolution: conv[3]! * grid,
    };
  } else {
    if (!keys.some((k) => k.startsWith('visual.layer1.'))) {
      throw new Error(
        `${source}: cannot infer the CLIP architecture: neither 'visual.proj' (ViT) nor 'visual.layer1.*' (ResNet) is present`,
      );
    }
    const counts = [1, 2, 3, 4].map((b) => distinctIndices(keys, `visual.layer${b}.`)) as [
      number,
      number,
      number,
      number,
    ];
    const missingStage = counts.findIndex((n) => n === 0);
    if (missingStage >= 0)
      throw new Error(`${source}: cannot infer the CLIP architecture: no 'visual.layer${missingStage + 1}.*' keys`);
    const width = shapeOf(stateDict, 'visual.layer1.0.conv1.weight', 4, 'the ResNet width', source)[0]!;
    const positions = shapeOf(
      stateDict,
      'visual.attnpool.positional_embedding',
      2,
      'the ResNet image resolution',
      source,
    )[0]!;
    const outputWidth = Math.round(Math.sqrt(positions - 1));
    if (outputWidth * outputWidth + 1 !== positions)
      throw new Error(
        `${source}: 'visual.attnpool.positional_embedding' has ${positions} rows; expected width*width + 1`,
      );
    vision = {
      vision_layers: counts,
      vision_width: width,
      vision_patch_size: null,
      image_resolution: outputWidth * 32,
    };
  }
  const transformerWidth = shapeOf(stateDict, 'ln_final.weight', 1, 'the text width', source)[0]!;
  const transformerLayers = distinctIndices(keys, 'transformer.resblocks.');
  if (transformerLayers === 0)
    throw new Error(
      `${source}: cannot infer the CLIP architecture: no 'transformer.resblocks.N.*' keys (the text encoder)`,
    );
  return {
    embed_dim: shapeOf(stateDict, 'text_projection', 2, 'the embedding size', source)[1]!,
    ...vision,
    context_length: shapeOf(stateDict, 'positional_embedding', 2, 'the context length', source)[0]!,
    vocab_size: shapeOf(stateDict, 'token_embedding.weight', 2, 'the vocabulary size', source)[0]!,
    transformer_width: transformerWidth,
    transformer_heads: Math.floor(transformerWidth / 64),
    transformer_layers: transformerLayers,
  };
}
