/**
 * One sample of a video dataset, as the original `Video_dataset.__getitem__` makes it: pick frame
 * indices (train / val / test samplers), decode them (frame folder or video file), transform them
 * (train augmentation or 1/3/5/10 test crops) into a normalised clip. Runs in loader workers; the
 * spec is plain data so it can cross a thread boundary.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { Rng } from './rng.ts';
import { trainIndices, valIndices, testIndices, resolveIndexBias } from './sampling.ts';
import { framePath, loadFrameFolder, type FrameFallback } from './frame-loader.ts';
import { decodeImageFile, encodedImageSize } from './image-decoder.ts';
import { probeVideo, readVideoFrames } from './video-decoder.ts';
import {
  applyTrainTransform,
  planTrainTransform,
  testFrameRegion,
  testTransform,
  trainFrameRegion,
  type ClipArray,
  type ClipOutput,
  type TestTransformOptions,
  type TrainPlan,
} from './clip-transform.ts';
import { boundingRect, frameSize, PixelBuffers, type Rect, type RgbImage } from './rgb-image.ts';

export type DatasetMode = 'train' | 'val' | 'test';

export interface SampleRecord {
  /** Frame folder or video file, relative to `root`. */
  path: string;
  /** Frames in the folder (frame lists); null for video files, whose count comes from the container. */
  numFrames: number | null;
  label: number;
}

export interface VideoDatasetSpec {
  records: SampleRecord[];
  root: string;
  /** 'frames': folders of images named by `imageTmpl`; 'video': mp4/webm/avi/mkv files. */
  format: 'frames' | 'video';
  imageTmpl: string;
  mode: DatasetMode;
  numSegments: number;
  inputSize: number;
  /** `data.dataset`, for the Something-Something variants of the transforms. */
  dataset?: string;
  indexBias?: number | null;
  dense?: boolean;
  /** Test crops (1, 3, 5, 10) and clips; val mode uses one of each. */
  testCrops?: number;
  testClips?: number;
  /** Repeated augmentation: each training sample yields this many augmented clips. */
  numSample?: number;
  /** Base seed: sample i of epoch e always draws the same randomness, whichever worker makes it. */
  seed: number;
}

/**
 * A sampled frame of a video file that did not decode (a damaged packet) and got the pixels of the
 * nearest frame that does: one per sampled frame, so a frame sampled twice is listed twice.
 */
export interface VideoFrameSubstitution {
  /** The video file (root joined). */
  path: string;
  /** 0-based number of the frame that did not decode, and of the frame used instead. */
  frame: number;
  from: number;
  /** The decoder's first error. */
  reason: string;
}

export interface Sample {
  /** One clip per repeated augmentation (train), else one clip holding all views. */
  clips: ClipArray[];
  labels: number[];
  /** The dataset index actually used (differs when an unreadable video was replaced). */
  index: number;
  fallbacks: FrameFallback[];
  /** Frames of video files that did not decode and were replaced by their nearest decodable frame. */
  substitutedFrames: VideoFrameSubstitution[];
  /** Videos that could not be read and were replaced by another sample (training only). */
  skipped: { index: number; path: string; reason: string }[];
}

/** A 32-bit mix of the seed, epoch and index, so per-sample streams do not overlap. */
export function sampleSeed(seed: number, epoch: number, index: number): number {
  let h =
    Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(epoch + 1, 0xc2b2ae35) ^ Math.imul(index + 1, 0x27d4eb2f);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39);
  return (h ^ (h >>> 15)) >>> 0;
}

function sampleIndices(spec: VideoDatasetSpec, numFrames: number, rng: Rng): number[] {
  const indexBias = resolveIndexBias(spec.indexBias, spec.imageTmpl);
  const options = { numSegments: spec.numSegments, indexBias, dense: spec.dense ?? false };
  if (spec.mode === 'train') return trainIndices(numFrames, options, rng);
  if (spec.mode === 'val') return valIndices(numFrames, options, rng);
  return testIndices(numFrames, { ...options, testClips: spec.testClips ?? 1 });
}

/** The training transforms' random draws for frames of this size (one per repeated augmentation). */
function planTraining(spec: VideoDatasetSpec, frame: { width: number; height: number }, rng: Rng): TrainPlan[] {
  if (spec.mode !== 'train') return [];
  return Array.from({ length: spec.numSample ?? 1 }, () => planTrainTransform(frame, transformOptions(spec), rng));
}

function transformOptions(spec: VideoDatasetSpec): TestTransformOptions {
  return {
    inputSize: spec.inputSize,
    dataset: spec.dataset,
    testCrops: spec.mode === 'test' ? (spec.testCrops ?? 1) : 1,
    stage: spec.mode === 'val' ? 'val' : 'test',
  };
}

/** The part of each frame the transforms read, or null when they read whole frames. */
function regionRead(
  spec: VideoDatasetSpec,
  frame: { width: number; height: number },
  plans: readonly TrainPlan[],
): Rect | null {
  if (spec.mode !== 'train') return testFrameRegion(frame, transformOptions(spec));
  let cover: Rect | null = null;
  for (const plan of plans) {
    const region = trainFrameRegion(plan, transformOptions(spec));
    if (!region) return null;
    cover = cover ? boundingRect(cover, region) : region;
  }
  return cover;
}

