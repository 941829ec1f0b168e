/**
 * Batches from a pool of worker threads, with prefetch. Each batch is made whole by one worker
 * and delivered in order. Randomness is per sample (seed, epoch, index), so batches are the same
 * whatever the number of workers. `workers: 0` makes batches on the calling thread.
 *
 * Failures always reach the consumer: a batch's error rejects that batch (and is never reported
 * as an unhandled rejection while an earlier batch is awaited); a worker that dies or stops
 * answering fails every batch in flight and every later request, naming the worker. Every wait
 * (a batch, closing the workers) is bounded by one deadline, `timeoutMs` (BIKE_LOADER_TIMEOUT_S),
 * whose error names the worker, the batch's samples and the file being read.
 */
import { Worker } from 'node:worker_threads';
import { DistributedSampler, batchIndices } from './samplers.ts';
import { MAX_LOADER_WORKERS } from './loader-limits.ts';
import { ReadingBoard } from './reading-board.ts';
import { BatchArrays, makeBatch, type Batch, type ReadingListener, type VideoDatasetSpec } from './video-dataset.ts';

/** Default bound on one loader wait (a batch, closing): generous for long videos on a loaded machine. */
export const DEFAULT_LOADER_TIMEOUT_MS = 600_000;

/** The loader's wait bound: BIKE_LOADER_TIMEOUT_S seconds (positive), else the default. */
export function loaderTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.BIKE_LOADER_TIMEOUT_S;
  if (text === undefined || text === '') return DEFAULT_LOADER_TIMEOUT_MS;
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 86_400) {
    throw new Error(`BIKE_LOADER_TIMEOUT_S ${JSON.stringify(text)}: expected seconds in (0, 86400]`);
  }
  return Math.round(seconds * 1000);
}

/** A loader wait that ran past its bound. */
export class LoaderTimeoutError extends Error {}

/**
 * The loader's one bounded wait: `promise`, or a LoaderTimeoutError with `describe()` after `ms`.
 * The timer keeps the process alive while it waits, so a silent worker can never leave the
 * command's promise unsettled.
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, describe: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new LoaderTimeoutError(`${describe()}: no result within ${ms / 1000} s (BIKE_LOADER_TIMEOUT_S)`)),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

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
  /** Bound on each wait, in ms (default `loaderTimeoutMs()`). */
  timeoutMs?: number;
}

interface Pending {
  resolve: (batch: Batch) => void;
  reject: (error: Error) => void;
}

/** What a worker posts: a batch or an error. */
interface WorkerMessage {
  id: number;
  batch?: Batch;
  error?: string;
}

export class VideoLoader {
  private readonly workers: Worker[] = [];
  /** The files each worker has open (the worker writes, the timeout reads); the last is this thread's. */
  private readonly boards: ReadingBoard[] = [];
  private readonly pending = new Map<number, Pending>();
  /** The thread that made each delivered batch array (null: this one), for `recycle`. */
  private readonly madeBy = new WeakMap<Float32Array, Worker | null>();
  /** Recycled arrays of batches made on this thread (`workers: 0`). */
  private readonly arrays = new BatchArrays();
  private nextJob = 0;
  private closed = false;
  /** Set when a worker died or stopped answering: every later request fails with it. */
  private broken: Error | null = null;
  readonly timeoutMs: number;
  readonly sampler: DistributedSampler;

