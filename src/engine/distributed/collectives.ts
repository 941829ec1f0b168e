/**
 * The collective operations the training and evaluation loops use, over a process group (several
 * processes) or trivially within one process. Everything else in the engine is written once against
 * this interface, so a run of one process and a run of N differ only here.
 */
import { Tensor, cat, fromTypedArray, noGrad, tidy } from '../../torch/index.ts';

export interface Collectives {
  readonly rank: number;
  readonly worldSize: number;
  /**
   * `cat` of every rank's tensor along dim 0 (equal shapes), with the gradient of the result flowing
   * back to this rank's slice only (the original's `AllGather` autograd function).
   */
  allGatherWithGrad(t: Tensor): Tensor;
  /** `cat` of every rank's tensor along dim 0, without gradient. */
  allGather(t: Tensor): Tensor;
  /** In-place sum over ranks. */
  allReduceSum_(tensors: Tensor[]): void;
  /** In-place copy of rank `root`'s values to every rank. */
  broadcast_(tensors: Tensor[], root: number): void;
  barrier(): void;
  close(): void;
}

/** A world of one process: every collective is the identity. */
export class LocalCollectives implements Collectives {
  readonly rank = 0;
  readonly worldSize = 1;
  allGatherWithGrad(t: Tensor): Tensor {
    return t;
  }
  allGather(t: Tensor): Tensor {
    return t;
  }
  allReduceSum_(): void {}
  broadcast_(): void {}
  barrier(): void {}
  close(): void {}
}

/** PyTorch DDP's default bucket size: gradients are reduced in flat buckets of about this many bytes. */
export const DEFAULT_BUCKET_BYTES = 25 * 1024 * 1024;

/**
 * Averages the gradients of `params` over the ranks, as DistributedDataParallel does after backward:
 * the gradients are packed into flat buckets of about `bucketBytes`, each bucket summed over the ranks,
 * divided by the world size and copied back. Parameters without a gradient are skipped (every rank runs
 * the same graph, so every rank has the same set).
 */
export function allReduceGradients(
  collectives: Collectives,
  params: readonly Tensor[],
  bucketBytes = DEFAULT_BUCKET_BYTES,
): void {
  if (collectives.worldSize === 1) return;
  const withGrad: { param: Tensor; grad: Tensor }[] = [];
  for (const param of params) {
    const grad = param.grad;
    if (grad) withGrad.push({ param, grad });
  }
  let start = 0;
  while (start < withGrad.length) {
    let end = start;
    let bytes = 0;
    const dtype = withGrad[start]!.grad.dtype;
    while (
      end < withGrad.length &&
      (end === start || bytes + withGrad[end]!.grad.numel * 4 <= bucketBytes) &&
      withGrad[end]!.grad.dtype === dtype
    ) {
      bytes += withGrad[end]!.grad.numel * 4;
      end++;
    }
    const bucket = withGrad.slice(start, end);
    tidy(() =>
      noGrad(() => {
        const flat = cat(bucket.map(({ grad }) => grad.reshape(-1)));
        collectives.allReduceSum_([flat]);
        flat.div_(collectives.worldSize);
        let offset = 0;
        for (const { grad } of bucket) {
          grad.copy_(flat.narrow(0, offset, grad.numel).view(...grad.shape));
          offset += grad.numel;
        }
      }),
    );
    start = end;
  }
  for (const { grad } of withGrad) grad.dispose();
}

/** Copies rank 0's parameters and buffers to every rank (DDP does this when it wraps a model). */
export function broadcastModule(collectives: Collectives, tensors: readonly Tensor[]): void {
  if (collectives.worldSize === 1) return;
  noGrad(() => collectives.broadcast_([...tensors], 0));
}

/** Sums plain numbers over the ranks (metrics), in float64. */
export function allReduceNumbers(collectives: Collectives, values: number[]): number[] {
  if (collectives.worldSize === 1) return values;
  const t = fromTypedArray(Float64Array.from(values));
  try {
    collectives.allReduceSum_([t]);
    return t.toArray();
  } finally {
    t.dispose();
  }
}