/**
 * Refuses a path that exists but is not a regular file: reading a FIFO or a device blocks a thread
 * for good (and a blocked thread cannot be stopped, so the process could not even exit).
 */
export function checkRegularFile(file: string, what: string): void {
  const stat = statSync(file, { throwIfNoEntry: false });
  if (stat && !stat.isFile()) {
    const kind = stat.isDirectory() ? 'a folder' : stat.isFIFO() ? 'a FIFO' : stat.isSocket() ? 'a socket' : 'a device';
    throw new Error(`${what} ${file}: is ${kind}, not a regular file; refusing to read it`);
  }
}

/** Size from the header of an image file, or null when it cannot be read (decoding will say why). */
function headerSize(file: string): { width: number; height: number } | null {
  try {
    checkRegularFile(file, 'image');
    return encodedImageSize(readFileSync(file));
  } catch {
    return null;
  }
}

/** Told when a sample starts and ends reading a file (for the loader's timeout message). */
export type ReadingListener = (event: { index: number; file: string; done: boolean }) => void;

/** This thread's decoded-frame arrays, handed back once a sample's transforms have read them. */
const framePixels = new PixelBuffers();

interface LoadedClip {
  frames: RgbImage[];
  /** The training transforms' draws, made for the first frame's size (empty when not training). */
  trainPlans: TrainPlan[];
}

/**
 * Samples and decodes a clip's frames and draws its training transforms. Frame folders: the draws
 * need the first frame's size, which its header gives before decoding, so only the part of each
 * frame the transforms read is decoded.
 */
async function loadClip(
  spec: VideoDatasetSpec,
  record: SampleRecord,
  rng: Rng,
  fallbacks: FrameFallback[],
  substitutedFrames: VideoFrameSubstitution[],
  reading: (file: string, done: boolean) => void,
): Promise<LoadedClip> {
  const tracked = async <T>(file: string, read: () => Promise<T>): Promise<T> => {
    reading(file, false);
    try {
      checkRegularFile(file, spec.format === 'frames' ? 'image' : 'video');
      return await read();
    } finally {
      reading(file, true);
    }
  };
  if (spec.format === 'frames') {
    if (record.numFrames === null) throw new Error(`${record.path}: frame lists need a frame count`);
    const indices = sampleIndices(spec, record.numFrames, rng);
    const folder = { root: spec.root, directory: record.path, template: spec.imageTmpl };
    const beforeDraws = rng.state();
    const expected = headerSize(framePath(folder, indices[0]!));
    if (expected) {
      const trainPlans = planTraining(spec, expected, rng);
      const region = regionRead(spec, expected, trainPlans);
      if (region) {
        const loaded = await loadFrameFolder(folder, indices, {
          decode: (file) => tracked(file, () => decodeImageFile(file, { region, frame: expected }, framePixels)),
        });
        const first = frameSize(loaded.frames[0]!);
        if (first.width === expected.width && first.height === expected.height) {
          fallbacks.push(...loaded.report.fallbacks);
          return { frames: loaded.frames, trainPlans };
        }
        framePixels.give(loaded.frames);
      }
    }
    // Whole frames, the draws made again for the first decoded frame's size (a replacement frame 1
    // can differ from the header read above).
    const loaded = await loadFrameFolder(folder, indices, {
      decode: (file) => tracked(file, () => decodeImageFile(file, undefined, framePixels)),
    });
    fallbacks.push(...loaded.report.fallbacks);
    return {
      frames: loaded.frames,
      trainPlans: planTraining(spec, frameSize(loaded.frames[0]!), Rng.fromState(beforeDraws)),
    };
  }
  const file = path.join(spec.root, record.path);
  const frames = await tracked(file, async () => {
    const info = await probeVideo(file);
    const indexBias = resolveIndexBias(spec.indexBias, spec.imageTmpl);
    const indices = sampleIndices(spec, info.frameCount, rng);
    // Sampler indices carry index_bias; decoded frames count from 0 (the original's `video_list[p - 1]`).
    const numbers = indices.map((p) => Math.min(Math.max(p - indexBias, 0), info.frameCount - 1));
    const read = await readVideoFrames(file, numbers, info);
    if (read.substituted.length > 0) {
      const from = new Map(read.substituted.map((s) => [s.frame, s.from]));
      for (const frame of numbers) {
        const used = from.get(frame);
        if (used !== undefined)
          substitutedFrames.push({ path: file, frame, from: used, reason: read.reason ?? 'damaged data' });
      }
    }
    return read;
  });
  return { frames, trainPlans: planTraining(spec, frames[0]!, rng) };
}

/** How many substitutes training tries before it gives up on a run of unreadable videos. */
const MAX_SUBSTITUTES = 16;

/**
 * Makes sample `index` of `epoch`. Training replaces an unreadable video by the next one; evaluation
 * reports it. `output(k)`, when given, supplies the array of the sample's clip k.
 */