  constructor(
    readonly spec: VideoDatasetSpec,
    readonly options: LoaderOptions,
  ) {
    if (spec.records.length === 0) throw new Error('VideoLoader: the dataset is empty');
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1)
      throw new Error(`VideoLoader: batchSize must be a positive integer, got ${options.batchSize}`);
    this.sampler = new DistributedSampler({
      datasetSize: spec.records.length,
      worldSize: options.worldSize ?? 1,
      rank: options.rank ?? 0,
      shuffle: options.shuffle ?? spec.mode === 'train',
      seed: spec.seed,
      dropLast: false,
    });
    this.timeoutMs = options.timeoutMs ?? loaderTimeoutMs();
    const count = options.workers ?? 0;
    if (!Number.isInteger(count) || count < 0 || count > MAX_LOADER_WORKERS)
      throw new Error(`VideoLoader: workers must be an integer in 0..${MAX_LOADER_WORKERS}, got ${count}`);
    for (let i = 0; i <= count; i++) this.boards.push(new ReadingBoard());
    for (let i = 0; i < count; i++) this.workers.push(this.startWorker(i));
  }

  private startWorker(i: number): Worker {
    // Compiled (dist/): the worker is JavaScript; from source it needs the TypeScript loader first.
    const workerData = { spec: this.spec, board: this.boards[i]!.buffer };
    const worker = import.meta.url.endsWith('.js')
      ? new Worker(new URL('./loader-worker.js', import.meta.url), { workerData })
      : new Worker(new URL('./loader-worker-boot.mjs', import.meta.url), {
          workerData: { ...workerData, entry: new URL('./loader-worker.ts', import.meta.url).href },
        });
    worker.on('message', (message: WorkerMessage) => {
      const waiter = this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id);
      this.unrefIfIdle();
      if (message.error !== undefined) waiter.reject(new Error(message.error));
      else {
        this.madeBy.set(message.batch!.frames, worker);
        waiter.resolve(message.batch!);
      }
    });
    worker.on('error', (error) => this.fail(new Error(`loader worker ${i} failed: ${error.message}`)));
    worker.on('exit', (code) => {
      if (!this.closed) this.fail(new Error(`loader worker ${i} exited with code ${code}`));
    });
    worker.unref();
    return worker;
  }

  /** Idle workers do not keep the process alive; busy ones do until their batch arrives. */
  private unrefIfIdle(): void {
    if (this.pending.size === 0) for (const w of this.workers) w.unref();
  }

  /** The loader cannot go on: fail what is in flight and every later request with `error`. */
  private fail(error: Error): void {
    this.broken ??= error;
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
    this.unrefIfIdle();
  }

  private describeBatch(indices: readonly number[], epoch: number): string {
    const paths = indices.map((i) => this.spec.records[i]?.path ?? '?');
    const shown = paths.length > 4 ? `${paths.slice(0, 4).join(', ')}, ...` : paths.join(', ');
    return `batch of samples ${indices.join(', ')} (${shown}) of epoch ${epoch}`;
  }

  /** Index batches of this rank for `epoch`. */
  batchPlan(epoch: number): number[][] {
    return batchIndices(
      this.sampler.indices(epoch),
      this.options.batchSize,
      this.options.dropLast ?? this.spec.mode === 'train',
    );
  }

  /** Number of batches per epoch on this rank. */
  get length(): number {
    return this.batchPlan(0).length;
  }

  /**
   * One batch, bounded by the deadline. The promise is marked handled at once: it is awaited in
   * order later, and a later batch failing first must not be reported as an unhandled rejection.
   */
  private request(indices: number[], epoch: number): Promise<Batch> {
    const promise = this.requestUnbounded(indices, epoch);
    promise.catch(() => {});
    return promise;
  }

  private requestUnbounded(indices: number[], epoch: number): Promise<Batch> {
    if (this.broken) return Promise.reject(this.broken);
    const id = this.nextJob++;
    if (this.workers.length === 0) {
      const board = this.boards[0]!;
      const onReading: ReadingListener = ({ index, file, done }) => board.record(id, index, file, done);
      return withDeadline(
        makeBatch(this.spec, indices, epoch, onReading, this.arrays).then((batch) => {
          this.madeBy.set(batch.frames, null);
          return batch;
        }),
        this.timeoutMs,
        () => `loader (main thread): ${this.describeBatch(indices, epoch)}, ${board.describe(id)}`,
      );
    }
    const workerIndex = id % this.workers.length;
    const worker = this.workers[workerIndex]!;
    const promise = new Promise<Batch>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    for (const w of this.workers) w.ref();
    worker.postMessage({ id, indices, epoch });
    return withDeadline(
      promise,
      this.timeoutMs,
      () =>
        `loader worker ${workerIndex}: ${this.describeBatch(indices, epoch)}, ${this.boards[workerIndex]!.describe(id)}`,
    ).catch((error: Error) => {
      if (error instanceof LoaderTimeoutError) {
        // A stuck worker fails the loader: its thread may never answer again.
        this.fail(error);
        void worker.terminate().catch(() => {});
      }
      throw error;
    });
  }

  /**
   * Hands a delivered batch's `frames` back for a later batch to reuse (its thread is spared a fresh
   * allocation). Afterwards `batch.frames` must not be read: it is detached (made by a worker) or
   * will be overwritten. Optional: a batch never recycled is simply collected.
   */
  recycle(batch: Batch): void {
    const frames = batch.frames;
    const worker = this.madeBy.get(frames);
    // Only arrays this loader delivered, each once.
    if (worker === undefined || this.closed || this.broken) return;
    this.madeBy.delete(frames);
    if (worker === null) this.arrays.give(frames);
    else worker.postMessage({ recycle: frames }, [frames.buffer as ArrayBuffer]);
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

  /**
   * Stops the workers. Bounded: a worker blocked in native code (a read that never returns) cannot
   * be stopped by its thread's termination, and closing must not wait for it forever.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.fail(new Error('VideoLoader: closed'));
    const stopped = Promise.all(
      this.workers.map((w, i) =>
        w.terminate().catch((error: Error) => {
          throw new Error(`loader worker ${i}: cannot be stopped: ${error.message}`);
        }),
      ),
    );
    try {
      await withDeadline(
        stopped,
        Math.min(this.timeoutMs, 10_000),
        () => `closing the loader's ${this.workers.length} worker threads`,
      );
    } catch (error) {
      if (!(error instanceof LoaderTimeoutError)) throw error;
      // Left running, unreferenced: they cannot keep the process alive.
      for (const w of this.workers) w.unref();
    }
  }
}
