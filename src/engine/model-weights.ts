/**
 * Trained weights for `test`, `pretrain` and `resume`, from any of the places a user may point at:
 * - our checkpoint sidecar (`last.json`, `best.json`) or a run directory (its `best.json`, else `last.json`);
 * - a safetensors file with our prefixes (`model.`, `fusion_model.`) or the reference fixtures'
 *   (`clip.`, `video_head.` / `sentence_head.`);
 * - an original BIKE checkpoint (`torch.save` zip with `model_state_dict`, `fusion_model_state_dict`,
 *   `epoch`), `module.` prefixes of DistributedDataParallel stripped as the original's `update_dict`.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fromRaw, Tensor } from '../torch/index.ts';
import { loadPtFile } from '../torch/serialization.ts';
import { parseSafetensors } from '../torch/safetensors-format.ts';
import { HEAD_PREFIX, MODEL_PREFIX, loadCheckpoint, sidecarPath, withoutPrefix, type CheckpointSidecar } from './checkpoint.ts';

export interface TrainedWeights {
  /** CLIP state dict. */
  model: Map<string, Tensor>;
  /** Video head or sentence head state dict; null when the file has none. */
  head: Map<string, Tensor> | null;
  /** The epoch recorded with the weights, if any. */
  epoch: number | null;
  /** Our sidecar, for resuming; null for other formats. */
  sidecar: CheckpointSidecar | null;
  /** Every tensor of the file (for our checkpoints the optimizer and RNG state too); empty for `.pt` files. */
  all: Map<string, Tensor>;
  format: 'checkpoint' | 'safetensors' | 'original';
  /** The file the weights came from. */
  source: string;
}

/** The original's `update_dict`: every `module.` removed from the names. */
export function stripModulePrefix(names: Map<string, Tensor>): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, t] of names) out.set(name.replaceAll('module.', ''), t);
  return out;
}

/** Which of our checkpoint files a run directory holds, best first. */
export function checkpointInDirectory(dir: string): string | null {
  for (const name of ['best', 'last']) {
    const file = sidecarPath(dir, name);
    if (existsSync(file)) return file;
  }
  return null;
}

function tensorMap(value: unknown, key: string, file: string): Map<string, Tensor> {
  const entries = value instanceof Map ? [...value.entries()] : value && typeof value === 'object' ? Object.entries(value) : null;
  if (!entries) throw new Error(`checkpoint ${file}: "${key}" must be a state dict (a mapping of names to tensors)`);
  const out = new Map<string, Tensor>();
  for (const [name, t] of entries) {
    if (!(t instanceof Tensor)) throw new Error(`checkpoint ${file}: "${key}" entry ${JSON.stringify(name)} is not a tensor`);
    out.set(String(name), t.keep());
  }
  return out;
}

function loadOriginal(file: string): TrainedWeights {
  const root = loadPtFile(file);
  if (!root || typeof root !== 'object' || root instanceof Map || Array.isArray(root)) {
    throw new Error(`checkpoint ${file}: expected a dict with "model_state_dict" (an original BIKE checkpoint)`);
  }
  const dict = root as Record<string, unknown>;
  if (!('model_state_dict' in dict)) {
    const keys = Object.keys(dict).slice(0, 8).join(', ');
    throw new Error(`checkpoint ${file}: no "model_state_dict" (found keys: ${keys || 'none'}); expected an original BIKE checkpoint`);
  }
  const model = stripModulePrefix(tensorMap(dict.model_state_dict, 'model_state_dict', file));
  const head = 'fusion_model_state_dict' in dict ? stripModulePrefix(tensorMap(dict.fusion_model_state_dict, 'fusion_model_state_dict', file)) : null;
  const epoch = typeof dict.epoch === 'number' ? dict.epoch : null;
  return { model, head, epoch, sidecar: null, all: new Map(), format: 'original', source: file };
}

const SAFETENSORS_LAYOUTS: { model: string; heads: string[] }[] = [
  { model: MODEL_PREFIX, heads: [HEAD_PREFIX] },
  { model: 'clip.', heads: ['video_head.', 'sentence_head.'] },
];

function loadSafetensorsWeights(file: string, headPrefix?: string): TrainedWeights {
  const contents = parseSafetensors(readFileSync(file), file);
  const all = new Map<string, Tensor>();
  for (const [name, raw] of contents.tensors) all.set(name, fromRaw(raw).keep());
  for (const layout of SAFETENSORS_LAYOUTS) {
    const model = withoutPrefix(all, layout.model);
    if (model.size === 0) continue;
    const heads = headPrefix ? [headPrefix] : layout.heads;
    const present = heads.filter((p) => [...all.keys()].some((k) => k.startsWith(p)));
    const head = present.length > 0 ? withoutPrefix(all, present[0]!) : null;
    return { model: stripModulePrefix(model), head: head && stripModulePrefix(head), epoch: null, sidecar: null, all, format: 'safetensors', source: file };
  }
  const sample = [...all.keys()].slice(0, 5).join(', ');
  for (const t of all.values()) t.dispose();
  throw new Error(`weights ${file}: no tensor names start with "model." or "clip." (found e.g. ${sample || 'nothing'}); expected a bike checkpoint or a file with the reference fixture's layout`);
}

export interface ReadWeightsOptions {
  /** For files with several heads (the fixtures' `video_head.` and `sentence_head.`): which one. */
  headPrefix?: string;
}

/** Reads trained weights from any supported place (see the file comment). */
export function readTrainedWeights(location: string, options: ReadWeightsOptions = {}): TrainedWeights {
  if (!existsSync(location)) throw new Error(`weights ${location}: no such file or directory`);
  let file = location;
  if (statSync(location).isDirectory()) {
    const found = checkpointInDirectory(location);
    if (!found) throw new Error(`weights ${location}: the directory holds no best.json or last.json checkpoint`);
    file = found;
  }
  const ext = path.extname(file).toLowerCase();
  if (ext === '.json') {
    const loaded = loadCheckpoint(file);
    return {
      model: withoutPrefix(loaded.tensors, MODEL_PREFIX),
      head: withoutPrefix(loaded.tensors, HEAD_PREFIX),
      epoch: loaded.sidecar.epoch,
      sidecar: loaded.sidecar,
      all: loaded.tensors,
      format: 'checkpoint',
      source: file,
    };
  }
  if (ext === '.safetensors') return loadSafetensorsWeights(file, options.headPrefix);
  return loadOriginal(file);
}

/** Frees every tensor of loaded weights. */
export function disposeWeights(weights: TrainedWeights): void {
  const seen = new Set<Tensor>();
  for (const map of [weights.model, weights.head ?? new Map(), weights.all]) {
    for (const t of map.values()) {
      if (!seen.has(t)) {
        seen.add(t);
        t.dispose();
      }
    }
  }
}
