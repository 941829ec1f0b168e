/**
 * bf16 autocast against fp32 on the demo's held-out test videos with its trained video branch: each
 * video's class probabilities in both precisions, as `bike predict --precision bf16|fp32` gives them,
 * and the top-1 agreement (issue 14's measure; scripts/precision-agreement.ts prints it for a demo
 * folder, src/demo/demo.test.ts asserts it on the fast preset).
 */
import path from 'node:path';
import { readVideoList } from '../data/video-list.ts';
import { Predictor } from '../engine/inference/predict.ts';

export interface PrecisionComparison {
  /** The test videos' frame folders, in list order. */
  videos: string[];
  /** Class probabilities per video. */
  bf16: number[][];
  fp32: number[][];
  /** Videos whose top-1 class is the same in both. */
  sameTop1: number;
  /** Largest absolute difference of any class probability. */
  largestDifference: number;
}

export const argmax = (p: readonly number[]) => p.indexOf(Math.max(...p));

/** Both precisions over the test list of the demo in `work` (`data/val_frames.txt`), `videoRun`'s model. */
export async function comparePrecisions(work: string, videoRun: string): Promise<PrecisionComparison> {
  const data = path.join(work, 'data');
  const list = await readVideoList(path.join(data, 'val_frames.txt'));
  const videos = list.records.map((r) => path.join(data, 'frames', r.path));
  const run = async (precision: 'bf16' | 'fp32') => {
    const predictor = await Predictor.load({ model: videoRun, precision });
    try {
      const out: number[][] = [];
      for (const video of videos) out.push((await predictor.predict(video)).probabilities);
      return out;
    } finally {
      predictor.dispose();
    }
  };
  const bf16 = await run('bf16');
  const fp32 = await run('fp32');
  return {
    videos,
    bf16,
    fp32,
    sameTop1: videos.filter((_, v) => argmax(bf16[v]!) === argmax(fp32[v]!)).length,
    largestDifference: Math.max(...fp32.flatMap((p, v) => p.map((x, c) => Math.abs(x - bf16[v]![c]!)))),
  };
}
