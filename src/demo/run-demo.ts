/**
 * `bike demo`: BIKE end to end on a laptop CPU, with nothing to download. It makes the procedural
 * dataset (src/demo/dataset.ts), pre-trains a small CLIP on it (stage 0, src/demo/pretrain.ts), then
 * works as a user with real CLIP weights would: original-format configs point `network.arch` at those
 * weights (`init: True`, the text encoder frozen, CLIP at `lr * clip_ratio`) and the engine runs exactly
 * as the commands do:
 *   1. the dataset;  2. stage 0, the pre-trained vision-language model;
 *   3. `bike train` of the video branch (temporal transformer + Video Concept Spotting);
 *   4. `bike attributes`: each video's top lexicon words from the pre-trained CLIP, then
 *      `bike train --attributes`: the attribute branch on those sentences;
 *   5. `bike test` single-view and multi-view on the held-out videos of the seen classes, fused
 *      with the attribute branch;
 *   6. `bike zeroshot` on the unseen classes (combinations of seen words), beside chance;
 *   7. the HTML report (src/demo/report.ts).
 * Each stage's time is printed; the last line is
 * `demo: top1=<percent> fused_top1=<percent> zeroshot_top1=<percent> report=<path>`.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generateAttributes } from '../engine/inference/attribute-generation.ts';
import { loadConfig } from '../engine/config/config.ts';
import { openCollectives } from '../engine/distributed/distributed-env.ts';
import { runTest, runZeroShot, type TestResult, type ZeroShotResult } from '../engine/evaluation/test-runs.ts';
import { train, type TrainResult } from '../engine/training/trainer.ts';
import { attributeScoresPath } from '../engine/training/training-setup.ts';
import { calibratedBranches, type CalibratedBranches } from './calibrated.ts';
import { conceptPhrase } from './captions.ts';
import { makeDemoDataset, type DemoDataset, type DemoDatasetOptions } from './dataset.ts';
import { writeDemoConfigs, type DemoModelSize, type DemoTraining } from './demo-config.ts';
import { writeDemoReport } from './demo-report.ts';
import { pretrainClip, type PretrainResult, type PretrainSettings } from './pretrain.ts';
import { claimFolder, resetFolder } from './owned-folders.ts';

export interface DemoPreset {
  data: Omit<DemoDatasetOptions, 'dir' | 'log'>;
  model: DemoModelSize;
  /** Stage 0: contrastive pre-training of the CLIP on captioned still frames. */
  pretrain: PretrainSettings;
  training: DemoTraining;
  /** Multi-view test: crops x clips. */
  multiView: { crops: number; clips: number };
  /** Test videos shown in the report. */
  reportSamples: number;
}

const MODEL: DemoModelSize = {
  embedDim: 64,
  resolution: 32,
  patchSize: 8,
  visionWidth: 64,
  visionLayers: 2,
  textWidth: 64,
  textHeads: 1,
  textLayers: 2,
  contextLength: 24,
};

export const DEMO_PRESETS: Record<'full' | 'fast', DemoPreset> = {
  full: {
    data: {
      colors: 4,
      shapes: 2,
      motions: 2,
      unseenPeriod: 4,
      trainPerClass: 48,
      valPerClass: 10,
      zeroShotPerClass: 10,
      frames: 16,
      size: 64,
      seed: 2023,
    },
    model: MODEL,
    pretrain: { steps: 400, batchSize: 128, lr: 2e-3, warmupSteps: 40, weightDecay: 0.1, framesPerVideo: 4, seed: 7 },
    training: {
      numSegments: 8,
      batchSize: 32,
      epochs: 16,
      clipRatio: 0.1,
      attributeEpochs: 6,
      lr: 3e-3,
      attributeLr: 2e-3,
      warmupEpochs: 2,
      weightDecay: 0.01,
      topkAttributes: 1,
      evalFreq: 2,
      workers: 1,
      seed: 1024,
    },
    multiView: { crops: 3, clips: 2 },
    reportSamples: 4,
  },
  fast: {
    data: {
      colors: 4,
      shapes: 2,
      motions: 2,
      unseenPeriod: 4,
      trainPerClass: 48,
      valPerClass: 5,
      zeroShotPerClass: 5,
      frames: 16,
      size: 64,
      seed: 2023,
    },
    model: MODEL,
    pretrain: { steps: 120, batchSize: 128, lr: 2e-3, warmupSteps: 20, weightDecay: 0.1, framesPerVideo: 4, seed: 7 },
    training: {
      numSegments: 8,
      batchSize: 32,
      epochs: 4,
      clipRatio: 0.1,
      attributeEpochs: 2,
      lr: 3e-3,
      attributeLr: 2e-3,
      warmupEpochs: 1,
      weightDecay: 0.01,
      topkAttributes: 1,
      evalFreq: 1,
      workers: 1,
      seed: 1024,
    },
    multiView: { crops: 3, clips: 2 },
    reportSamples: 2,
  },
};

