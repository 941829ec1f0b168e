/**
 * CLIP weights from every layout BIKE users have: OpenAI's TorchScript `.pt` files, OpenAI-layout
 * state dicts (safetensors or `torch.save` zips), Hugging Face `CLIPModel` folders or files,
 * original BIKE training checkpoints (`model_state_dict`, `fusion_model_state_dict`, with DDP's
 * `module.` prefixes) and our own prefixed safetensors (`clip.*`, `video_head.*`, ...). Everything
 * becomes an OpenAI-layout state dict; the architecture comes from the weights (`build_model`).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor, nn, type Device } from '../torch/index.ts';
import { StateDictError } from '../torch/nn/index.ts';
import {
  loadPtBuffer,
  loadPtFile,
  loadSafetensors,
  loadTorchScriptBuffer,
} from '../torch/serialization/serialization.ts';
import { ZipArchive } from '../torch/serialization/zip-reader.ts';
import { isTorchScriptEntryList } from '../torch/serialization/torchscript-reader.ts';
import { type ClipConfig, inferClipConfig } from './config.ts';
import {
  huggingFaceToOpenAI,
  isHuggingFaceClipStateDict,
  readHuggingFaceClipConfig,
  withHuggingFaceHeads,
  type HuggingFaceClipSettings,
} from './hf-mapping.ts';
import { CLIP, type ClipOptions } from './model.ts';

export type ClipWeightsFormat = 'torchscript' | 'openai' | 'huggingface' | 'bike-checkpoint' | 'prefixed-safetensors';

export interface ClipWeights {
  /** OpenAI-layout CLIP state dict. */
  stateDict: Map<string, Tensor>;
  format: ClipWeightsFormat;
  /** The file (or folder) read. */
  source: string;
  /** Settings the file states beyond its weights (Hugging Face head counts). */
  huggingFace?: HuggingFaceClipSettings;
  /** BIKE's video head (`fusion_model_state_dict`, or `video_head.*` of our safetensors), prefixes stripped. */
  fusionStateDict?: Map<string, Tensor>;
  /** Other prefixed groups of our safetensors (e.g. `sentence_head`), by prefix without the dot. */
  extra: Map<string, Map<string, Tensor>>;
  /** `epoch` of a BIKE checkpoint. */
  epoch?: number;
}

/** Entries of OpenAI's TorchScript state dict that are not weights (`build_model` deletes them). */
const NON_WEIGHT_KEYS = ['input_resolution', 'context_length', 'vocab_size'];

/** Strips DDP's `module.` prefix from every name that has it. */
export function stripModulePrefix<T>(stateDict: ReadonlyMap<string, T>): Map<string, T> {
  return new Map([...stateDict].map(([k, v]) => [k.startsWith('module.') ? k.slice('module.'.length) : k, v]));
}

/**
 * Splits our prefixed safetensors (`clip.`, `video_head.`, ...) into groups. `clip` is empty when
 * the file has no `clip.` names.
 */
export function splitPrefixed(
  tensors: ReadonlyMap<string, Tensor>,
  source: string,
): { clip: Map<string, Tensor>; groups: Map<string, Map<string, Tensor>> } {
  const groups = new Map<string, Map<string, Tensor>>();
  for (const [name, t] of tensors) {
    const dot = name.indexOf('.');
    if (dot <= 0)
      throw new Error(`${source}: tensor '${name}' has no 'group.' prefix (expected clip.*, video_head.*, ...)`);
    const group = name.slice(0, dot);
    if (!groups.has(group)) groups.set(group, new Map());
    groups.get(group)!.set(name.slice(dot + 1), t);
  }
  const clip = groups.get('clip') ?? new Map<string, Tensor>();
  groups.delete('clip');
  return { clip, groups };
}

function isOpenAILayout(names: Iterable<string>): boolean {
  for (const name of names) if (name.startsWith('visual.') || name === 'token_embedding.weight') return true;
  return false;
}