export async function makeSample(
  spec: VideoDatasetSpec,
  index: number,
  epoch: number,
  output?: (clip: number) => ClipOutput,
  onReading?: ReadingListener,
): Promise<Sample> {
  const skipped: Sample['skipped'] = [];
  for (let attempt = 0; ; attempt++) {
    const current = (index + attempt) % spec.records.length;
    const record = spec.records[current]!;
    const rng = new Rng(sampleSeed(spec.seed, epoch, current));
    const fallbacks: FrameFallback[] = [];
    const substitutedFrames: VideoFrameSubstitution[] = [];
    try {
      const { frames, trainPlans } = await loadClip(spec, record, rng, fallbacks, substitutedFrames, (file, done) =>
        onReading?.({ index: current, file, done }),
      );
      if (spec.mode === 'train') {
        const results = trainPlans.map((plan, k) =>
          applyTrainTransform(frames, record.label, plan, transformOptions(spec), output?.(k)),
        );
        framePixels.give(frames);
        return {
          clips: results.map((r) => r.clip),
          labels: results.map((r) => r.label),
          index: current,
          fallbacks,
          substitutedFrames,
          skipped,
        };
      }
      const clip = testTransform(frames, transformOptions(spec), output?.(0));
      framePixels.give(frames);
      return { clips: [clip], labels: [record.label], index: current, fallbacks, substitutedFrames, skipped };
    } catch (error) {
      const reason = (error as Error).message;
      if (spec.mode !== 'train') throw new Error(`sample ${current} (${record.path}): ${reason}`);
      skipped.push({ index: current, path: record.path, reason });
      if (attempt + 1 >= Math.min(MAX_SUBSTITUTES, spec.records.length)) {
        throw new Error(
          `sample ${index}: ${skipped.length} videos in a row could not be read; last: ${record.path}: ${reason}`,
        );
      }
    }
  }
}

export interface Batch {
  /** `[clips * views * T, 3, S, S]` row-major. */
  frames: Float32Array;
  shape: [number, number, number, number];
  labels: Int32Array;
  /** Dataset indices of the batch's samples (after substitution). */
  indices: number[];
  /** Views per clip (test crops; 1 in training) and frames per view (T x test clips). */
  views: number;
  framesPerView: number;
  fallbacks: FrameFallback[];
  substitutedFrames: VideoFrameSubstitution[];
  skipped: Sample['skipped'];
  /** Seconds spent decoding and transforming this batch (in its worker). */
  seconds: number;
}

/**
 * Batch arrays handed back for reuse (`VideoLoader.recycle`). A fresh array of a batch's size
 * (megabytes) costs the thread that makes it its zeroing and page faults, about as much as
 * normalising a frame; a recycled one costs nothing. Every value of a batch is written, so a
 * recycled array needs no clearing.
 */
export class BatchArrays {
  private readonly free: Float32Array[] = [];

  constructor(private readonly capacity = 8) {}

  take(length: number): Float32Array {
    const at = this.free.findIndex((a) => a.length === length);
    return at >= 0 ? this.free.splice(at, 1)[0]! : new Float32Array(length);
  }

  give(array: Float32Array): void {
    if (this.free.length >= this.capacity) this.free.shift();
    this.free.push(array);
  }
}

/** Makes and concatenates the samples of one batch (its array from `arrays` when given). */
export async function makeBatch(
  spec: VideoDatasetSpec,
  indices: readonly number[],
  epoch: number,
  onReading?: ReadingListener,
  arrays?: BatchArrays,
): Promise<Batch> {
  const started = performance.now();
  // Transforms write straight into their slot of the batch, allocated when the first clip's size is known.
  const clipsPerSample = spec.mode === 'train' ? (spec.numSample ?? 1) : 1;
  let frames: Float32Array | null = null;
  const slot =
    (sample: number, clip: number): ClipOutput =>
    (length) => {
      frames ??= arrays
        ? arrays.take(length * indices.length * clipsPerSample)
        : new Float32Array(length * indices.length * clipsPerSample);
      const perClip = frames.length / (indices.length * clipsPerSample);
      if (length !== perClip)
        throw new Error(
          `batch of ${spec.mode} samples ${indices.join(',')}: clips differ in size (${length} and ${perClip} values)`,
        );
      const at = (sample * clipsPerSample + clip) * perClip;
      return frames.subarray(at, at + perClip);
    };
  const samples = await Promise.all(
    indices.map((index, i) => makeSample(spec, index, epoch, (clip) => slot(i, clip), onReading)),
  );
  const first = samples[0]!.clips[0]!;
  return {
    frames: frames!,
    shape: [first.shape[0] * indices.length * clipsPerSample, 3, first.shape[2], first.shape[3]],
    labels: Int32Array.from(samples.flatMap((s) => s.labels)),
    indices: samples.flatMap((s) => s.clips.map(() => s.index)),
    views: first.views,
    framesPerView: first.framesPerView,
    fallbacks: samples.flatMap((s) => s.fallbacks),
    substitutedFrames: samples.flatMap((s) => s.substitutedFrames),
    skipped: samples.flatMap((s) => s.skipped),
    seconds: (performance.now() - started) / 1000,
  };
}
