/**
 * `bike export <run-dir|checkpoint> --onnx <out-dir>` as a library call: rebuilds the trained model
 * as `bike predict` does (its config, video head and label list), encodes the class prompts, traces
 * the graphs (bike-export.ts) and writes them with the JSON and the BPE vocabulary.
 */
import { CLIP } from '../clip/model.ts';
import { CLIP_MEAN, CLIP_STD } from '../data/frame-tensor.ts';
import { scaleTarget } from '../data/crop-geometry.ts';
import { Predictor } from '../engine/inference/predict.ts';
import { PROMPT_TEMPLATE, classPromptTokens, resolveTokenizer } from '../engine/datasets/text-prompts.ts';
import { ONNX_META_FILE, traceBikeOnnx, writeBikeOnnx, type BikeOnnxMeta } from './bike-export.ts';

export interface ExportOnnxOptions {
  /** Label CSV (`id,name`); default: the run config's `data.label_list`. */
  labels?: string;
  /** Config for weights that carry none (original checkpoints). */
  config?: string;
  vocab?: string;
}

export interface ExportOnnxResult {
  outDir: string;
  files: string[];
  meta: BikeOnnxMeta;
  /** ONNX nodes per graph. */
  nodes: { video: number; text: number; head: number };
}

export async function exportOnnx(
  model: string,
  outDir: string,
  options: ExportOnnxOptions = {},
): Promise<ExportOnnxResult> {
  const predictor = await Predictor.load({
    model,
    labels: options.labels,
    config: options.config,
    vocab: options.vocab,
    // The graphs are float32: the weights stay as trained (no bf16 copies for CPU autocast).
    precision: 'fp32',
  });
  try {
    const clip = predictor.model.clip as CLIP;
    const tokenizer = resolveTokenizer({ vocab: options.vocab, weightsPath: model });
    const classTokens = classPromptTokens(tokenizer, predictor.classNames, clip.contextLength, clip.vocabSize);
    const target = scaleTarget(predictor.dataset, predictor.inputSize, 'test');
    if (target.kind !== 'short-side')
      throw new Error(
        `ONNX export: dataset ${predictor.dataset} resizes frames to a fixed ${target.width}x${target.height}; only short-side resizing is described in ${ONNX_META_FILE}`,
      );
    try {
      const graphs = traceBikeOnnx(predictor.model, {
        classNames: predictor.classNames,
        classTokens,
        inputSize: predictor.inputSize,
        resizeTo: target.size,
        mean: CLIP_MEAN,
        std: CLIP_STD,
        promptTemplate: PROMPT_TEMPLATE,
        vocabulary: tokenizer.vocabulary,
      });
      const files = writeBikeOnnx(graphs, tokenizer.vocabulary, outDir);
      return {
        outDir,
        files,
        meta: graphs.meta,
        nodes: { video: graphs.video.nodeCount, text: graphs.text.nodeCount, head: graphs.head.nodeCount },
      };
    } finally {
      classTokens.dispose();
    }
  } finally {
    predictor.dispose();
  }
}
