/**
 * `torch.optim.SGD` (PyTorch 1.13): `d = grad (+ weight_decay * p)`; with momentum the buffer starts as a
 * copy of `d`, then `buf = momentum * buf + (1 - dampening) * d`; Nesterov uses `d + momentum * buf`,
 * otherwise `buf`; finally `p += -lr * d`. `lr` has no default and must be given.
 */
import { Tensor } from '../tensor.ts';
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
import { foreachAdd, foreachAdd_, foreachMul_, foreachNeg } from './foreach.ts';

export interface SgdGroup extends ParamGroup {
  momentum: number;
  dampening: number;
  weight_decay: number;
  nesterov: boolean;
  maximize: boolean;
  /** null: multi-tensor kernels; false: one tensor at a time (as PyTorch 1.13's default). */
  foreach: boolean | null;
  /** PyTorch's autograd-through-the-optimizer option; kept for the state-dict layout, must be false. */
  differentiable: boolean;
}

export type SgdOptions = Partial<Omit<SgdGroup, 'params'>>;

interface Entry {
  param: Tensor;
  grad: Tensor;
  buffer: Tensor | null;
}

export class SGD extends Optimizer<SgdGroup> {
  protected get name(): string {
    return 'SGD';
  }

  constructor(params: Tensor[] | ParamGroupInput<SgdGroup>[], options: SgdOptions = {}) {
    const { lr, ...rest } = options;
    super(params, {
      lr,
      momentum: 0,
      dampening: 0,
      weight_decay: 0,
      nesterov: false,
      maximize: false,
      foreach: null,
      differentiable: false,
      ...rest,
    });
  }

  protected validateGroup(group: SgdGroup, where: string): void {
    checkNumber(group, 'lr', where);
    checkNumber(group, 'momentum', where);
    if (typeof group.dampening !== 'number' || !Number.isFinite(group.dampening)) {
      throw new Error(`${where}: 'dampening' must be a finite number, got ${JSON.stringify(group.dampening)}`);
    }
    checkNumber(group, 'weight_decay', where);
    checkBoolean(group, 'nesterov', where);
    checkBoolean(group, 'maximize', where);
    if (group.nesterov && (group.momentum <= 0 || group.dampening !== 0)) {
      throw new Error(
        `${where}: Nesterov momentum requires a momentum > 0 and zero dampening (momentum ${group.momentum}, dampening ${group.dampening})`,
      );
    }
    checkForeach(group, where);
    checkInitialLr(group, where);
    checkUnsupportedOff(group, ['differentiable'], where);
  }

  protected validateState(state: ParamState, _group: SgdGroup, where: string): void {
    const buffer = state.momentum_buffer;
    if (buffer !== undefined && buffer !== null && !(buffer instanceof Tensor)) {
      throw new Error(`${where}: 'momentum_buffer' must be a tensor or null`);
    }
  }

  protected stepGroup(group: SgdGroup): void {
    const entries: Entry[] = [];
    for (const { param, grad } of this.withGrads(group)) {
      const buffer = this.state.get(param)?.momentum_buffer;
      entries.push({ param, grad, buffer: buffer instanceof Tensor ? buffer : null });
    }
    if (entries.length === 0) return;
    this.updateEntries(
      entries,
      group.foreach,
      (e) => `${e.param.device}|${e.param.dtype}`,
      (e) => this.updateOne(e, group),
      (bucket) => this.updateMany(bucket, group),
    );
    // As PyTorch: every parameter that had a gradient records its buffer (None without momentum).
    for (const { param, buffer } of entries) this.state.set(param, { momentum_buffer: buffer });
  }

  /** `_single_tensor_sgd`. */
  private updateOne(entry: Entry, group: SgdGroup): void {
    const { lr, momentum, dampening, weight_decay: weightDecay } = group;
    let d = group.maximize ? entry.grad.neg() : entry.grad;
    if (weightDecay !== 0) d = d.add(entry.param, weightDecay);
    if (momentum !== 0) {
      if (entry.buffer === null) entry.buffer = d.clone().keep();
      else entry.buffer.mul_(momentum).add_(d, 1 - dampening);
      d = group.nesterov ? d.add(entry.buffer, momentum) : entry.buffer;
    }
    entry.param.add_(d, -lr);
  }

  /** `_multi_tensor_sgd` (out-of-place where PyTorch writes into `.grad`; the numbers are the same). */
  private updateMany(entries: Entry[], group: SgdGroup): void {
    const { lr, momentum, dampening, weight_decay: weightDecay } = group;
    const params = entries.map((e) => e.param);
    let grads = entries.map((e) => e.grad);
    if (group.maximize) grads = foreachNeg(grads);
    if (weightDecay !== 0) grads = foreachAdd(grads, params, weightDecay);
    if (momentum !== 0) {
      if (entries.every((e) => e.buffer !== null)) {
        const buffers = entries.map((e) => e.buffer!);
        foreachMul_(buffers, momentum);
        foreachAdd_(buffers, grads, 1 - dampening);
      } else {
        entries.forEach((e, i) => {
          if (e.buffer === null) e.buffer = grads[i]!.clone().keep();
          else e.buffer.mul_(momentum).add_(grads[i]!, 1 - dampening);
        });
      }
      const buffers = entries.map((e) => e.buffer!);
      grads = group.nesterov ? foreachAdd(grads, buffers, momentum) : buffers;
    }
    foreachAdd_(params, grads, -lr);
  }
}
