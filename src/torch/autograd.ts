/** Grad mode, backward, gradients, and custom autograd functions with a JS backward. */
import { native, type Handle } from './native.ts';
import { Tensor, describeArgument } from './tensor.ts';
import { aten } from './ops.ts';

/** Runs `fn` with gradient recording off (PyTorch's `torch.no_grad()`). */
export function noGrad<T>(fn: () => T): T {
  const previous = native.setGradEnabled(false);
  try {
    return fn();
  } finally {
    native.setGradEnabled(previous);
  }
}

/** Runs `fn` with gradient recording on, even inside `noGrad`. */
export function enableGrad<T>(fn: () => T): T {
  const previous = native.setGradEnabled(true);
  try {
    return fn();
  } finally {
    native.setGradEnabled(previous);
  }
}

export function isGradEnabled(): boolean {
  return native.isGradEnabled();
}

/** Back-propagates from `outputs` (scalars, or with matching `grads`) into the leaves' `.grad`. */
export function backward(
  outputs: Tensor[],
  grads?: (Tensor | null)[],
  options: { retainGraph?: boolean; createGraph?: boolean } = {},
): void {
  native.backward(
    outputs.map((t) => t.handle),
    grads ? grads.map((g) => g?.handle ?? null) : null,
    options.retainGraph ?? false,
    options.createGraph ?? false,
  );
}

/** Gradients of `outputs` with respect to `inputs` (null where an input is unused), as `torch.autograd.grad`. */
export function grad(
  outputs: Tensor[],
  inputs: Tensor[],
  options: { gradOutputs?: (Tensor | null)[]; retainGraph?: boolean; createGraph?: boolean } = {},
): (Tensor | null)[] {
  const result = native.grad(
    outputs.map((t) => t.handle),
    inputs.map((t) => t.handle),
    options.gradOutputs ? options.gradOutputs.map((g) => g?.handle ?? null) : null,
    options.retainGraph,
    options.createGraph ?? false,
  );
  return result.map((h) => (h === null ? null : new Tensor(h)));
}

export interface CustomFunction {
  /** Computes the outputs from the inputs (runs without grad recording). */
  forward(inputs: Tensor[]): Tensor[];
  /** Gradients of the inputs (null for none) from the gradients of the outputs (null where unused). */
  backward(gradOutputs: (Tensor | null)[], inputs: Tensor[]): (Tensor | null)[];
}

const backwardFunctions = new Map<number, (grads: (Tensor | null)[]) => (Tensor | null)[]>();
let nextFunctionId = 1;
const alias = aten('alias');

native.setCustomBackwardHandler((id: number, gradHandles: (Handle | null)[]): (Handle | null)[] => {
  const fn = backwardFunctions.get(id);
  if (!fn) throw new Error(`custom backward #${id} is no longer registered`);
  // The addon runs this in a scope of its own, which frees the handles made here (the grads, the
  // backward's tensors, the aliases handed back) once it has read the results.
  const results = fn(gradHandles.map((h) => (h === null ? null : new Tensor(h))));
  return results.map((t) => (t === null ? null : (alias(t.handle) as Handle)));
});

function forgetReleasedFunctions(): void {
  for (const id of native.takeReleasedCustomIds()) backwardFunctions.delete(id);
}

/**
 * Applies a function with a hand-written backward (PyTorch's `autograd.Function`): the outputs are
 * connected to the graph of `inputs`, and back-propagation calls `fn.backward`.
 */
export function applyCustom(fn: CustomFunction, inputs: Tensor[]): Tensor[] {
  forgetReleasedFunctions();
  const outputs = noGrad(() => fn.forward(inputs));
  // The addon's condition for attaching a node: without one nothing would ever release `fn.backward`
  // (as for a custom function inside a checkpointed forward, which runs without grad).
  if (!isGradEnabled() || !inputs.some((t) => t.requiresGrad)) return outputs;
  const id = nextFunctionId++;
  const saved = inputs.map((t) => t.detach().keep());
  backwardFunctions.set(id, (grads) => {
    const results = fn.backward(grads, saved);
    if (!Array.isArray(results) || results.length !== inputs.length) {
      throw new TypeError(
        `custom backward #${id}: expected an array of ${inputs.length} gradients (Tensor or null, one per input), got ${Array.isArray(results) ? `${results.length} entries` : describeArgument(results)}`,
      );
    }
    results.forEach((g, i) => {
      if (g !== null && !(g instanceof Tensor))
        throw new TypeError(
          `custom backward #${id}: gradient ${i} must be a Tensor or null, got ${describeArgument(g)}`,
        );
    });
    return results;
  });
  const attached = native.customFunction(
    id,
    inputs.map((t) => t.handle),
    outputs.map((t) => t.handle),
  );
  for (const t of outputs) t.dispose();
  return attached.map((h) => new Tensor(h));
}

/** Number of custom backward functions still referenced by a graph (for leak tests). */
export function liveCustomFunctions(): number {
  forgetReleasedFunctions();
  return backwardFunctions.size;
}
