/**
 * Mixed precision: `autocast` (libtorch's autocast dispatch keys, as `torch.autocast`) and `GradScaler`
 * (as `torch.cuda.amp.GradScaler`, PyTorch 1.13): the loss is multiplied by a scale before backward,
 * gradients are unscaled and checked for inf/NaN on the device, a step with non-finite gradients is
 * skipped, and the scale backs off after such a step and grows after `growthInterval` clean ones.
 * On CUDA the fused `_amp_*` kernels do the work; where libtorch has no kernel for the device (the CPU
 * in 1.13) the same arithmetic runs as ordinary tensor ops.
 */
import { native } from './native.ts';
import { Tensor, full } from './tensor.ts';
import { atenInPlace } from './ops.ts';
import { noGrad } from './autograd.ts';
import { tidy } from './scope.ts';
import { dtypeFromCode, scalarTypeCode } from './dtype.ts';

export interface AutocastOptions {
  /** Which autocast to switch: `cuda` (default) or `cpu`. */
  device?: 'cuda' | 'cpu';
  /** Lower-precision type: default float16 on CUDA, bfloat16 on the CPU (the only one CPU autocast supports). */
  dtype?: 'float16' | 'bfloat16';
  /** false runs `fn` with autocast off (also inside an enclosing autocast). Default true. */
  enabled?: boolean;
}

/**
 * Runs `fn` with autocast set for `device`; the previous setting is restored afterwards, also when `fn`
 * throws. `fn` must be synchronous (autocast is a thread-local switch; work after an `await` would escape it).
 */
export function autocast<T>(fn: () => T, options: AutocastOptions = {}): T {
  const device = options.device ?? 'cuda';
  if (device !== 'cuda' && device !== 'cpu')
    throw new Error(`autocast: device must be 'cuda' or 'cpu', got ${JSON.stringify(device)}`);
  const dtype = options.dtype ?? (device === 'cuda' ? 'float16' : 'bfloat16');
  if (dtype !== 'float16' && dtype !== 'bfloat16')
    throw new Error(`autocast: dtype must be 'float16' or 'bfloat16', got ${JSON.stringify(dtype)}`);
  if (device === 'cpu' && dtype !== 'bfloat16')
    throw new Error("autocast: CPU autocast supports only dtype 'bfloat16'");
  const enabled = options.enabled ?? true;
  const [previousEnabled, previousDtype] = native.enterAutocast(device, enabled, scalarTypeCode(dtype));
  let result: T;
  try {
    result = fn();
  } finally {
    native.exitAutocast(device, previousEnabled, previousDtype);
  }
  if (result instanceof Promise) throw new Error('autocast() takes a synchronous function; await outside it');
  return result;
}

/** The autocast setting of `device` now (to replay it later with `autocast(fn, { device, ...state })`). */
export function autocastState(device: 'cuda' | 'cpu'): { enabled: boolean; dtype: 'float16' | 'bfloat16' } {
  const [enabled, code] = native.getAutocast(device);
  const dtype = dtypeFromCode(code);
  if (dtype !== 'float16' && dtype !== 'bfloat16')
    throw new Error(`autocastState: libtorch reports ${device} autocast dtype ${dtype}, which autocast() cannot set`);
  return { enabled, dtype };
}

/** What GradScaler needs of an optimizer. */
export interface ScalableOptimizer {
  paramGroups: { params: Tensor[] }[];
  step(): void;
}

export interface GradScalerOptions {
  initScale?: number;
  growthFactor?: number;
  backoffFactor?: number;
  growthInterval?: number;
  /** false: `scale` returns its input, `step` just steps, the rest do nothing. */
  enabled?: boolean;
}

/** `GradScaler.state_dict()` (PyTorch's keys); empty when the scaler is disabled. */
export interface GradScalerState {
  scale?: number;
  growth_factor?: number;
  backoff_factor?: number;
  growth_interval?: number;
  _growth_tracker?: number;
}

