/**
 * The original BIKE learning-rate schedules (`utils/lr_scheduler.py`: `WarmupLR`,
 * `WarmupCosineAnnealingLR`, `WarmupMultiStepLR`, on top of PyTorch 1.13's `_LRScheduler`), evaluated at
 * fractional epochs with one lr per parameter group. The factory from a config's `solver` keys and the
 * training loop's stepping rule are the engine's (src/engine/training/lr-schedule.ts).
 *
 * As `_LRScheduler`: construction records each group's `initial_lr` (the base lr) and steps once to epoch 0
 * (so warm-up starts at lr 0); `step(epoch)` sets `last_epoch = epoch` and writes every group's `lr`.
 * All arithmetic is in float64 as in Python.
 */
import { pythonPow } from './python-math.ts';

/** What a schedule drives: anything with parameter groups (an `Optimizer`). */
export interface SchedulableOptimizer {
  paramGroups: { lr: number; initial_lr?: number }[];
}

export interface LRScheduler {
  /** Sets every group's lr for `epoch` (fractional epochs allowed); without it, advances one epoch. */
  step(epoch?: number): void;
  /** The epoch of the last step. */
  readonly lastEpoch: number;
  /** The lr of each group after the last step. */
  getLastLr(): number[];
  /** Everything but the optimizer, with PyTorch's attribute names (`base_lrs`, `last_epoch`, ...). */
  stateDict(): Record<string, unknown>;
  loadStateDict(state: Record<string, unknown>): void;
}

export interface WarmupOptions {
  /** Epochs of warm-up, one for all groups or one per group (default 0). */
  warmupEpochs?: number | number[];
  /** Warm-up curve exponent (default 1: linear). */
  warmupPowers?: number | number[];
  /** lr at epoch 0 (default 0). */
  warmupLrs?: number | number[];
  /** -1 to start fresh; otherwise resume (the groups must carry `initial_lr`). */
  lastEpoch?: number;
}

/** The original `to_tuple`: one value repeated per group, or a list of exactly one value per group. */
function perGroup(value: number | number[], groups: number, name: string): number[] {
  if (typeof value === 'number') return new Array<number>(groups).fill(value);
  if (Array.isArray(value)) {
    if (value.length !== groups)
      throw new Error(`${name}: length of [${value}] (${value.length}) != ${groups} parameter groups`);
    return [...value];
  }
  throw new Error(`${name}: expected a number or a list of numbers, got ${JSON.stringify(value)}`);
}

function finite(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new Error(`${name} must be a finite number, got ${JSON.stringify(value)}`);
  return value;
}

function numberList(value: unknown, length: number, name: string): number[] {
  if (!Array.isArray(value) || value.length !== length || !value.every((v) => typeof v === 'number')) {
    throw new Error(`${name} must be a list of ${length} numbers, got ${JSON.stringify(value)}`);
  }
  return [...value];
}

/** `WarmupLR`: warm-up from `warmup_lrs` to the base lr, then `lrAfterWarmup`. */
export abstract class WarmupLR implements LRScheduler {
  protected readonly optimizer: SchedulableOptimizer;
  protected numGroups: number;
  protected warmupEpochs: number[];
  protected warmupPowers: number[];
  protected warmupLrs: number[];
  protected baseLrs: number[];
  lastEpoch: number;
  protected stepCount = 0;
  protected lastLr: number[] = [];

  constructor(optimizer: SchedulableOptimizer, options: WarmupOptions = {}) {
    const groups = optimizer.paramGroups;
    this.optimizer = optimizer;
    this.numGroups = groups.length;
    this.warmupEpochs = perGroup(options.warmupEpochs ?? 0, this.numGroups, 'warmup_epochs');
    this.warmupPowers = perGroup(options.warmupPowers ?? 1, this.numGroups, 'warmup_powers');
    this.warmupLrs = perGroup(options.warmupLrs ?? 0, this.numGroups, 'warmup_lrs');
    const lastEpoch = options.lastEpoch ?? -1;
    if (lastEpoch === -1) {
      for (const group of groups) if (group.initial_lr === undefined) group.initial_lr = group.lr;
    } else {
      groups.forEach((group, i) => {
        if (group.initial_lr === undefined)
          throw new Error(
            `param 'initial_lr' is not specified in param_groups[${i}] when resuming a schedule (lastEpoch ${lastEpoch})`,
          );
      });
    }
    this.baseLrs = groups.map((group) => group.initial_lr!);
    this.lastEpoch = lastEpoch;
  }

