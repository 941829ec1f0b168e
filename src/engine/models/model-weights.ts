/**
 * Trained weights for `test`, `pretrain` and `resume`, from any of the places a user may point at:
 * - our checkpoint sidecar (`last.json`, `best.json`) or a run directory (its `best.json`, else `last.json`);
 * - our checkpoint's weights file alone (names `model.`, `fusion_model.`);
 * - anything CLIP's weight reader takes (src/clip/load.ts): an original BIKE checkpoint (`torch.save`
 *   zip with `model_state_dict`, `fusion_model_state_dict`, `epoch`; DDP's `module.` stripped), or a
 *   safetensors file with BIKE's state-dict prefixes (`clip.`, `video_head.`, `sentence_head.`).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fromRaw, Tensor } from '../../torch/index.ts';
import { readClipWeights } from '../../clip/load.ts';
import { parseSafetensors } from '../../torch/serialization/safetensors-format.ts';
import {
  HEAD_PREFIX,
  MODEL_PREFIX,
  loadCheckpoint,
  sidecarPath,
  withoutPrefix,
  type CheckpointSidecar,
} from './checkpoint.ts';

export interface TrainedWeights {
  /** CLIP state dict. */
  model: Map<string, Tensor>;
  /** Video head or sentence head state dict; null when the file has none. */
  head: Map<string, Tensor> | null;
  /** The epoch recorded with the weights, if any. */
  epoch: number | null;
  /** Our sidecar, for resuming; null for other formats. */
  sidecar: CheckpointSidecar | null;
  /** Every tensor read (for our checkpoints the optimizer and RNG state too), for disposal and resuming. */
  all: Map<string, Tensor>;
  format: 'checkpoint' | 'safetensors' | 'original';
  /** The file the weights came from. */
  source: string;
}

/** Which of our checkpoint files a run directory holds, best first. */
export function checkpointInDirectory(dir: string): string | null {
  for (const name of ['best', 'last']) {
    const file = sidecarPath(dir, name);
    if (existsSync(file)) return file;
  }
  return null;
}

/** Our checkpoint's weights file read without its sidecar (names `model.*`, `fusion_model.*`). */
function loadOurWeightsFile(file: string): TrainedWeights | null {
  const contents = parseSafetensors(readFileSync(file), file);
  const names = [...contents.tensors.keys()];
  if (!names.some((n) => n.startsWith(MODEL_PREFIX))) return null;
  const all = new Map<string, Tensor>();
  for (const [name, raw] of contents.tensors) all.set(name, fromRaw(raw).keep());
  const head = withoutPrefix(all, HEAD_PREFIX);
  return {
    model: withoutPrefix(all, MODEL_PREFIX),
    head: head.size ? head : null,
    epoch: null,
    sidecar: null,
    all,
    format: 'safetensors',
    source: file,
  };
}

/** Everything else through CLIP's weight reader (original checkpoints, `clip.`-prefixed safetensors, ...). */
function loadOtherWeights(file: string, headPrefix: string | undefined): TrainedWeights {
  const weights = readClipWeights(file);
  let head: Map<string, Tensor> | null = weights.fusionStateDict ?? null;
  const wanted = headPrefix?.replace(/\.$/, '');
  if (wanted && wanted !== 'video_head') {
    const group = weights.extra.get(wanted);
    if (!group)
      throw new Error(
        `weights ${file}: no "${wanted}." tensors (groups present: ${['video_head', ...weights.extra.keys()].join(', ')})`,
      );
    head = group;
  }
  const all = new Map<string, Tensor>();
  for (const group of [weights.stateDict, weights.fusionStateDict, ...weights.extra.values()])
    for (const [k, t] of group ?? []) all.set(`${all.size}:${k}`, t);
  const format = weights.format === 'bike-checkpoint' ? 'original' : 'safetensors';
  return { model: weights.stateDict, head, epoch: weights.epoch ?? null, sidecar: null, all, format, source: file };
}

export interface ReadWeightsOptions {
  /** For files with several heads (`video_head.` and `sentence_head.`): which one. */
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
  if (ext === '.safetensors') {
    const ours = loadOurWeightsFile(file);
    if (ours) return ours;
  }
  return loadOtherWeights(file, options.headPrefix);
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
