/**
 * Evaluation of the video branch as the original scripts do it:
 * - train.py `validate`: one clip, one crop per video; softmax over classes (mean over the single view);
 * - test.py: `test_crops x test_clips` views per video (crop-major, consecutive), softmax per view,
 *   mean over the views, softmax again (src/bike/scores.ts `aggregateViews`).
 * Class text features are computed once. Scores, labels (and per-frame features for zero-shot) of
 * every rank are gathered; the padding the distributed sampler adds is dropped and the videos put back
 * in list order, so the metrics are those of the dataset itself (the original averages per-rank batch
 * accuracies, padding included; the numbers agree when the world size divides the list).
 */
import type { BikeModel, TextFeatures } from '../../bike/bike-model.ts';
import { aggregateViews, validationScores } from '../../bike/scores.ts';
import { Tensor, fromTypedArray, noGrad, tidy } from '../../torch/index.ts';
import type { BatchSource } from '../datasets/batch-source.ts';
import type { Collectives } from '../distributed/collectives.ts';
import { Progress, type RunLogger } from '../logging/logging.ts';
import { topkAccuracy } from './metrics.ts';

export type Aggregation = 'val' | 'test';

export interface ScoreCollection {
  /** `[videos, classes]` row-major, videos in list order. */
  scores: Float32Array;
  videos: number;
  classes: number;
  labels: Int32Array;
  /** Dataset (list) index of each row. */
  indices: Int32Array;
  /** Per-frame image features `[videos, views * T, D]` when asked for (zero-shot). */
  features: Float32Array | null;
  framesPerVideo: number;
  featureDim: number;
}

export interface CollectOptions {
  model: BikeModel;
  source: BatchSource;
  classes: TextFeatures;
  collectives: Collectives;
  aggregation: Aggregation;
  device: string;
  /** Keep the per-frame image features (test_zeroshot.py). */
  keepFeatures?: boolean;
  logger?: RunLogger;
  label?: string;
  printFreq?: number;
  /** Runs each forward pass (the inference precision's autocast); default: as is. */
  forward?: <T>(fn: () => T) => T;
}

/** Class text features once (no graph), kept alive until disposed by the caller. */
export function encodeClasses(model: BikeModel, classTokens: Tensor): TextFeatures {
  return tidy(() => {
    const { cls, tokens } = model.classFeatures(classTokens);
    return { cls: cls.keep(), tokens: tokens.keep() };
  });
}

/** Runs the model over every batch of `source` (epoch 0) and gathers the scores of all ranks. */
export async function collectScores(options: CollectOptions): Promise<ScoreCollection> {
  const { model, source, classes, collectives, device } = options;
  const views = source.viewsPerVideo;
  model.eval();
  const scoreRows: Float32Array[] = [];
  const labelRows: number[] = [];
  const indexRows: number[] = [];
  const featureRows: Float32Array[] = [];
  let framesPerVideo = 0;
  let featureDim = 0;
  let numClasses = 0;
  let correct = 0;
  let seen = 0;
  const progress = options.logger
    ? new Progress(options.logger, options.label ?? 'eval', source.batchesPerEpoch, options.printFreq ?? 10)
    : null;
  let step = 0;
  for await (const batch of source.epoch(0)) {
    const b = batch.indices.length;
    const forward = options.forward ?? (<T>(fn: () => T): T => fn());
    const gathered = tidy(() =>
      noGrad(() =>
        forward(() => {
          const frames = fromTypedArray(batch.frames, batch.shape, { device });
          const features = model.encodeVideos(frames); // [b * views, T, D]
          const similarity = model.similarity(features, classes).to('float32'); // [b * views, C]
          const scores =
            options.aggregation === 'test' ? aggregateViews(similarity, views) : validationScores(similarity, b);
          const labels = fromTypedArray(Int32Array.from(batch.labels), undefined, { device }).to('int64');
          const indices = fromTypedArray(Int32Array.from(batch.indices), undefined, { device }).to('int64');
          const perVideo = options.keepFeatures
            ? features
                .reshape(b, views * features.size(1), features.size(2))
                .to('float32')
                .contiguous()
            : null;
          return {
            scores: collectives.allGather(scores.to('float32').contiguous()),
            labels: collectives.allGather(labels),
            indices: collectives.allGather(indices),
            features: perVideo ? collectives.allGather(perVideo) : null,
            localScores: scores,
          };
        }),
      ),
    );
    // The frames were copied into the tensor: the loader may reuse their array.
    source.recycle?.(batch);
    numClasses = gathered.scores.size(1);
    scoreRows.push(gathered.scores.toTypedArray() as Float32Array);
    labelRows.push(...gathered.labels.toArray());
    indexRows.push(...gathered.indices.toArray());
    if (gathered.features) {
      framesPerVideo = gathered.features.size(1);
      featureDim = gathered.features.size(2);
      featureRows.push(gathered.features.toTypedArray() as Float32Array);
    }
    const local = gathered.localScores.toTypedArray() as Float32Array;
    const [top1] = topkAccuracy({ data: local, rows: b, cols: numClasses }, Int32Array.from(batch.labels), [1]);
    correct += (top1! / 100) * b;
    seen += b;
    for (const t of Object.values(gathered)) (t as Tensor | null)?.dispose();
    progress?.update(step++, { extra: { 'top1(local)': (100 * correct) / seen } });
  }
  progress?.done();
  return assemble(scoreRows, labelRows, indexRows, featureRows, numClasses, framesPerVideo, featureDim);
}

function assemble(
  scoreRows: Float32Array[],
  labels: number[],
  indices: number[],
  featureRows: Float32Array[],
  classes: number,
  framesPerVideo: number,
  featureDim: number,
): ScoreCollection {
  const allScores = concat(scoreRows);
  const allFeatures = featureRows.length ? concat(featureRows) : null;
  // First occurrence of each dataset index, in index order (the sampler's padding repeats some).
  const firstRow = new Map<number, number>();
  indices.forEach((index, row) => {
    if (!firstRow.has(index)) firstRow.set(index, row);
  });
  const order = [...firstRow.keys()].sort((a, b) => a - b);
  const videos = order.length;
  const scores = new Float32Array(videos * classes);
  const featureSize = framesPerVideo * featureDim;
  const features = allFeatures ? new Float32Array(videos * featureSize) : null;
  const outLabels = new Int32Array(videos);
  order.forEach((index, i) => {
    const row = firstRow.get(index)!;
    scores.set(allScores.subarray(row * classes, (row + 1) * classes), i * classes);
    if (features && allFeatures)
      features.set(allFeatures.subarray(row * featureSize, (row + 1) * featureSize), i * featureSize);
    outLabels[i] = labels[row]!;
  });
  return {
    scores,
    videos,
    classes,
    labels: outLabels,
    indices: Int32Array.from(order),
    features,
    framesPerVideo,
    featureDim,
  };
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Top-1 / top-5 (percent) of collected scores. */
export function topAccuracy(collection: Pick<ScoreCollection, 'scores' | 'videos' | 'classes' | 'labels'>): {
  top1: number;
  top5: number;
} {
  const [top1, top5] = topkAccuracy(
    { data: collection.scores, rows: collection.videos, cols: collection.classes },
    collection.labels,
    [1, 5],
  );
  return { top1: top1!, top5: top5! };
}