  /** Validates subclass settings, then takes PyTorch's initial step; subclasses call it last. */
  protected initialStep(): void {
    this.stepCount = 0;
    this.step();
  }

  /** The lr of group `g` at `lastEpoch`, once warm-up is over. */
  protected abstract lrAfterWarmup(g: number): number;

  /** `get_lr()` at `lastEpoch`. */
  computeLrs(): number[] {
    const lrs: number[] = [];
    for (let g = 0; g < this.numGroups; g++) {
      const warmup = this.warmupEpochs[g]!;
      if (this.lastEpoch < warmup) {
        const progress = this.lastEpoch / warmup;
        const factor = pythonPow(progress, this.warmupPowers[g]!);
        const gap = this.baseLrs[g]! - this.warmupLrs[g]!;
        lrs.push(factor * gap + this.warmupLrs[g]!);
      } else {
        lrs.push(this.lrAfterWarmup(g));
      }
    }
    return lrs;
  }

  step(epoch?: number): void {
    if (epoch !== undefined && (typeof epoch !== 'number' || !Number.isFinite(epoch))) {
      throw new Error(`LR scheduler step: epoch must be a finite number, got ${String(epoch)}`);
    }
    const groups = this.optimizer.paramGroups;
    if (groups.length !== this.numGroups)
      throw new Error(
        `LR scheduler built for ${this.numGroups} parameter groups; the optimizer now has ${groups.length}`,
      );
    this.stepCount += 1;
    this.lastEpoch = epoch === undefined ? this.lastEpoch + 1 : epoch;
    const lrs = this.computeLrs();
    groups.forEach((group, g) => {
      group.lr = lrs[g]!;
    });
    this.lastLr = groups.map((group) => group.lr);
  }

  getLastLr(): number[] {
    return [...this.lastLr];
  }

  /** Settings specific to the subclass, by PyTorch attribute name. */
  protected abstract ownState(): Record<string, unknown>;
  protected abstract loadOwnState(state: Record<string, unknown>): void;

  stateDict(): Record<string, unknown> {
    return {
      num_groups: this.numGroups,
      warmup_epochs: [...this.warmupEpochs],
      warmup_powers: [...this.warmupPowers],
      warmup_lrs: [...this.warmupLrs],
      ...this.ownState(),
      base_lrs: [...this.baseLrs],
      last_epoch: this.lastEpoch,
      _step_count: this.stepCount,
      _last_lr: [...this.lastLr],
    };
  }

  /** Restores `stateDict()`; every key is checked (and the group count must match) before anything changes. */
  loadStateDict(state: Record<string, unknown>): void {
    if (typeof state !== 'object' || state === null) throw new Error('LR scheduler state must be an object');
    const where = (key: string) => `LR scheduler state '${key}'`;
    for (const key of [
      'num_groups',
      'warmup_epochs',
      'warmup_powers',
      'warmup_lrs',
      'base_lrs',
      'last_epoch',
      '_step_count',
      '_last_lr',
    ]) {
      if (!(key in state)) throw new Error(`${where(key)} is missing`);
    }
    const n = finite(state.num_groups, where('num_groups'));
    if (n !== this.numGroups)
      throw new Error(`${where('num_groups')} is ${n}; this scheduler drives ${this.numGroups} parameter groups`);
    const loaded = {
      warmupEpochs: numberList(state.warmup_epochs, n, where('warmup_epochs')),
      warmupPowers: numberList(state.warmup_powers, n, where('warmup_powers')),
      warmupLrs: numberList(state.warmup_lrs, n, where('warmup_lrs')),
      baseLrs: numberList(state.base_lrs, n, where('base_lrs')),
      lastEpoch: finite(state.last_epoch, where('last_epoch')),
      stepCount: finite(state._step_count, where('_step_count')),
      lastLr: numberList(state._last_lr, n, where('_last_lr')),
    };
    this.loadOwnState(state);
    Object.assign(this, loaded);
  }
}

