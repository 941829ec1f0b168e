/**
 * `bike attributes <config> <clip-weights>`: the attribute JSON the attribute branch reads, made with a
 * frozen CLIP. For every video of the training and validation lists: one centre-cropped clip of
 * `num_segments` frames (the validation sampler), CLIP image features averaged over the frames and
 * unit-normalised, compared with the unit-normalised text features of each lexicon word's prompt
 * ("This is a video about {word}", as the class prompts); the `topk` most similar words, best first,
 * are written as `{video_path: {"classname_topk": [...]}}`. The lexicon defaults to the dataset's
 * class names; `--lexicon` reads one word or phrase per line (or an `id,name` label CSV).
 */
import { readFileSync } from 'node:fs';
import { unitNormalise } from '../../bike/interactions.ts';
import type { CLIP } from '../../clip/model.ts';
import { formatAttributes, type AttributeTable } from '../../data/attributes.ts';
import { parseClassList } from '../../data/class-list.ts';
import type { VideoRecord } from '../../data/video-list.ts';
import { fromTypedArray, noGrad, tidy, type Tensor } from '../../torch/index.ts';
import { writeFileAtomic } from '../models/checkpoint.ts';
import type { Collectives } from '../distributed/collectives.ts';
import type { BikeConfig } from '../config/config.ts';
import { evalRecords, readClassNames, videoSource } from '../datasets/datasets.ts';
import { Progress, RunLogger, type ProgressListener } from '../logging/logging.ts';
import { loadModelFor } from '../models/load-model.ts';
import { classPromptTokens, resolveTokenizer } from '../datasets/text-prompts.ts';

export interface AttributeGenerationOptions {
  config: BikeConfig;
  /** CLIP weights (any layout CLIP's loader reads), or a bike checkpoint / run directory. */
  weights: string;
  /** Lexicon file; default: the class names of data.label_list. */
  lexicon?: string;
  /** Words per video (default 5, the original's select_topk_attributes default, or that setting if larger). */
  topk?: number;
  /** Output files; default: data.attributes_train_path and data.attributes_val_path. */
  trainOut?: string;
  valOut?: string;
  device?: string;
  vocab?: string;
  workers?: number;
  quiet?: boolean;
  collectives: Collectives;
  /** Hears every step of the passes over the videos. */
  onProgress?: ProgressListener;
}

export interface AttributeGenerationResult {
  files: { list: string; output: string; videos: number }[];
  lexiconSize: number;
  topk: number;
}

