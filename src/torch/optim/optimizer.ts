/**
 * `Optimizer`: parameter groups with per-group hyper-parameters, per-parameter state, and state dicts in
 * PyTorch's layout (`{state: {index: {...}}, param_groups: [{lr, ..., params: [indices]}]}`), as
 * `torch.optim.Optimizer` (1.13). Hyper-parameter keys are PyTorch's (`weight_decay`, `initial_lr`), so
 * groups, checkpoints and LR schedulers map onto PyTorch's one to one.
 */
import { Tensor, isTensor } from '../tensor.ts';
import { isFloatingDType } from '../dtype.ts';
import { noGrad } from '../autograd.ts';
import { tidy } from '../scope.ts';
import { bucketBy } from './foreach.ts';
import {
  normalizeOptimizerStateDict,
  type NormalizedOptimizerState,
  type OptimizerStateDict,
  type ParamState,
} from './state-dict.ts';

export type { OptimizerStateDict, ParamState, StateValue, SavedParamGroup } from './state-dict.ts';

/** One parameter group: its tensors and hyper-parameters (`lr` is written by LR schedulers). */
export interface ParamGroup {
  params: Tensor[];
  lr: number;
  /** Set by an LR scheduler to the group's base learning rate. */
  initial_lr?: number;
}

/** A group's keys by name (groups loaded from a checkpoint may carry keys their type does not list). */
function field(group: ParamGroup, key: string): unknown {
  return (group as unknown as Record<string, unknown>)[key];
}

/** Hyper-parameters of a group type, without its tensors. */
export type HyperParameters<G extends ParamGroup> = Omit<G, 'params'>;

/** What a caller passes per group: tensors plus any hyper-parameters that differ from the defaults. */
export type ParamGroupInput<G extends ParamGroup> = { params: Tensor[] } & Partial<HyperParameters<G>>;

export abstract class Optimizer<G extends ParamGroup = ParamGroup> {
  readonly paramGroups: G[] = [];
  /** Per-parameter state (`exp_avg`, `step`, `momentum_buffer`, ...), created at the first step with a grad. */
  readonly state = new Map<Tensor, ParamState>();
  /** Short name for error messages, e.g. `AdamW` (an accessor: the constructor already uses it). */
  protected abstract get name(): string;

  /**
   * @param params a list of tensors (one group) or of groups `{params, ...overrides}`
   * @param defaults hyper-parameters for keys a group leaves out; `lr: undefined` makes `lr` required per group
   */
  constructor(
    params: Tensor[] | ParamGroupInput<G>[],
    readonly defaults: Omit<HyperParameters<G>, 'lr'> & { lr: number | undefined },
  ) {
    if (!Array.isArray(params) || params.length === 0) throw new TypeError('optimizer got an empty parameter list');
    const groups = params.every((p) => isTensor(p))
      ? [{ params: params as Tensor[] }]
      : (params as ParamGroupInput<G>[]);
    for (const group of groups) this.addParamGroup(group as ParamGroupInput<G>);
  }

  /** Checks a group's hyper-parameters; `where` names the group in errors. */
  protected abstract validateGroup(group: G, where: string): void;
  /** Checks one parameter's loaded state (keys present, types); shapes are checked by the base class. */
  protected abstract validateState(state: ParamState, group: G, where: string): void;
  /** Updates the parameters of `group` that have a gradient (called by `step`, without grad, in a scope). */
  protected abstract stepGroup(group: G): void;

  /** One optimisation step over every parameter that has a gradient. */
  step(): void {
    noGrad(() =>
      tidy(() => {
        for (const group of this.paramGroups) this.stepGroup(group);
      }),
    );
  }

  /** The parameters of `group` that have a gradient, with it. */
  protected *withGrads(group: G): Generator<{ param: Tensor; grad: Tensor }> {
    for (const param of group.params) {
      const grad = param.grad;
      if (grad !== null) yield { param, grad };
    }
  }

  /**
   * PyTorch's two paths: `foreach: false` updates one tensor at a time (`one`); otherwise entries that
   * share `key` (device, dtype, and whatever else must be one scalar) go to the multi-tensor kernels
   * together (`many`).
   */
  protected updateEntries<E>(
    entries: E[],
    foreach: boolean | null,
    key: (entry: E) => string,
    one: (entry: E) => void,
    many: (bucket: E[]) => void,
  ): void {
    // A scope per update frees its temporaries (AdamW's denominators) before the next one, as
    // Python's reference counting does: one scope for the whole step held a copy of every
    // parameter at once, fresh pages that glibc handed back after each step.
    if (foreach === false) for (const entry of entries) tidy(() => one(entry));
    else for (const bucket of bucketBy(entries, key)) tidy(() => many(bucket));
  }

