/**
 * Running an exported model (bike-export.ts) with ONNX Runtime, wherever it runs: no Node APIs, so a
 * browser page bundles it with onnxruntime-web, and Node uses it with onnxruntime-node (same API).
 * Frames are prepared with the test transform the training code uses (short-side bicubic resize as
 * Pillow, centre crop, CLIP normalisation), prompts with CLIP's BPE tokenizer.
 */
import { BpeTokenizer } from '../clip/bpe-tokenizer.ts';
import { testTransform } from '../data/clip-transform.ts';
import { makeRgbImage, type RgbImage } from '../data/rgb-image.ts';
import type { BikeOnnxMeta } from './bike-export.ts';

/** The part of onnxruntime-web / onnxruntime-node this uses. */
export interface OrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
}
export interface OrtSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
}
export interface OrtModule {
  InferenceSession: { create(model: Uint8Array): Promise<OrtSession> };
  Tensor: new (type: 'float32' | 'int64', data: Float32Array | BigInt64Array, dims: readonly number[]) => OrtTensor;
}

export interface ExportedFiles {
  meta: BikeOnnxMeta;
  vocabulary: { tokens: string[]; merges: [string, string][] };
  video: Uint8Array;
  text: Uint8Array;
  head: Uint8Array;
}

export interface ClassResult {
  /** Probability of each class, in class order. */
  probabilities: number[];
  /** Frame weights `[classes][T]`. */
  saliency: number[][];
  top1: number;
}

const argmax = (values: ArrayLike<number>) => {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
};

/** Loads the export's files with `read` (e.g. `fetch` in a page, readFile in Node). */
export async function readExport(
  read: (name: string) => Promise<Uint8Array>,
  metaFile = 'bike-onnx.json',
): Promise<ExportedFiles> {
  const text = new TextDecoder();
  const meta = JSON.parse(text.decode(await read(metaFile))) as BikeOnnxMeta;
  if (meta.format !== 'bike-onnx' || meta.version !== 1)
    throw new Error(
      `${metaFile}: not a bike-onnx version 1 description (format ${JSON.stringify(meta.format)}, version ${JSON.stringify(meta.version)})`,
    );
  const vocabulary = JSON.parse(text.decode(await read(meta.vocabulary)));
  return {
    meta,
    vocabulary,
    video: await read(meta.graphs.video.file),
    text: await read(meta.graphs.text.file),
    head: await read(meta.graphs.head.file),
  };
}

export class BikeOnnxModel {
  private constructor(
    readonly meta: BikeOnnxMeta,
    private readonly ort: OrtModule,
    private readonly tokenizer: BpeTokenizer,
    private readonly video: OrtSession,
    private readonly text: OrtSession,
    private readonly head: OrtSession,
  ) {}

  static async create(ort: OrtModule, files: ExportedFiles): Promise<BikeOnnxModel> {
    const tokenizer = new BpeTokenizer({ ...files.vocabulary, source: files.meta.vocabulary });
    const [video, text, head] = await Promise.all(
      [files.video, files.text, files.head].map((m) => ort.InferenceSession.create(m)),
    );
    return new BikeOnnxModel(files.meta, ort, tokenizer, video!, text!, head!);
  }

  /** RGBA pixels (a canvas's ImageData) to the RGB image the transform reads. */
  static rgbFromRgba(width: number, height: number, rgba: Uint8Array | Uint8ClampedArray): RgbImage {
    const rgb = new Uint8Array(width * height * 3);
    for (let i = 0, j = 0; i < width * height; i++, j += 4) {
      rgb[i * 3] = rgba[j]!;
      rgb[i * 3 + 1] = rgba[j + 1]!;
      rgb[i * 3 + 2] = rgba[j + 2]!;
    }
    return makeRgbImage(width, height, rgb);
  }

  /** The sampled frames (T of them, in order) as the video graph's input `[T, 3, R, R]`. */
  prepareFrames(frames: readonly RgbImage[]): Float32Array {
    if (frames.length !== this.meta.frames)
      throw new Error(`prepareFrames: the model takes ${this.meta.frames} frames, got ${frames.length}`);
    const { mean, std } = this.meta.normalisation;
    return testTransform(frames, {
      inputSize: this.meta.inputSize,
      normalization: { mean, std },
      testCrops: 1,
      stage: 'test',
    }).data;
  }

  private framesTensor(frames: Float32Array): OrtTensor {
    const r = this.meta.inputSize;
    return new this.ort.Tensor('float32', frames, [this.meta.frames, 3, r, r]);
  }

  /** The exported classes: probabilities, saliency, top-1. */
  async classify(frames: Float32Array): Promise<ClassResult & { videoFeatures: OrtTensor }> {
    const out = await this.video.run({ frames: this.framesTensor(frames) });
    const probabilities = Array.from(out.probabilities!.data as Float32Array);
    const t = this.meta.frames;
    const weights = out.saliency!.data as Float32Array;
    const saliency = probabilities.map((_, c) => Array.from(weights.subarray(c * t, (c + 1) * t)));
    return { probabilities, saliency, top1: argmax(probabilities), videoFeatures: out.video_features! };
  }

  /** Token ids of one class name's prompt, `[1, context_length]`. */
  promptTokens(name: string): BigInt64Array {
    const row = this.tokenizer.tokenize([this.meta.promptTemplate.replace('{}', name)], {
      contextLength: this.meta.contextLength,
    })[0]!;
    return BigInt64Array.from(row.map((id) => BigInt(id)));
  }

  /** Zero-shot over any class names: the text graph encodes each prompt, the head scores it. */
  async zeroShot(frames: Float32Array, classNames: readonly string[]): Promise<ClassResult> {
    if (classNames.length === 0) throw new Error('zeroShot: no class names');
    const { videoFeatures } = await this.classify(frames);
    const similarity: number[] = [];
    const saliency: number[][] = [];
    for (const name of classNames) {
      const text = await this.text.run({
        tokens: new this.ort.Tensor('int64', this.promptTokens(name), [1, this.meta.contextLength]),
      });
      const scored = await this.head.run({
        video_features: videoFeatures,
        text_cls: text.text_cls!,
        text_tokens: text.text_tokens!,
      });
      similarity.push((scored.similarity!.data as Float32Array)[0]!);
      saliency.push(Array.from(scored.saliency!.data as Float32Array));
    }
    // softmax(logit_scale * similarity), as the video graph computes it for its classes.
    const logits = similarity.map((s) => this.meta.logitScale * s);
    const most = Math.max(...logits);
    const exps = logits.map((l) => Math.exp(l - most));
    const total = exps.reduce((a, b) => a + b, 0);
    const probabilities = exps.map((e) => e / total);
    return { probabilities, saliency, top1: argmax(probabilities) };
  }
}
