/**
 * Gradient checkpointing (the original wraps every CLIP transformer block in
 * `torch.utils.checkpoint`), for any module or function: the forward runs without grad and keeps
 * only the inputs and the random-number state; backward recomputes the forward with grad on
 * detached copies of the inputs and differentiates it with `grad()` (an autograd pass started from
 * inside the custom backward, which the addon allows).
 *
 * The recomputation replays the forward's random state (so dropout and stochastic depth draw the
 * same masks; the program's random stream is put back after, as if nothing had been drawn) and
 * the forward's autocast setting (so it computes in the same precision, whatever the backward
 * call's setting is), as `torch.utils.checkpoint` does.
 *
 * The parameters' gradients come back through the custom function's inputs, so autograd
 * accumulates them into `.grad` exactly as for a plain forward (and `grad()` over a checkpointed
 * model leaves `.grad` alone). One difference from the original's re-entrant checkpoint: there, a
 * block whose input does not require grad gives its parameters no gradients (PyTorch warns); here
 * they get them.
 */
import {
  Tensor,
  applyCustom,
  autocast,
  autocastState,
  enableGrad,
  grad,
  isGradEnabled,
  native,
  tidy,
  type nn,
} from '../torch/index.ts';

type AutocastDevice = 'cpu' | 'cuda';
const AUTOCAST_DEVICES: readonly AutocastDevice[] = ['cpu', 'cuda'];

/** The random states of the CPU and of the CUDA devices `inputs` live on (what the forward may draw from). */
function saveRngStates(cudaDevices: readonly string[]): { device: string | undefined; state: Tensor }[] {
  return [undefined, ...cudaDevices].map((device) => ({
    device,
    state: new Tensor(native.getRngState(device)).keep(),
  }));
}

function restoreRngStates(states: { device: string | undefined; state: Tensor }[]): void {
  for (const { device, state } of states) native.setRngState(state.handle, device);
}

/** Runs `fn` under the autocast settings `states` (one per device). */
function underAutocast<T>(
  states: { device: AutocastDevice; enabled: boolean; dtype: 'float16' | 'bfloat16' }[],
  fn: () => T,
): T {
  return states.reduceRight<() => T>((inner, s) => () => autocast(inner, s), fn)();
}

/**
 * `fn(...inputs)` without keeping its intermediates: backward recomputes them. `parameters` are the
 * tensors `fn` reads besides its inputs (a module's parameters); those that require grad get
 * their gradients as from a plain call.
 */
export function checkpointFunction(
  fn: (...inputs: Tensor[]) => Tensor,
  inputs: Tensor[],
  parameters: Tensor[] = [],
): Tensor {
  const trainable = parameters.filter((p) => p.requiresGrad);
  const inputNeedsGrad = inputs.map((x) => x.requiresGrad);
  if (!isGradEnabled() || (!inputNeedsGrad.includes(true) && trainable.length === 0)) return fn(...inputs);
  const cudaDevices = [...new Set(inputs.map((x) => x.device).filter((d) => d.startsWith('cuda')))];
  const forwardRng = saveRngStates(cudaDevices);
  const forwardAutocast = AUTOCAST_DEVICES.map((device) => ({ device, ...autocastState(device) }));
  const n = inputs.length;
  const [output] = applyCustom(
    {
      forward: (xs) => [fn(...xs.slice(0, n))],
      backward: ([dOut], saved) => {
        if (!dOut) return saved.map(() => null);
        const programRng = saveRngStates(cudaDevices);
        restoreRngStates(forwardRng);
        try {
          return tidy(() => {
            const leaves = saved.slice(0, n).map((t, i) => (inputNeedsGrad[i] ? t.detach().requiresGrad_() : t));
            const out = enableGrad(() => underAutocast(forwardAutocast, () => fn(...leaves)));
            const wanted = [...leaves.filter((_, i) => inputNeedsGrad[i]), ...trainable];
            const grads = grad([out], wanted, { gradOutputs: [dOut] });
            let next = 0;
            const inputGrads = inputNeedsGrad.map((needed) => (needed ? (grads[next++] ?? null) : null));
            return [...inputGrads, ...grads.slice(next)];
          });
        } finally {
          restoreRngStates(programRng);
          for (const { state } of programRng) state.dispose();
        }
      },
    },
    [...inputs, ...trainable],
  );
  return output!;
}

/** `module.forward(...inputs)` checkpointed: the module's parameters are differentiated too. */
export function checkpoint<M extends nn.Module & { forward(...inputs: Tensor[]): Tensor }>(
  module: M,
  ...inputs: Tensor[]
): Tensor {
  return checkpointFunction((...xs) => module.forward(...xs), inputs, module.parameters());
}
