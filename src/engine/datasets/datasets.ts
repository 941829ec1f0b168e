/**
 * The datasets of a config, as the original scripts build them: the class names of `label_list`
 * (prompt order = label order), the training list (videos with fewer than 8 frames dropped, then the
 * few-shot selection when `data.shot` is set) and the validation / test list (short videos dropped
 * for validation during training, kept for test.py), each behind a `BatchSource`.
 */
import { readFile } from 'node:fs/promises';
import { classNames, parseClassList } from '../../data/class-list.ts';
import { selectFewShot } from '../../data/few-shot.ts';
import { Rng } from '../../data/rng.ts';
import { dropShortVideos, parseVideoList, type VideoRecord } from '../../data/video-list.ts';
import { requireSetting, type BikeConfig } from '../config/config.ts';
import { VideoLoader } from '../../data/loader.ts';
import { LoaderBatchSource, type BatchSource, type ClipMode } from './batch-source.ts';
import type { SubstitutionRecord } from '../logging/substitutions.ts';

/** Class names of `data.label_list`, in label order. */
export async function readClassNames(config: BikeConfig): Promise<string[]> {
  const file = requireSetting(config.data.label_list, 'data.label_list', 'the class names');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new Error(
      `config data.label_list: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  return classNames(parseClassList(text, file));
}

/** A video list with every label checked against the class count. */
export async function readRecords(
  file: string,
  key: string,
  numClasses: number,
): Promise<{ records: VideoRecord[]; format: 'frames' | 'video' }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new Error(
      `config ${key}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  const list = parseVideoList(text, file, { numClasses });
  return { records: list.records, format: list.format };
}

export interface TrainRecords {
  records: VideoRecord[];
  /** The few-shot picks when `data.shot` is set (records then repeats them). */
  fewShot: VideoRecord[] | null;
}

/** train.py's training list: short videos dropped, then `data.shot` videos per class (seeded). */
export async function trainRecords(config: BikeConfig, numClasses: number): Promise<TrainRecords> {
  const file = requireSetting(config.data.train_list, 'data.train_list', 'training');
  const list = await readRecords(file, 'data.train_list', numClasses);
  const kept = dropShortVideos({ file, format: list.format, records: list.records }, false);
  if (kept.length === 0)
    throw new Error(
      `config data.train_list: ${file} has no video with at least 8 frames (the original drops shorter ones for training)`,
    );
  if (!config.data.shot) return { records: kept, fewShot: null };
  // Same picks on every rank: the generator is seeded with the config seed, not seed + rank.
  const selection = selectFewShot(kept, config.data.shot, new Rng(config.seed ?? 0), file);
  return { records: selection.epochList, fewShot: selection.selected };
}

/** The validation / test list; `testMode` keeps videos shorter than 8 frames (test.py). */
export async function evalRecords(config: BikeConfig, numClasses: number, testMode: boolean): Promise<VideoRecord[]> {
  const file = requireSetting(config.data.val_list, 'data.val_list', 'evaluation');
  const list = await readRecords(file, 'data.val_list', numClasses);
  const kept = dropShortVideos({ file, format: list.format, records: list.records }, testMode);
  if (kept.length === 0)
    throw new Error(
      `config data.val_list: ${file} has no video with at least 8 frames (validation drops shorter ones as the original)`,
    );
  return kept;
}

export interface SourceOptions {
  rank: number;
  worldSize: number;
  /** test.py's `--test_crops`, `--test_clips`, `--dense` (test mode only). */
  testCrops?: number;
  testClips?: number;
  dense?: boolean;
  /** Loader worker threads; default `data.workers`. */
  workers?: number;
  /** The run's record of substituted inputs (frames replaced by frame 1, videos by the next one). */
  substitutions?: SubstitutionRecord;
}

/**
 * A batch source over `records` as the original's DataLoader: training shuffles per epoch and drops
 * the last partial batch; validation and test keep order and every video.
 */
export function videoSource(
  config: BikeConfig,
  records: readonly VideoRecord[],
  mode: ClipMode,
  options: SourceOptions,
): BatchSource {
  const d = config.data;
  const modality = requireSetting(d.modality, 'data.modality', 'reading the videos');
  const root = requireSetting(
    mode === 'train' ? d.train_root : d.val_root,
    mode === 'train' ? 'data.train_root' : 'data.val_root',
    'finding the videos',
  );
  const imageTmpl =
    modality === 'RGB' ? requireSetting(d.image_tmpl, 'data.image_tmpl', 'frame folders') : (d.image_tmpl ?? '');
  const loader = new VideoLoader(
    {
      records: records.map((r) => ({ path: r.path, numFrames: r.numFrames, label: r.label })),
      root,
      format: modality === 'RGB' ? 'frames' : 'video',
      imageTmpl,
      mode,
      numSegments: requireSetting(d.num_segments, 'data.num_segments', 'sampling frames'),
      inputSize: requireSetting(d.input_size, 'data.input_size', 'cropping frames'),
      dataset: d.dataset ?? '',
      indexBias: d.index_bias,
      dense: mode === 'test' ? (options.dense ?? false) : d.dense,
      testCrops: options.testCrops,
      testClips: options.testClips,
      seed: config.seed ?? 0,
    },
    {
      batchSize: requireSetting(d.batch_size, 'data.batch_size', 'batching videos'),
      workers: options.workers ?? d.workers ?? 0,
      shuffle: mode === 'train',
      dropLast: mode === 'train',
      rank: options.rank,
      worldSize: options.worldSize,
    },
  );
  const record = options.substitutions;
  const source = new LoaderBatchSource(loader, record ? (batch) => record.note(mode, batch, root) : undefined);
  if (source.batchesPerEpoch === 0) {
    void loader.close();
    throw new Error(
      `config data.batch_size: ${loader.sampler.numSamples} ${mode} videos per process make no full batch of ${d.batch_size}; lower the batch size`,
    );
  }
  return source;
}
