/**
 * Optimizer state dicts in PyTorch's layout, and their normalisation from what a checkpoint reader
 * yields: `state` keyed by integers (a Map from the `.pt` reader, or an object with "0", "1", ... keys),
 * tensors as `Tensor`s or `RawTensor`s, `step` as a number or a 1-element tensor (PyTorch >= 1.12 saves
 * `tensor(3.)`).
 */
import { Tensor, isTensor, fromRaw } from '../tensor.ts';
import type { RawTensor } from '../serialization/raw-tensor.ts';

export type StateValue = Tensor | number | null;
/** One parameter's state, e.g. `{step: 3, exp_avg: Tensor, exp_avg_sq: Tensor}`. */
export type ParamState = Record<string, StateValue>;

/** A saved group: hyper-parameters plus the indices of its parameters. */
export interface SavedParamGroup {
  params: number[];
  lr: number;
  [key: string]: unknown;
}

export interface OptimizerStateDict {
  state: Record<number, ParamState>;
  param_groups: SavedParamGroup[];
}

export interface NormalizedOptimizerState {
  state: Map<number, ParamState>;
  param_groups: SavedParamGroup[];
  /** Tensors made here from RawTensors: owned by the caller (no further copy needed). */
  converted: Set<Tensor>;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof Map) &&
    !isTensor(value) &&
    !isRawTensor(value)
  );
}

export function isRawTensor(value: unknown): value is RawTensor {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<RawTensor>;
  return typeof v.dtype === 'string' && Array.isArray(v.shape) && v.data instanceof Uint8Array;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value instanceof Map) return 'a Map';
  if (isTensor(value)) return `a tensor [${value.shape}]`;
  if (isRawTensor(value)) return `a tensor [${value.shape}]`;
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;
}

function integerKey(key: unknown, where: string): number {
  const n = typeof key === 'string' && /^\d+$/.test(key) ? Number(key) : key;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)
    throw new Error(`${where}: key ${String(key)} is not a parameter index (a non-negative integer)`);
  return n;
}

/** `step` as a number: PyTorch 1.12+ stores a 1-element float tensor. */
function stepNumber(value: unknown, where: string): number {
  let n = value;
  if (isRawTensor(value) || isTensor(value)) {
    const numel = value.shape.reduce((a, b) => a * b, 1);
    if (numel !== 1)
      throw new Error(`${where}.step must be a number or a 1-element tensor, got shape [${value.shape}]`);
    const t = isTensor(value) ? value : fromRaw(value);
    n = t.item();
    if (t !== value) t.dispose();
  }
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0)
    throw new Error(`${where}.step must be a non-negative number, got ${describe(value)}`);
  return n;
}

/**
 * Checks the layout and converts it to live values. `name` (e.g. the checkpoint path and key) prefixes
 * every error. Values other than tensors, numbers and null are refused.
 */
export function normalizeOptimizerStateDict(source: unknown, name: string): NormalizedOptimizerState {
  if (!isPlainObject(source))
    throw new Error(`${name}: expected an optimizer state dict {state, param_groups}, got ${describe(source)}`);
  for (const key of ['state', 'param_groups']) {
    if (!(key in source))
      throw new Error(
        `${name}: missing key '${key}' (expected {state, param_groups}; found keys: ${Object.keys(source).join(', ') || 'none'})`,
      );
  }
  const converted = new Set<Tensor>();
  try {
    const groupsValue = source.param_groups;
    if (!Array.isArray(groupsValue))
      throw new Error(`${name}: 'param_groups' must be a list, got ${describe(groupsValue)}`);
    const param_groups = groupsValue.map((group, g): SavedParamGroup => {
      const where = `${name}: param_groups[${g}]`;
      if (!isPlainObject(group)) throw new Error(`${where} must be an object, got ${describe(group)}`);
      if (!Array.isArray(group.params))
        throw new Error(`${where}.params must be a list of parameter indices, got ${describe(group.params)}`);
      const params = group.params.map((id, i) => integerKey(id, `${where}.params[${i}]`));
      const copy: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(group)) copy[key] = Array.isArray(value) ? [...value] : value;
      return { ...copy, params } as SavedParamGroup;
    });

    const stateValue = source.state;
    const entries: [unknown, unknown][] =
      stateValue instanceof Map
        ? [...stateValue.entries()]
        : isPlainObject(stateValue)
          ? Object.entries(stateValue)
          : (() => {
              throw new Error(`${name}: 'state' must be a dict keyed by parameter index, got ${describe(stateValue)}`);
            })();
    const state = new Map<number, ParamState>();
    for (const [rawKey, entry] of entries) {
      const id = integerKey(rawKey, `${name}: state`);
      const where = `${name}: state[${id}]`;
      if (state.has(id)) throw new Error(`${where} appears twice`);
      if (!isPlainObject(entry)) throw new Error(`${where} must be an object of named values, got ${describe(entry)}`);
      const out: ParamState = {};
      for (const [key, value] of Object.entries(entry)) {
        if (key === 'step') out.step = stepNumber(value, where);
        else if (value === null || typeof value === 'number' || isTensor(value)) out[key] = value;
        else if (isRawTensor(value)) {
          const t = fromRaw(value);
          converted.add(t);
          out[key] = t;
        } else throw new Error(`${where}.${key} must be a tensor, a number or null, got ${describe(value)}`);
      }
      state.set(id, out);
    }
    return { state, param_groups, converted };
  } catch (error) {
    for (const t of converted) t.dispose();
    throw error;
  }
}
