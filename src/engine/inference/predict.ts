/**
 * `bike predict`: the classes of one video, with the frames concept spotting looked at.
 *
 * - With trained weights (a run directory, a checkpoint sidecar, our weights file, or an original BIKE
 *   checkpoint with `--config`), the network is rebuilt as the run's config describes and scores the
 *   classes of its label list (or any `--labels` CSV: the classifier is text, so new names work too).
 * - With plain CLIP weights (`--clip`), the video head is the parameter-free path of the paper's
 *   zero-shot setting: no temporal transformer (`sim_header: None`) and Video Concept Spotting.
 *
 * Probabilities are `softmax(logit_scale * similarity)` over the classes, CLIP's zero-shot
 * probabilities; their order is that of the test protocol's scores. The saliency of a class is the
 * weight concept spotting gives each sampled frame (uniform for the DP interaction).
 */
import { existsSync, readFileSync } from 'node:fs';
import type { BikeModel, TextFeatures } from '../../bike/bike-model.ts';
import type { CLIP } from '../../clip/model.ts';
import type { ClipTokenizer } from '../../clip/tokenizer.ts';
import { classNames as namesOf, parseClassList } from '../../data/class-list.ts';
import { F, fromTypedArray, noGrad, tidy } from '../../torch/index.ts';
import { describeArch, loadConfig, type BikeConfig } from '../config/config.ts';
import { encodeClasses } from '../evaluation/collect-scores.ts';
import { loadModelFor, zeroShotModel } from '../models/load-model.ts';
import { WeightsError } from '../models/weights-error.ts';
import { planInference, type InferencePlan, type InferencePrecision } from '../training/precision.ts';
import { readPredictionInput, type PredictionInput } from './predict-input.ts';
import { ShapeError } from '../../torch/shape-error.ts';
import { classPromptTokens, resolveTokenizer } from '../datasets/text-prompts.ts';

export interface PredictorOptions {
  /** Trained weights: run directory, checkpoint, weights file. */
  model?: string;
  /** Plain CLIP weights (or a bike checkpoint, of which only CLIP is used) for zero-shot. */
  clip?: string;
  /** Label CSV (`id,name`); default: the run config's `data.label_list` (required with `clip`, unless `classNames`). */
  labels?: string;
  /** The class names themselves, in label order (instead of a label CSV). */
  classNames?: readonly string[];
  /** Config for weights that carry none (original checkpoints). */
  config?: string;
  vocab?: string;
  /** Frames per video with `clip` (default 8; trained models use their `num_segments`). */
  numSegments?: number;
  device?: string;
  /** Arithmetic of the forward passes (default `auto`: see `planInference`). */
  precision?: InferencePrecision;
}

export interface ClassScore {
  label: number;
  name: string;
  probability: number;
}

export interface ClassSaliency {
  label: number;
  name: string;
  /** One weight per sampled frame, summing to 1. */
  weights: number[];
}

export interface Prediction {
  input: string;
  kind: PredictionInput['kind'];
  mode: 'trained' | 'zero-shot';
  /** 0-based numbers of the sampled frames. */
  frameIndices: number[];
  top: ClassScore[];
  /** Saliency of the top classes (as many as asked for, best first). */
  saliency: ClassSaliency[];
  /** Probability of every class, label order. */
  probabilities: number[];
  /** The arithmetic used and why (`InferencePlan.description`). */
  precision: string;
  /** Sampled frames that did not decode (a damaged packet) and got the nearest decodable frame's pixels. */
  substituted: PredictionInput['substituted'];
  /** When `substituted` is not empty: the decoder's message naming the file and the frames. */
  warning?: string;
}

/** What a prediction needs of a decoded video (`readPredictionInput`, a `DecodedClip`). */
export type DecodedInput = Pick<
  PredictionInput,
  'input' | 'kind' | 'frameIndices' | 'clip' | 'substituted' | 'warning'
>;

export interface PredictOptions {
  /** Classes to list (default 5, at most the number of classes). */
  top?: number;
  /** Top classes whose frame saliency is returned (default 1). */
  saliencyClasses?: number;
}

