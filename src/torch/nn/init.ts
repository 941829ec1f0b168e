/** Parameter initialisers (PyTorch's `torch.nn.init`), all drawing from libtorch's seeded generator. */
import { Tensor, empty } from '../tensor.ts';
import { noGrad } from '../autograd.ts';
import { aten } from '../ops.ts';

const uniform_ = aten('uniform_');
const normal_ = aten('normal_');

let skipDepth = 0;

/**
 * Builds a model with `uniform` and `normal` (so every default Linear, Conv2d and Embedding initialiser)
 * returning uninitialised tensors: no random draws, for a model whose parameters a strict state-dict
 * load replaces right after. The global generator is not advanced inside.
 */
export function withoutInitialization<T>(build: () => T): T {
  skipDepth++;
  try {
    return build();
  } finally {
    skipDepth--;
  }
}

/** Whether a `withoutInitialization` build is running (models skip their own initialisers too). */
export function initializationSkipped(): boolean {
  return skipDepth > 0;
}

export function uniform(shape: number[], low: number, high: number): Tensor {
  const t = empty(shape);
  if (skipDepth > 0) return t;
  noGrad(() => uniform_(t.handle, low, high));
  return t;
}

export function normal(shape: number[], std: number, mean = 0): Tensor {
  const t = empty(shape);
  if (skipDepth > 0) return t;
  noGrad(() => normal_(t.handle, mean, std));
  return t;
}

function fans(shape: number[]): { fanIn: number; fanOut: number } {
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: (shape[1] ?? 1) * receptive, fanOut: shape[0]! * receptive };
}

/** `kaiming_uniform_(a=sqrt(5))`, the default of Linear and Conv2d weights: U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
export function defaultWeight(shape: number[]): Tensor {
  const bound = 1 / Math.sqrt(fans(shape).fanIn);
  return uniform(shape, -bound, bound);
}

/** The default bias of Linear and Conv2d for a weight of `weightShape`. */
export function defaultBias(size: number, weightShape: number[]): Tensor {
  const fanIn = fans(weightShape).fanIn;
  const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  return uniform([size], -bound, bound);
}

export function xavierUniform(shape: number[], gain = 1): Tensor {
  const { fanIn, fanOut } = fans(shape);
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform(shape, -bound, bound);
}
