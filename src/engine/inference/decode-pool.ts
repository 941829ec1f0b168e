/**
 * Video decoding on worker threads: the in-process decoder (and the transform) are synchronous, so a
 * server decoding on its main thread would stop answering while it decodes. Jobs go to the least
 * busy worker; each has a time limit after which its worker is replaced and the job fails.
 */
import { Worker } from 'node:worker_threads';
import { MediaError } from '../../data/media-error.ts';
import type { ReadInputOptions } from './predict-input.ts';
import type { DecodedClip, DecodedTimeline, TimelineOptions } from './video-clips.ts';

export type DecodeJob =
  | { kind: 'clip'; file: string; read: ReadInputOptions }
  | { kind: 'timeline'; file: string; read: ReadInputOptions; timeline: TimelineOptions };

interface Slot {
  worker: Worker;
  busy: number;
}

interface Pending {
  slot: Slot;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export interface DecodePoolOptions {
  workers: number;
  /** Milliseconds a job may take (default 120 s). */
  timeoutMs?: number;
}

function rebuild(error: { name: string; message: string; file?: string; reason?: string; kind?: string }): Error {
  if (error.name === 'MediaError' && error.file !== undefined && error.reason !== undefined)
    return new MediaError(error.kind === 'image' ? 'image' : 'video', error.file, error.reason);
  const e = error.name === 'RangeError' ? new RangeError(error.message) : new Error(error.message);
  if (error.name !== 'RangeError') e.name = error.name;
  return e;
}

export class DecodePool {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private closed = false;
  private readonly timeoutMs: number;

  constructor(options: DecodePoolOptions) {
    if (!Number.isInteger(options.workers) || options.workers < 1)
      throw new RangeError(`DecodePool: workers must be a positive integer, got ${options.workers}`);
    this.timeoutMs = options.timeoutMs ?? 120_000;
    for (let i = 0; i < options.workers; i++) this.slots.push(this.start());
  }

  get size(): number {
    return this.slots.length;
  }

  private start(): Slot {
    const worker = import.meta.url.endsWith('.js')
      ? new Worker(new URL('./decode-worker.js', import.meta.url))
      : new Worker(new URL('../../data/loader-worker-boot.mjs', import.meta.url), {
          workerData: { entry: new URL('./decode-worker.ts', import.meta.url).href },
        });
    const slot: Slot = { worker, busy: 0 };
    worker.on(
      'message',
      (message: {
        id: number;
        result?: unknown;
        error?: { name: string; message: string; file?: string; reason?: string };
      }) => {
        const job = this.settle(message.id);
        if (!job) return;
        if (message.error) job.reject(rebuild(message.error));
        else job.resolve(message.result);
      },
    );
    worker.on('error', (error) => this.fail(slot, new Error(`decode worker failed: ${error.message}`)));
    worker.on('exit', (code) => {
      if (!this.closed) this.fail(slot, new Error(`decode worker exited with code ${code}`));
    });
    worker.unref();
    return slot;
  }

  private settle(id: number): Pending | undefined {
    const job = this.pending.get(id);
    if (!job) return undefined;
    this.pending.delete(id);
    clearTimeout(job.timer);
    job.slot.busy--;
    if (job.slot.busy === 0) job.slot.worker.unref();
    return job;
  }

  /** Rejects the jobs of a worker that died and puts a new worker in its place. */
  private fail(slot: Slot, error: Error): void {
    for (const [id, job] of this.pending) {
      if (job.slot === slot) {
        this.settle(id);
        job.reject(error);
      }
    }
    const i = this.slots.indexOf(slot);
    if (i >= 0 && !this.closed) {
      void slot.worker.terminate();
      this.slots[i] = this.start();
    }
  }

  private run<T>(job: DecodeJob): Promise<T> {
    if (this.closed) return Promise.reject(new Error('DecodePool: used after close()'));
    const slot = this.slots.reduce((a, b) => (b.busy < a.busy ? b : a));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          this.fail(slot, new MediaError('video', job.file, `decoding took longer than ${this.timeoutMs / 1000} s`)),
        this.timeoutMs,
      );
      this.pending.set(id, { slot, resolve: resolve as (value: unknown) => void, reject, timer });
      slot.busy++;
      slot.worker.ref();
      slot.worker.postMessage({ ...job, id });
    });
  }

  clip(file: string, read: ReadInputOptions): Promise<DecodedClip> {
    return this.run({ kind: 'clip', file, read });
  }

  timeline(file: string, read: ReadInputOptions, timeline: TimelineOptions): Promise<DecodedTimeline> {
    return this.run({ kind: 'timeline', file, read, timeline });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [id, job] of [...this.pending]) {
      this.settle(id);
      job.reject(new Error('DecodePool: closed'));
    }
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