/** `WarmupCosineAnnealingLR`: after warm-up, `base * (cos(pi * min(progress, 1)) + 1) / 2`, floored at `final_factor`. */
export class WarmupCosineAnnealingLR extends WarmupLR {
  protected totalEpoch: number;
  protected finalFactor: number;

  constructor(
    optimizer: SchedulableOptimizer,
    totalEpoch: number,
    options: WarmupOptions & { finalFactor?: number } = {},
  ) {
    super(optimizer, options);
    this.totalEpoch = finite(totalEpoch, 'WarmupCosineAnnealingLR total_epoch');
    this.finalFactor = finite(options.finalFactor ?? 0, 'WarmupCosineAnnealingLR final_factor');
    this.warmupEpochs.forEach((w, g) => {
      // The original divides by (total_epoch - warmup_epoch) once warm-up ends.
      if (w >= this.totalEpoch)
        throw new Error(
          `WarmupCosineAnnealingLR: warmup_epochs[${g}] (${w}) must be below total_epoch (${this.totalEpoch})`,
        );
    });
    this.initialStep();
  }

  protected lrAfterWarmup(g: number): number {
    const warmup = this.warmupEpochs[g]!;
    const progress = Math.min((this.lastEpoch - warmup) / (this.totalEpoch - warmup), 1.0);
    const cosineProgress = (Math.cos(Math.PI * progress) + 1) / 2;
    const factor = cosineProgress * (1 - this.finalFactor) + this.finalFactor;
    return this.baseLrs[g]! * factor;
  }

  protected ownState(): Record<string, unknown> {
    return { total_epoch: this.totalEpoch, final_factor: this.finalFactor };
  }

  protected loadOwnState(state: Record<string, unknown>): void {
    const totalEpoch = finite(state.total_epoch, "LR scheduler state 'total_epoch'");
    const finalFactor = finite(state.final_factor, "LR scheduler state 'final_factor'");
    this.totalEpoch = totalEpoch;
    this.finalFactor = finalFactor;
  }
}

/** Python's `bisect.bisect_right`: how many of the sorted `values` are <= `x`. */
function bisectRight(values: number[], x: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x < values[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function checkMilestones(milestones: unknown, maxWarmup: number, name: string): number[] {
  if (
    !Array.isArray(milestones) ||
    milestones.length === 0 ||
    !milestones.every((m) => typeof m === 'number' && Number.isFinite(m))
  ) {
    throw new Error(`${name}: milestones must be a non-empty list of numbers, got ${JSON.stringify(milestones)}`);
  }
  const sorted = [...milestones].sort((a, b) => a - b);
  if (sorted.some((m, i) => m !== milestones[i]))
    throw new Error(`${name}: milestones should be a list of increasing integers, got [${milestones}]`);
  if (milestones[0] <= maxWarmup)
    throw new Error(`${name}: milestones[0] (${milestones[0]}) <= max(warmup_epochs) (${maxWarmup})`);
  return [...milestones];
}

/** `WarmupMultiStepLR`: after warm-up, `base * gamma ** (number of milestones <= epoch)`. */
export class WarmupMultiStepLR extends WarmupLR {
  protected milestones: number[];
  protected gamma: number;

  constructor(optimizer: SchedulableOptimizer, milestones: number[], options: WarmupOptions & { gamma?: number } = {}) {
    super(optimizer, options);
    this.milestones = checkMilestones(milestones, Math.max(...this.warmupEpochs), 'WarmupMultiStepLR');
    this.gamma = finite(options.gamma ?? 0.1, 'WarmupMultiStepLR gamma');
    this.initialStep();
  }

  protected lrAfterWarmup(g: number): number {
    return this.baseLrs[g]! * pythonPow(this.gamma, bisectRight(this.milestones, this.lastEpoch));
  }

  protected ownState(): Record<string, unknown> {
    return { milestones: [...this.milestones], gamma: this.gamma };
  }

  protected loadOwnState(state: Record<string, unknown>): void {
    const milestones = checkMilestones(state.milestones, -Infinity, "LR scheduler state 'milestones'");
    const gamma = finite(state.gamma, "LR scheduler state 'gamma'");
    this.milestones = milestones;
    this.gamma = gamma;
  }
}
