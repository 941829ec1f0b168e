/**
 * The demo's branch scores on the calibrated scale `bike predict` prints, `softmax(logit_scale *
 * similarity)`, and their fusion. The test protocol (test.py) softmaxes the unscaled similarities,
 * twice for the video branch, so its video scores sit within a hair of 1/classes while the attribute
 * branch's single softmax is sharper: fused as they are, the attribute branch's guesses outweigh the
 * video branch even where only the video branch can know (which way a motion goes). On one scale,
 * fusion does what the paper intends: each branch counts by its confidence.
 *
 * The video branch: every test video through src/engine/predict.ts (its frame folder, the test
 * transform and sampler), exactly `bike predict --model <run>`. The attribute branch: its saved
 * scores `softmax(s)` raised to its run's `exp(logit_scale)` and renormalised, which is
 * `softmax(logit_scale * s)`.
 */
import path from 'node:path';
import { DEFAULT_VIDEO_BRANCH_WEIGHT } from '../bike/scores.ts';
import { disposeWeights, readTrainedWeights } from '../engine/models/model-weights.ts';
import { Predictor } from '../engine/inference/predict.ts';
import { alignScores, loadScores } from '../engine/evaluation/score-files.ts';

/** `softmax(scale * s)` from `p = softmax(s)`: `p^scale`, renormalised (computed in log space). */
export function calibrate(probabilities: ArrayLike<number>, scale: number): number[] {
  const logs = Array.from(probabilities, (p) => scale * Math.log(Math.max(p, 1e-30)));
  const top = Math.max(...logs);
  const e = logs.map((l) => Math.exp(l - top));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

/** `exp(logit_scale)` of a run's CLIP. */
export function logitScaleOf(run: string): number {
  const weights = readTrainedWeights(run);
  try {
    const t = weights.model.get('logit_scale');
    if (!t) throw new Error(`${weights.source}: no logit_scale in the CLIP weights`);
    return Math.exp(t.item());
  } finally {
    disposeWeights(weights);
  }
}

/** Top-1 (percent) of row-major `[labels.length, classes]` scores; ties go to the first class. */
export function top1Of(scores: ArrayLike<number>, labels: ArrayLike<number>, classes: number): number {
  let correct = 0;
  for (let r = 0; r < labels.length; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (scores[r * classes + c]! > scores[r * classes + best]!) best = c;
    if (best === labels[r]) correct++;
  }
  return labels.length ? (100 * correct) / labels.length : 0;
}

export interface CalibratedBranches {
  videos: string[];
  labels: Int32Array;
  classes: number;
  /** Row-major `[videos, classes]` calibrated probabilities. */
  video: Float32Array;
  attributes: Float32Array;
  fused: Float32Array;
  weight: number;
  top1: { video: number; attributes: number; fused: number };
}

export interface CalibrateOptions {
  /** The video branch's run directory (as `bike predict --model`). */
  videoRun: string;
  attributeRun: string;
  /** Scores the test saved (`--save-scores`): the videos, their labels and their order. */
  videoScores: string;
  attributeScores: string;
  /** Folder the test list's video paths are relative to (frame folders). */
  root: string;
  vocab: string;
  weight?: number;
}

/** Both branches' calibrated probabilities on the test videos, and their fusion. */
export async function calibratedBranches(options: CalibrateOptions): Promise<CalibratedBranches> {
  const saved = loadScores(options.videoScores);
  const { classes } = saved;
  const weight = options.weight ?? DEFAULT_VIDEO_BRANCH_WEIGHT;
  const video = new Float32Array(saved.videos.length * classes);
  // fp32 as the demo trains: the figures do not depend on whether this CPU has native bfloat16.
  const predictor = await Predictor.load({ model: options.videoRun, vocab: options.vocab, precision: 'fp32' });
  try {
    if (predictor.classNames.length !== classes)
      throw new Error(
        `${options.videoScores}: ${classes} classes, the run ${options.videoRun} has ${predictor.classNames.length}`,
      );
    for (const [i, name] of saved.videos.entries()) {
      const prediction = await predictor.predict(path.join(options.root, name), { top: 1 });
      video.set(prediction.probabilities, i * classes);
    }
  } finally {
    predictor.dispose();
  }
  const scale = logitScaleOf(options.attributeRun);
  const aligned = alignScores(
    saved.videos,
    saved.labels,
    classes,
    loadScores(options.attributeScores),
    options.attributeScores,
  );
  const attributes = new Float32Array(aligned.length);
  for (let r = 0; r < saved.videos.length; r++)
    attributes.set(calibrate(aligned.subarray(r * classes, (r + 1) * classes), scale), r * classes);
  const fused = video.map((v, i) => weight * v + (1 - weight) * attributes[i]!);
  return {
    videos: saved.videos,
    labels: saved.labels,
    classes,
    video,
    attributes,
    fused,
    weight,
    top1: {
      video: top1Of(video, saved.labels, classes),
      attributes: top1Of(attributes, saved.labels, classes),
      fused: top1Of(fused, saved.labels, classes),
    },
  };
}
