/**
 * Adam and AdamW as `torch.optim.Adam` / `torch.optim.AdamW` (PyTorch 1.13), operation for operation:
 * AdamW decays the parameter first (`p *= 1 - lr * weight_decay`), Adam adds `weight_decay * p` to the
 * gradient; then both update the moments, and step with
 * `denom = sqrt(exp_avg_sq) / sqrt(1 - beta2^t) + eps`, `p += -(lr / (1 - beta1^t)) * exp_avg / denom`,
 * bias corrections computed in float64 as Python does. With `foreach` (the default) parameters that share
 * step count, device and dtype go through libtorch's multi-tensor kernels (the same per-element math).
 */
import { Tensor } from '../tensor.ts';
import { aten } from '../ops.ts';
import { tidy } from '../scope.ts';
import {
  Optimizer,
  checkBoolean,
  checkForeach,
  checkInitialLr,
  checkNumber,
  checkUnsupportedOff,
  type ParamGroup,
  type ParamGroupInput,
  type ParamState,
} from './optimizer.ts';
import {
  foreachAdd,
  foreachAddScalar_,
  foreachAddcdiv_,
  foreachAddcmul_,
  foreachAdd_,
  foreachDiv_,
  foreachMaximum_,
  foreachMul_,
  foreachNeg,
  foreachSqrt,
} from './foreach.ts';
import { pythonPow } from './python-math.ts';

export interface AdamGroup extends ParamGroup {
  betas: [number, number];
  eps: number;
  weight_decay: number;
  amsgrad: boolean;
  maximize: boolean;
  /** null: multi-tensor kernels; false: one tensor at a time (as PyTorch 1.13's default). */
  foreach: boolean | null;
  /** PyTorch's CUDA-graph option; kept for the state-dict layout, must be false. */
  capturable: boolean;
  /** Adam's (not AdamW's) further PyTorch 1.13 keys, kept for the layout; must be false. */
  differentiable?: boolean;
  fused?: boolean;
}

/** Hyper-parameters for every group (PyTorch's keyword names); `betas` is checked to hold two numbers. */
export type AdamOptions = Partial<Omit<AdamGroup, 'params' | 'betas'>> & { betas?: readonly number[] };

interface AdamState extends ParamState {
  step: number;
  exp_avg: Tensor;
  exp_avg_sq: Tensor;
}

interface Entry {
  param: Tensor;
  grad: Tensor;
  state: AdamState;
}

const zerosLike = aten('zeros_like');
const maximum = aten('maximum');

function newZerosLike(p: Tensor): Tensor {
  return new Tensor(zerosLike(p.handle)).keep();
}

/** Elements per chunk of the CPU single-tensor update: 1 MiB of float32, a size that stays in L2. */
export const CPU_CHUNK = 1 << 18;

/** A parameter with its gradient and Adam state (`max`: amsgrad's running maximum, or null). */
interface Moments {
  param: Tensor;
  grad: Tensor;
  expAvg: Tensor;
  expAvgSq: Tensor;
  max: Tensor | null;
}

/** `f` applied to the parameter and each tensor of its state. */
function mapMoments(m: Moments, f: (t: Tensor) => Tensor): Moments {
  return { param: f(m.param), grad: f(m.grad), expAvg: f(m.expAvg), expAvgSq: f(m.expAvgSq), max: m.max && f(m.max) };
}

/** One-dimensional views of all the tensors (writes go through), or null if one is not contiguous. */
function flatViews(m: Moments): Moments | null {
  try {
    return mapMoments(m, (t) => t.view(-1));
  } catch {
    return null; // a strided tensor (a loaded transposed weight, an expanded gradient): update it whole
  }
}

abstract class AdamFamily extends Optimizer<AdamGroup> {
  // Accessors, not fields: the base constructor validates groups before subclass fields exist.
  /** AdamW's decoupled weight decay, or Adam's L2 term added to the gradient. */
  protected abstract get decoupledWeightDecay(): boolean;
  /** Keys PyTorch has in this optimizer's groups that this port only accepts as false. */
  protected abstract get unsupportedKeys(): string[];

