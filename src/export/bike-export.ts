/**
 * A BIKE model as ONNX graphs (traced, see trace.ts):
 *
 * - `video.onnx`: frames `[T, 3, R, R]` (normalised) -> `probabilities` `[C]` (softmax of
 *   `logit_scale * similarity` over the exported classes, whose text features are constants in the
 *   graph), `similarity` `[C]`, `saliency` `[C, T]` (each class's frame weights) and
 *   `video_features` `[1, T, D]` (the frame features the head reads, for new classes);
 * - `text.onnx`: one prompt's token ids `[1, context_length]` (int64) -> `text_cls` `[1, D]` (the
 *   end-of-text feature) and `text_tokens` `[1, context_length, D]` (every token's feature);
 * - `head.onnx`: `video_features`, `text_cls`, `text_tokens` of one class -> its `similarity` `[1]`
 *   and `saliency` `[1, T]`: with the text graph, classes can change where the model runs (classes
 *   are scored independently, so a runtime scores each and applies the softmax with the logit scale);
 * - `bike-onnx.json`: what a runtime needs besides the graphs (classes, frames, input size,
 *   normalisation, logit scale, prompt template, the BPE vocabulary file, graph input/output names).
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { BikeModel, TextFeatures } from '../bike/bike-model.ts';
import { F, fromTypedArray, noGrad, tidy, type Tensor } from '../torch/index.ts';
import { traceToOnnx, type TraceResult } from './trace.ts';
import { ONNX_OPSET } from './onnx-graph.ts';
import type { BpeVocabulary } from '../clip/bpe-vocabulary.ts';

export const ONNX_META_FILE = 'bike-onnx.json';
export const ONNX_VOCABULARY_FILE = 'vocabulary.json';

export interface OnnxGraphInfo {
  file: string;
  inputs: { name: string; dtype: string; shape: number[] }[];
  outputs: { name: string; dtype: string; shape: number[] }[];
}

export interface BikeOnnxMeta {
  format: 'bike-onnx';
  version: 1;
  opset: number;
  classes: string[];
  /** Frames per video (T). */
  frames: number;
  /** Side of the square frames (R). */
  inputSize: number;
  /** Resize the short side to `resizeTo`, centre-crop `inputSize`, then `(x / 255 - mean) / std` per channel (RGB). */
  normalisation: {
    mean: number[];
    std: number[];
    scale: number;
    resize: number;
    crop: 'center';
    interpolation: 'bicubic';
  };
  logitScale: number;
  promptTemplate: string;
  contextLength: number;
  simHeader: string;
  interaction: string;
  vocabulary: string;
  graphs: { video: OnnxGraphInfo; text: OnnxGraphInfo; head: OnnxGraphInfo };
}

export interface BikeOnnxExportOptions {
  classNames: string[];
  /** Token ids `[C, context_length]` of the class prompts (int64). */
  classTokens: Tensor;
  /** `data.input_size`. */
  inputSize: number;
  /** The short side frames are resized to before the centre crop (`input_size * 256 / 224` in the original's test transform). */
  resizeTo: number;
  mean: readonly number[];
  std: readonly number[];
  promptTemplate: string;
  vocabulary: BpeVocabulary;
}

export interface BikeOnnxGraphs {
  video: TraceResult;
  text: TraceResult;
  head: TraceResult;
  meta: BikeOnnxMeta;
}

/**
 * Traces the three graphs of an eval-mode model. The traced inputs are deterministic dummies
 * (shapes are what matters; the parity tests run the graphs on other inputs).
 */
