/**
 * Training checkpoints: a safetensors file of every tensor (model, head, optimizer state, libtorch's
 * RNG state) plus a JSON sidecar (epoch, iteration, best metric, optimizer / scheduler / loss-scaler
 * state, the JS RNG states, the config). The sidecar is the commit point:
 *
 * 1. the tensors go to `<name>.<random>.safetensors` through a temporary file, fsync, rename;
 * 2. the sidecar `<name>.json`, naming that file and its SHA-256, goes through a temporary file,
 *    fsync, rename; the directory is fsynced;
 * 3. only then are older `<name>.*.safetensors` files removed.
 *
 * A crash at any point leaves either the previous complete checkpoint or the new one; a sidecar whose
 * weights file is missing or differs from its hash is refused by name.
 *
 * Tensor names: `model.<CLIP state dict name>`, `fusion_model.<head state dict name>` (the original's
 * `model_state_dict` / `fusion_model_state_dict`), `optimizer.<...>`, `rng.torch_cpu`.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { fromRaw, type Tensor } from '../../torch/index.ts';
import type { RawTensor } from '../../torch/serialization/raw-tensor.ts';
import { parseSafetensors, serializeSafetensors } from '../../torch/serialization/safetensors-format.ts';

export const CHECKPOINT_FORMAT = 'bike-ts-checkpoint/1';
export const MODEL_PREFIX = 'model.';
export const HEAD_PREFIX = 'fusion_model.';
export const OPTIMIZER_PREFIX = 'optimizer.';
export const TORCH_RNG_TENSOR = 'rng.torch_cpu';

/** Everything of a checkpoint that is not a tensor. */
export interface CheckpointState {
  /** The last finished epoch (0-based, as the original's `epoch`). */
  epoch: number;
  /** Batches trained so far over the whole run. */
  iteration: number;
  /** Best validation metric so far and its name (e.g. `top1`). */
  bestMetric: number | null;
  metricName: string;
  /** Which training script made it: `video` (train.py) or `attributes` (train_attributes.py). */
  branch: 'video' | 'attributes';
  /** JSON parts of the optimizer, LR scheduler and loss scaler states (their tensors are in the weights). */
  optimizer: unknown;
  scheduler: unknown;
  scaler: unknown;
  /** Named JS generator states (data sampling etc.). */
  rng: Record<string, unknown>;
  /** The resolved config the run used. */
  config: unknown;
}

export interface CheckpointSidecar extends CheckpointState {
  format: typeof CHECKPOINT_FORMAT;
  /** Weights file name, in the sidecar's directory. */
  weights: string;
  sha256: string;
  savedAt: string;
}

function fsyncDirectory(dir: string): void {
  let fd: number | null = null;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some file systems refuse fsync on directories; the renames are still atomic there.
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/** Writes `bytes` to `target` through a flushed temporary file and a rename. */
export function writeFileAtomic(target: string, bytes: Uint8Array | string): void {
  const temporary = path.join(
    path.dirname(target),
    `.${path.basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`,
  );
  const fd = openSync(temporary, 'wx');
  try {
    const data = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
    let written = 0;
    while (written < data.byteLength) written += writeSync(fd, data, written, data.byteLength - written);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    try {
      unlinkSync(temporary);
    } catch {
      /* already gone */
    }
    throw new Error(`writing ${target}: ${(error as Error).message}`, { cause: error });
  }
  closeSync(fd);
  try {
    renameSync(temporary, target);
  } catch (error) {
    try {
      unlinkSync(temporary);
    } catch {
      /* already gone */
    }
    throw new Error(`writing ${target}: ${(error as Error).message}`, { cause: error });
  }
}

export function sidecarPath(dir: string, name: string): string {
  return path.join(dir, `${name}.json`);
}

/**
 * Saves a checkpoint `<dir>/<name>.json` (+ its weights file). Tensors are copied to host memory
 * first, so training may continue changing them afterwards. Returns the sidecar path.
 */
export function saveCheckpoint(
  dir: string,
  name: string,
  tensors: Map<string, Tensor>,
  state: CheckpointState,
): string {
  if (!/^[A-Za-z0-9_-]+$/.test(name))
    throw new Error(`checkpoint name ${JSON.stringify(name)}: expected letters, digits, _ or -`);
  const raws = new Map<string, RawTensor>();
  for (const [key, t] of tensors) {
    if (t.isDisposed) throw new Error(`checkpoint ${name}: tensor "${key}" was disposed before it was saved`);
    raws.set(key, t.toRaw());
  }
  const bytes = serializeSafetensors(raws, { format: CHECKPOINT_FORMAT });
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const weights = `${name}.${randomBytes(4).toString('hex')}.safetensors`;
  writeFileAtomic(path.join(dir, weights), bytes);
  const sidecar: CheckpointSidecar = {
    format: CHECKPOINT_FORMAT,
    weights,
    sha256,
    savedAt: new Date().toISOString(),
    ...state,
  };
  const target = sidecarPath(dir, name);
  writeFileAtomic(target, `${JSON.stringify(sidecar, jsonSafe, 2)}\n`);
  fsyncDirectory(dir);
  for (const file of readdirSync(dir)) {
    if (file !== weights && file.startsWith(`${name}.`) && file.endsWith('.safetensors')) {
      try {
        unlinkSync(path.join(dir, file));
      } catch {
        /* removed concurrently */
      }
    }
  }
  return target;
}

function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return value;
}