type Stage = 'ready' | 'unscaled' | 'stepped';

interface PerOptimizer {
  stage: Stage;
  /** One float32 [1] tensor per gradient device: > 0 when a gradient held inf or NaN. */
  foundInfPerDevice: Map<string, Tensor>;
}

const amp = {
  unscale: atenInPlace('_amp_foreach_non_finite_check_and_unscale_'),
  updateScale: atenInPlace('_amp_update_scale_'),
};
const mulInPlace = atenInPlace('mul_.Tensor');

/** Whether libtorch has the fused `_amp_*` kernels for `device` (CUDA always; the CPU from PyTorch 2.x). */
const fusedAvailable = new Map<string, boolean>();
function hasFusedAmp(device: string): boolean {
  const kind = device.startsWith('cuda') ? 'cuda' : device;
  let known = fusedAvailable.get(kind);
  if (known === undefined) {
    known =
      kind === 'cuda' ||
      tidy(() => {
        try {
          const g = full([1], 1, { device });
          amp.unscale([g.handle], full([1], 0, { device }).handle, full([1], 1, { device }).handle);
          return true;
        } catch {
          return false;
        }
      });
    fusedAvailable.set(kind, known);
  }
  return known;
}

export class GradScaler {
  private readonly enabled: boolean;
  private initScale: number;
  private growthFactor: number;
  private backoffFactor: number;
  private growthInterval: number;
  private initGrowthTracker = 0;
  private scaleTensor: Tensor | null = null;
  private growthTracker: Tensor | null = null;
  private perOptimizer = new Map<ScalableOptimizer, PerOptimizer>();

  constructor(options: GradScalerOptions = {}) {
    this.enabled = options.enabled ?? true;
    this.initScale = options.initScale ?? 2 ** 16;
    this.growthFactor = options.growthFactor ?? 2.0;
    this.backoffFactor = options.backoffFactor ?? 0.5;
    this.growthInterval = options.growthInterval ?? 2000;
    if (this.enabled) {
      if (!(this.growthFactor > 1.0))
        throw new Error(`GradScaler: growthFactor must be > 1.0, got ${this.growthFactor}`);
      if (!(this.backoffFactor < 1.0))
        throw new Error(`GradScaler: backoffFactor must be < 1.0, got ${this.backoffFactor}`);
      if (!Number.isInteger(this.growthInterval) || this.growthInterval <= 0)
        throw new Error(`GradScaler: growthInterval must be a positive integer, got ${this.growthInterval}`);
      if (!(this.initScale > 0) || !Number.isFinite(this.initScale))
        throw new Error(`GradScaler: initScale must be a positive finite number, got ${this.initScale}`);
    }
  }

  isEnabled(): boolean {
    return this.enabled;
  }

  /** `loss * scale` (a new tensor); the scale lives on the device of the first tensor scaled. */
  scale(outputs: Tensor): Tensor {
    if (!this.enabled) return outputs;
    if (this.scaleTensor === null) {
      this.scaleTensor = full([1], this.initScale, { dtype: 'float32', device: outputs.device }).keep();
      this.growthTracker = full([1], this.initGrowthTracker, { dtype: 'int32', device: outputs.device }).keep();
    }
    return tidy(() => outputs.mul(this.scaleTensor!.to(outputs.device)));
  }

  private requireScale(caller: string): Tensor {
    if (this.scaleTensor === null) {
      throw new Error(
        `GradScaler.${caller}() was called but no scale exists yet: call scaler.scale(loss) earlier in the iteration`,
      );
    }
    return this.scaleTensor;
  }

  private stateOf(optimizer: ScalableOptimizer): PerOptimizer {
    let state = this.perOptimizer.get(optimizer);
    if (!state) {
      state = { stage: 'ready', foundInfPerDevice: new Map() };
      this.perOptimizer.set(optimizer, state);
    }
    return state;
  }

