/**
 * `VideoClassifier`: the library's inference entry. One classifier holds one model and the encoded
 * prompts of its classes; `classify` reads a video (file, frame folder, encoded bytes or decoded
 * frames), samples `num_segments` frames with the test protocol and returns the classes with their
 * probabilities and the frames concept spotting looked at. Built on src/engine/predict.ts, the same
 * code `bike predict` runs, so both give the same numbers.
 */
import type { InferencePrecision } from '../engine/training/precision.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MediaError } from '../data/media-error.ts';
import type { RgbImage } from '../data/rgb-image.ts';
import type { SubstitutedFrame } from '../data/video-decoder.ts';
import { Predictor, type ClassSaliency, type ClassScore, type PredictorOptions } from '../engine/inference/predict.ts';
import { predictionInputFromFrames } from '../engine/inference/predict-input.ts';
import { DecodePool } from '../engine/inference/decode-pool.ts';
import { readClip, readTimeline, type DecodedClip, type TimelineOptions } from '../engine/inference/video-clips.ts';

export type { ClassSaliency, ClassScore } from '../engine/inference/predict.ts';
export type { RgbImage } from '../data/rgb-image.ts';
export type { DecodedClip, TimelineOptions } from '../engine/inference/video-clips.ts';
export type { SubstitutedFrame } from '../data/video-decoder.ts';

/** Where the model comes from: exactly one of `model` or `clip`. */
export interface VideoClassifierOptions {
  /**
   * Trained weights: a run directory (its best, else last checkpoint), a checkpoint sidecar `.json`,
   * our weights `.safetensors`, or an original BIKE checkpoint (`.pt`/`.pth`, then give `config`).
   */
  model?: string;
  /** The YAML config of weights that carry none (original BIKE checkpoints). */
  config?: string;
  /** Plain CLIP weights (OpenAI `.pt`, Hugging Face folder or safetensors) for zero-shot classification. */
  clip?: string;
  /** Class names in label order; default: the model's label list (required with `clip` unless `labels`). */
  classNames?: readonly string[];
  /** An `id,name` label CSV instead of `classNames`. */
  labels?: string;
  /** Frames sampled per video with `clip` (default 8; a trained model samples its `num_segments`). */
  numSegments?: number;
  /** CLIP's BPE vocabulary (file or Hugging Face tokenizer folder); default BIKE_CLIP_VOCAB or beside the weights. */
  vocab?: string;
  /** `cpu` (default), `cuda` or `cuda:N`. */
  device?: string;
  /** `auto` (default: bf16 autocast on CPUs with native bfloat16, fp16 on CUDA, else fp32), `fp32`, `bf16` or `fp16`. */
  precision?: InferencePrecision;
  /**
   * Worker threads that decode video files (default 0: decode on the calling thread). The decoder is
   * synchronous, so a program that must stay responsive while it decodes (a server) gives some.
   */
  decodeWorkers?: number;
}

/**
 * What `classify` reads: a video file or frame-folder path, the bytes of an encoded video (mp4,
 * webm, ...), or the decoded frames of a video in order (8-bit RGB, `width * height * 3` bytes each).
 */
export type VideoInput = string | Uint8Array | readonly RgbImage[];

export interface ClassifyOptions {
  /** Classes returned, best first (default 5, at most the number of classes). */
  topK?: number;
  /** Top classes whose frame saliency is returned (default: `topK`). */
  saliencyClasses?: number;
}

export interface BatchClassifyOptions extends ClassifyOptions {
  /**
   * Score against these class names instead of the classifier's (open vocabulary: the classifier is
   * text). Their prompt features are encoded once per label set and kept for later calls.
   */
  classNames?: readonly string[];
}

export interface TimelineClassifyOptions extends TimelineOptions {
  /** Classes returned per window (default 3). */
  topK?: number;
  /** Windows per forward pass (default 8). */
  batchSize?: number;
  classNames?: readonly string[];
}

export interface Timeline {
  fps: number;
  frameCount: number;
  /** Seconds. */
  duration: number;
  windows: { start: number; end: number; frameIndices: number[]; top: ClassScore[]; substituted: SubstitutedFrame[] }[];
  /** Frames of the video that did not decode (a damaged packet) and got the nearest decodable frame's pixels. */
  substituted: SubstitutedFrame[];
  /** When `substituted` is not empty: the decoder's message naming the file and the frames. */
  warning?: string;
}

