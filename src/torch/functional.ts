/** Neural-network functions (PyTorch's `torch.nn.functional`), each an ATen operator or a short composition. */
import { Tensor, handleOf } from './tensor.ts';
import './tensor-ops.ts';
import { aten, atenInPlace, hasOp, isRecordingOps } from './ops.ts';
import { native } from './native.ts';
import { Reduction, scalarTypeCode, type ReductionName, type DType } from './dtype.ts';

const wrap = (h: any): Tensor => new Tensor(h);
/** The handle of an optional tensor argument (null/undefined for none). */
const opt = (t: Tensor | null | undefined, op: string, arg: string) =>
  t === null || t === undefined ? null : handleOf(t, op, arg);

function reductionCode(reduction: string, op: string): number {
  if (!Object.hasOwn(Reduction, reduction))
    throw new TypeError(`${op}: reduction '${reduction}' is not one of ${Object.keys(Reduction).join(', ')}`);
  return Reduction[reduction as ReductionName];
}

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
  sigmoidInPlace: atenInPlace('sigmoid_'),
  mulInPlace: atenInPlace('mul_.Tensor'),
};

export function linear(input: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  return wrap(
    ops.linear(handleOf(input, 'linear', 'input'), handleOf(weight, 'linear', 'weight'), opt(bias, 'linear', 'bias')),
  );
}

export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  groups?: number;
}
export function conv2d(input: Tensor, weight: Tensor, bias?: Tensor | null, o: Conv2dOptions = {}): Tensor {
  return wrap(
    ops.conv2d(
      handleOf(input, 'conv2d', 'input'),
      handleOf(weight, 'conv2d', 'weight'),
      opt(bias, 'conv2d', 'bias'),
      o.stride ?? 1,
      o.padding ?? 0,
      o.dilation ?? 1,
      o.groups ?? 1,
    ),
  );
}

export function layerNorm(
  input: Tensor,
  normalizedShape: number[],
  weight?: Tensor | null,
  bias?: Tensor | null,
  eps = 1e-5,
): Tensor {
  return wrap(
    ops.layerNorm(
      handleOf(input, 'layerNorm', 'input'),
      normalizedShape,
      opt(weight, 'layerNorm', 'weight'),
      opt(bias, 'layerNorm', 'bias'),
      eps,
      true,
    ),
  );
}

export function batchNorm(
  input: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight: Tensor | null,
  bias: Tensor | null,
  training: boolean,
  momentum = 0.1,
  eps = 1e-5,
): Tensor {
  return wrap(
    ops.batchNorm(
      handleOf(input, 'batchNorm', 'input'),
      opt(weight, 'batchNorm', 'weight'),
      opt(bias, 'batchNorm', 'bias'),
      opt(runningMean, 'batchNorm', 'runningMean'),
      opt(runningVar, 'batchNorm', 'runningVar'),
      training,
      momentum,
      eps,
      true,
    ),
  );
}

export function gelu(input: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  return wrap(ops.gelu(handleOf(input, 'gelu', 'input'), approximate));
}
/**
 * CLIP's `x * sigmoid(1.702 x)`. Without a graph to record (inference, or an input that needs no
 * gradient) it works in one buffer instead of three: the same operations on the same values, so the
 * same bits, with a third of the memory traffic (this is the widest activation of a CLIP block).
 */
export function quickGelu(input: Tensor): Tensor {
  // One buffer when no graph is recorded; the plain form while ONNX tracing records ops (no in-place there).
  if ((native.isGradEnabled() && input.requiresGrad) || isRecordingOps()) return input.mul(input.mul(1.702).sigmoid());
  const out = input.mul(1.702);
  ops.sigmoidInPlace(out.handle);
  ops.mulInPlace(out.handle, input.handle);
  return out;
}
export function softmax(input: Tensor, dim: number, dtype?: DType): Tensor {
  return wrap(
    ops.softmax(handleOf(input, 'softmax', 'input'), dim, dtype === undefined ? null : scalarTypeCode(dtype)),
  );
}
export function logSoftmax(input: Tensor, dim: number, dtype?: DType): Tensor {
  return wrap(
    ops.logSoftmax(handleOf(input, 'logSoftmax', 'input'), dim, dtype === undefined ? null : scalarTypeCode(dtype)),
  );
}
/** `x / max(||x||_p, eps)` along `dim`, as `F.normalize`. */
export function normalize(input: Tensor, dim = -1, p = 2, eps = 1e-12): Tensor {
  return input.div(input.norm(p, dim, true).clamp(eps));
}