function readLabels(file: string, key: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(
      `${key} ${file}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  return namesOf(parseClassList(text, file));
}

/** Label sets other than the current classes whose prompt features `predictBatch` keeps. */
export const CACHED_LABEL_SETS = 16;

export class Predictor {
  private classes: TextFeatures;
  private names: string[];
  private readonly labelSets = new Map<string, TextFeatures>();
  private labelSetHits = 0;
  private labelSetMisses = 0;

  private constructor(
    readonly model: BikeModel,
    classNames: string[],
    private readonly tokenizer: ClipTokenizer,
    readonly numSegments: number,
    readonly inputSize: number,
    readonly dataset: string,
    readonly mode: Prediction['mode'],
    readonly device: string,
    /** `network.arch` of a trained model's config, else the CLIP's vision tower (`ViT-B/16`-like or `RN`). */
    readonly architecture: string,
    /** The precision chosen (its `description` says what and why). */
    readonly plan: InferencePlan,
  ) {
    this.names = [...classNames];
    this.classes = this.encode(this.names);
  }

  /** Builds the model and encodes the class prompts once. */
  static async load(options: PredictorOptions): Promise<Predictor> {
    if (!options.model === !options.clip)
      throw new Error('predict: give either trained weights (--model) or CLIP weights (--clip), not both or neither');
    const device = options.device ?? 'cpu';
    const location = (options.model ?? options.clip)!;
    if (!existsSync(location))
      throw new WeightsError(
        location,
        `${options.model ? '--model' : '--clip'} ${location}: no such file or directory`,
      );
    let model: BikeModel;
    let config: BikeConfig | undefined;
    let weightsPath: string;
    if (options.model) {
      const loaded = loadModelFor('predict', {
        weights: options.model,
        what: '--model',
        config: options.config ? loadConfig(options.config, { purpose: 'test' }) : undefined,
      });
      ({ model, config, weightsPath } = loaded);
    } else {
      const numSegments = options.numSegments ?? 8;
      const loaded = loadModelFor('clip', { weights: location, numSegments });
      weightsPath = loaded.weightsPath;
      model = zeroShotModel(loaded.clip, numSegments);
    }
    if (device !== 'cpu') model.to(device);
    const plan = planInference(options.precision ?? 'auto', device);
    plan.prepare(model);
    let classNames: string[];
    if (options.classNames) {
      if (options.classNames.length === 0) throw new Error('class names: expected at least one');
      classNames = [...options.classNames];
    } else {
      const labelsFile = options.labels ?? config?.data.label_list;
      if (!labelsFile)
        throw new Error('predict: --labels <id,name csv> is required with --clip (the class names to choose from)');
      classNames = readLabels(labelsFile, options.labels ? '--labels' : 'config data.label_list');
    }
    const tokenizer = resolveTokenizer({ vocab: options.vocab, weightsPath });
    const clip = model.clip as CLIP;
    return new Predictor(
      model,
      classNames,
      tokenizer,
      model.numSegments,
      config?.data.input_size ?? clip.config.image_resolution,
      config?.data.dataset ?? '',
      options.model ? 'trained' : 'zero-shot',
      device,
      config?.network.arch ? describeArch(config.network.arch) : describeVision(clip.config),
      plan,
    );
  }

  /** The class names scored, label order. */
  get classNames(): string[] {
    return [...this.names];
  }

  /** Replaces the classes: their prompts are encoded once here and kept for every prediction. */
  setClassNames(names: readonly string[]): void {
    if (names.length === 0) throw new Error('class names: expected at least one');
    const encoded = this.encode(names);
    this.disposeClasses();
    this.classes = encoded;
    this.names = [...names];
  }

  private encode(names: readonly string[]): TextFeatures {
    const clip = this.model.clip as CLIP;
    const tokens = classPromptTokens(this.tokenizer, [...names], clip.contextLength, clip.vocabSize).to(this.device);
    try {
      return this.plan.run(() => encodeClasses(this.model, tokens));
    } finally {
      tokens.dispose();
    }
  }

  /** Classifies one video file or frame folder. */
  async predict(input: string, options: PredictOptions = {}): Promise<Prediction & { decoded: PredictionInput }> {
    checkTop(options);
    const decoded = await readPredictionInput(input, {
      numSegments: this.numSegments,
      inputSize: this.inputSize,
      dataset: this.dataset,
    });
    return { ...this.predictDecoded(decoded, options), decoded };
  }

  /** Classifies frames already sampled and transformed (`readPredictionInput`, `predictionInputFromFrames`). */
  predictDecoded(decoded: DecodedInput, options: PredictOptions = {}): Prediction {
    return this.predictBatch([decoded], options)[0]!;
  }

  /**
   * Classifies several decoded videos in one forward pass: their clips are stacked into one batch
   * `[videos * T, 3, S, S]`. `classNames` scores against other classes than the current ones; their
   * prompt features are encoded once and kept (the last few label sets, see `cachedLabelSets`).
   */
  predictBatch(
    batch: readonly DecodedInput[],
    options: PredictOptions & { classNames?: readonly string[] } = {},
  ): Prediction[] {
    checkTop(options);
    if (batch.length === 0) return [];
    const names = options.classNames ? [...options.classNames] : this.names;
    const classes = options.classNames ? this.featuresFor(names) : this.classes;
    const top = Math.min(options.top ?? 5, names.length);
    const saliencyCount = Math.min(options.saliencyClasses ?? 1, names.length);
    const t = this.numSegments;
    const [, channels, height, width] = batch[0]!.clip.shape;
    const frameSize = channels * height * width;
    batch.forEach((d) => {
      const [frames, c, h, w] = d.clip.shape;
      if (frames !== t || c !== channels || h !== height || w !== width) {
        throw new ShapeError(
          `${d.input} clip`,
          [t, channels, height, width],
          [...d.clip.shape],
          `a batch of clips of ${t} frames of ${channels}x${height}x${width}`,
        );
      }
    });
    let data: Float32Array;
    if (batch.length === 1) data = batch[0]!.clip.data;
    else {
      data = new Float32Array(batch.length * t * frameSize);
      batch.forEach((d, i) => data.set(d.clip.data, i * t * frameSize));
    }
    const c = names.length;
    const { probabilities, weights } = tidy(() =>
      noGrad(() =>
        this.plan.run(() => {
          const frames = fromTypedArray(data, [batch.length * t, channels, height, width], { device: this.device });
          const features = this.model.encodeVideos(frames); // [B, T, D]
          const similarity = this.model.similarity(features, classes).to('float32'); // [B, C]
          const probs = F.softmax(this.model.logitScale().to('float32').mul(similarity), -1).to('cpu');
          const saliency = this.model.frameSaliency(features, classes).to('float32').to('cpu'); // [B, C, T]
          return {
            probabilities: probs.toTypedArray() as Float32Array,
            weights: saliency.toTypedArray() as Float32Array,
          };
        }),
      ),
    );
    return batch.map((decoded, b) => {
      const probs = Array.from(probabilities.subarray(b * c, (b + 1) * c));
      const order = probs
        .map((p, i) => [p, i] as const)
        .sort((x, y) => y[0] - x[0] || x[1] - y[1])
        .map(([, i]) => i);
      const base = b * c * t;
      return {
        input: decoded.input,
        kind: decoded.kind,
        mode: this.mode,
        frameIndices: decoded.frameIndices,
        top: order.slice(0, top).map((label) => ({ label, name: names[label]!, probability: probs[label]! })),
        saliency: order.slice(0, saliencyCount).map((label) => ({
          label,
          name: names[label]!,
          weights: Array.from(weights.subarray(base + label * t, base + (label + 1) * t)),
        })),
        probabilities: probs,
        precision: this.plan.description,
        substituted: decoded.substituted,
        ...(decoded.warning ? { warning: decoded.warning } : {}),
      };
    });
  }

  /** The prompt features of `names` (not the current classes): encoded once per label set, the last `CACHED_LABEL_SETS` kept. */
  private featuresFor(names: readonly string[]): TextFeatures {
    if (names.length === 0) throw new Error('class names: expected at least one');
    const key = JSON.stringify(names);
    const cached = this.labelSets.get(key);
    if (cached) {
      this.labelSets.delete(key);
      this.labelSets.set(key, cached);
      this.labelSetHits++;
      return cached;
    }
    const encoded = this.encode(names);
    this.labelSets.set(key, encoded);
    this.labelSetMisses++;
    while (this.labelSets.size > CACHED_LABEL_SETS) {
      const [oldest, features] = this.labelSets.entries().next().value as [string, TextFeatures];
      this.labelSets.delete(oldest);
      features.cls.dispose();
      features.tokens.dispose();
    }
    return encoded;
  }

  /** Label sets scored through `classNames`: how many encodings were reused and how many were made. */
  get labelSetCache(): { size: number; hits: number; misses: number } {
    return { size: this.labelSets.size, hits: this.labelSetHits, misses: this.labelSetMisses };
  }

  private disposeClasses(): void {
    this.classes.cls.dispose();
    this.classes.tokens.dispose();
    for (const features of this.labelSets.values()) {
      features.cls.dispose();
      features.tokens.dispose();
    }
    this.labelSets.clear();
  }

  /** Frees the class features (the model's own tensors are freed with `disposeModel`). */
  dispose(): void {
    this.disposeClasses();
  }

  /** Frees the class features and every parameter and buffer of the model. */
  disposeModel(): void {
    this.disposeClasses();
    for (const t of this.model.stateDict().values()) t.dispose();
  }
}

/** `ViT-<layers>L-<width>W/<patch>` or `RN<layers>-<width>W` of a CLIP config (names the size of weights with no arch name). */
function describeVision(config: CLIP['config']): string {
  const layers = Array.isArray(config.vision_layers) ? config.vision_layers.join('-') : String(config.vision_layers);
  return config.vision_patch_size
    ? `ViT-${layers}L-${config.vision_width}W/${config.vision_patch_size}`
    : `RN${layers}-${config.vision_width}W`;
}

function checkTop(options: PredictOptions): void {
  if (options.top !== undefined && (!Number.isInteger(options.top) || options.top < 1))
    throw new Error(`predict: top must be a positive integer, got ${options.top}`);
  if (
    options.saliencyClasses !== undefined &&
    (!Number.isInteger(options.saliencyClasses) || options.saliencyClasses < 0)
  ) {
    throw new Error(`predict: saliencyClasses must be a non-negative integer, got ${options.saliencyClasses}`);
  }
}

/** One prediction, as `bike predict` makes it. */
export async function predictVideo(input: string, options: PredictorOptions & PredictOptions): Promise<Prediction> {
  const predictor = await Predictor.load(options);
  try {
    const { decoded: _decoded, ...prediction } = await predictor.predict(input, options);
    return prediction;
  } finally {
    predictor.dispose();
  }
}