  protected validateGroup(group: AdamGroup, where: string): void {
    checkNumber(group, 'lr', where);
    checkNumber(group, 'eps', where);
    checkNumber(group, 'weight_decay', where);
    const betas = group.betas;
    if (!Array.isArray(betas) || betas.length !== 2 || !betas.every((b) => typeof b === 'number' && b >= 0 && b < 1)) {
      throw new Error(`${where}: 'betas' must be two numbers in [0, 1), got ${JSON.stringify(betas)}`);
    }
    checkBoolean(group, 'amsgrad', where);
    checkBoolean(group, 'maximize', where);
    checkForeach(group, where);
    checkInitialLr(group, where);
    checkUnsupportedOff(group, this.unsupportedKeys, where);
  }

  protected validateState(state: ParamState, group: AdamGroup, where: string): void {
    if (typeof state.step !== 'number') throw new Error(`${where}: missing 'step'`);
    const keys = ['exp_avg', 'exp_avg_sq', ...(group.amsgrad ? ['max_exp_avg_sq'] : [])];
    for (const key of keys) {
      if (!(state[key] instanceof Tensor))
        throw new Error(
          `${where}: '${key}' must be a tensor${key === 'max_exp_avg_sq' ? ' (the group has amsgrad on)' : ''}`,
        );
    }
  }

  protected stepGroup(group: AdamGroup): void {
    const entries: Entry[] = [];
    for (const { param, grad } of this.withGrads(group)) {
      let state = this.state.get(param) as AdamState | undefined;
      if (!state) {
        state = { step: 0, exp_avg: newZerosLike(param), exp_avg_sq: newZerosLike(param) };
        if (group.amsgrad) state.max_exp_avg_sq = newZerosLike(param);
        this.state.set(param, state);
      } else if (group.amsgrad && !(state.max_exp_avg_sq instanceof Tensor)) {
        throw new Error(
          `${this.name}: a parameter of a group with amsgrad on has no 'max_exp_avg_sq' state (amsgrad was turned on after it was first stepped)`,
        );
      }
      entries.push({ param, grad, state });
    }
    if (entries.length === 0) return;
    for (const { state } of entries) state.step += 1;
    this.updateEntries(
      entries,
      group.foreach,
      (e) => `${e.state.step}|${e.param.device}|${e.param.dtype}`,
      (e) => this.updateOne(e, group),
      (bucket) => this.updateMany(bucket, group),
    );
  }

  /** `_single_tensor_adam(w)`. */
  private updateOne({ param, grad, state }: Entry, group: AdamGroup): void {
    const [beta1, beta2] = group.betas;
    const bias = biasCorrections(group.lr, beta1, beta2, state.step);
    const max = group.amsgrad ? (state.max_exp_avg_sq as Tensor) : null;
    const whole: Moments = { param, grad, expAvg: state.exp_avg, expAvgSq: state.exp_avg_sq, max };
    const flat = param.device === 'cpu' && param.numel > CPU_CHUNK ? flatViews(whole) : null;
    if (!flat) return this.updateSlice(whole, group, bias);
    // Every operation is per element, so running them chunk by chunk gives the same bits; on CPU a
    // chunk's temporaries stay in cache between the ~8 passes instead of streaming a large matrix
    // through memory each time (about a quarter less optimizer time on ViT-B/32's weights).
    for (let start = 0; start < param.numel; start += CPU_CHUNK) {
      const length = Math.min(CPU_CHUNK, param.numel - start);
      tidy(() =>
        this.updateSlice(
          mapMoments(flat, (t) => t.narrow(0, start, length)),
          group,
          bias,
        ),
      );
    }
  }

  /** The single-tensor update on one parameter, or on matching flat slices of it and its state. */
  private updateSlice(
    { param, grad, expAvg, expAvgSq, max }: Moments,
    group: AdamGroup,
    { stepSize, bc2Sqrt }: { stepSize: number; bc2Sqrt: number },
  ): void {
    const { lr, eps, weight_decay: weightDecay } = group;
    const [beta1, beta2] = group.betas;
    let g = group.maximize ? grad.neg() : grad;
    if (this.decoupledWeightDecay) param.mul_(1 - lr * weightDecay);
    else if (weightDecay !== 0) g = g.add(param, weightDecay);
    expAvg.mul_(beta1).add_(g, 1 - beta1);
    expAvgSq.mul_(beta2).addcmul_(g, g, 1 - beta2);
    let second = expAvgSq;
    if (max) {
      max.copy_(new Tensor(maximum(max.handle, second.handle)));
      second = max;
    }
    const denom = second.sqrt().div(bc2Sqrt).add_(eps);
    param.addcdiv_(expAvg, denom, -stepSize);
  }