export interface LoadedCheckpoint {
  sidecar: CheckpointSidecar;
  tensors: Map<string, Tensor>;
  /** The sidecar file. */
  source: string;
}

/** Reads and validates a sidecar (format, weights file present, hash). */
export function readSidecar(file: string): CheckpointSidecar {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`checkpoint ${file}: cannot read the sidecar JSON (${(error as Error).message})`);
  }
  const s = parsed as Partial<CheckpointSidecar>;
  if (typeof s !== 'object' || s === null || s.format !== CHECKPOINT_FORMAT) {
    throw new Error(`checkpoint ${file}: not a bike-ts checkpoint sidecar (expected "format": "${CHECKPOINT_FORMAT}")`);
  }
  for (const key of ['weights', 'sha256'] as const) {
    if (typeof s[key] !== 'string') throw new Error(`checkpoint ${file}: "${key}" must be a string`);
  }
  if (typeof s.epoch !== 'number' || !Number.isInteger(s.epoch))
    throw new Error(`checkpoint ${file}: "epoch" must be an integer`);
  if (path.basename(s.weights!) !== s.weights)
    throw new Error(
      `checkpoint ${file}: "weights" must be a file name in the same folder, got ${JSON.stringify(s.weights)}`,
    );
  return s as CheckpointSidecar;
}

/** Loads a checkpoint from its sidecar; the weights must match the recorded SHA-256. */
export function loadCheckpoint(file: string): LoadedCheckpoint {
  const sidecar = readSidecar(file);
  const weightsPath = path.join(path.dirname(file), sidecar.weights);
  if (!existsSync(weightsPath)) {
    throw new Error(`checkpoint ${file}: its weights file ${weightsPath} is missing (the checkpoint is incomplete)`);
  }
  const bytes = readFileSync(weightsPath);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== sidecar.sha256) {
    throw new Error(
      `checkpoint ${file}: weights file ${weightsPath} has SHA-256 ${sha256}, the sidecar records ${sidecar.sha256} (the file was changed or is damaged)`,
    );
  }
  const contents = parseSafetensors(bytes, weightsPath);
  const tensors = new Map<string, Tensor>();
  for (const [name, raw] of contents.tensors) tensors.set(name, fromRaw(raw).keep());
  return { sidecar, tensors, source: file };
}

/** The tensors under `prefix`, with the prefix removed. */
export function withoutPrefix(tensors: Map<string, Tensor>, prefix: string): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, t] of tensors) if (name.startsWith(prefix)) out.set(name.slice(prefix.length), t);
  return out;
}

/** Adds `prefix` to every name. */
export function withPrefix(tensors: Iterable<[string, Tensor]>, prefix: string): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, t] of tensors) out.set(`${prefix}${name}`, t);
  return out;
}