/** KL divergence with `input` as log-probabilities; `batchmean` divides the sum by the batch size. */
export function klDiv(
  input: Tensor,
  target: Tensor,
  reduction: ReductionName | 'batchmean' = 'mean',
  logTarget = false,
): Tensor {
  if (reduction === 'batchmean')
    return wrap(
      ops.klDiv(handleOf(input, 'klDiv', 'input'), handleOf(target, 'klDiv', 'target'), Reduction.sum, logTarget),
    ).div(input.size(0));
  return wrap(
    ops.klDiv(
      handleOf(input, 'klDiv', 'input'),
      handleOf(target, 'klDiv', 'target'),
      reductionCode(reduction, 'klDiv'),
      logTarget,
    ),
  );
}
export function crossEntropy(
  input: Tensor,
  target: Tensor,
  options: { reduction?: ReductionName; labelSmoothing?: number; ignoreIndex?: number; weight?: Tensor } = {},
): Tensor {
  return wrap(
    ops.crossEntropy(
      handleOf(input, 'crossEntropy', 'input'),
      handleOf(target, 'crossEntropy', 'target'),
      opt(options.weight, 'crossEntropy', 'weight'),
      reductionCode(options.reduction ?? 'mean', 'crossEntropy'),
      options.ignoreIndex ?? -100,
      options.labelSmoothing ?? 0,
    ),
  );
}
export function mseLoss(input: Tensor, target: Tensor, reduction: ReductionName = 'mean'): Tensor {
  return wrap(
    ops.mseLoss(
      handleOf(input, 'mseLoss', 'input'),
      handleOf(target, 'mseLoss', 'target'),
      reductionCode(reduction, 'mseLoss'),
    ),
  );
}
export function binaryCrossEntropyWithLogits(input: Tensor, target: Tensor, reduction: ReductionName = 'mean'): Tensor {
  return wrap(
    ops.bceWithLogits(
      handleOf(input, 'binaryCrossEntropyWithLogits', 'input'),
      handleOf(target, 'binaryCrossEntropyWithLogits', 'target'),
      null,
      null,
      reductionCode(reduction, 'binaryCrossEntropyWithLogits'),
    ),
  );
}
export function embedding(weight: Tensor, indices: Tensor): Tensor {
  return wrap(ops.embedding(handleOf(weight, 'embedding', 'weight'), handleOf(indices, 'embedding', 'indices')));
}
export function dropout(input: Tensor, p: number, training: boolean): Tensor {
  if (!training || p === 0) return input;
  return wrap(ops.dropout(handleOf(input, 'dropout', 'input'), p, training));
}
export function avgPool2d(input: Tensor, kernel: number, stride?: number): Tensor {
  return wrap(ops.avgPool2d(handleOf(input, 'avgPool2d', 'input'), kernel, stride ?? kernel));
}
export function adaptiveAvgPool2d(input: Tensor, size: number | [number, number]): Tensor {
  return wrap(
    ops.adaptiveAvgPool2d(
      handleOf(input, 'adaptiveAvgPool2d', 'input'),
      typeof size === 'number' ? [size, size] : size,
    ),
  );
}
/** Resizes `[N, C, H, W]` to `size`; bilinear/bicubic follow `align_corners` as PyTorch. */
export function interpolate(
  input: Tensor,
  size: [number, number],
  mode: 'nearest' | 'bilinear' | 'bicubic' = 'bilinear',
  alignCorners = false,
): Tensor {
  if (mode === 'nearest') return wrap(ops.upsampleNearest(handleOf(input, 'interpolate', 'input'), size, null));
  const f = mode === 'bilinear' ? ops.upsampleBilinear : ops.upsampleBicubic;
  return wrap(f(handleOf(input, 'interpolate', 'input'), size, alignCorners, null));
}

const haveSdpa = hasOp('scaled_dot_product_attention');
/**
 * softmax(q k^T / sqrt(d) + mask) v over the last two dims. Uses libtorch's fused kernel when it
 * has one (2.x); otherwise the same composition PyTorch 1.13's attention uses.
 */
export function scaledDotProductAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  options: { mask?: Tensor | null; dropout?: number; training?: boolean; causal?: boolean } = {},
): Tensor {
  const p = options.training ? (options.dropout ?? 0) : 0;
  for (const [name, t] of [
    ['q', q],
    ['k', k],
    ['v', v],
  ] as const)
    handleOf(t, 'scaledDotProductAttention', name);
  if (haveSdpa)
    return wrap(
      ops.sdpa(
        handleOf(q, 'scaledDotProductAttention', 'q'),
        handleOf(k, 'scaledDotProductAttention', 'k'),
        handleOf(v, 'scaledDotProductAttention', 'v'),
        opt(options.mask, 'scaledDotProductAttention', 'mask'),
        p,
        options.causal ?? false,
      ),
    );
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
    weights = wrap(
      ops.baddbmm(handleOf(mask, 'scaledDotProductAttention', 'mask'), scaled.handle, k.transpose(-2, -1).handle, 1, 1),
    );
  } else {
    weights = scaled.matmul(k.transpose(-2, -1));
    if (mask) weights = weights.add(mask);
  }
  weights = softmax(weights, -1);
  weights = dropout(weights, p, p > 0);
  return weights.matmul(v);
}
