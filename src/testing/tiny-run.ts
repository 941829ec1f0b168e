/**
 * A small trained BIKE run for the library tests: the synthetic frame dataset of the command tests
 * (coloured squares, 4 classes), a tiny CLIP config, one epoch of training through the library's
 * `train()`, and one validation video also written as an mp4 file (FFmpeg's MPEG-4 Part 2).
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { SHARED_VOCAB } from './run-bike.ts';
import { makeSyntheticDataset, tinyConfig, type SyntheticDataset } from './synthetic-frames.ts';
import { train, type ProgressEvent, type TrainResult } from '../api/workflows.ts';

export interface TinyRun {
  dataset: SyntheticDataset;
  configFile: string;
  result: TrainResult;
  runDir: string;
  /** Every progress event the training reported. */
  progress: ProgressEvent[];
  /** A validation video as a frame folder and as an mp4 file, and its label. */
  frameFolder: string;
  video: string;
  label: number;
}

/** Writes `folder`'s `img_%05d.png` frames as an mp4 file. */
export function framesToMp4(folder: string, output: string, fps = 8): void {
  const run = spawnSync(
    process.env.BIKE_FFMPEG ?? 'ffmpeg',
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-y',
      '-framerate',
      String(fps),
      '-i',
      path.join(folder, 'img_%05d.png'),
      '-c:v',
      'mpeg4',
      '-q:v',
      '2',
      '-pix_fmt',
      'yuv420p',
      output,
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  if (run.status !== 0) throw new Error(`ffmpeg could not write ${output}: ${run.error?.message ?? run.stderr}`);
}

export async function makeTinyRun(dir: string, options: { epochs?: number } = {}): Promise<TinyRun> {
  const dataset = await makeSyntheticDataset({
    dir,
    trainPerClass: 3,
    valPerClass: 1,
    frames: 8,
    width: 40,
    height: 32,
  });
  const configFile = path.join(dir, 'tiny.yaml');
  writeFileSync(
    configFile,
    tinyConfig({
      dataset,
      outputPath: path.join(dir, 'runs'),
      epochs: options.epochs ?? 1,
      batchSize: 4,
      numSegments: 4,
    }),
  );
  const progress: ProgressEvent[] = [];
  const result = await train({
    config: configFile,
    runName: 'tiny',
    device: 'cpu',
    vocab: SHARED_VOCAB,
    onProgress: (e) => progress.push(e),
  });
  const frameFolder = path.join(dataset.root, 'val', 'green_0');
  const video = path.join(dir, 'green_0.mp4');
  framesToMp4(frameFolder, video);
  return { dataset, configFile, result, runDir: result.runDir, progress, frameFolder, video, label: 1 };
}
