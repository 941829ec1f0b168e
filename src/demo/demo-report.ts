/**
 * Gathers what the demo's report shows from the files the engine wrote: each run's metrics.jsonl,
 * the saved test scores (confusion matrix, per-class accuracy, each branch's accuracy), the zero-shot
 * scores, and for a few test videos (their mp4 files) a prediction by src/engine/inference/predict.ts with the
 * concept-spotting saliency of the top classes. The class probabilities shown per video are the
 * calibrated ones `bike predict` prints, `softmax(logit_scale * similarity)`: the video branch's from
 * the prediction itself, the attribute branch's from its saved scores (`softmax(similarity)`, so
 * `p^scale` renormalised is the same softmax) with its run's logit scale, and their fusion.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { confusionMatrix, perClassAccuracy } from '../engine/evaluation/metrics.ts';
import type { TestResult, ZeroShotResult } from '../engine/evaluation/test-runs.ts';
import { METRICS_FILE } from '../engine/logging/logging.ts';
import { Predictor } from '../engine/inference/predict.ts';
import { loadScores, type SavedScores } from '../engine/evaluation/score-files.ts';
import type { CalibratedBranches } from './calibrated.ts';
import { DEFAULT_VIDEO_BRANCH_WEIGHT } from '../bike/scores.ts';
import type { DemoDataset } from './dataset.ts';
import { readMetrics, renderReport, type RankedClass, type ReportSample } from './report.ts';

export interface DemoReportInputs {
  file: string;
  dataset: DemoDataset;
  videoRun: string;
  attributeRun: string;
  singleView: TestResult;
  multiView: TestResult;
  multiViewLabel: string;
  singleViewScores: string;
  attributeScores: string;
  zeroShot: ZeroShotResult | null;
  zeroShotScores: string | null;
  /** Test videos to show. */
  samples: number;
  seconds: number;
  vocab: string;
  /** Stage 0's loss per step and its still-frame zero-shot top-1 (percent) beside chance. */
  pretrain: { losses: number[]; stillFrameTop1: number; chance: number; weights: string };
  /** Both branches and their fusion on the calibrated scale (src/demo/calibrated.ts). */
  calibrated: CalibratedBranches;
}

function ranked(scores: ArrayLike<number>, names: readonly string[], k: number): RankedClass[] {
  return Array.from(scores, (p, i) => ({ name: names[i]!, probability: p }))
    .map((c, i) => ({ c, i }))
    .sort((a, b) => b.c.probability - a.c.probability || a.i - b.i)
    .slice(0, k)
    .map(({ c }) => c);
}

/** The best class of each row (the first on ties). */
function predictedClasses(saved: SavedScores): Int32Array {
  return Int32Array.from(saved.videos, (_, r) => {
    let best = 0;
    for (let c = 1; c < saved.classes; c++)
      if (saved.scores[r * saved.classes + c]! > saved.scores[r * saved.classes + best]!) best = c;
    return best;
  });
}

function confusionOf(saved: SavedScores): Int32Array {
  return confusionMatrix(predictedClasses(saved), saved.labels, saved.classes);
}

/** Test videos spread over the classes: the first video of every `step`-th class. */
function pickSamples(saved: SavedScores, classes: number, count: number): number[] {
  const picks: number[] = [];
  const step = Math.max(1, Math.floor(classes / Math.max(1, count)));
  for (let c = 0; c < classes && picks.length < count; c += step) {
    const index = Array.from(saved.labels).indexOf(c);
    if (index >= 0) picks.push(index);
  }
  return picks;
}

