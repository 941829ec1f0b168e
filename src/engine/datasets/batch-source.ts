/**
 * What the training and evaluation loops consume: per epoch, an async sequence of batches of clips
 * `[B * views * T, 3, S, S]` with their labels and dataset indices. The data layer's worker-thread
 * loader (src/data/loader.ts) provides them; its randomness is per sample (seed, epoch, index), so an
 * epoch's batches depend only on the seed and the epoch and a resumed run sees exactly the batches an
 * uninterrupted one saw.
 */
import type { VideoLoader } from '../../data/loader.ts';
import type { Batch } from '../../data/video-dataset.ts';

export interface VideoBatch {
  /** Row-major `shape`. */
  frames: Float32Array;
  /** `[B * views * T, 3, S, S]`; per video its views (crop-major), each T frames. */
  shape: [number, number, number, number];
  labels: Int32Array | number[];
  /** Dataset indices of the B videos (repeats possible when the distributed sampler pads). */
  indices: number[];
}

export interface BatchSource {
  /** Batches this rank gets per epoch (the original's `len(loader)`). */
  readonly batchesPerEpoch: number;
  /** Views per video in each batch (test_crops x test_clips for tests, else 1). */
  readonly viewsPerVideo: number;
  epoch(epoch: number): AsyncIterable<VideoBatch>;
  /** Takes back a batch whose `frames` the caller no longer reads (they may be reused). */
  recycle?(batch: VideoBatch): void;
  close(): Promise<void>;
}

export type ClipMode = 'train' | 'val' | 'test';

/** The data layer's worker-thread loader as a `BatchSource`. */
export class LoaderBatchSource implements BatchSource {
  readonly batchesPerEpoch: number;
  readonly viewsPerVideo: number;

  /** `onBatch` sees each batch as it is delivered (the run's record of substituted inputs). */
  constructor(
    readonly loader: VideoLoader,
    private readonly onBatch?: (batch: Batch, epoch: number) => void,
  ) {
    this.batchesPerEpoch = loader.length;
    const spec = loader.spec;
    this.viewsPerVideo = spec.mode === 'test' ? (spec.testCrops ?? 1) * (spec.testClips ?? 1) : 1;
  }

  epoch(epoch: number): AsyncIterable<VideoBatch> {
    const { loader, onBatch } = this;
    if (!onBatch) return loader.epoch(epoch);
    return (async function* () {
      for await (const batch of loader.epoch(epoch)) {
        onBatch(batch, epoch);
        yield batch;
      }
    })();
  }

  recycle(batch: VideoBatch): void {
    this.loader.recycle(batch as Batch);
  }

  close(): Promise<void> {
    return this.loader.close();
  }
}
