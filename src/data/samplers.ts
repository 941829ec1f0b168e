/**
 * Epoch ordering for the loaders: which dataset indices each rank visits in an epoch, and in
 * which batches. Mirrors torch.utils.data.distributed.DistributedSampler (which the original
 * uses for every loader, with world size 1 on a single GPU) and DataLoader's batching.
 */
import { Rng } from './rng.ts';

export { selectFewShot, type FewShotSelection } from './few-shot.ts';

export interface DistributedSamplerOptions {
  datasetSize: number;
  worldSize: number;
  rank: number;
  /** Reshuffle every epoch (training); false keeps dataset order (evaluation). Default true. */
  shuffle?: boolean;
  /** Base seed; epoch e is shuffled with seed + e, like torch. Default 0, torch's default. */
  seed?: number;
  /**
   * Drop the tail so every rank gets the same count without repeats; default false, which
   * instead pads with indices from the start of the (shuffled) order, as torch does.
   */
  dropLast?: boolean;
}

export class DistributedSampler {
  readonly datasetSize: number;
  readonly worldSize: number;
  readonly rank: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  /** Indices each rank gets per epoch. */
  readonly numSamples: number;
  /** numSamples * worldSize: the padded (or trimmed) epoch length over all ranks. */
  readonly totalSize: number;

  constructor(options: DistributedSamplerOptions) {
    const { datasetSize, worldSize, rank } = options;
    if (!Number.isInteger(datasetSize) || datasetSize < 1)
      throw new Error(`DistributedSampler: datasetSize must be an integer >= 1, got ${datasetSize}`);
    if (!Number.isInteger(worldSize) || worldSize < 1)
      throw new Error(`DistributedSampler: worldSize must be an integer >= 1, got ${worldSize}`);
    if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
      throw new Error(`DistributedSampler: rank must be an integer in [0, ${worldSize - 1}], got ${rank}`);
    }
    this.datasetSize = datasetSize;
    this.worldSize = worldSize;
    this.rank = rank;
    this.shuffle = options.shuffle ?? true;
    this.seed = options.seed ?? 0;
    this.dropLast = options.dropLast ?? false;
    this.numSamples =
      this.dropLast && datasetSize % worldSize !== 0
        ? Math.ceil((datasetSize - worldSize) / worldSize)
        : Math.ceil(datasetSize / worldSize);
    if (this.numSamples < 1) {
      throw new Error(
        `DistributedSampler: ${datasetSize} items cannot give every one of ${worldSize} ranks an item with dropLast`,
      );
    }
    this.totalSize = this.numSamples * worldSize;
  }

  /** The whole epoch order before it is split across ranks (same on every rank). */
  epochOrder(epoch: number): number[] {
    if (!Number.isInteger(epoch) || epoch < 0)
      throw new Error(`DistributedSampler: epoch must be an integer >= 0, got ${epoch}`);
    const order = Array.from({ length: this.datasetSize }, (_, i) => i);
    if (this.shuffle) new Rng(this.seed + epoch).shuffle(order);
    if (this.dropLast) return order.slice(0, this.totalSize);
    // Pad by cycling through the order, so small datasets still fill every rank.
    for (let i = 0; order.length < this.totalSize; i++) order.push(order[i % this.datasetSize]!);
    return order;
  }

  /** The indices this rank visits in `epoch`: every worldSize-th entry of the epoch order. */
  indices(epoch: number): number[] {
    const order = this.epochOrder(epoch);
    const mine: number[] = [];
    for (let i = this.rank; i < this.totalSize; i += this.worldSize) mine.push(order[i]!);
    return mine;
  }
}

/** Groups indices into batches of `batchSize`; the last short batch is kept unless `dropLast`. */
export function batchIndices(indices: readonly number[], batchSize: number, dropLast: boolean): number[][] {
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new Error(`batch_size must be an integer >= 1, got ${batchSize}`);
  const batches: number[][] = [];
  for (let start = 0; start < indices.length; start += batchSize) {
    const batch = indices.slice(start, start + batchSize);
    if (batch.length < batchSize && dropLast) break;
    batches.push(batch);
  }
  return batches;
}

/** Number of batches per epoch (the original's len(train_loader), which drives the LR schedule). */
export function numBatches(numIndices: number, batchSize: number, dropLast: boolean): number {
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new Error(`batch_size must be an integer >= 1, got ${batchSize}`);
  return dropLast ? Math.floor(numIndices / batchSize) : Math.ceil(numIndices / batchSize);
}
