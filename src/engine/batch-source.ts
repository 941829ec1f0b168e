/**
 * What the training and evaluation loops consume: per epoch, an async sequence of batches of clips
 * `[B * views * T, 3, S, S]` with their labels and dataset indices (the data layer's loader in
 * src/data/loader.ts provides this with worker threads). `InProcessVideoSource` below is the same
 * contract without threads: it samples, decodes and augments each video in this process, in the
 * original's order of operations. It is used when no worker-thread loader is given and by tests.
 *
 * Randomness: each clip draws from its own generator seeded by (seed, epoch, dataset index), so an
 * epoch's data depend only on the seed and the epoch: a resumed run sees exactly the batches an
 * uninterrupted one saw, whatever the number of threads.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { trainTransform, testTransform } from '../data/clip-transform.ts';
import { loadFrameFolder } from '../data/frame-loader.ts';
import { Rng } from '../data/rng.ts';
import { DistributedSampler, batchIndices, numBatches } from '../data/samplers.ts';
import { testIndices, trainIndices, valIndices } from '../data/sampling.ts';
import { loadVideoClip, probeVideo } from '../data/video-decoder.ts';
import type { VideoRecord } from '../data/video-list.ts';

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
  close(): Promise<void>;
}

export type ClipMode = 'train' | 'val' | 'test';

export interface VideoSourceOptions {
  records: readonly VideoRecord[];
  /** Data root the record paths are relative to. */
  root: string;
  modality: 'RGB' | 'video';
  /** `image_tmpl` for frame folders. */
  template: string;
  mode: ClipMode;
  numSegments: number;
  inputSize: number;
  /** `data.dataset` (Something-Something variants are chosen by name). */
  dataset: string;
  indexBias?: number;
  dense?: boolean;
  testCrops?: number;
  testClips?: number;
  batchSize: number;
  dropLast: boolean;
  shuffle: boolean;
  seed: number;
  rank?: number;
  worldSize?: number;
  /** Reports frames that fell back to frame 1 (the original prints them). */
  onWarning?: (message: string) => void;
}

/** 32-bit mix of several integers (murmur3 finaliser per step). */
export function mixSeed(...values: number[]): number {
  let h = 0x9e3779b9;
  for (const v of values) {
    let k = Math.imul(v >>> 0, 0xcc9e2d51);
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
    h ^= k;
    h = Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64;
    h ^= Math.floor(v / 0x1_0000_0000) >>> 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class InProcessVideoSource implements BatchSource {
  readonly batchesPerEpoch: number;
  readonly viewsPerVideo: number;
  private readonly sampler: DistributedSampler;
  private readonly frameCounts = new Map<string, Promise<number>>();

  constructor(private readonly options: VideoSourceOptions) {
    if (options.records.length === 0) throw new Error(`${options.mode} data: the annotation list has no videos`);
    this.sampler = new DistributedSampler({
      datasetSize: options.records.length,
      worldSize: options.worldSize ?? 1,
      rank: options.rank ?? 0,
      shuffle: options.shuffle,
      seed: options.seed,
    });
    this.batchesPerEpoch = numBatches(this.sampler.numSamples, options.batchSize, options.dropLast);
    if (this.batchesPerEpoch === 0) {
      throw new Error(`${options.mode} data: ${this.sampler.numSamples} videos per process are fewer than data.batch_size ${options.batchSize} with drop_last; lower the batch size`);
    }
    this.viewsPerVideo = options.mode === 'test' ? (options.testCrops ?? 1) * (options.testClips ?? 1) : 1;
  }

  async *epoch(epoch: number): AsyncIterable<VideoBatch> {
    const batches = batchIndices(this.sampler.indices(epoch), this.options.batchSize, this.options.dropLast);
    for (const indices of batches) {
      const clips = await Promise.all(indices.map((index) => this.loadClip(index, epoch)));
      const first = clips[0]!;
      const perClip = first.data.length;
      const frames = new Float32Array(perClip * clips.length);
      clips.forEach((c, i) => {
        if (c.data.length !== perClip) {
          throw new Error(`${this.options.mode} batch: clip of ${this.describe(indices[i]!)} has ${c.data.length} values, the first clip ${perClip}; frames of one batch must share a size`);
        }
        frames.set(c.data, i * perClip);
      });
      const [rows, channels, h, w] = first.shape;
      yield { frames, shape: [rows * clips.length, channels, h, w], labels: clips.map((c) => c.label), indices };
    }
  }

  async close(): Promise<void> {}

  private describe(index: number): string {
    const r = this.options.records[index]!;
    return `video ${r.path} (line ${r.line})`;
  }

  private frameCount(record: VideoRecord): Promise<number> {
    let pending = this.frameCounts.get(record.path);
    if (!pending) {
      const o = this.options;
      const full = path.join(o.root, record.path);
      // As the original: the frames that exist (files in the folder, frames in the container), not the list's count.
      pending = o.modality === 'video'
        ? probeVideo(full).then((info) => info.frameCount)
        : readdir(full).then((files) => files.length, (error: NodeJS.ErrnoException) => {
          throw new Error(`${this.describe(this.options.records.indexOf(record))}: cannot list frame folder ${full} (${error.code ?? error.message})`);
        });
      this.frameCounts.set(record.path, pending);
    }
    return pending;
  }

  private async loadClip(index: number, epoch: number): Promise<{ data: Float32Array; shape: [number, number, number, number]; label: number }> {
    const o = this.options;
    const record = o.records[index]!;
    const rng = new Rng(mixSeed(o.seed, epoch, index));
    const numFrames = await this.frameCount(record);
    if (numFrames < 1) throw new Error(`${this.describe(index)}: ${path.join(o.root, record.path)} holds no frames`);
    const sampling = { numSegments: o.numSegments, indexBias: o.indexBias ?? 1, dense: o.dense ?? false };
    const frameIndices = o.mode === 'train'
      ? trainIndices(numFrames, sampling, rng)
      : o.mode === 'val'
        ? valIndices(numFrames, sampling, rng)
        : testIndices(numFrames, { ...sampling, testClips: o.testClips ?? 1 });
    let frames;
    if (o.modality === 'video') {
      frames = (await loadVideoClip(path.join(o.root, record.path), frameIndices)).frames;
    } else {
      const loaded = await loadFrameFolder({ root: o.root, directory: record.path, template: o.template }, frameIndices, {
        onFallback: (f) => o.onWarning?.(`error loading image: ${f.path} (${f.reason}); using ${f.replacement}`),
      });
      frames = loaded.frames;
    }
    const transformOptions = { inputSize: o.inputSize, dataset: o.dataset };
    if (o.mode === 'train') {
      const result = trainTransform(frames, record.label, transformOptions, rng);
      return { data: result.clip.data, shape: result.clip.shape, label: result.label };
    }
    const clip = testTransform(frames, { ...transformOptions, testCrops: o.mode === 'test' ? o.testCrops ?? 1 : 1, stage: o.mode });
    return { data: clip.data, shape: clip.shape, label: record.label };
  }
}
