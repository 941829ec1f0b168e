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
import { existsSync, readFileSync, statSync } from 'node:fs';
import { BikeModel, type TextFeatures } from '../bike/bike-model.ts';
import { ORIGINAL_TEMPORAL_LAYERS } from '../bike/video-head.ts';
import { inferClipConfig } from '../clip/config.ts';
import { loadClip, loadClipStateDict } from '../clip/load.ts';
import { CLIP } from '../clip/model.ts';
import { classNames as namesOf, parseClassList } from '../data/class-list.ts';
import { F, fromTypedArray, noGrad, tidy } from '../torch/index.ts';
import { loadConfig, type BikeConfig } from './config.ts';
import { encodeClasses } from './evaluate.ts';
import { planInference, type InferencePlan, type InferencePrecision } from './precision.ts';
import { buildNetworkForWeights } from './model-factory.ts';
import { checkpointInDirectory, disposeWeights, readTrainedWeights } from './model-weights.ts';
import { readPredictionInput, type PredictionInput } from './predict-input.ts';
import { classPromptTokens, resolveTokenizer } from './text-prompts.ts';

export interface PredictorOptions {
  /** Trained weights: run directory, checkpoint, weights file. */
  model?: string;
  /** Plain CLIP weights (or a bike checkpoint, of which only CLIP is used) for zero-shot. */
  clip?: string;
  /** Label CSV (`id,name`); default: the run config's `data.label_list` (required with `clip`). */
  labels?: string;
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

function isBikeCheckpoint(location: string): boolean {
  if (statSync(location).isDirectory()) return checkpointInDirectory(location) !== null;
  return location.endsWith('.json');
}

export class Predictor {
  private constructor(
    readonly model: BikeModel,
    readonly classNames: string[],
    private readonly classes: TextFeatures,
    readonly numSegments: number,
    readonly inputSize: number,
    readonly dataset: string,
    readonly mode: Prediction['mode'],
    readonly device: string,
    /** The precision chosen (its `description` says what and why). */
    readonly plan: InferencePlan,
  ) {}

  /** Builds the model and encodes the class prompts once. */
  static async load(options: PredictorOptions): Promise<Predictor> {
    if (!options.model === !options.clip) throw new Error('predict: give either trained weights (--model) or CLIP weights (--clip), not both or neither');
    const device = options.device ?? 'cpu';
    const location = (options.model ?? options.clip)!;
    if (!existsSync(location)) throw new Error(`${options.model ? '--model' : '--clip'} ${location}: no such file or directory`);
    let model: BikeModel;
    let config: BikeConfig | null = null;
    let weightsPath = location;
    if (options.model) {
      const weights = readTrainedWeights(options.model);
      try {
        weightsPath = weights.source;
        if (options.config) config = loadConfig(options.config, { purpose: 'test' });
        else if (weights.sidecar?.config) config = weights.sidecar.config as BikeConfig;
        else throw new Error(`--model ${options.model}: the weights carry no config (not a bike checkpoint); pass --config <the run's yaml>`);
        if (weights.sidecar && weights.sidecar.branch !== 'video') {
          throw new Error(`--model ${options.model}: a ${weights.sidecar.branch}-branch checkpoint; predict needs the video branch's run`);
        }
        model = buildNetworkForWeights(config, weights.model, weights.source).model;
        if (weights.head && weights.head.size > 0) model.video_head.loadStateDict(weights.head);
        else if (model.video_head.parameters().length > 0) throw new Error(`--model ${options.model}: no video head weights, but network.sim_header ${config.network.sim_header} has parameters`);
      } finally {
        disposeWeights(weights);
      }
    } else {
      const numSegments = options.numSegments ?? 8;
      let clip: CLIP;
      if (isBikeCheckpoint(location)) {
        const weights = readTrainedWeights(location);
        try {
          clip = new CLIP(inferClipConfig(weights.model, weights.source), { T: numSegments });
          loadClipStateDict(clip, weights.model, weights.source);
          weightsPath = weights.source;
        } finally {
          disposeWeights(weights);
        }
      } else {
        clip = loadClip(location, { T: numSegments }).model;
      }
      model = new BikeModel(clip, {
        numSegments, simHeader: 'None', interaction: 'VCS', embedDim: clip.config.embed_dim, contextLength: clip.contextLength,
        temporalLayers: ORIGINAL_TEMPORAL_LAYERS, temporalHeads: 1,
      });
    }
    model.eval();
    model.requiresGrad_(false);
    if (device !== 'cpu') model.to(device);
    const plan = planInference(options.precision ?? 'auto', device);
    plan.prepare(model);
    const labelsFile = options.labels ?? config?.data.label_list;
    if (!labelsFile) throw new Error('predict: --labels <id,name csv> is required with --clip (the class names to choose from)');
    const classNames = readLabels(labelsFile, options.labels ? '--labels' : 'config data.label_list');
    const tokenizer = resolveTokenizer({ vocab: options.vocab, weightsPath });
    const tokens = classPromptTokens(tokenizer, classNames, model.clip instanceof CLIP ? model.clip.contextLength : 77, (model.clip as CLIP).vocabSize).to(device);
    const classes = plan.run(() => encodeClasses(model, tokens));
    tokens.dispose();
    const clip = model.clip as CLIP;
    return new Predictor(
      model, classNames, classes, model.numSegments,
      config?.data.input_size ?? clip.config.image_resolution, config?.data.dataset ?? '', options.model ? 'trained' : 'zero-shot', device, plan,
    );
  }

  /** Classifies one video file or frame folder. */
  async predict(input: string, options: PredictOptions = {}): Promise<Prediction & { decoded: PredictionInput }> {
    const top = Math.min(options.top ?? 5, this.classNames.length);
    const saliencyCount = Math.min(options.saliencyClasses ?? 1, this.classNames.length);
    if (!Number.isInteger(top) || top < 1) throw new Error(`predict: top must be a positive integer, got ${options.top}`);
    const decoded = await readPredictionInput(input, { numSegments: this.numSegments, inputSize: this.inputSize, dataset: this.dataset });
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
      input, kind: decoded.kind, mode: this.mode, frameIndices: decoded.frameIndices,
      top: order.slice(0, top).map((label) => ({ label, name: this.classNames[label]!, probability: probabilities[label]! })),
      saliency: order.slice(0, saliencyCount).map((label) => ({ label, name: this.classNames[label]!, weights: Array.from(weights.subarray(label * t, (label + 1) * t)) })),
      probabilities,
      precision: this.plan.description,
      decoded,
    };
  }

  dispose(): void {
    this.classes.cls.dispose();
    this.classes.tokens.dispose();
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