export function traceBikeOnnx(model: BikeModel, options: BikeOnnxExportOptions): BikeOnnxGraphs {
  if (model.training) throw new Error('ONNX export: the model is in training mode; call model.eval() first');
  const t = model.numSegments;
  const r = options.inputSize;
  const C = options.classNames.length;
  if (options.classTokens.ndim !== 2 || options.classTokens.size(0) !== C) {
    throw new Error(
      `ONNX export: class tokens have shape [${options.classTokens.shape}], expected [${C}, context_length] (one row per class)`,
    );
  }
  const contextLength = options.classTokens.size(1);
  // Besides `forward`, the entry points BIKE calls without one (so a refusal names e.g. clip (CLIP)).
  const modules = {
    root: model,
    rootName: 'model',
    methods: [
      'forward',
      'encodeImage',
      'encodeText',
      'encodeVideos',
      'similarity',
      'frameSaliency',
      'aggregate',
      'frameWeights',
    ],
  };
  return tidy(() =>
    noGrad(() => {
      const classes: TextFeatures = model.classFeatures(options.classTokens);
      const logitScale = model.logitScale().item();
      const frames = dummyFrames([t, 3, r, r]);
      const video = traceToOnnx(
        'bike_video',
        [{ name: 'frames', tensor: frames }],
        (x) => {
          const features = model.encodeVideos(x); // [1, T, D]
          const similarity = model.similarity(features, classes); // [1, C]
          const probabilities = F.softmax(model.logitScale().mul(similarity), -1);
          const saliency = model.frameSaliency(features, classes); // [1, C, T]
          return {
            probabilities: probabilities.squeeze(0),
            similarity: similarity.squeeze(0),
            saliency: saliency.squeeze(0),
            video_features: features,
          };
        },
        modules,
      );
      const tokens = options.classTokens.narrow(0, 0, 1);
      const text = traceToOnnx(
        'bike_text',
        [{ name: 'tokens', tensor: tokens }],
        (ids) => {
          const { cls, tokens: perToken } = model.encodeText(ids);
          return { text_cls: cls, text_tokens: perToken };
        },
        modules,
      );
      const features = model.encodeVideos(frames);
      const one: TextFeatures = { cls: classes.cls.narrow(0, 0, 1), tokens: classes.tokens.narrow(0, 0, 1) };
      const head = traceToOnnx(
        'bike_head',
        [
          { name: 'video_features', tensor: features },
          { name: 'text_cls', tensor: one.cls },
          { name: 'text_tokens', tensor: one.tokens },
        ],
        (v, cls, tok) => {
          const c: TextFeatures = { cls, tokens: tok };
          return { similarity: model.similarity(v, c).view(1), saliency: model.frameSaliency(v, c).view(1, t) };
        },
        modules,
      );
      const info = (file: string, g: TraceResult): OnnxGraphInfo => ({ file, inputs: g.inputs, outputs: g.outputs });
      const meta: BikeOnnxMeta = {
        format: 'bike-onnx',
        version: 1,
        opset: ONNX_OPSET,
        classes: [...options.classNames],
        frames: t,
        inputSize: r,
        normalisation: {
          mean: [...options.mean],
          std: [...options.std],
          scale: 255,
          resize: options.resizeTo,
          crop: 'center',
          interpolation: 'bicubic',
        },
        logitScale,
        promptTemplate: options.promptTemplate,
        contextLength,
        simHeader: model.video_head.simHeader,
        interaction: model.video_head.interaction,
        vocabulary: ONNX_VOCABULARY_FILE,
        graphs: { video: info('video.onnx', video), text: info('text.onnx', text), head: info('head.onnx', head) },
      };
      frames.dispose();
      return { video, text, head, meta };
    }),
  );
}

/** Values in [-2, 2) that vary over every axis (a constant input could hide a wrong mapping). */
function dummyFrames(shape: number[]): Tensor {
  return tidy(() => {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = ((i * 7919) % 4001) / 1000.25 - 2;
    return fromTypedArray(values, shape).keep();
  });
}

/** Writes the graphs, the JSON and the vocabulary into `outDir` (each file written whole, then renamed). */
export function writeBikeOnnx(graphs: BikeOnnxGraphs, vocabulary: BpeVocabulary, outDir: string): string[] {
  mkdirSync(outDir, { recursive: true });
  const files: [string, Uint8Array | string][] = [
    [graphs.meta.graphs.video.file, graphs.video.model],
    [graphs.meta.graphs.text.file, graphs.text.model],
    [graphs.meta.graphs.head.file, graphs.head.model],
    [ONNX_VOCABULARY_FILE, JSON.stringify({ tokens: vocabulary.tokens, merges: vocabulary.merges })],
    [ONNX_META_FILE, `${JSON.stringify(graphs.meta, null, 2)}\n`],
  ];
  const written: string[] = [];
  for (const [name, data] of files) {
    const target = path.join(outDir, name);
    const partial = `${target}.partial`;
    writeFileSync(partial, data);
    renameSync(partial, target);
    written.push(target);
  }
  return written;
}
