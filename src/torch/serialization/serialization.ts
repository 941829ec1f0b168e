/**
 * Bridges between tensor files and live tensors: safetensors (read and atomic write), PyTorch
 * `torch.save` zips (through the safe `.pt` reader) and TorchScript archives (through the same
 * restricted unpickler, for OpenAI's scripted CLIP files: their code is never run). File parsing lives
 * in the format modules; this file only moves bytes in and out of libtorch.
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { native } from '../native.ts';
import { scalarTypeCode } from '../dtype.ts';
import { Tensor, checkDevice, fromRaw } from '../tensor.ts';
import type { Device } from '../dtype.ts';
import { isLoadedTensor, readPtBuffer } from './pt-reader.ts';
import { PICKLE_ATTRIBUTES } from './pickle-values.ts';
import { parseSafetensorsHeader, safetensorsHeaderLength, writeSafetensorsFileSync } from './safetensors-format.ts';
import { readTorchScriptBuffer } from './torchscript-reader.ts';
import type { RawTensor } from './raw-tensor.ts';

export interface LoadOptions {
  /** Where the tensors go (default `cpu`). */
  device?: Device;
}

function requireFile(path: string, what: string): void {
  if (!existsSync(path)) throw new Error(`${what} ${path}: no such file`);
  if (!statSync(path).isFile()) throw new Error(`${what} ${path}: not a regular file`);
}

/** Every tensor of a safetensors file, in header order. */
export function loadSafetensors(path: string, options: LoadOptions = {}): Map<string, Tensor> {
  return loadSafetensorsWithMetadata(path, options).tensors;
}

function readExactly(fd: number, length: number, position: number, path: string): Uint8Array {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, out, done, length - done, position + done);
    if (n === 0)
      throw new Error(`safetensors ${path}: the file ends after ${position + done} bytes, inside its header`);
    done += n;
  }
  return out;
}

/**
 * The tensors and the `__metadata__` string map of a safetensors file. Only the header is read into
 * JavaScript; each tensor's bytes are read from the file straight into its libtorch storage (one read
 * of the file in all, no copies in between), after the header has been checked against the file size.
 */