export interface DemoOptions {
  /** Work folder (dataset, configs, runs, report); default `runs/demo`. */
  workDir: string;
  preset: DemoPreset;
  /** No progress lines from the engine (stage lines are still printed through `log`). */
  quiet?: boolean;
  /** Where stage lines go (default stdout). */
  log?: (line: string) => void;
}

export interface DemoResult {
  dataset: DemoDataset;
  videoRun: string;
  attributeRun: string;
  singleView: TestResult;
  multiView: TestResult;
  zeroShot: ZeroShotResult | null;
  /** Chance top-1 (percent) among the seen and the unseen classes. */
  chance: number;
  zeroShotChance: number | null;
  pretrained: PretrainResult;
  report: string;
  seconds: number;
  /** Seconds each stage took, in order. */
  stages: { name: string; seconds: number }[];
  /** The top-1 the last line reports: the video branch, single view. */
  top1: number;
  /** Single view, the two branches fused on the calibrated scale. */
  fusedTop1: number;
  calibrated: CalibratedBranches;
}

/** The demo's last line. */
export function demoSummaryLine(result: Pick<DemoResult, 'top1' | 'fusedTop1' | 'zeroShot' | 'report'>): string {
  const zeroShot = result.zeroShot ? accuracy(result.zeroShot, 'zero-shot').top1.toFixed(1) : 'n/a';
  return `demo: top1=${result.top1.toFixed(1)} fused_top1=${result.fusedTop1.toFixed(1)} zeroshot_top1=${zeroShot} report=${result.report}`;
}

/** Top-1 / top-5 of a single-label test (the demo's are never multi-label). */
function accuracy(result: TestResult, what: string): { top1: number; top5: number } {
  if (result.top1 === null || result.top5 === null)
    throw new Error(`${what}: the test reported no top-1 (a multi-label dataset?)`);
  return { top1: result.top1, top5: result.top5 };
}

/** Stages printed as `[demo n/STAGES ...]`. */
export const STAGES = 7;

