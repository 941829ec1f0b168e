/**
 * Batches from a pool of worker threads, with prefetch. Each batch is made whole by one worker
 * and delivered in order. Randomness is per sample (seed, epoch, index), so batches are the same
 * whatever the number of workers. `workers: 0` makes batches on the calling thread.
 */
import { Worker } from 'node:worker_threads';
import { DistributedSampler, batchIndices } from './samplers.ts';
import { makeBatch, type Batch, type VideoDatasetSpec } from './video-dataset.ts';

export interface LoaderOptions {
  batchSize: number;
  workers?: number;
  /** Batches in flight per worker. */
  prefetch?: number;
  shuffle?: boolean;
  dropLast?: boolean;
  /** Distributed training: this process's rank and the world size (default 0 of 1). */
  rank?: number;
  worldSize?: number;
}

interface Pending {
  resolve: (batch: Batch) => void;
  reject: (error: Error) => void;
}

export class VideoLoader {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextJob = 0;
  private closed = false;
  readonly sampler: DistributedSampler;

  constructor(readonly spec: VideoDatasetSpec, readonly options: LoaderOptions) {
    if (spec.records.length === 0) throw new Error('VideoLoader: the dataset is empty');
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) throw new Error(`VideoLoader: batchSize must be a positive integer, got ${options.batchSize}`);
    this.sampler = new DistributedSampler({
      datasetSize: spec.records.length,
      worldSize: options.worldSize ?? 1,
      rank: options.rank ?? 0,
      shuffle: options.shuffle ?? spec.mode === 'train',
      seed: spec.seed,
      dropLast: false,
    });
    const count = options.workers ?? 0;
    for (let i = 0; i < count; i++) this.workers.push(this.startWorker(i));
  }

  private startWorker(i: number): Worker {
    // Compiled (dist/): the worker is JavaScript; from source it needs the TypeScript loader first.
    const worker = import.meta.url.endsWith('.js')
      ? new Worker(new URL('./loader-worker.js', import.meta.url), { workerData: { spec: this.spec } })
      : new Worker(new URL('./loader-worker-boot.mjs', import.meta.url), {
        workerData: { entry: new URL('./loader-worker.ts', import.meta.url).href, spec: this.spec },
      });
    worker.on('message', (message: { id: number; batch?: Batch; error?: string }) => {
      const waiter = this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id);
      if (this.pending.size === 0) for (const w of this.workers) w.unref();
      if (message.error !== undefined) waiter.reject(new Error(message.error));
      else waiter.resolve(message.batch!);
    });
    worker.on('error', (error) => this.failAll(new Error(`loader worker ${i} failed: ${error.message}`)));
    worker.on('exit', (code) => {
      if (!this.closed) this.failAll(new Error(`loader worker ${i} exited with code ${code}`));
    });
    worker.unref();
    return worker;
  }

  private failAll(error: Error): void {
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
  }

  /** Index batches of this rank for `epoch`. */
  batchPlan(epoch: number): number[][] {
    return batchIndices(this.sampler.indices(epoch), this.options.batchSize, this.options.dropLast ?? this.spec.mode === 'train');
  }

  /** Number of batches per epoch on this rank. */
  get length(): number {
    return this.batchPlan(0).length;
  }

  private request(indices: number[], epoch: number): Promise<Batch> {
    if (this.workers.length === 0) return makeBatch(this.spec, indices, epoch);
    const id = this.nextJob++;
    const worker = this.workers[id % this.workers.length]!;
    const promise = new Promise<Batch>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    // Idle workers do not keep the process alive; busy ones do until their batch arrives.
    for (const w of this.workers) w.ref();
    worker.postMessage({ id, indices, epoch });
    return promise;
  }

  /** The batches of one epoch, in order; `startBatch` skips the first ones (resuming mid-epoch). */
  async *epoch(epoch: number, startBatch = 0): AsyncGenerator<Batch> {
    if (this.closed) throw new Error('VideoLoader: closed');
    const plan = this.batchPlan(epoch).slice(startBatch);
    const depth = Math.max(1, this.workers.length * (this.options.prefetch ?? 2));
    const inFlight: Promise<Batch>[] = [];
    let next = 0;
    while (next < plan.length && inFlight.length < depth) inFlight.push(this.request(plan[next++]!, epoch));
    try {
      while (inFlight.length) {
        const batch = await inFlight.shift()!;
        if (next < plan.length) inFlight.push(this.request(plan[next++]!, epoch));
        yield batch;
      }
    } finally {
      // Abandoned early: let the rest settle quietly.
      for (const p of inFlight) p.catch(() => {});
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
