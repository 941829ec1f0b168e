/**
 * Charades in `bike test` (test_charades.py): the test list is Charades_v1_test.csv, every video is a
 * frame folder named by its id (frames counted in the folder, as the original's `os.listdir`), its
 * target the multi-hot vector of the actions it contains. The metric is torchnet's mAP over the
 * classes, reported over the whole test set, with the original's running average beside it (after
 * every batch of `batch_size x world_size` videos, the mAP of all videos so far, averaged weighted by
 * batch size; computed here over the videos in list order).
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { detectAnnotationFormat } from '../../data/annotations.ts';
import { charadesMultiHot, parseCharadesVideos } from '../../data/charades.ts';
import type { VideoRecord } from '../../data/video-list.ts';
import type { BikeConfig } from '../config/config.ts';
import { meanAveragePrecision, runningMeanAveragePrecision } from './metrics.ts';

export interface CharadesTestList {
  records: VideoRecord[];
  /** Multi-hot targets `[videos, classes]`, row-major. */
  targets: Uint8Array;
}

/** Whether `data.val_list` is a Charades video CSV (multi-label test). */
export async function isCharadesTestList(config: BikeConfig): Promise<boolean> {
  const file = config.data.val_list;
  if (!file) return false;
  const text = await readFile(file, 'utf8').catch(() => '');
  if (text === '') return false;
  try {
    return detectAnnotationFormat(text, file) === 'charades-videos';
  } catch {
    return false;
  }
}

export async function readCharadesTestList(config: BikeConfig, numClasses: number): Promise<CharadesTestList> {
  const file = config.data.val_list!;
  const videos = parseCharadesVideos(await readFile(file, 'utf8'), file, { numClasses });
  const root = config.data.val_root;
  if (!root) throw new Error('config data.val_root: required to find the Charades frame folders');
  const records: VideoRecord[] = [];
  const targets = new Uint8Array(videos.length * numClasses);
  await Promise.all(
    videos.map(async (video, i) => {
      const folder = path.join(root, video.id);
      let frames: number;
      try {
        frames = (await readdir(folder)).length;
      } catch (error) {
        throw new Error(
          `${file}:${video.line}: video ${video.id}: cannot list its frame folder ${folder} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
        );
      }
      if (frames === 0)
        throw new Error(`${file}:${video.line}: video ${video.id}: the frame folder ${folder} is empty`);
      records[i] = { path: video.id, numFrames: frames, label: 0, line: video.line };
      targets.set(charadesMultiHot(video, numClasses), i * numClasses);
    }),
  );
  return { records, targets };
}

export interface CharadesMetrics {
  /** mAP over the whole test set (percent). */
  mAP: number;
  /** The original's running average over batches (percent), for comparison with published numbers. */
  runningMAP: number;
}

/** mAP of scores `[videos, classes]` (rows for `indices` of the list) against the list's targets. */
export function charadesMetrics(
  scores: Float32Array,
  indices: Int32Array,
  list: CharadesTestList,
  classes: number,
  batchVideos: number,
): CharadesMetrics {
  const targets = new Uint8Array(indices.length * classes);
  indices.forEach((index, row) =>
    targets.set(list.targets.subarray(index * classes, (index + 1) * classes), row * classes),
  );
  const matrix = { data: scores, rows: indices.length, cols: classes };
  const truth = { data: targets, rows: indices.length, cols: classes };
  return {
    mAP: 100 * meanAveragePrecision(matrix, truth),
    runningMAP: 100 * runningMeanAveragePrecision(matrix, truth, batchVideos),
  };
}