  /** Adds a group, filling unspecified hyper-parameters from the defaults (`add_param_group`). */
  addParamGroup(input: ParamGroupInput<G>): void {
    const index = this.paramGroups.length;
    const where = `${this.name} parameter group ${index}`;
    if (typeof input !== 'object' || input === null || !Array.isArray(input.params)) {
      throw new TypeError(`${where}: expected {params: Tensor[], ...hyper-parameters}`);
    }
    const seen = new Set<Tensor>();
    for (const group of this.paramGroups) for (const p of group.params) seen.add(p);
    input.params.forEach((p, i) => {
      if (!isTensor(p)) throw new TypeError(`${where}: params[${i}] is not a Tensor`);
      if (p.isDisposed) throw new Error(`${where}: params[${i}] was disposed`);
      if (!p.isLeaf)
        throw new Error(`${where}: params[${i}] is not a leaf tensor (an optimizer can only update leaves)`);
      if (seen.has(p)) throw new Error(`${where}: params[${i}] already appears in this or an earlier group`);
      seen.add(p);
    });
    const group = { ...this.defaults, ...input, params: [...input.params] } as unknown as G;
    if (group.lr === undefined)
      throw new Error(`${where} didn't specify a value of required optimization parameter lr`);
    for (const [key, value] of Object.entries(group)) {
      if (key !== 'params' && Array.isArray(value)) (group as unknown as Record<string, unknown>)[key] = [...value];
    }
    this.validateGroup(group, where);
    this.paramGroups.push(group);
  }

  /** Drops every gradient (PyTorch's `zero_grad(set_to_none=True)`). */
  zeroGrad(): void {
    for (const group of this.paramGroups) for (const p of group.params) p.grad = null;
  }

  /**
   * The state in PyTorch's layout. Tensors are the live state (no copies, as in PyTorch): write them out
   * before the next `step()` or `loadStateDict()`. `step` counts are numbers.
   */
  stateDict(): OptimizerStateDict {
    const indexOf = new Map<Tensor, number>();
    let next = 0;
    const param_groups = this.paramGroups.map((group) => {
      const { params, ...hyper } = group;
      for (const p of params) indexOf.set(p, next++);
      const packed: Record<string, unknown> = { ...hyper };
      for (const [key, value] of Object.entries(packed)) if (Array.isArray(value)) packed[key] = [...value];
      return { ...packed, params: params.map((p) => indexOf.get(p)!) };
    });
    const state: Record<number, ParamState> = {};
    for (const [param, entry] of this.state) {
      const index = indexOf.get(param);
      if (index !== undefined) state[index] = { ...entry };
    }
    return { state, param_groups } as OptimizerStateDict;
  }

  /**
   * Restores `stateDict()` output, or a PyTorch optimizer state dict as read from a checkpoint (state keyed
   * by integers in a Map or object, tensors as Tensors or RawTensors, `step` as a number or 1-element
   * tensor). Group count and sizes must match; hyper-parameters (lr included) come from the saved groups;
   * state tensors are copied, cast to each parameter's dtype and device, and must have its shape.
   * Nothing changes when any check fails.
   */
  loadStateDict(source: OptimizerStateDict | Record<string, unknown>, sourceName = 'optimizer state dict'): void {
    const saved = normalizeOptimizerStateDict(source, sourceName);
    const owned = new Set<Tensor>();
    let built: { groups: G[]; state: Map<Tensor, ParamState> };
    try {
      built = this.buildLoadedState(saved, owned, sourceName);
    } catch (error) {
      for (const t of owned) t.dispose();
      throw error;
    } finally {
      for (const t of saved.converted) if (!owned.has(t)) t.dispose();
    }
    for (const entry of this.state.values())
      for (const value of Object.values(entry)) if (isTensor(value)) value.dispose();
    this.state.clear();
    for (const [param, entry] of built.state) this.state.set(param, entry);
    this.paramGroups.splice(0, this.paramGroups.length, ...built.groups);
  }