export interface Classification {
  /** The best `topK` classes, most probable first. */
  top: ClassScore[];
  /** `softmax(logit_scale * similarity)` of every class, label order. */
  probabilities: number[];
  /** Per-frame concept-spotting weights of the top classes (each sums to 1 over the frames). */
  saliency: ClassSaliency[];
  /** 0-based numbers of the sampled frames. */
  frameIndices: number[];
  /** Seconds of each sampled frame in the video (null for frame folders and decoded frames). */
  timestamps: number[] | null;
  /** The arithmetic used and why. */
  precision: string;
  /**
   * Sampled frames that did not decode (a damaged packet) and got the pixels of the nearest frame
   * that does: the classification used them. Empty when every frame decoded.
   */
  substituted: SubstitutedFrame[];
  /** When `substituted` is not empty: the decoder's message naming the file and the frames. */
  warning?: string;
}

/**
 * A loaded BIKE (or zero-shot CLIP) model ready to classify videos.
 *
 * @example
 * ```ts
 * import { VideoClassifier } from 'bike-ts';
 *
 * const classifier = await VideoClassifier.load({ model: 'runs/k400/ViT-B/16/best-run' });
 * const { top } = await classifier.classify('clip.mp4', { topK: 3 });
 * console.log(top.map((c) => `${c.name} ${(100 * c.probability).toFixed(1)}%`));
 * classifier.dispose();
 * ```
 */
export class VideoClassifier {
  private disposed = false;

  private constructor(
    private readonly predictor: Predictor,
    private readonly pool: DecodePool | null,
  ) {}

  /**
   * Loads a model: `{ model }` (a run directory or checkpoint; `config` for original BIKE
   * checkpoints) or `{ clip, classNames }` (zero-shot with concept spotting).
   *
   * @example
   * ```ts
   * const zeroShot = await VideoClassifier.load({ clip: 'ViT-B-16.pt', classNames: ['dancing', 'cooking'] });
   * ```
   */
  static async load(options: VideoClassifierOptions): Promise<VideoClassifier> {
    const predictorOptions: PredictorOptions = {
      model: options.model,
      clip: options.clip,
      config: options.config,
      labels: options.labels,
      classNames: options.classNames,
      numSegments: options.numSegments,
      vocab: options.vocab,
      device: options.device,
      precision: options.precision,
    };
    const workers = options.decodeWorkers ?? 0;
    if (!Number.isInteger(workers) || workers < 0)
      throw new RangeError(`decodeWorkers must be a non-negative integer, got ${workers}`);
    const predictor = await Predictor.load(predictorOptions);
    return new VideoClassifier(predictor, workers > 0 ? new DecodePool({ workers }) : null);
  }

  /** The arithmetic the model runs in and why (`--precision`'s choice). */
  get precision(): string {
    return this.predictor.plan.description;
  }

  /** The classes scored, label order. */
  get classNames(): string[] {
    return this.predictor.classNames;
  }

  /** Frames sampled from each video. */
  get numSegments(): number {
    return this.predictor.numSegments;
  }

  /** `trained` for BIKE weights, `zero-shot` for plain CLIP. */
  get mode(): 'trained' | 'zero-shot' {
    return this.predictor.mode;
  }

  /**
   * Replaces the classes (any names: the classifier is text). Their prompts are encoded here once and
   * cached; later `classify` calls score against them.
   *
   * @example
   * ```ts
   * classifier.setClassNames(['playing guitar', 'playing piano']);
   * ```
   */
  setClassNames(names: readonly string[]): void {
    this.check();
    this.predictor.setClassNames(names);
  }

  /**
   * Classifies one video.
   *
   * @example
   * ```ts
   * const fromFile = await classifier.classify('clip.mp4');
   * const fromBytes = await classifier.classify(await readFile('clip.mp4'), { topK: 1 });
   * console.log(fromBytes.top[0].name, fromBytes.saliency[0].weights);
   * ```
   */
  async classify(input: VideoInput, options: ClassifyOptions = {}): Promise<Classification> {
    this.check();
    if (Array.isArray(input)) {
      const decoded = predictionInputFromFrames(input as readonly RgbImage[], this.readOptions());
      return this.classifyDecoded([{ ...decoded, fps: null, timestamps: null }], options)[0]!;
    }
    if (typeof input !== 'string' && !(input instanceof Uint8Array)) {
      throw new TypeError(
        'classify: expected a path, the bytes of an encoded video, or an array of decoded RGB frames',
      );
    }
    return this.classifyDecoded([await this.decode(input)], options)[0]!;
  }

  /**
   * Samples and transforms a video file, frame folder or encoded bytes for the model (on a decode
   * worker when the classifier has them); `classifyDecoded` then scores it.
   */
  async decode(input: string | Uint8Array): Promise<DecodedClip> {
    this.check();
    if (typeof input === 'string')
      return this.pool ? this.pool.clip(input, this.readOptions()) : readClip(input, this.readOptions());
    return inTemporaryFile(input, (file) => this.decode(file));
  }