/** Lexicon words: one per non-empty line, or the names of a label CSV / Charades class file. */
export function readLexicon(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(
      `--lexicon ${file}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  const first = text.split(/\r?\n/).find((l) => l.trim() !== '') ?? '';
  const words =
    /^id,/.test(first) || /^c\d+\s/.test(first)
      ? parseClassList(text, file).classes.map((c) => c.name)
      : text
          .split(/\r?\n/)
          .map((l) => l.trim())
          .filter((l) => l !== '');
  if (words.length === 0) throw new Error(`--lexicon ${file}: no words (expected one word or phrase per line)`);
  return words;
}

export async function generateAttributes(options: AttributeGenerationOptions): Promise<AttributeGenerationResult> {
  const { config, collectives } = options;
  const device = options.device ?? 'cpu';
  const logger = new RunLogger({ rank: collectives.rank, quiet: options.quiet, onProgress: options.onProgress });
  const topk = options.topk ?? Math.max(5, config.data.select_topk_attributes ?? 5);
  const classNames = await readClassNames(config);
  const lexicon = options.lexicon ? readLexicon(options.lexicon) : classNames;
  if (topk > lexicon.length) throw new Error(`--topk ${topk}: the lexicon has only ${lexicon.length} words`);
  const { clip } = loadModelFor('clip', {
    weights: options.weights,
    numSegments: config.data.num_segments ?? 8,
    device,
  });
  const tokenizer = resolveTokenizer({ vocab: options.vocab, weightsPath: options.weights });
  const lexiconFeatures = tidy(() =>
    noGrad(() => {
      const tokens = classPromptTokens(tokenizer, lexicon, clip.contextLength, clip.vocabSize).to(device);
      return unitNormalise(clip.encodeText(tokens).cls).keep();
    }),
  );
  const targets: { list: 'train_list' | 'val_list'; output: string | null | undefined }[] = [
    { list: 'train_list', output: options.trainOut ?? config.data.attributes_train_path },
    { list: 'val_list', output: options.valOut ?? config.data.attributes_val_path },
  ];
  const result: AttributeGenerationResult = { files: [], lexiconSize: lexicon.length, topk };
  try {
    for (const target of targets) {
      const listFile = config.data[target.list];
      if (!listFile) continue;
      if (!target.output) {
        throw new Error(
          `no output file for ${target.list}: set data.attributes_${target.list === 'train_list' ? 'train' : 'val'}_path in the config or pass --${target.list === 'train_list' ? 'train' : 'val'}-out`,
        );
      }
      const records = await evalRecords(
        {
          ...config,
          data: {
            ...config.data,
            val_list: listFile,
            val_root: target.list === 'train_list' ? config.data.train_root : config.data.val_root,
          },
        },
        classNames.length,
        true,
      );
      const table = await attributesOf(options, clip, lexiconFeatures, lexicon, records, target.list, topk, logger);
      if (collectives.rank === 0) {
        writeFileAtomic(target.output, formatAttributes(table));
        logger.info(`attributes of ${table.size} videos (${target.list}) written to ${target.output}`);
      }
      result.files.push({ list: listFile, output: target.output, videos: table.size });
    }
    if (result.files.length === 0)
      throw new Error('config data.train_list and data.val_list are both empty: no videos to describe');
    return result;
  } finally {
    lexiconFeatures.dispose();
    logger.close();
  }
}

async function attributesOf(
  options: AttributeGenerationOptions,
  clip: CLIP,
  lexiconFeatures: Tensor,
  lexicon: string[],
  records: VideoRecord[],
  list: 'train_list' | 'val_list',
  topk: number,
  logger: RunLogger,
): Promise<AttributeTable> {
  const { config, collectives } = options;
  const device = options.device ?? 'cpu';
  const root = list === 'train_list' ? config.data.train_root : config.data.val_root;
  const source = videoSource({ ...config, data: { ...config.data, val_root: root } }, records, 'val', {
    rank: collectives.rank,
    worldSize: collectives.worldSize,
    workers: options.workers,
  });
  const t = config.data.num_segments!;
  const table: AttributeTable = new Map();
  const progress = new Progress(logger, `attributes ${list}`, source.batchesPerEpoch, config.logging.print_freq ?? 10);
  let step = 0;
  try {
    for await (const batch of source.epoch(0)) {
      const b = batch.indices.length;
      const { words, indices } = tidy(() =>
        noGrad(() => {
          const frames = fromTypedArray(batch.frames, batch.shape, { device });
          const video = unitNormalise(clip.encodeImage(frames).view(b, t, -1).mean(1));
          const top = video.matmul(lexiconFeatures.t()).topk(topk, -1);
          return {
            words: collectives.allGather(top.indices.contiguous()),
            indices: collectives.allGather(
              fromTypedArray(Int32Array.from(batch.indices), undefined, { device }).to('int64'),
            ),
          };
        }),
      );
      // The frames were copied into the tensor: the loader may reuse their array.
      source.recycle?.(batch);
      const ids = words.toArray();
      indices.toArray().forEach((index, row) => {
        const path = records[index]!.path;
        if (!table.has(path))
          table.set(path, { classname_topk: ids.slice(row * topk, (row + 1) * topk).map((w) => lexicon[w]!) });
      });
      words.dispose();
      indices.dispose();
      progress.update(step++, {});
    }
  } finally {
    progress.done();
    await source.close();
  }
  return table;
}