function formatSeconds(s: number): string {
  return s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(1)}s`;
}

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const started = performance.now();
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const elapsed = () => formatSeconds((performance.now() - started) / 1000);
  const stages: { name: string; seconds: number }[] = [];
  let stageStart = performance.now();
  let stageName = '';
  const endStage = () => {
    if (!stageName) return;
    const seconds = (performance.now() - stageStart) / 1000;
    stages.push({ name: stageName, seconds });
    log(`(${stageName}: ${formatSeconds(seconds)})`);
  };
  const stage = (n: number, name: string, text: string) => {
    endStage();
    stageName = name;
    stageStart = performance.now();
    log(`\n[demo ${n}/${STAGES} · ${elapsed()}] ${text}`);
  };
  const workDir = path.resolve(options.workDir);
  const { preset } = options;
  const quiet = options.quiet ?? false;

  // The demo writes only into a folder it made (or an empty one): a user's folder is refused, never overwritten.
  claimFolder(workDir, 'work folder');
  stage(1, 'dataset', `making the procedural dataset in ${path.join(workDir, 'data')}`);
  const dataset = await makeDemoDataset({ ...preset.data, dir: path.join(workDir, 'data'), log });
  log(
    `${dataset.created ? 'made' : 'reusing'} ${dataset.train.videos} training and ${dataset.val.videos} test videos of ${dataset.seen.length} seen classes` +
      `${dataset.zeroShot ? `, ${dataset.zeroShot.videos} videos of ${dataset.unseen.length} unseen classes` : ''} (mp4 + JPEG frames, ${dataset.frames} frames of ${dataset.size}x${dataset.size})`,
  );
  log(`seen classes: ${dataset.seen.map((c) => c.name).join('; ')}`);
  if (dataset.unseen.length) log(`unseen classes (zero-shot): ${dataset.unseen.map((c) => c.name).join('; ')}`);

  // Each demo run trains afresh; the dataset above is reused when it is the same.
  const runsDir = path.join(workDir, 'runs');
  const configDir = path.join(workDir, 'configs');
  resetFolder(runsDir, 'runs folder');
  mkdirSync(configDir, { recursive: true });
  mkdirSync(path.join(workDir, 'scores'), { recursive: true });
  const attributeFiles = {
    train: path.join(workDir, 'attributes', 'train.json'),
    val: path.join(workDir, 'attributes', 'val.json'),
  };
  mkdirSync(path.dirname(attributeFiles.train), { recursive: true });
  stage(
    2,
    'stage 0',
    "stage 0: pre-training the small CLIP contrastively on captioned still frames of the demo world (CLIP's symmetric InfoNCE)",
  );
  const pretrained = await pretrainClip({
    dataset,
    model: preset.model,
    settings: preset.pretrain,
    dir: path.join(workDir, 'clip'),
    log,
    printEvery: quiet ? 0 : 100,
  });
  log(
    `stage 0: loss ${pretrained.firstLoss.toFixed(3)} -> ${pretrained.lastLoss.toFixed(3)} over ${pretrained.steps} steps, logit scale ${pretrained.logitScale.toFixed(1)}; ` +
      `zero-shot on ${pretrained.stillFrameImages} still frames of held-out videos: ${pretrained.stillFrameTop1.toFixed(1)}% (chance ${pretrained.stillFrameChance.toFixed(1)}%); weights ${pretrained.weights}`,
  );
  const configs = writeDemoConfigs(
    configDir,
    dataset,
    preset.model,
    preset.training,
    runsDir,
    attributeFiles,
    pretrained.weights,
  );
  const vocab = dataset.vocabulary.dir;
  const collectives = openCollectives({});
  try {
    stage(
      3,
      'video branch',
      `training the video branch from the pre-trained CLIP (text encoder frozen, CLIP at lr x ${preset.training.clipRatio}) + temporal transformer + concept spotting, config ${configs.video}`,
    );
    const videoConfig = loadConfig(configs.video, { purpose: 'train' });
    const videoTraining: TrainResult = await train({
      config: videoConfig,
      configFile: configs.video,
      branch: 'video',
      precision: 'fp32',
      device: 'cpu',
      logTime: 'video',
      vocab,
      quiet,
      collectives,
    });
    const videoRun = videoTraining.runDir;
    // The run directory carries its tokenizer, so `bike predict --model <run>` needs nothing else.
    for (const file of [dataset.vocabulary.vocabJson, dataset.vocabulary.mergesTxt])
      copyFileSync(file, path.join(videoRun, path.basename(file)));
    log(`video branch: best validation top-1 ${videoTraining.bestMetric.toFixed(1)}% (${videoRun})`);

    stage(
      4,
      'attribute branch',
      `attributes: the top ${preset.training.topkAttributes} lexicon words of every video from the pre-trained CLIP, then training the attribute branch`,
    );
    const testConfig = loadConfig(configs.video, { purpose: 'test' });
    // The lexicon: the world's words a still frame shows (colour and shape; a motion needs the frames in order).
    const lexicon = path.join(workDir, 'attributes', 'lexicon.txt');
    const phrases = [
      ...new Map([...dataset.seen, ...dataset.unseen].map((k) => [conceptPhrase(k.color, k.shape), true])).keys(),
    ];
    writeFileSync(lexicon, `${phrases.join('\n')}\n`);
    await generateAttributes({
      config: testConfig,
      weights: pretrained.weights,
      lexicon,
      topk: preset.training.topkAttributes,
      vocab,
      quiet,
      collectives,
    });
    const attributeConfig = loadConfig(configs.attributes, {
      purpose: 'train-attributes',
      overrides: [`pretrain=${JSON.stringify(videoRun)}`],
    });
    const attributeTraining = await train({
      config: attributeConfig,
      configFile: configs.attributes,
      branch: 'attributes',
      precision: 'fp32',
      device: 'cpu',
      logTime: 'video',
      vocab,
      quiet,
      collectives,
    });
    const attributeRun = attributeTraining.runDir;
    log(`attribute branch: best validation top-1 ${attributeTraining.bestMetric.toFixed(1)}% (${attributeRun})`);

    stage(
      5,
      'test',
      'testing on the held-out videos of the seen classes (single view, then multi-view), fused with the attribute branch',
    );
    const fuse = attributeScoresPath(attributeRun);
    const common = {
      config: testConfig,
      weights: videoRun,
      dense: false,
      device: 'cpu',
      vocab,
      quiet,
      collectives,
      fuse,
    };
    const singleViewScores = path.join(workDir, 'scores', 'single-view.safetensors');
    const singleView = await runTest({ ...common, testCrops: 1, testClips: 1, saveScores: singleViewScores });
    const { crops, clips } = preset.multiView;
    const multiView = await runTest({ ...common, testCrops: crops, testClips: clips });
    const chance = 100 / dataset.seen.length;
    const single = accuracy(singleView, 'single-view test');
    const multi = accuracy(multiView, 'multi-view test');
    log(
      `single view: top-1 ${single.top1.toFixed(1)}% top-5 ${single.top5.toFixed(1)}%; fused with attributes: top-1 ${singleView.fused!.top1.toFixed(1)}%`,
    );
    log(
      `${crops} crops x ${clips} clips: top-1 ${multi.top1.toFixed(1)}% top-5 ${multi.top5.toFixed(1)}%; fused: top-1 ${multiView.fused!.top1.toFixed(1)}% (chance ${chance.toFixed(1)}%)`,
    );
    // Both branches on the scale `bike predict` prints (logit-scaled softmax), and their fusion.
    const calibrated = await calibratedBranches({
      videoRun,
      attributeRun,
      videoScores: singleViewScores,
      attributeScores: fuse,
      root: dataset.framesRoot,
      vocab,
    });
    const cal = calibrated.top1;
    log(
      `calibrated as bike predict (softmax of logit_scale x similarity), single view: video branch ${cal.video.toFixed(1)}%, attribute branch ${cal.attributes.toFixed(1)}%, ` +
        `fused (${calibrated.weight} / ${(1 - calibrated.weight).toFixed(1)}) ${cal.fused.toFixed(1)}%`,
    );

    let zeroShot: ZeroShotResult | null = null;
    let zeroShotChance: number | null = null;
    const zeroShotScores = path.join(workDir, 'scores', 'zeroshot.safetensors');
    if (configs.zeroShot && dataset.zeroShot) {
      stage(6, 'zero-shot', `zero-shot on ${dataset.unseen.length} unseen classes (their mp4 files)`);
      const zeroShotConfig = loadConfig(configs.zeroShot, { purpose: 'test' });
      zeroShot = await runZeroShot({
        config: zeroShotConfig,
        weights: videoRun,
        dense: false,
        device: 'cpu',
        vocab,
        quiet,
        collectives,
        testCrops: 1,
        testClips: 1,
        saveScores: zeroShotScores,
      });
      zeroShotChance = 100 / dataset.unseen.length;
      const z = accuracy(zeroShot, 'zero-shot');
      log(
        `zero-shot: top-1 ${z.top1.toFixed(1)}% top-5 ${z.top5.toFixed(1)}% (chance ${zeroShotChance.toFixed(1)}%); frame-mean protocol: top-1 ${zeroShot.full.top1.toFixed(1)}%`,
      );
    } else {
      stage(6, 'zero-shot', 'zero-shot: no unseen classes in this preset (skipped)');
    }

    stage(7, 'report', 'writing the report');
    const seconds = (performance.now() - started) / 1000;
    const top1 = single.top1;
    const report = await writeDemoReport({
      file: path.join(workDir, 'report.html'),
      dataset,
      videoRun,
      attributeRun,
      singleView,
      multiView,
      multiViewLabel: `${crops} crops x ${clips} clips`,
      singleViewScores,
      attributeScores: fuse,
      zeroShot,
      zeroShotScores: zeroShot ? zeroShotScores : null,
      samples: preset.reportSamples,
      seconds,
      vocab,
      calibrated,
      pretrain: {
        losses: pretrained.losses,
        stillFrameTop1: pretrained.stillFrameTop1,
        chance: pretrained.stillFrameChance,
        weights: pretrained.weights,
      },
    });
    endStage();
    log(`report: ${report} (${elapsed()} in all)`);
    log(
      `the trained model: npx bike predict <video> --model ${videoRun}   |   npx bike serve --model ${videoRun} (the page at http://127.0.0.1:8080/)`,
    );
    log(`stage times: ${stages.map((st) => `${st.name} ${formatSeconds(st.seconds)}`).join(', ')}; total ${elapsed()}`);
    return {
      dataset,
      videoRun,
      attributeRun,
      singleView,
      multiView,
      zeroShot,
      chance,
      zeroShotChance,
      pretrained,
      report,
      seconds,
      stages,
      top1,
      fusedTop1: calibrated.top1.fused,
      calibrated,
    };
  } finally {
    collectives.close();
  }
}