/** A pickled dict of tensors as a Map; other values are errors naming their key. */
function tensorDict(value: unknown, source: string, what: string): Map<string, Tensor> {
  const entries =
    value instanceof Map
      ? [...value.entries()]
      : typeof value === 'object' && value !== null && !Array.isArray(value)
        ? Object.entries(value)
        : null;
  if (!entries) throw new Error(`${source}: ${what} is not a dict of tensors`);
  const out = new Map<string, Tensor>();
  for (const [k, v] of entries) {
    if (typeof k !== 'string') throw new Error(`${source}: ${what} has a non-string key ${String(k)}`);
    if (NON_WEIGHT_KEYS.includes(k)) continue;
    if (!(v instanceof Tensor)) throw new Error(`${source}: ${what}['${k}'] is not a tensor`);
    out.set(k, v);
  }
  return out;
}

/** Classifies a flat dict of tensors by its names. */
function fromFlatTensors(
  tensors: Map<string, Tensor>,
  source: string,
  hfConfig?: HuggingFaceClipSettings,
): ClipWeights {
  const names = [...tensors.keys()];
  if (isHuggingFaceClipStateDict(names)) {
    return {
      stateDict: huggingFaceToOpenAI(tensors, source),
      format: 'huggingface',
      source,
      huggingFace: hfConfig ?? {},
      extra: new Map(),
    };
  }
  if (names.some((n) => n.startsWith('clip.'))) {
    const { clip, groups } = splitPrefixed(tensors, source);
    const fusionStateDict = groups.get('video_head');
    groups.delete('video_head');
    return { stateDict: clip, format: 'prefixed-safetensors', source, fusionStateDict, extra: groups };
  }
  const stripped = stripModulePrefix(tensors);
  if (!isOpenAILayout(stripped.keys())) {
    throw new Error(
      `${source}: no CLIP weights found: expected OpenAI names (visual.*, token_embedding.weight), Hugging Face names (text_model.*, vision_model.*) or prefixed names (clip.*); first names: ${names.slice(0, 5).join(', ')}`,
    );
  }
  for (const key of NON_WEIGHT_KEYS) stripped.delete(key);
  return { stateDict: stripped, format: 'openai', source, extra: new Map() };
}

function isTorchScriptArchive(bytes: Uint8Array, path: string): boolean {
  if (bytes.length < 4 || bytes[0] !== 0x50 || bytes[1] !== 0x4b) return false; // not a zip
  return isTorchScriptEntryList(new ZipArchive(bytes, path).names());
}

function readHuggingFaceFolder(dir: string, options: { device?: Device }): ClipWeights {
  const configPath = join(dir, 'config.json');
  const settings = existsSync(configPath)
    ? readHuggingFaceClipConfig(JSON.parse(readFileSync(configPath, 'utf8')), configPath)
    : {};
  for (const file of ['model.safetensors', 'pytorch_model.bin']) {
    const path = join(dir, file);
    if (!existsSync(path)) continue;
    const tensors = file.endsWith('.safetensors')
      ? loadSafetensors(path, options)
      : tensorDict(loadPtFile(path, options), path, 'the state dict');
    const weights = fromFlatTensors(tensors, path, settings);
    return { ...weights, source: dir };
  }
  throw new Error(
    `${dir}: a CLIP weights folder needs model.safetensors or pytorch_model.bin (with config.json), found neither`,
  );
}

/**
 * Reads CLIP weights from a file or a Hugging Face folder, whatever the layout, into an
 * OpenAI-layout state dict (tensors on `device`, default CPU).
 */
export function readClipWeights(path: string, options: { device?: Device } = {}): ClipWeights {
  if (!existsSync(path)) throw new Error(`CLIP weights ${path}: no such file or folder`);
  if (statSync(path).isDirectory()) return readHuggingFaceFolder(path, options);
  if (path.endsWith('.safetensors')) {
    const configPath = join(path, '..', 'config.json');
    const tensors = loadSafetensors(path, options);
    const settings =
      isHuggingFaceClipStateDict(tensors.keys()) && existsSync(configPath)
        ? readHuggingFaceClipConfig(JSON.parse(readFileSync(configPath, 'utf8')), configPath)
        : undefined;
    return fromFlatTensors(tensors, path, settings);
  }
  const bytes = readFileSync(path); // read once: for the format check and the reader
  if (isTorchScriptArchive(bytes, path)) {
    // Read from the archive's pickles without running its code (see torch/torchscript-reader.ts).
    return { ...fromFlatTensors(loadTorchScriptBuffer(bytes, path, options), path), format: 'torchscript' };
  }
  const value = loadPtBuffer(bytes, path, options);
  if (typeof value === 'object' && value !== null && 'model_state_dict' in value) {
    const checkpoint = value as Record<string, unknown>;
    const stateDict = stripModulePrefix(tensorDict(checkpoint.model_state_dict, path, 'model_state_dict'));
    const fusion = checkpoint.fusion_model_state_dict;
    return {
      stateDict,
      format: 'bike-checkpoint',
      source: path,
      fusionStateDict:
        fusion === undefined || fusion === null
          ? undefined
          : stripModulePrefix(tensorDict(fusion, path, 'fusion_model_state_dict')),
      extra: new Map(),
      epoch: typeof checkpoint.epoch === 'number' ? checkpoint.epoch : undefined,
    };
  }
  const inner =
    typeof value === 'object' && value !== null && 'state_dict' in value
      ? (value as Record<string, unknown>).state_dict
      : value;
  return fromFlatTensors(tensorDict(inner, path, 'the state dict'), path);
}

