/**
 * Gradient clipping by global norm, as `torch.nn.utils.clip_grad_norm_` (PyTorch 1.13): the norm of the
 * per-parameter gradient norms, `coef = clamp(max_norm / (total + 1e-6), max=1)` (Python's
 * `float / tensor` is `tensor.reciprocal() * float`), every gradient multiplied in place. No host sync:
 * the total norm comes back as a tensor.
 */
import { Tensor, tensor } from '../tensor.ts';
import { stack } from '../tensor-ops.ts';
import { aten, atenInPlace } from '../ops.ts';
import { noGrad } from '../autograd.ts';
import { tidy } from '../scope.ts';

const norm = aten('norm.ScalarOpt_dim');
const mulInPlace = atenInPlace('mul_.Tensor');

export interface ClipGradNormOptions {
  /** Order of the norm (default 2); `Infinity` for the largest absolute value. */
  normType?: number;
  /** Throw when the total norm is NaN or infinite (costs a host sync). */
  errorIfNonfinite?: boolean;
}

/** `torch.norm(t, p)`: over every dimension, as Python's `torch.norm` passes them. */
function fullNorm(t: Tensor, p: number): Tensor {
  return new Tensor(
    norm(
      t.handle,
      p,
      Array.from({ length: t.ndim }, (_, i) => i),
      false,
    ),
  );
}

/**
 * Scales the gradients of `params` so that their global `normType`-norm is at most `maxNorm`.
 * Parameters without a gradient are ignored. Returns the total norm before clipping (a 0-dim tensor).
 */
export function clipGradNorm(params: Tensor[] | Tensor, maxNorm: number, options: ClipGradNormOptions = {}): Tensor {
  const normType = options.normType ?? 2;
  if (typeof maxNorm !== 'number' || Number.isNaN(maxNorm))
    throw new TypeError(`clipGradNorm: maxNorm must be a number, got ${String(maxNorm)}`);
  if (typeof normType !== 'number' || Number.isNaN(normType))
    throw new TypeError(`clipGradNorm: normType must be a number, got ${String(normType)}`);
  const list = Array.isArray(params) ? params : [params];
  return noGrad(() =>
    tidy(() => {
      const grads = list.map((p) => p.grad).filter((g): g is Tensor => g !== null);
      if (grads.length === 0) return tensor(0);
      const device = grads[0]!.device;
      let total: Tensor;
      if (normType === Infinity) {
        const norms = grads.map((g) => g.abs().max().to(device));
        total = norms.length === 1 ? norms[0]! : stack(norms).max();
      } else {
        total = fullNorm(stack(grads.map((g) => fullNorm(g, normType).to(device))), normType);
      }
      if (options.errorIfNonfinite && !Number.isFinite(total.item())) {
        throw new Error(
          `clipGradNorm: the total norm of order ${normType} of the gradients is non-finite (${total.item()}), so it cannot be clipped; pass errorIfNonfinite: false to scale by it anyway`,
        );
      }
      const coef = total.add(1e-6).reciprocal().mul(maxNorm).clamp(null, 1);
      for (const g of grads) mulInPlace(g.handle, coef.to(g.device).handle);
      return total;
    }),
  );
}
