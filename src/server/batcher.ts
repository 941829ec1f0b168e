/**
 * The request queue of `bike serve`: decoded clips wait here a few milliseconds so that requests
 * arriving together share one forward pass (`VideoClassifier.classifyDecoded`, up to `batchSize`
 * clips). Clips are grouped by what they are scored against (the label set and top-K), since one
 * forward scores one label set.
 */
import type { BatchClassifyOptions, Classification, DecodedClip, VideoClassifier } from '../index.ts';

export interface BatchResult {
  classification: Classification;
  /** Clips in the forward pass this one was part of. */
  batchSize: number;
  /** Milliseconds of that forward pass, and of the wait before it. */
  modelMs: number;
  queueMs: number;
}

interface Waiting {
  clip: DecodedClip;
  since: number;
  resolve: (result: BatchResult) => void;
  reject: (error: Error) => void;
}

interface Group {
  options: BatchClassifyOptions;
  items: Waiting[];
  timer: NodeJS.Timeout | null;
}

export interface BatcherOptions {
  /** Clips per forward pass at most (default 8). */
  batchSize?: number;
  /** Milliseconds the first clip of a batch waits for others (default 5). */
  windowMs?: number;
  /** Called after each forward pass with its size and duration. */
  onBatch?: (size: number, ms: number) => void;
}

export class Batcher {
  private readonly groups = new Map<string, Group>();
  readonly batchSize: number;
  readonly windowMs: number;

  constructor(
    private readonly classifier: VideoClassifier,
    private readonly options: BatcherOptions = {},
  ) {
    this.batchSize = options.batchSize ?? 8;
    this.windowMs = options.windowMs ?? 5;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1)
      throw new RangeError(`batch size must be a positive integer, got ${this.batchSize}`);
    if (!(this.windowMs >= 0)) throw new RangeError(`batch window must be >= 0 ms, got ${this.windowMs}`);
  }

  /** Clips waiting for a forward pass. */
  get waiting(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.items.length;
    return n;
  }

  classify(clip: DecodedClip, options: BatchClassifyOptions): Promise<BatchResult> {
    const key = JSON.stringify([options.topK ?? 5, options.saliencyClasses ?? null, options.classNames ?? null]);
    let group = this.groups.get(key);
    if (!group) {
      group = { options, items: [], timer: null };
      this.groups.set(key, group);
    }
    const promise = new Promise<BatchResult>((resolve, reject) =>
      group!.items.push({ clip, since: performance.now(), resolve, reject }),
    );
    if (group.items.length >= this.batchSize) this.flush(key);
    else if (!group.timer) group.timer = setTimeout(() => this.flush(key), this.windowMs);
    return promise;
  }

  private flush(key: string): void {
    const group = this.groups.get(key);
    if (!group) return;
    if (group.timer) clearTimeout(group.timer);
    group.timer = null;
    const items = group.items.splice(0, this.batchSize);
    if (group.items.length === 0) this.groups.delete(key);
    else group.timer = setTimeout(() => this.flush(key), 0);
    const start = performance.now();
    let results: Classification[];
    try {
      results = this.classifier.classifyDecoded(
        items.map((w) => w.clip),
        group.options,
      );
    } catch (error) {
      for (const w of items) w.reject(error as Error);
      return;
    }
    const modelMs = performance.now() - start;
    this.options.onBatch?.(items.length, modelMs);
    items.forEach((w, i) =>
      w.resolve({ classification: results[i]!, batchSize: items.length, modelMs, queueMs: start - w.since }),
    );
  }

  /** Fails every waiting clip (the server is closing). */
  close(): void {
    for (const [key, group] of this.groups) {
      if (group.timer) clearTimeout(group.timer);
      for (const w of group.items) w.reject(new Error('the server is shutting down'));
      this.groups.delete(key);
    }
  }
}