  /**
   * Classifies decoded videos in one forward pass (one batch of `videos.length` clips): the same
   * numbers as classifying each alone, for less than the time of as many calls.
   */
  classifyDecoded(videos: readonly DecodedClip[], options: BatchClassifyOptions = {}): Classification[] {
    this.check();
    const topK = options.topK ?? 5;
    const classes = options.classNames?.length ?? this.predictor.classNames.length;
    if (options.classNames && options.classNames.length === 0)
      throw new RangeError('classNames: expected at least one class name');
    const predictions = this.predictor.predictBatch(videos, {
      top: topK,
      saliencyClasses: options.saliencyClasses ?? Math.min(topK, classes),
      classNames: options.classNames,
    });
    return predictions.map((p, i) => ({
      top: p.top,
      probabilities: p.probabilities,
      saliency: p.saliency,
      frameIndices: p.frameIndices,
      timestamps: videos[i]!.timestamps,
      precision: p.precision,
      substituted: p.substituted,
      ...(p.warning ? { warning: p.warning } : {}),
    }));
  }

  /** Classifies several videos: each decoded (in parallel on the decode workers), then one forward pass. */
  async classifyBatch(
    inputs: readonly (string | Uint8Array)[],
    options: BatchClassifyOptions = {},
  ): Promise<Classification[]> {
    const decoded = await Promise.all(inputs.map((input) => this.decode(input)));
    return this.classifyDecoded(decoded, options);
  }

  /**
   * Where in a long video each class happens: windows of `window` seconds every `stride` seconds,
   * each sampled with the test sampler inside it and classified (`batchSize` windows per forward).
   */
  async timeline(input: string | Uint8Array, options: TimelineClassifyOptions): Promise<Timeline> {
    this.check();
    if (typeof input !== 'string') return inTemporaryFile(input, (file) => this.timeline(file, options));
    const { topK = 3, batchSize = 8, classNames, ...windows } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new RangeError(`timeline: batchSize must be a positive integer, got ${batchSize}`);
    const decoded = this.pool
      ? await this.pool.timeline(input, this.readOptions(), windows)
      : await readTimeline(input, { ...this.readOptions(), ...windows });
    const out: Timeline['windows'] = [];
    for (let i = 0; i < decoded.clips.length; i += batchSize) {
      const scored = this.classifyDecoded(decoded.clips.slice(i, i + batchSize), {
        topK,
        saliencyClasses: 0,
        classNames,
      });
      scored.forEach((c, j) => {
        const w = decoded.windows[i + j]!;
        out.push({ start: w.start, end: w.end, frameIndices: w.frameIndices, top: c.top, substituted: c.substituted });
      });
    }
    return {
      fps: decoded.fps,
      frameCount: decoded.frameCount,
      duration: decoded.duration,
      windows: out,
      substituted: decoded.substituted,
      ...(decoded.warning ? { warning: decoded.warning } : {}),
    };
  }

  /** Prompt encodings of `classNames` label sets: kept, reused and made so far. */
  get labelSetCache(): { size: number; hits: number; misses: number } {
    return this.predictor.labelSetCache;
  }

  /** The network (`network.arch` of a trained model, else the CLIP vision tower) and where it runs. */
  get architecture(): string {
    return this.predictor.architecture;
  }

  get device(): string {
    return this.predictor.device;
  }

  /** Side of the square frames the model reads. */
  get inputSize(): number {
    return this.predictor.inputSize;
  }

  private readOptions() {
    return {
      numSegments: this.predictor.numSegments,
      inputSize: this.predictor.inputSize,
      dataset: this.predictor.dataset,
    };
  }

  /** Frees the model's and the class features' native memory; the classifier cannot be used afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    void this.pool?.close();
    this.predictor.disposeModel();
  }

  private check(): void {
    if (this.disposed) throw new Error('VideoClassifier: used after dispose()');
  }
}

/** An encoded video in memory: written to a private temporary file for the decoder, removed afterwards; errors name `<buffer>`. */
async function inTemporaryFile<T>(bytes: Uint8Array, use: (file: string) => Promise<T>): Promise<T> {
  if (bytes.length === 0) throw new MediaError('video', '<buffer>', 'empty: no encoded video in the bytes given');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bike-classify-'));
  const file = path.join(dir, 'video');
  try {
    writeFileSync(file, bytes);
    try {
      return await use(file);
    } catch (error) {
      if (error instanceof MediaError)
        throw new MediaError('video', '<buffer>', error.reason.replaceAll(file, '<buffer>'));
      throw error;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
