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
import { setImmediate } from 'node:timers/promises';
import { MediaError } from '../data/media-error.ts';
import type { RgbImage } from '../data/rgb-image.ts';
import { Predictor, type ClassSaliency, type ClassScore, type PredictorOptions } from '../engine/inference/predict.ts';
import { predictionInputFromFrames, readPredictionInput } from '../engine/inference/predict-input.ts';

export type { ClassSaliency, ClassScore } from '../engine/inference/predict.ts';
export type { RgbImage } from '../data/rgb-image.ts';

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

export interface Classification {
  /** The best `topK` classes, most probable first. */
  top: ClassScore[];
  /** `softmax(logit_scale * similarity)` of every class, label order. */
  probabilities: number[];
  /** Per-frame concept-spotting weights of the top classes (each sums to 1 over the frames). */
  saliency: ClassSaliency[];
  /** 0-based numbers of the sampled frames. */
  frameIndices: number[];
  /** The arithmetic used and why. */
  precision: string;
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

  private constructor(private readonly predictor: Predictor) {}

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
      model: options.model, clip: options.clip, config: options.config, labels: options.labels, classNames: options.classNames,
      numSegments: options.numSegments, vocab: options.vocab, device: options.device, precision: options.precision,
    };
    return new VideoClassifier(await Predictor.load(predictorOptions));
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
    // One turn of the event loop per call: Node runs the finalizers of released tensor handles there,
    // so a tight loop of calls on decoded frames (no I/O of its own) keeps memory flat.
    await setImmediate();
    const topK = options.topK ?? 5;
    const predictOptions = { top: topK, saliencyClasses: options.saliencyClasses ?? Math.min(topK, this.predictor.classNames.length) };
    const read = { numSegments: this.predictor.numSegments, inputSize: this.predictor.inputSize, dataset: this.predictor.dataset };
    let prediction;
    if (typeof input === 'string') {
      prediction = this.predictor.predictDecoded(await readPredictionInput(input, read), predictOptions);
    } else if (input instanceof Uint8Array) {
      prediction = this.predictor.predictDecoded(await decodeBytes(input, read), predictOptions);
    } else if (Array.isArray(input)) {
      prediction = this.predictor.predictDecoded(predictionInputFromFrames(input as readonly RgbImage[], read), predictOptions);
    } else {
      throw new TypeError('classify: expected a path, the bytes of an encoded video, or an array of decoded RGB frames');
    }
    return { top: prediction.top, probabilities: prediction.probabilities, saliency: prediction.saliency, frameIndices: prediction.frameIndices, precision: prediction.precision };
  }

  /** Frees the model's and the class features' native memory; the classifier cannot be used afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.predictor.disposeModel();
  }

  private check(): void {
    if (this.disposed) throw new Error('VideoClassifier: used after dispose()');
  }
}

/** An encoded video in memory: written to a private temporary file for the decoder, removed afterwards. */
async function decodeBytes(bytes: Uint8Array, read: { numSegments: number; inputSize: number; dataset: string }) {
  if (bytes.length === 0) throw new MediaError('video', '<buffer>', 'empty: no encoded video in the bytes given');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bike-classify-'));
  const file = path.join(dir, 'video');
  try {
    writeFileSync(file, bytes);
    try {
      return { ...(await readPredictionInput(file, read)), input: '<buffer>', kind: 'video' as const };
    } catch (error) {
      if (error instanceof MediaError) throw new MediaError('video', '<buffer>', error.reason.replaceAll(file, '<buffer>'));
      throw error;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