  /** `_multi_tensor_adam(w)` for parameters with the same step count. */
  private updateMany(entries: Entry[], group: AdamGroup): void {
    const { lr, eps, weight_decay: weightDecay } = group;
    const [beta1, beta2] = group.betas;
    const params = entries.map((e) => e.param);
    const expAvgs = entries.map((e) => e.state.exp_avg);
    const expAvgSqs = entries.map((e) => e.state.exp_avg_sq);
    let grads = entries.map((e) => e.grad);
    if (group.maximize) grads = foreachNeg(grads);
    if (this.decoupledWeightDecay) foreachMul_(params, 1 - lr * weightDecay);
    // PyTorch adds in place into the gradients; a new list gives the same numbers and leaves .grad intact.
    else if (weightDecay !== 0) grads = foreachAdd(grads, params, weightDecay);
    foreachMul_(expAvgs, beta1);
    foreachAdd_(expAvgs, grads, 1 - beta1);
    foreachMul_(expAvgSqs, beta2);
    foreachAddcmul_(expAvgSqs, grads, grads, 1 - beta2);
    const { stepSize, bc2Sqrt } = biasCorrections(lr, beta1, beta2, entries[0]!.state.step);
    let second = expAvgSqs;
    if (group.amsgrad) {
      second = entries.map((e) => e.state.max_exp_avg_sq as Tensor);
      foreachMaximum_(second, expAvgSqs);
    }
    const denom = foreachSqrt(second);
    foreachDiv_(denom, bc2Sqrt);
    foreachAddScalar_(denom, eps);
    foreachAddcdiv_(params, expAvgs, denom, -stepSize);
  }
}

/** Python-float bias corrections: `step_size = lr / (1 - beta1**t)`, `sqrt(1 - beta2**t)`. */
export function biasCorrections(
  lr: number,
  beta1: number,
  beta2: number,
  step: number,
): { stepSize: number; bc2Sqrt: number } {
  const bc1 = 1 - pythonPow(beta1, step);
  const bc2 = 1 - pythonPow(beta2, step);
  return { stepSize: lr / bc1, bc2Sqrt: Math.sqrt(bc2) };
}

/** `torch.optim.AdamW` (defaults lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 1e-2). */
export class AdamW extends AdamFamily {
  protected get name(): string {
    return 'AdamW';
  }
  protected get decoupledWeightDecay(): boolean {
    return true;
  }
  protected get unsupportedKeys(): string[] {
    return ['capturable'];
  }

  constructor(params: Tensor[] | ParamGroupInput<AdamGroup>[], options: AdamOptions = {}) {
    super(params, {
      lr: 1e-3,
      betas: [0.9, 0.999],
      eps: 1e-8,
      weight_decay: 1e-2,
      amsgrad: false,
      foreach: null,
      maximize: false,
      capturable: false,
      ...options,
    } as Omit<AdamGroup, 'params'>);
  }
}

/** `torch.optim.Adam` (defaults lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0). */
export class Adam extends AdamFamily {
  protected get name(): string {
    return 'Adam';
  }
  protected get decoupledWeightDecay(): boolean {
    return false;
  }
  protected get unsupportedKeys(): string[] {
    return ['capturable', 'differentiable', 'fused'];
  }

  constructor(params: Tensor[] | ParamGroupInput<AdamGroup>[], options: AdamOptions = {}) {
    super(params, {
      lr: 1e-3,
      betas: [0.9, 0.999],
      eps: 1e-8,
      weight_decay: 0,
      amsgrad: false,
      maximize: false,
      foreach: null,
      capturable: false,
      differentiable: false,
      fused: false,
      ...options,
    } as Omit<AdamGroup, 'params'>);
  }
}
