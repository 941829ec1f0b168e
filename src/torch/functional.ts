/** Neural-network functions (PyTorch's `torch.nn.functional`), each an ATen operator or a short composition. */
import { Tensor } from './tensor.ts';
import './tensor-ops.ts';
import { aten, hasOp } from './ops.ts';
import { Reduction, scalarTypeCode, type ReductionName, type DType } from './dtype.ts';

const wrap = (h: any): Tensor => new Tensor(h);
const opt = (t: Tensor | null | undefined) => (t ? t.handle : null);

const ops = {
  linear: aten('linear'),
  conv2d: aten('conv2d'),
  layerNorm: aten('layer_norm'),
  batchNorm: aten('batch_norm'),
  gelu: aten('gelu'),
  softmax: aten('softmax.int'),
  logSoftmax: aten('log_softmax.int'),
  klDiv: aten('kl_div'),
  crossEntropy: aten('cross_entropy_loss'),
  mseLoss: aten('mse_loss'),
  bceWithLogits: aten('binary_cross_entropy_with_logits'),
  embedding: aten('embedding'),
  dropout: aten('dropout'),
  avgPool2d: aten('avg_pool2d'),
  adaptiveAvgPool2d: aten('adaptive_avg_pool2d'),
  upsampleBilinear: aten('upsample_bilinear2d.vec'),
  upsampleBicubic: aten('upsample_bicubic2d.vec'),
  upsampleNearest: aten('upsample_nearest2d.vec'),
  baddbmm: aten('baddbmm'),
  sdpa: aten('scaled_dot_product_attention'),
};

export function linear(input: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  return wrap(ops.linear(input.handle, weight.handle, opt(bias)));
}

export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  groups?: number;
}
export function conv2d(input: Tensor, weight: Tensor, bias?: Tensor | null, o: Conv2dOptions = {}): Tensor {
  return wrap(ops.conv2d(input.handle, weight.handle, opt(bias), o.stride ?? 1, o.padding ?? 0, o.dilation ?? 1, o.groups ?? 1));
}

export function layerNorm(input: Tensor, normalizedShape: number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  return wrap(ops.layerNorm(input.handle, normalizedShape, opt(weight), opt(bias), eps, true));
}

export function batchNorm(input: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, weight: Tensor | null, bias: Tensor | null, training: boolean, momentum = 0.1, eps = 1e-5): Tensor {
  return wrap(ops.batchNorm(input.handle, opt(weight), opt(bias), opt(runningMean), opt(runningVar), training, momentum, eps, true));
}

export function gelu(input: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  return wrap(ops.gelu(input.handle, approximate));
}
/** CLIP's `x * sigmoid(1.702 x)`. */
export function quickGelu(input: Tensor): Tensor {
  return input.mul(input.mul(1.702).sigmoid());
}
export function softmax(input: Tensor, dim: number, dtype?: DType): Tensor {
  return wrap(ops.softmax(input.handle, dim, dtype === undefined ? null : scalarTypeCode(dtype)));
}
export function logSoftmax(input: Tensor, dim: number, dtype?: DType): Tensor {
  return wrap(ops.logSoftmax(input.handle, dim, dtype === undefined ? null : scalarTypeCode(dtype)));
}
/** `x / max(||x||_p, eps)` along `dim`, as `F.normalize`. */
export function normalize(input: Tensor, dim = -1, p = 2, eps = 1e-12): Tensor {
  return input.div(input.norm(p, dim, true).clamp(eps));
}

/** KL divergence with `input` as log-probabilities; `batchmean` divides the sum by the batch size. */
export function klDiv(input: Tensor, target: Tensor, reduction: ReductionName | 'batchmean' = 'mean', logTarget = false): Tensor {
  if (reduction === 'batchmean') return wrap(ops.klDiv(input.handle, target.handle, Reduction.sum, logTarget)).div(input.size(0));
  return wrap(ops.klDiv(input.handle, target.handle, Reduction[reduction], logTarget));
}
export function crossEntropy(input: Tensor, target: Tensor, options: { reduction?: ReductionName; labelSmoothing?: number; ignoreIndex?: number; weight?: Tensor } = {}): Tensor {
  return wrap(ops.crossEntropy(input.handle, target.handle, opt(options.weight), Reduction[options.reduction ?? 'mean'], options.ignoreIndex ?? -100, options.labelSmoothing ?? 0));
}
export function mseLoss(input: Tensor, target: Tensor, reduction: ReductionName = 'mean'): Tensor {
  return wrap(ops.mseLoss(input.handle, target.handle, Reduction[reduction]));
}
export function binaryCrossEntropyWithLogits(input: Tensor, target: Tensor, reduction: ReductionName = 'mean'): Tensor {
  return wrap(ops.bceWithLogits(input.handle, target.handle, null, null, Reduction[reduction]));
}
export function embedding(weight: Tensor, indices: Tensor): Tensor {
  return wrap(ops.embedding(weight.handle, indices.handle));
}
export function dropout(input: Tensor, p: number, training: boolean): Tensor {
  if (!training || p === 0) return input;
  return wrap(ops.dropout(input.handle, p, training));
}
export function avgPool2d(input: Tensor, kernel: number, stride?: number): Tensor {
  return wrap(ops.avgPool2d(input.handle, kernel, stride ?? kernel));
}
export function adaptiveAvgPool2d(input: Tensor, size: number | [number, number]): Tensor {
  return wrap(ops.adaptiveAvgPool2d(input.handle, typeof size === 'number' ? [size, size] : size));
}
/** Resizes `[N, C, H, W]` to `size`; bilinear/bicubic follow `align_corners` as PyTorch. */
export function interpolate(input: Tensor, size: [number, number], mode: 'nearest' | 'bilinear' | 'bicubic' = 'bilinear', alignCorners = false): Tensor {
  if (mode === 'nearest') return wrap(ops.upsampleNearest(input.handle, size, null));
  const f = mode === 'bilinear' ? ops.upsampleBilinear : ops.upsampleBicubic;
  return wrap(f(input.handle, size, alignCorners, null));
}

const haveSdpa = hasOp('scaled_dot_product_attention');
/**
 * softmax(q k^T / sqrt(d) + mask) v over the last two dims. Uses libtorch's fused kernel when it
 * has one (2.x); otherwise the same composition PyTorch 1.13's attention uses.
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, options: { mask?: Tensor | null; dropout?: number; training?: boolean; causal?: boolean } = {}): Tensor {
  const p = options.training ? options.dropout ?? 0 : 0;
  if (haveSdpa) return wrap(ops.sdpa(q.handle, k.handle, v.handle, opt(options.mask), p, options.causal ?? false));
  const scale = 1 / Math.sqrt(q.size(-1));
  const scaled = q.mul(scale);
  let mask = options.mask ?? null;
  if (options.causal) {
    const L = q.size(-2);
    const S = k.size(-2);
    mask = new Tensor(aten('full')([L, S], -Infinity, scalarTypeCode(q.dtype), undefined, q.device)).triu(1);
  }
  let weights: Tensor;
  if (mask && mask.dtype === 'bool') {
    weights = scaled.matmul(k.transpose(-2, -1)).maskedFill(mask.logicalNot(), -Infinity);
  } else if (mask && q.ndim === 3 && mask.ndim <= 3) {
    weights = wrap(ops.baddbmm(mask.handle, scaled.handle, k.transpose(-2, -1).handle, 1, 1));
  } else {
    weights = scaled.matmul(k.transpose(-2, -1));
    if (mask) weights = weights.add(mask);
  }
  weights = softmax(weights, -1);
  weights = dropout(weights, p, p > 0);
  return weights.matmul(v);
}
