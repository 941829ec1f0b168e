/**
 * Training objectives of the original (utils/NCELoss.py, utils/utils.py `gen_label`): the batch's
 * video-text logits are matched against a ground-truth matrix in which every pair of samples that
 * share a label is a positive, by a KL divergence in both directions.
 */
import { Tensor, F } from '../torch/index.ts';

export type LossType = 'NCE' | 'DS';
export const LOSS_TYPES: readonly LossType[] = ['NCE', 'DS'];

/** The original sharpens the ground truth by 10 before its softmax (infoNCE at temperature 0.1). */
export const GROUND_TRUTH_SHARPNESS = 10;
/** Temperature of the dual-softmax prior over the batch. */
export const DUAL_SOFTMAX_TEMPERATURE = 1000;

/**
 * `gen_label`: `[n, n]` with 1 where samples i and k have the same label, in `dtype` (the original
 * uses the embeddings' dtype). `labels` is a 1-D integer tensor.
 */
export function groundTruthMatrix(
  labels: Tensor,
  dtype: 'float32' | 'float16' | 'bfloat16' | 'float64' = 'float32',
): Tensor {
  if (labels.ndim !== 1)
    throw new Error(`groundTruthMatrix: expected labels as a 1-D tensor, got shape [${labels.shape}]`);
  return labels.unsqueeze(1).eq(labels.unsqueeze(0)).to(dtype);
}

/** `KLDivLoss(reduction='mean')(log_softmax(logits), softmax(10 * gt)) * batch`: NCELoss.forward. */
export function nceLoss(logits: Tensor, groundTruth: Tensor): Tensor {
  requireSquareMatch(logits, groundTruth, 'nceLoss');
  const batch = logits.size(0);
  const target = F.softmax(groundTruth.mul(GROUND_TRUTH_SHARPNESS), 1);
  return F.klDiv(F.logSoftmax(logits, 1), target, 'mean').mul(batch);
}

/**
 * DualLoss.forward: the logits are first reweighted by a softmax over the other axis (dim 0) at
 * temperature 1000, times the batch size, then scored as NCELoss does.
 */
export function dualSoftmaxLoss(logits: Tensor, groundTruth: Tensor, temperature = DUAL_SOFTMAX_TEMPERATURE): Tensor {
  requireSquareMatch(logits, groundTruth, 'dualSoftmaxLoss');
  const batch = logits.size(0);
  const reweighted = logits.mul(F.softmax(logits.div(temperature), 0)).mul(batch);
  const target = F.softmax(groundTruth.mul(GROUND_TRUTH_SHARPNESS), 1);
  return F.klDiv(F.logSoftmax(reweighted, 1), target, 'mean').mul(batch);
}

export function lossFunction(type: LossType): (logits: Tensor, groundTruth: Tensor) => Tensor {
  if (type === 'NCE') return nceLoss;
  if (type === 'DS') return (logits, groundTruth) => dualSoftmaxLoss(logits, groundTruth);
  throw new Error(`loss_type must be one of ${LOSS_TYPES.join(', ')}, got ${JSON.stringify(type)}`);
}

/** The training loss of train.py: `(L(logits, gt) + L(logits.T, gt)) / 2`. */
export function symmetricLoss(logits: Tensor, groundTruth: Tensor, type: LossType = 'NCE'): Tensor {
  const loss = lossFunction(type);
  return loss(logits, groundTruth).add(loss(logits.t(), groundTruth)).div(2);
}

function requireSquareMatch(logits: Tensor, groundTruth: Tensor, what: string): void {
  if (logits.ndim !== 2 || groundTruth.shape.join() !== logits.shape.join()) {
    throw new Error(
      `${what}: logits [${logits.shape}] and ground truth [${groundTruth.shape}] must be the same 2-D shape`,
    );
  }
}
