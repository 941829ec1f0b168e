/**
 * Hugging Face `CLIPModel` weights in OpenAI's layout. The names map one to one except that HF
 * splits attention into q/k/v projections (OpenAI concatenates them into `in_proj_weight/bias`, in
 * q, k, v order) and stores the two projections as `nn.Linear` weights (`[embed, width]`, the
 * transpose of OpenAI's `[width, embed]` matrices). `position_ids` buffers carry no weights.
 */
import { Tensor, cat } from '../torch/index.ts';
import type { ClipConfig } from './config.ts';

const LAYER = /^(text_model|vision_model)\.encoder\.layers\.(\d+)\.(.+)$/;

/** Names inside an encoder layer (HF -> OpenAI), besides the q/k/v projections. */
const LAYER_NAMES: Record<string, string> = {
  'self_attn.out_proj.weight': 'attn.out_proj.weight',
  'self_attn.out_proj.bias': 'attn.out_proj.bias',
  'layer_norm1.weight': 'ln_1.weight',
  'layer_norm1.bias': 'ln_1.bias',
  'mlp.fc1.weight': 'mlp.c_fc.weight',
  'mlp.fc1.bias': 'mlp.c_fc.bias',
  'mlp.fc2.weight': 'mlp.c_proj.weight',
  'mlp.fc2.bias': 'mlp.c_proj.bias',
  'layer_norm2.weight': 'ln_2.weight',
  'layer_norm2.bias': 'ln_2.bias',
};

/** Top-level names (HF -> OpenAI); `transpose` marks the Linear-stored projections. */
const TOP_NAMES: Record<string, { name: string; transpose?: boolean }> = {
  'text_model.embeddings.token_embedding.weight': { name: 'token_embedding.weight' },
  'text_model.embeddings.position_embedding.weight': { name: 'positional_embedding' },
  'text_model.final_layer_norm.weight': { name: 'ln_final.weight' },
  'text_model.final_layer_norm.bias': { name: 'ln_final.bias' },
  'text_projection.weight': { name: 'text_projection', transpose: true },
  'vision_model.embeddings.class_embedding': { name: 'visual.class_embedding' },
  'vision_model.embeddings.patch_embedding.weight': { name: 'visual.conv1.weight' },
  'vision_model.embeddings.position_embedding.weight': { name: 'visual.positional_embedding' },
  // "pre_layrnorm" is how transformers spells it.
  'vision_model.pre_layrnorm.weight': { name: 'visual.ln_pre.weight' },
  'vision_model.pre_layrnorm.bias': { name: 'visual.ln_pre.bias' },
  'vision_model.post_layernorm.weight': { name: 'visual.ln_post.weight' },
  'vision_model.post_layernorm.bias': { name: 'visual.ln_post.bias' },
  'visual_projection.weight': { name: 'visual.proj', transpose: true },
  logit_scale: { name: 'logit_scale' },
};

const IGNORED = new Set(['text_model.embeddings.position_ids', 'vision_model.embeddings.position_ids']);

/** Whether a state dict uses Hugging Face `CLIPModel` names. */
export function isHuggingFaceClipStateDict(names: Iterable<string>): boolean {
  for (const name of names) if (name.startsWith('text_model.') || name.startsWith('vision_model.')) return true;
  return false;
}

/**
 * The OpenAI-layout state dict of Hugging Face `CLIPModel` weights. New tensors are made for the
 * concatenated and transposed entries; the others are the given tensors. Unknown names and
 * incomplete q/k/v triples are errors naming the keys (`source` names the file).
 */