export async function writeDemoReport(inputs: DemoReportInputs): Promise<string> {
  const { dataset } = inputs;
  const classes = dataset.seen.map((c) => c.name);
  const video = loadScores(inputs.singleViewScores);
  if (video.classes !== classes.length)
    throw new Error(`${inputs.singleViewScores}: ${video.classes} classes, the dataset has ${classes.length}`);
  const confusion = Array.from(confusionOf(video));

  const cal = inputs.calibrated;
  const samples: ReportSample[] = [];
  if (inputs.samples > 0) {
    const predictor = await Predictor.load({ model: inputs.videoRun, vocab: inputs.vocab });
    try {
      for (const index of pickSamples(video, classes.length, inputs.samples)) {
        const listed = video.videos[index]!;
        // The test list names frame folders; the report shows the same video decoded from its mp4.
        const mp4 = path.join(dataset.videosRoot, `${listed}.mp4`);
        const prediction = await predictor.predict(mp4, { top: 5, saliencyClasses: 3 });
        // Calibrated probabilities: the video branch's as `bike predict` prints them for this mp4.
        const r = cal.videos.indexOf(listed);
        const at = (scores: Float32Array) => scores.subarray(r * cal.classes, (r + 1) * cal.classes);
        const branches = [{ branch: 'video branch', top: ranked(prediction.probabilities, classes, 5) }];
        if (r >= 0) {
          branches.push({ branch: 'attribute branch', top: ranked(at(cal.attributes), classes, 5) });
          branches.push({
            branch: `fusion (${cal.weight} / ${(1 - cal.weight).toFixed(1)})`,
            top: ranked(
              Array.from(
                prediction.probabilities,
                (v, i) => cal.weight * v + (1 - cal.weight) * at(cal.attributes)[i]!,
              ),
              classes,
              5,
            ),
          });
        }
        samples.push({
          video: path.relative(dataset.dir, mp4),
          label: classes[video.labels[index]!]!,
          frames: prediction.decoded.frames.map((image, i) => ({ index: prediction.frameIndices[i]!, image })),
          saliency: prediction.saliency.map((s) => ({ name: s.name, weights: s.weights })),
          branches,
        });
      }
    } finally {
      predictor.dispose();
    }
  }

  let zeroShot = null;
  if (inputs.zeroShot && inputs.zeroShotScores) {
    const saved = loadScores(inputs.zeroShotScores);
    const names = dataset.unseen.map((c) => c.name);
    zeroShot = {
      classes: names,
      accuracy: Array.from(perClassAccuracy(confusionOf(saved), names.length), (a) => (Number.isNaN(a) ? 0 : a)),
      chance: 100 / names.length,
    };
  }
  const pct = (v: number | null) => (v === null ? 'n/a' : `${v.toFixed(1)}%`);
  const s = inputs.singleView;
  const m = inputs.multiView;
  const summary = [
    {
      label: 'stage 0: pre-trained CLIP, zero-shot on still frames of held-out videos (colour + shape)',
      value: `${pct(inputs.pretrain.stillFrameTop1)} (chance ${pct(inputs.pretrain.chance)})`,
    },
    {
      label: 'seen classes / test videos',
      value: `${classes.length} / ${s.videos} (chance ${pct(100 / classes.length)})`,
    },
    { label: 'video branch, single view: top-1 / top-5', value: `${pct(s.top1)} / ${pct(s.top5)}` },
    {
      label: 'calibrated as bike predict, single view: video branch / attribute branch / fused: top-1',
      value: `${pct(cal.top1.video)} / ${pct(cal.top1.attributes)} / ${pct(cal.top1.fused)}`,
    },
    { label: `video branch, ${inputs.multiViewLabel}: top-1 / top-5`, value: `${pct(m.top1)} / ${pct(m.top5)}` },
  ];
  if (s.fused)
    summary.push({
      label: 'test protocol (test.py scores) fused with the attribute branch, single view: top-1 / top-5',
      value: `${pct(s.fused.top1)} / ${pct(s.fused.top5)}`,
    });
  if (m.fused)
    summary.push({
      label: `fused, ${inputs.multiViewLabel}: top-1 / top-5`,
      value: `${pct(m.fused.top1)} / ${pct(m.fused.top5)}`,
    });
  if (inputs.zeroShot) {
    summary.push({
      label: `zero-shot on ${dataset.unseen.length} unseen classes: top-1 / top-5`,
      value: `${pct(inputs.zeroShot.top1)} / ${pct(inputs.zeroShot.top5)} (chance ${pct(100 / dataset.unseen.length)})`,
    });
  }
  const html = await renderReport({
    title: 'BIKE demo: a small CLIP pre-trained here, transferred both ways on procedural videos',
    summary,
    pretrainLoss: inputs.pretrain.losses,
    runs: [
      { name: 'video branch', metrics: readMetrics(path.join(inputs.videoRun, METRICS_FILE)) },
      { name: 'attribute branch', metrics: readMetrics(path.join(inputs.attributeRun, METRICS_FILE)) },
    ],
    classes,
    confusion,
    zeroShot,
    samples,
    notes: [
      `Dataset: ${dataset.train.videos} training and ${dataset.val.videos} test videos of ${dataset.seen.length} classes, ${dataset.frames} frames of ${dataset.size}x${dataset.size} (${dataset.dir}).`,
      `Runs: ${inputs.videoRun} (video branch) and ${inputs.attributeRun} (attribute branch).`,
      `Stage 0 pre-trained the CLIP (${inputs.pretrain.weights}) contrastively on captioned still frames; BIKE then loaded it (init: True), froze its text encoder and fine-tuned its image encoder.`,
      `The class probabilities of each video are calibrated, softmax(logit_scale x similarity), the same as bike predict prints; the fusion in those tables weighs the video branch ${DEFAULT_VIDEO_BRANCH_WEIGHT}. The accuracies above are the test protocol's (test.py: softmax of the unscaled similarities, fused ${DEFAULT_VIDEO_BRANCH_WEIGHT} / ${(1 - DEFAULT_VIDEO_BRANCH_WEIGHT).toFixed(1)}).`,
      "The attribute words come from frame-averaged features of the pre-trained CLIP against a lexicon of the world's colour-shape phrases (as the original generates them from a lexicon), which carry no frame order: the attribute branch names the colour and the shape, and the video branch which way the motion goes.",
      `Everything, data included, took ${Math.round(inputs.seconds)} s before this report.`,
    ],
  });
  writeFileSync(inputs.file, html);
  return inputs.file;
}