  /**
   * Divides the optimizer's gradients by the scale in place and records, on the device, whether any was
   * inf or NaN (no host sync). Call it before clipping gradients; `step` calls it otherwise.
   */
  unscale_(optimizer: ScalableOptimizer): void {
    if (!this.enabled) return;
    const scale = this.requireScale('unscale_');
    const state = this.stateOf(optimizer);
    if (state.stage === 'unscaled')
      throw new Error('unscale_() has already been called on this optimizer since the last update()');
    if (state.stage === 'stepped') throw new Error('unscale_() is being called after step()');
    noGrad(() =>
      tidy(() => {
        const invScale = scale.to('float64').reciprocal().to('float32');
        const found = new Map<string, Tensor>([
          [scale.device, full([1], 0, { dtype: 'float32', device: scale.device })],
        ]);
        const invByDevice = new Map<string, Tensor>();
        const byDeviceAndDtype = new Map<string, Tensor[]>();
        optimizer.paramGroups.forEach((group, g) => {
          group.params.forEach((param, i) => {
            const grad = param.grad;
            if (grad === null) return;
            if (grad.dtype === 'float16')
              throw new Error(
                `GradScaler: attempting to unscale FP16 gradients (parameter group ${g}, parameter ${i}); keep the parameters in float32`,
              );
            const key = `${grad.device}|${grad.dtype}`;
            const list = byDeviceAndDtype.get(key);
            if (list) list.push(grad);
            else byDeviceAndDtype.set(key, [grad]);
          });
        });
        for (const grads of byDeviceAndDtype.values()) {
          const device = grads[0]!.device;
          // Each gradient device gets its own copies, as PyTorch's _MultiDeviceReplicator.
          if (!found.has(device)) found.set(device, found.get(scale.device)!.to(device));
          if (!invByDevice.has(device)) invByDevice.set(device, invScale.to(device));
          unscaleAndCheck(grads, found.get(device)!, invByDevice.get(device)!);
        }
        for (const t of found.values()) t.keep();
        state.foundInfPerDevice = found;
      }),
    );
    state.stage = 'unscaled';
  }

  /**
   * Unscales (unless `unscale_` already did) and steps the optimizer unless a gradient was inf or NaN
   * (one host sync per gradient device). Returns whether the step was taken.
   */
  step(optimizer: ScalableOptimizer): boolean {
    if (!this.enabled) {
      optimizer.step();
      return true;
    }
    const state = this.stateOf(optimizer);
    if (state.stage === 'stepped') throw new Error('step() has already been called since the last update()');
    if (state.stage === 'ready') this.unscale_(optimizer);
    let foundInf = 0;
    for (const t of state.foundInfPerDevice.values()) foundInf += t.item();
    state.stage = 'stepped';
    if (foundInf !== 0) return false;
    optimizer.step();
    return true;
  }

  /**
   * Ends the iteration: halves (backoff) the scale if any unscaled gradient was non-finite, else counts a
   * clean step and grows the scale every `growthInterval` of them; or sets `newScale` if given.
   */
  update(newScale?: number): void {
    if (!this.enabled) return;
    const scale = this.requireScale('update');
    const tracker = this.growthTracker!;
    if (newScale !== undefined) {
      if (typeof newScale !== 'number' || !(newScale > 0))
        throw new Error(`GradScaler.update: newScale must be a positive number, got ${newScale}`);
      scale.fill_(newScale);
    } else {
      const foundInfs = [...this.perOptimizer.values()].flatMap((s) => [...s.foundInfPerDevice.values()]);
      if (foundInfs.length === 0)
        throw new Error('GradScaler.update: no inf checks were recorded: call step() (or unscale_()) before update()');
      noGrad(() =>
        tidy(() => {
          let combined = foundInfs[0]!.to(scale.device);
          for (const t of foundInfs.slice(1)) combined = combined.add(t.to(scale.device));
          if (hasFusedAmp(scale.device)) {
            amp.updateScale(
              scale.handle,
              tracker.handle,
              combined.handle,
              this.growthFactor,
              this.backoffFactor,
              this.growthInterval,
            );
          } else {
            updateScaleOnHost(
              scale,
              tracker,
              combined.item(),
              this.growthFactor,
              this.backoffFactor,
              this.growthInterval,
            );
          }
        }),
      );
    }
    this.resetPerOptimizer();
  }