export function huggingFaceToOpenAI(hf: ReadonlyMap<string, Tensor>, source: string): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  const unknown: string[] = [];
  const qkv = new Map<string, Partial<Record<'q' | 'k' | 'v', Tensor>>>();
  for (const [name, tensor] of hf) {
    if (IGNORED.has(name)) continue;
    const top = TOP_NAMES[name];
    if (top) {
      out.set(top.name, top.transpose ? tensor.t().contiguous() : tensor);
      continue;
    }
    const layer = LAYER.exec(name);
    if (!layer) {
      unknown.push(name);
      continue;
    }
    const [, tower, index, rest] = layer as unknown as [string, string, string, string];
    const prefix = `${tower === 'text_model' ? '' : 'visual.'}transformer.resblocks.${index}.`;
    const projection = /^self_attn\.([qkv])_proj\.(weight|bias)$/.exec(rest);
    if (projection) {
      const key = `${prefix}attn.in_proj_${projection[2]}`;
      const parts = qkv.get(key) ?? {};
      parts[projection[1] as 'q' | 'k' | 'v'] = tensor;
      qkv.set(key, parts);
    } else if (LAYER_NAMES[rest]) {
      out.set(prefix + LAYER_NAMES[rest], tensor);
    } else {
      unknown.push(name);
    }
  }
  if (unknown.length)
    throw new Error(
      `${source}: Hugging Face CLIP weights with names that have no OpenAI counterpart: ${unknown.join(', ')}`,
    );
  const incomplete: string[] = [];
  for (const [key, parts] of qkv) {
    const missing = (['q', 'k', 'v'] as const).filter((p) => !parts[p]);
    if (missing.length) {
      incomplete.push(`${key} lacks ${missing.map((p) => `${p}_proj`).join(', ')}`);
      continue;
    }
    out.set(key, cat([parts.q!, parts.k!, parts.v!], 0));
  }
  if (incomplete.length) throw new Error(`${source}: incomplete attention projections: ${incomplete.join('; ')}`);
  return out;
}

/** What a Hugging Face `config.json` adds to the weights: head counts (and checks of the rest). */
export interface HuggingFaceClipSettings {
  transformer_heads?: number;
  vision_heads?: number;
}

/**
 * Reads the parts of a `CLIPConfig` that the weights do not show (attention heads) and refuses
 * settings this model does not implement (an activation other than QuickGELU, another LayerNorm eps).
 */
export function readHuggingFaceClipConfig(json: unknown, source: string): HuggingFaceClipSettings {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new Error(`${source}: expected a JSON object (a Hugging Face CLIPConfig)`);
  const config = json as Record<string, unknown>;
  const section = (key: string): Record<string, unknown> => {
    // Older configs name the sections `text_config_dict` / `vision_config_dict`.
    const value = config[key] ?? config[`${key}_dict`];
    if (value === undefined || value === null) return {};
    if (typeof value !== 'object' || Array.isArray(value)) throw new Error(`${source}: '${key}' must be an object`);
    return value as Record<string, unknown>;
  };
  const settings: HuggingFaceClipSettings = {};
  const problems: string[] = [];
  for (const [key, target] of [
    ['text_config', 'transformer_heads'],
    ['vision_config', 'vision_heads'],
  ] as const) {
    const part = section(key);
    const act = part.hidden_act ?? 'quick_gelu';
    if (act !== 'quick_gelu')
      problems.push(`${key}.hidden_act is ${JSON.stringify(act)}; this CLIP implements OpenAI's "quick_gelu" only`);
    const eps = part.layer_norm_eps ?? 1e-5;
    if (eps !== 1e-5) problems.push(`${key}.layer_norm_eps is ${JSON.stringify(eps)}; OpenAI's CLIP uses 1e-5`);
    const heads = part.num_attention_heads;
    if (heads !== undefined) {
      if (typeof heads !== 'number' || !Number.isInteger(heads) || heads < 1)
        problems.push(`${key}.num_attention_heads must be a positive integer, got ${JSON.stringify(heads)}`);
      else settings[target] = heads;
    }
  }
  if (problems.length) throw new Error(`${source}: ${problems.join('; ')}`);
  return settings;
}

/** Applies the config's head counts to an inferred architecture (the weights cannot show heads). */
export function withHuggingFaceHeads(config: ClipConfig, settings: HuggingFaceClipSettings): ClipConfig {
  const out = { ...config };
  if (settings.transformer_heads !== undefined) out.transformer_heads = settings.transformer_heads;
  if (settings.vision_heads !== undefined) out.vision_heads = settings.vision_heads;
  return out;
}