/** The architecture of loaded weights: inferred as `build_model` does, heads from a HF config. */
export function clipConfigOf(weights: ClipWeights): ClipConfig {
  const inferred = inferClipConfig(weights.stateDict, weights.source);
  return weights.huggingFace ? withHuggingFaceHeads(inferred, weights.huggingFace) : inferred;
}

/**
 * Copies an OpenAI-layout state dict into a model, strictly: missing, unexpected and mis-shaped
 * keys are listed by name in one error. With joint space-time attention, weights without
 * `visual.time_embedding` (plain CLIP) keep the model's initial time embeddings, as the original
 * loads them non-strictly. With `assign`, the model adopts the tensors instead of copying them (see
 * `Module.loadStateDict`).
 */
export function loadClipStateDict(
  model: CLIP,
  stateDict: ReadonlyMap<string, Tensor>,
  source: string,
  options: { assign?: boolean } = {},
): void {
  const entries = new Map(stateDict);
  const own = model.visual.namedParameters('visual');
  for (const [name, t] of own) if (name === 'visual.time_embedding' && !entries.has(name)) entries.set(name, t);
  try {
    model.loadStateDict(entries, { assign: options.assign });
  } catch (error) {
    if (error instanceof StateDictError)
      throw new StateDictError(`${source}: ${error.message}`, error.missing, error.unexpected, error.mismatched);
    throw error;
  }
}

export interface LoadClipOptions extends ClipOptions {
  device?: Device;
}

export interface LoadedClip {
  model: CLIP;
  config: ClipConfig;
  format: ClipWeightsFormat;
  /** The video head of a BIKE checkpoint (or `video_head.*` of our safetensors), for the BIKE layer. */
  fusionStateDict?: Map<string, Tensor>;
  extra: Map<string, Map<string, Tensor>>;
  epoch?: number;
}

/**
 * Builds CLIP from a weights file or folder (any supported layout) and loads the weights into it.
 * The model is built without its random initialisation (every parameter it would draw is replaced by
 * the strict load; the joint model's `time_embedding`, which plain CLIP weights lack, is still drawn)
 * and adopts the loaded tensors rather than copying them: the same model bit for bit, at about the cost
 * of reading the file. The global generator advances less than a drawn build would (the few small
 * `randn` embeddings are still drawn; the initialisers' draws are skipped).
 */
export function loadClip(path: string, options: LoadClipOptions = {}): LoadedClip {
  const weights = readClipWeights(path);
  const config = clipConfigOf(weights);
  const { device, ...clipOptions } = options;
  const model = nn.init.withoutInitialization(() => new CLIP(config, clipOptions));
  try {
    loadClipStateDict(model, weights.stateDict, weights.source, { assign: true });
  } catch (error) {
    for (const t of model.stateDict().values()) t.dispose();
    throw error;
  } finally {
    // What the model did not adopt (cast copies were made of it) is ours to free.
    const adopted = new Set(model.stateDict().values());
    for (const t of weights.stateDict.values()) if (!adopted.has(t)) t.dispose();
  }
  if (device) model.to(device);
  const move = (group?: Map<string, Tensor>) =>
    group && device ? new Map([...group].map(([k, t]) => [k, t.to(device)])) : group;
  return {
    model,
    config,
    format: weights.format,
    fusionStateDict: move(weights.fusionStateDict),
    extra: new Map([...weights.extra].map(([k, g]) => [k, move(g)!])),
    epoch: weights.epoch,
  };
}