export function loadSafetensorsWithMetadata(
  path: string,
  options: LoadOptions = {},
): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  requireFile(path, 'safetensors');
  if (options.device !== undefined) checkDevice(options.device, 'loadSafetensors device');
  const fd = openSync(path, 'r');
  const tensors = new Map<string, Tensor>();
  try {
    const size = fstatSync(fd).size;
    const headerLength = safetensorsHeaderLength(readExactly(fd, Math.min(8, size), 0, path), size, path);
    const header = parseSafetensorsHeader(readExactly(fd, headerLength, 8, path), size, path);
    for (const entry of header.entries) {
      try {
        tensors.set(
          entry.name,
          new Tensor(
            native.fromFile(
              fd,
              header.dataStart + entry.begin,
              scalarTypeCode(entry.dtype),
              entry.shape,
              options.device,
            ),
          ),
        );
      } catch (error) {
        throw new Error(
          `safetensors ${path}: tensor "${entry.name}" (${entry.end - entry.begin} bytes at ${header.dataStart + entry.begin}): ${(error as Error).message}`,
          { cause: error },
        );
      }
    }
    return { tensors, metadata: header.metadata };
  } catch (error) {
    for (const t of tensors.values()) t.dispose();
    throw error;
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes tensors (any device, any layout; gradients are not saved) to a safetensors file atomically:
 * readers see the old file or the complete new one, never a partial write.
 */
export function saveSafetensors(
  path: string,
  tensors: Map<string, Tensor> | Record<string, Tensor>,
  metadata?: Record<string, string>,
): void {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const raws = new Map<string, RawTensor>();
  for (const [name, t] of entries) {
    if (!(t instanceof Tensor)) throw new TypeError(`saveSafetensors ${path}: "${name}" is not a Tensor`);
    if (t.isDisposed) throw new Error(`saveSafetensors ${path}: tensor "${name}" was disposed before it was saved`);
    raws.set(name, t.toRaw());
  }
  writeSafetensorsFileSync(path, raws, metadata);
}

/**
 * Reads a `torch.save` zip checkpoint (e.g. an original BIKE checkpoint with `model_state_dict`),
 * returning its pickled structure (plain objects, arrays, Maps, numbers, strings) with every tensor
 * as a live `Tensor`. Only the globals a state dict needs are admitted (see `pt-reader.ts`).
 */
export function loadPtFile(path: string, options: LoadOptions = {}): unknown {
  requireFile(path, 'PyTorch checkpoint');
  return loadPtBuffer(readFileSync(path), path, options);
}

/** `loadPtFile` on a checkpoint's bytes already in memory (`source` names it in errors). */
export function loadPtBuffer(bytes: Uint8Array, source: string, options: LoadOptions = {}): unknown {
  const path = source;
  // Views, not copies: fromRaw copies each tensor into libtorch once.
  const value = readPtBuffer(bytes, path, { views: true });
  const created: Tensor[] = [];
  try {
    return toTensors(value, options, created, new Map());
  } catch (error) {
    for (const t of created) t.dispose();
    throw new Error(`PyTorch checkpoint ${path}: could not create tensors: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** Replaces LoadedTensors by Tensors in a converted pickle, keeping shared references shared. */
function toTensors(value: unknown, options: LoadOptions, created: Tensor[], seen: Map<object, unknown>): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const done = seen.get(value);
  if (done !== undefined) return done;
  if (isLoadedTensor(value)) {
    const t = fromRaw(value, options);
    created.push(t);
    seen.set(value, t);
    return t;
  }
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    seen.set(value, out);
    for (const item of value) out.push(toTensors(item, options, created, seen));
    return out;
  }
  if (value instanceof Map) {
    const out = new Map<unknown, unknown>();
    seen.set(value, out);
    for (const [k, v] of value) out.set(k, toTensors(v, options, created, seen));
    return out;
  }
  if (value instanceof Uint8Array) return value;
  const out: Record<string, unknown> = {};
  seen.set(value, out);
  for (const [k, v] of Object.entries(value)) {
    Object.defineProperty(out, k, {
      value: toTensors(v, options, created, seen),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  const attributes = (value as { [PICKLE_ATTRIBUTES]?: unknown })[PICKLE_ATTRIBUTES];
  if (attributes !== undefined) Object.defineProperty(out, PICKLE_ATTRIBUTES, { value: attributes, enumerable: false });
  return out;
}

/**
 * Every parameter and buffer of a TorchScript archive (`torch.jit.save`, e.g. OpenAI's CLIP `.pt`
 * files) by its dotted name, as libtorch's `named_parameters()` / `named_buffers()` name them. The
 * archive's pickles are read by the restricted unpickler; none of its code runs (see
 * `torchscript-reader.ts`). A `torch.save` checkpoint is not a TorchScript archive: use `loadPtFile`.
 */
export function loadTorchScriptTensors(path: string, options: LoadOptions = {}): Map<string, Tensor> {
  requireFile(path, 'TorchScript archive');
  return loadTorchScriptBuffer(readFileSync(path), path, options);
}

/** `loadTorchScriptTensors` on an archive's bytes already in memory (`path` names it in errors). */
export function loadTorchScriptBuffer(bytes: Uint8Array, path: string, options: LoadOptions = {}): Map<string, Tensor> {
  let raws: Map<string, RawTensor>;
  try {
    raws = readTorchScriptBuffer(bytes, path, { views: true });
  } catch (error) {
    let message = (error as Error).message;
    for (const prefix of [`${path}: `, `zip archive ${path}: `])
      if (message.startsWith(prefix)) message = message.slice(prefix.length);
    throw new Error(`TorchScript archive ${path}: ${message}`, { cause: error });
  }
  const tensors = new Map<string, Tensor>();
  try {
    // Each name gets its own tensor, also where two attributes share one (tied weights).
    for (const [name, raw] of raws) tensors.set(name, fromRaw(raw, options));
  } catch (error) {
    for (const t of tensors.values()) t.dispose();
    throw new Error(`TorchScript archive ${path}: could not create tensors: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return tensors;
}