  private resetPerOptimizer(): void {
    for (const s of this.perOptimizer.values()) for (const t of s.foundInfPerDevice.values()) t.dispose();
    this.perOptimizer = new Map();
  }

  /** The current scale (a host sync), `initScale` before the first `scale()`, 1 when disabled. */
  getScale(): number {
    if (!this.enabled) return 1.0;
    return this.scaleTensor === null ? this.initScale : this.scaleTensor.item();
  }

  private getGrowthTracker(): number {
    if (!this.enabled) return 0;
    return this.growthTracker === null ? this.initGrowthTracker : this.growthTracker.item();
  }

  stateDict(): GradScalerState {
    if (!this.enabled) return {};
    return {
      scale: this.getScale(),
      growth_factor: this.growthFactor,
      backoff_factor: this.backoffFactor,
      growth_interval: this.growthInterval,
      _growth_tracker: this.getGrowthTracker(),
    };
  }

  loadStateDict(state: GradScalerState): void {
    if (!this.enabled) return;
    if (typeof state !== 'object' || state === null || Object.keys(state).length === 0) {
      throw new Error(
        'GradScaler.loadStateDict: the source state dict is empty, possibly because it was saved from a disabled GradScaler',
      );
    }
    const read = (key: keyof GradScalerState): number => {
      const value = state[key];
      if (typeof value !== 'number' || !Number.isFinite(value))
        throw new Error(`GradScaler.loadStateDict: '${key}' must be a finite number, got ${JSON.stringify(value)}`);
      return value;
    };
    const loaded = {
      scale: read('scale'),
      growthFactor: read('growth_factor'),
      backoffFactor: read('backoff_factor'),
      growthInterval: read('growth_interval'),
      tracker: read('_growth_tracker'),
    };
    this.initScale = loaded.scale;
    this.scaleTensor?.fill_(loaded.scale);
    this.growthFactor = loaded.growthFactor;
    this.backoffFactor = loaded.backoffFactor;
    this.growthInterval = loaded.growthInterval;
    this.initGrowthTracker = loaded.tracker;
    this.growthTracker?.fill_(loaded.tracker);
  }
}

/**
 * `_amp_foreach_non_finite_check_and_unscale_`: `foundInf` becomes 1 if any gradient holds inf or NaN;
 * every gradient is multiplied by `invScale`.
 */
function unscaleAndCheck(grads: Tensor[], foundInf: Tensor, invScale: Tensor): void {
  const device = grads[0]!.device;
  if (hasFusedAmp(device)) {
    amp.unscale(
      grads.map((g) => g.handle),
      foundInf.handle,
      invScale.handle,
    );
    return;
  }
  const scalarInv = invScale.reshape([]);
  for (const g of grads) {
    const nonFinite = g.isfinite().all().logicalNot().to('float32');
    foundInf.copy_(foundInf.maximum(nonFinite.reshape([1])));
    mulInPlace(g.handle, scalarInv.handle);
  }
}

/** `_amp_update_scale_` on the host, in float32 as the kernel computes. */
function updateScaleOnHost(
  scale: Tensor,
  tracker: Tensor,
  foundInf: number,
  growthFactor: number,
  backoffFactor: number,
  growthInterval: number,
): void {
  const current = scale.item();
  if (foundInf !== 0) {
    scale.fill_(Math.fround(current * backoffFactor));
    tracker.fill_(0);
    return;
  }
  const successful = tracker.item() + 1;
  if (successful === growthInterval) {
    const grown = Math.fround(current * growthFactor);
    if (Number.isFinite(grown)) scale.fill_(grown);
    tracker.fill_(0);
  } else {
    tracker.fill_(successful);
  }
}
