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
import { loadConfig, type BikeConfig } from '../config/config.ts';
import { encodeClasses } from '../evaluation/collect-scores.ts';
import { loadModelFor, zeroShotModel } from '../models/load-model.ts';
import { WeightsError } from '../models/weights-error.ts';
import { planInference, type InferencePlan, type InferencePrecision } from '../training/precision.ts';
import { readPredictionInput, type PredictionInput } from './predict-input.ts';
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
}

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
    throw new Error(`${key} ${file}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  return namesOf(parseClassList(text, file));
}

export class Predictor {
  private classes: TextFeatures;
  private names: string[];

  private constructor(
    readonly model: BikeModel,
    classNames: string[],
    private readonly tokenizer: ClipTokenizer,
    readonly numSegments: number,
    readonly inputSize: number,
    readonly dataset: string,
    readonly mode: Prediction['mode'],
    readonly device: string,
    /** The precision chosen (its `description` says what and why). */
    readonly plan: InferencePlan,
  ) {
    this.names = [...classNames];
    this.classes = this.encode(this.names);
  }

  /** Builds the model and encodes the class prompts once. */
  static async load(options: PredictorOptions): Promise<Predictor> {
    if (!options.model === !options.clip) throw new Error('predict: give either trained weights (--model) or CLIP weights (--clip), not both or neither');
    const device = options.device ?? 'cpu';
    const location = (options.model ?? options.clip)!;
    if (!existsSync(location)) throw new WeightsError(location, `${options.model ? '--model' : '--clip'} ${location}: no such file or directory`);
    let model: BikeModel;
    let config: BikeConfig | undefined;
    let weightsPath: string;
    if (options.model) {
      const loaded = loadModelFor('predict', {
        weights: options.model, what: '--model', config: options.config ? loadConfig(options.config, { purpose: 'test' }) : undefined,
      });
      ({ model, config, weightsPath } = loaded);
    } else {
      const numSegments = options.numSegments ?? 8;
      const loaded = loadModelFor('clip', { weights: location, numSegments });
      weightsPath = loaded.weightsPath;
      model = zeroShotModel(loaded.clip, numSegments);
    }
    try {
      if (device !== 'cpu') model.to(device);
      const plan = planInference(options.precision ?? 'auto', device);
      plan.prepare(model);
      let classNames: string[];
      if (options.classNames) {
        if (options.classNames.length === 0) throw new Error('class names: expected at least one');
        classNames = [...options.classNames];
      } else {
        const labelsFile = options.labels ?? config?.data.label_list;
        if (!labelsFile) throw new Error('predict: --labels <id,name csv> is required with --clip (the class names to choose from)');
        classNames = readLabels(labelsFile, options.labels ? '--labels' : 'config data.label_list');
      }
      const tokenizer = resolveTokenizer({ vocab: options.vocab, weightsPath });
      const clip = model.clip as CLIP;
      return new Predictor(
        model, classNames, tokenizer, model.numSegments,
        config?.data.input_size ?? clip.config.image_resolution, config?.data.dataset ?? '', options.model ? 'trained' : 'zero-shot', device, plan,
      );
    } catch (error) {
      // Nothing half-loaded stays in native memory.
      for (const t of model.stateDict().values()) t.dispose();
      throw error;
    }
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
    const decoded = await readPredictionInput(input, { numSegments: this.numSegments, inputSize: this.inputSize, dataset: this.dataset });
    return { ...this.predictDecoded(decoded, options), decoded };
  }

  /** Classifies frames already sampled and transformed (`readPredictionInput`, `predictionInputFromFrames`). */
  predictDecoded(decoded: Pick<PredictionInput, 'input' | 'kind' | 'frameIndices' | 'clip'>, options: PredictOptions = {}): Prediction {
    checkTop(options);
    const top = Math.min(options.top ?? 5, this.names.length);
    const saliencyCount = Math.min(options.saliencyClasses ?? 1, this.names.length);
    const { probabilities, weights } = tidy(() => noGrad(() => this.plan.run(() => {
      const frames = fromTypedArray(decoded.clip.data, decoded.clip.shape, { device: this.device });
      const features = this.model.encodeVideos(frames); // [1, T, D]
      const similarity = this.model.similarity(features, this.classes).to('float32'); // [1, C]
      const probs = F.softmax(this.model.logitScale().mul(similarity), -1).to('float32').to('cpu');
      const saliency = this.model.frameSaliency(features, this.classes).to('float32').to('cpu'); // [1, C, T]
      return { probabilities: Array.from(probs.toTypedArray() as Float32Array), weights: saliency.toTypedArray() as Float32Array };
    })));
    const order = probabilities.map((p, i) => [p, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).map(([, i]) => i);
    const t = this.numSegments;
    return {
      input: decoded.input, kind: decoded.kind, mode: this.mode, frameIndices: decoded.frameIndices,
      top: order.slice(0, top).map((label) => ({ label, name: this.names[label]!, probability: probabilities[label]! })),
      saliency: order.slice(0, saliencyCount).map((label) => ({ label, name: this.names[label]!, weights: Array.from(weights.subarray(label * t, (label + 1) * t)) })),
      probabilities,
      precision: this.plan.description,
    };
  }

  private disposeClasses(): void {
    this.classes.cls.dispose();
    this.classes.tokens.dispose();
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

function checkTop(options: PredictOptions): void {
  if (options.top !== undefined && (!Number.isInteger(options.top) || options.top < 1)) throw new Error(`predict: top must be a positive integer, got ${options.top}`);
  if (options.saliencyClasses !== undefined && (!Number.isInteger(options.saliencyClasses) || options.saliencyClasses < 0)) {
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
