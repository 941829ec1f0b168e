/**
 * Finite-difference gradient checking (PyTorch's `torch.autograd.gradcheck`, projected): compares
 * the autograd gradient of `sum(v * f())` with central differences
 * `(g(x + eps) - g(x - eps)) / 2 eps` for every element of every input, in float64. `v` is a fixed
 * random projection of the output, so a wrong entry anywhere in the Jacobian shows up.
 */
import { randn, type Tensor } from './tensor.ts';
import { grad, noGrad } from './autograd.ts';
import { tidy } from './scope.ts';

export interface GradcheckOptions {
  /** Finite-difference step (default 1e-6). */
  eps?: number;
  /** Allowed error: `|analytic - numeric| <= atol + rtol * |numeric|` (defaults 1e-6 and 1e-4). */
  atol?: number;
  rtol?: number;
  /** Names of the inputs, for the report (default `input 0`, `input 1`, ...). */
  names?: string[];
}

export interface GradcheckReport {
  /** Largest absolute error over all checked elements. */
  maxError: number;
  /** Number of input elements checked. */
  checked: number;
}

/**
 * Checks the gradients of `fn()` with respect to `inputs`: float64 leaves that require grad and
 * that `fn` reads (they are perturbed in place, so module parameters work too). Throws an Error
 * naming the input, the element and both values at the first mismatch.
 */
export function gradcheck(fn: () => Tensor, inputs: Tensor[], options: GradcheckOptions = {}): GradcheckReport {
  const eps = options.eps ?? 1e-6;
  const atol = options.atol ?? 1e-6;
  const rtol = options.rtol ?? 1e-4;
  const nameOf = (i: number) => options.names?.[i] ?? `input ${i}`;
  inputs.forEach((t, i) => {
    if (t.dtype !== 'float64')
      throw new Error(`gradcheck: ${nameOf(i)} is ${t.dtype}; use float64 so that finite differences are accurate`);
    if (!t.requiresGrad || !t.isLeaf) throw new Error(`gradcheck: ${nameOf(i)} must be a leaf that requires grad`);
  });
  return tidy(() => {
    const projection = noGrad(() => fn()).detach();
    const v = randn(projection.shape, { dtype: 'float64' });
    const objective = () => fn().mul(v).sum();
    const analytic = grad([objective()], inputs).map((g, i) => (g ?? inputs[i]!.detach().mul(0)).toArray());
    let maxError = 0;
    let checked = 0;
    noGrad(() => {
      inputs.forEach((input, i) => {
        const flat = input.view(-1);
        for (let j = 0; j < input.numel; j++) {
          const numeric = tidy(() => {
            const element = flat.select(0, j);
            const original = element.item();
            element.fill_(original + eps);
            const plus = objective().item();
            element.fill_(original - eps);
            const minus = objective().item();
            element.fill_(original);
            return (plus - minus) / (2 * eps);
          });
          const got = analytic[i]![j]!;
          const error = Math.abs(got - numeric);
          maxError = Math.max(maxError, error);
          checked++;
          if (!(error <= atol + rtol * Math.abs(numeric))) {
            throw new Error(
              `gradcheck: ${nameOf(i)} [${input.shape}] element ${j}: autograd ${got} vs finite difference ${numeric} (error ${error}, atol ${atol}, rtol ${rtol})`,
            );
          }
        }
      });
    });
    return { maxError, checked };
  });
}