  private buildLoadedState(
    saved: NormalizedOptimizerState,
    owned: Set<Tensor>,
    sourceName: string,
  ): { groups: G[]; state: Map<Tensor, ParamState> } {
    if (saved.param_groups.length !== this.paramGroups.length) {
      throw new Error(
        `${sourceName} has ${saved.param_groups.length} parameter groups; this ${this.name} has ${this.paramGroups.length}`,
      );
    }
    const paramById = new Map<number, { param: Tensor; group: number; position: number }>();
    saved.param_groups.forEach((savedGroup, g) => {
      const params = this.paramGroups[g]!.params;
      if (savedGroup.params.length !== params.length) {
        throw new Error(
          `${sourceName}: param_groups[${g}] holds ${savedGroup.params.length} parameters; this ${this.name}'s group ${g} holds ${params.length}`,
        );
      }
      savedGroup.params.forEach((id, position) => {
        if (paramById.has(id)) throw new Error(`${sourceName}: parameter index ${id} appears twice in param_groups`);
        paramById.set(id, { param: params[position]!, group: g, position });
      });
    });
    const groups = saved.param_groups.map((savedGroup, g) => {
      const { params: _ids, ...hyper } = savedGroup;
      const group = { ...hyper, params: this.paramGroups[g]!.params } as unknown as G;
      this.validateGroup(group, `${sourceName}: param_groups[${g}]`);
      return group;
    });

    const state = new Map<Tensor, ParamState>();
    for (const [id, entry] of saved.state) {
      const target = paramById.get(id);
      if (!target)
        throw new Error(
          `${sourceName}: state[${id}] names no parameter (param_groups list ${paramById.size} parameters)`,
        );
      const where = `${sourceName}: state[${id}] (group ${target.group}, parameter ${target.position})`;
      const { param } = target;
      this.validateState(entry, groups[target.group]!, where);
      const copy: ParamState = {};
      for (const [key, value] of Object.entries(entry)) {
        if (!isTensor(value)) {
          copy[key] = value;
          continue;
        }
        if (value.shape.join(',') !== param.shape.join(',')) {
          throw new Error(`${where}.${key} has shape [${value.shape}]; the parameter has shape [${param.shape}]`);
        }
        const cast = value.to({
          dtype: isFloatingDType(param.dtype) ? param.dtype : value.dtype,
          device: param.device,
        });
        // A tensor converted from the source's bytes is already ours; anything else is copied.
        const own = cast !== value ? cast : saved.converted.has(value) ? value : value.clone();
        owned.add(own.keep());
        copy[key] = own;
      }
      state.set(param, copy);
    }
    return { groups, state };
  }
}

// ---- hyper-parameter checks shared by the optimizers ----

export function checkNumber(group: ParamGroup, key: string, where: string, min = 0): number {
  const value = field(group, key);
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new Error(`${where}: '${key}' must be a finite number >= ${min}, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function checkBoolean(group: ParamGroup, key: string, where: string): boolean {
  const value = field(group, key);
  if (typeof value !== 'boolean')
    throw new Error(`${where}: '${key}' must be true or false, got ${JSON.stringify(value)}`);
  return value;
}

/** `foreach`: null (automatic: multi-tensor kernels), true, or false (one tensor at a time). */
export function checkForeach(group: ParamGroup, where: string): void {
  const value = field(group, 'foreach');
  if (value !== null && typeof value !== 'boolean')
    throw new Error(`${where}: 'foreach' must be null, true or false, got ${JSON.stringify(value)}`);
}

/** PyTorch options this port does not implement must be off (absent or false). */
export function checkUnsupportedOff(group: ParamGroup, keys: string[], where: string): void {
  for (const key of keys) {
    const value = field(group, key);
    if (value !== undefined && value !== false && value !== null) {
      throw new Error(`${where}: '${key}' = ${JSON.stringify(value)} is not supported (only false)`);
    }
  }
}

/** The `initial_lr` key, when present, is a number (LR schedulers read it). */
export function checkInitialLr(group: ParamGroup, where: string): void {
  if (group.initial_lr !== undefined) checkNumber(group, 'initial_lr', where);
}

/**
 * Loads a checkpoint's `optimizer_state_dict` as `readPtFile` returns it (state in a Map keyed by
 * parameter index, tensors as RawTensors, `step` as a 1-element tensor). An empty dict, which is what
 * the reference BIKE checkpoint holds, carries no optimizer state: the optimizer is left as it is and
 * the result is false. `source` names the checkpoint in errors.
 */
export function loadOptimizerCheckpoint<G extends ParamGroup>(
  optimizer: Optimizer<G>,
  value: unknown,
  source: string,
): boolean {
  if (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof Map) &&
    Object.keys(value).length === 0
  )
    return false;
  optimizer.loadStateDict(value as Record<string, unknown>, source);
  return true;
}
