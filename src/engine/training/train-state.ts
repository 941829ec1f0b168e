/**
 * The parts of a training run's state that a checkpoint must carry besides the weights, in the shape
 * the checkpoint file takes: the optimizer's state dict split into tensors (`optimizer.state.<i>.<key>`)
 * and JSON (hyper-parameters, step counts), and libtorch's CPU random-number state.
 */
import { Tensor, isTensor, native } from '../../torch/index.ts';
import type { OptimizerStateDict, ParamState } from '../../torch/optim/optimizer.ts';
import { OPTIMIZER_PREFIX, TORCH_RNG_TENSOR } from '../models/checkpoint.ts';

const STATE_PREFIX = `${OPTIMIZER_PREFIX}state.`;

export interface PackedOptimizerState {
  tensors: Map<string, Tensor>;
  /** `param_groups` and the non-tensor entries of `state` (e.g. `step`), keyed by parameter index. */
  json: { param_groups: unknown[]; state: Record<string, Record<string, number | null>> };
}

/** Splits an optimizer state dict into checkpoint tensors and JSON. */
export function packOptimizerState(stateDict: OptimizerStateDict): PackedOptimizerState {
  const tensors = new Map<string, Tensor>();
  const state: Record<string, Record<string, number | null>> = {};
  for (const [index, entry] of Object.entries(stateDict.state)) {
    const scalars: Record<string, number | null> = {};
    for (const [key, value] of Object.entries(entry)) {
      if (isTensor(value)) tensors.set(`${STATE_PREFIX}${index}.${key}`, value);
      else scalars[key] = value;
    }
    state[index] = scalars;
  }
  return { tensors, json: { param_groups: stateDict.param_groups, state } };
}

/** Rebuilds the state dict from `packOptimizerState`'s output (`source` names the checkpoint in errors). */
export function unpackOptimizerState(tensors: Map<string, Tensor>, json: unknown, source: string): OptimizerStateDict {
  const packed = json as PackedOptimizerState['json'] | null;
  if (
    !packed ||
    typeof packed !== 'object' ||
    !Array.isArray(packed.param_groups) ||
    typeof packed.state !== 'object'
  ) {
    throw new Error(
      `checkpoint ${source}: "optimizer" must hold param_groups and state (it was saved by another program?)`,
    );
  }
  const state: Record<number, ParamState> = {};
  for (const [index, scalars] of Object.entries(packed.state)) state[Number(index)] = { ...scalars };
  for (const [name, t] of tensors) {
    if (!name.startsWith(STATE_PREFIX)) continue;
    const rest = name.slice(STATE_PREFIX.length);
    const dot = rest.indexOf('.');
    const index = Number(rest.slice(0, dot));
    if (dot < 0 || !Number.isInteger(index))
      throw new Error(`checkpoint ${source}: tensor "${name}" is not optimizer.state.<index>.<key>`);
    (state[index] ??= {})[rest.slice(dot + 1)] = t;
  }
  return { state, param_groups: packed.param_groups } as OptimizerStateDict;
}

/** Checkpoint name of a CUDA device's generator state. */
export function cudaRngTensorName(device: string): string {
  return `rng.torch_${device.replace(':', '_')}`;
}

/**
 * libtorch's generator states (uint8 tensors) for the checkpoint: the CPU's, and the training
 * device's when it is a GPU (dropout there draws from the device's generator).
 */
export function torchRngStates(device: string): Map<string, Tensor> {
  const states = new Map<string, Tensor>([[TORCH_RNG_TENSOR, new Tensor(native.getRngState())]]);
  if (device.startsWith('cuda')) states.set(cudaRngTensorName(device), new Tensor(native.getRngState(device)));
  return states;
}

/** Restores libtorch's generators from a checkpoint (the CPU's, and `device`'s when saved). */
export function restoreTorchRngState(tensors: Map<string, Tensor>, source: string, device = 'cpu'): void {
  const state = tensors.get(TORCH_RNG_TENSOR);
  if (!state)
    throw new Error(
      `checkpoint ${source}: no "${TORCH_RNG_TENSOR}" tensor (libtorch's random-number state) to resume from`,
    );
  native.setRngState(state.handle);
  const cuda = device.startsWith('cuda') ? tensors.get(cudaRngTensorName(device)) : undefined;
  if (cuda) native.setRngState(cuda.handle, device);
}
