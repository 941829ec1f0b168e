/**
 * Class scores saved for later fusion (the original's `save_sims`: `k400_sentence_sims.pt` and the
 * labels): a safetensors file with `scores` `[videos, classes]` (float32) and `labels` `[videos]`
 * (int64), and in its metadata the video paths (the fusion aligns rows by path, so the two branches
 * may have kept different subsets of the list), the branch and the number of classes.
 */
import { readFileSync } from 'node:fs';
import { parseSafetensors, serializeSafetensors } from '../../torch/serialization/safetensors-format.ts';
import { writeFileAtomic } from '../models/checkpoint.ts';

export interface SavedScores {
  scores: Float32Array;
  /** Class of each video; -1 for multi-label data (Charades). */
  labels: Int32Array;
  videos: string[];
  classes: number;
  branch: string;
}

export function saveScores(file: string, saved: SavedScores): void {
  const n = saved.videos.length;
  if (saved.labels.length !== n || saved.scores.length !== n * saved.classes) {
    throw new Error(
      `saveScores ${file}: ${n} videos, ${saved.labels.length} labels and ${saved.scores.length} scores for ${saved.classes} classes do not match`,
    );
  }
  const labels = BigInt64Array.from(saved.labels, (l) => BigInt(l));
  const bytes = serializeSafetensors(
    {
      scores: {
        dtype: 'float32',
        shape: [n, saved.classes],
        data: new Uint8Array(saved.scores.buffer, saved.scores.byteOffset, saved.scores.byteLength),
      },
      labels: { dtype: 'int64', shape: [n], data: new Uint8Array(labels.buffer) },
    },
    { videos: JSON.stringify(saved.videos), branch: saved.branch, format: 'bike-ts-scores/1' },
  );
  writeFileAtomic(file, bytes);
}

export function loadScores(file: string): SavedScores {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    throw new Error(
      `scores ${file}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  const contents = parseSafetensors(bytes, file);
  const scores = contents.tensors.get('scores');
  const labels = contents.tensors.get('labels');
  if (!scores || scores.dtype !== 'float32' || scores.shape.length !== 2)
    throw new Error(`scores ${file}: expected a float32 "scores" tensor [videos, classes]`);
  if (!labels || labels.dtype !== 'int64' || labels.shape.length !== 1 || labels.shape[0] !== scores.shape[0]) {
    throw new Error(`scores ${file}: expected an int64 "labels" tensor [${scores.shape[0]}]`);
  }
  let videos: unknown;
  try {
    videos = JSON.parse(contents.metadata.videos ?? 'null');
  } catch {
    videos = null;
  }
  if (!Array.isArray(videos) || videos.length !== scores.shape[0] || !videos.every((v) => typeof v === 'string')) {
    throw new Error(
      `scores ${file}: the metadata "videos" must list the ${scores.shape[0]} video paths (was it written by bike?)`,
    );
  }
  return {
    scores: new Float32Array(scores.data.slice().buffer),
    labels: Int32Array.from(new BigInt64Array(labels.data.slice().buffer), Number),
    videos: videos as string[],
    classes: scores.shape[1]!,
    branch: contents.metadata.branch ?? 'unknown',
  };
}

/**
 * Rows of `other` matching `videos` (by path), checking that both sides agree on the labels and the
 * class count. Every video of `videos` must be in `other`.
 */
export function alignScores(
  videos: readonly string[],
  labels: Int32Array,
  classes: number,
  other: SavedScores,
  source: string,
): Float32Array {
  if (other.classes !== classes)
    throw new Error(`scores ${source}: ${other.classes} classes, but this evaluation has ${classes}`);
  const rowOf = new Map(other.videos.map((v, i) => [v, i]));
  const out = new Float32Array(videos.length * classes);
  const missing: string[] = [];
  videos.forEach((video, i) => {
    const row = rowOf.get(video);
    if (row === undefined) {
      missing.push(video);
      return;
    }
    if (other.labels[row] !== labels[i])
      throw new Error(
        `scores ${source}: video ${video} has label ${other.labels[row]} there but ${labels[i]} in this evaluation's list`,
      );
    out.set(other.scores.subarray(row * classes, (row + 1) * classes), i * classes);
  });
  if (missing.length)
    throw new Error(
      `scores ${source}: no scores for ${missing.length} video(s) of this evaluation, e.g. ${missing.slice(0, 3).join(', ')}`,
    );
  return out;
}
