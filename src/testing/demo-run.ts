/**
 * One `bike demo --fast` run shared by the tests that need the demo's model (the demo test, the
 * serve page, the ONNX export in Node and Chromium): training it takes a minute or more, so
 * scripts/run-tests.mjs names a folder in BIKE_TEST_DEMO_DIR and the first test to ask runs the demo
 * there; the later ones read what it left. Without that variable (a test file run alone) each caller
 * gets its own run in a temporary folder.
 */
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadScores } from '../engine/evaluation/score-files.ts';
import { classNames, parseLabelCsv } from '../data/class-list.ts';
import { runBike } from './run-bike.ts';

export interface DemoRun {
  /** The demo's work folder (data/, runs/, scores/, report.html). */
  work: string;
  code: number | null;
  stdout: string;
  stderr: string;
  /** The video branch's run directory (what `bike predict --model` and `bike serve --model` take). */
  videoRun: string;
  /** Class names of the seen classes, in label order. */
  classNames: string[];
  /** Names of the unseen (zero-shot) classes. */
  unseenNames: string[];
  /** False when the run belongs to the caller alone (remove it with `dispose`). */
  shared: boolean;
  dispose(): void;
}

export interface DemoTestVideo {
  /** The frame folder and the mp4 file of one held-out test video. */
  frames: string;
  mp4: string;
  label: number;
  name: string;
  /** Its own class's single-view score minus the best other class's. */
  margin: number;
}

const DONE = 'demo-run.json';

function classNamesOf(csv: string): string[] {
  return classNames(parseLabelCsv(readFileSync(csv, 'utf8'), csv));
}

/** The fast demo's run: the shared one when the test runner named a folder, else a fresh one. */
export async function demoFastRun(): Promise<DemoRun> {
  const sharedDir = process.env.BIKE_TEST_DEMO_DIR;
  const work = sharedDir
    ? path.resolve(sharedDir)
    : path.join(mkdtempSync(path.join(os.tmpdir(), 'bike-demo-')), 'work');
  const record = path.join(path.dirname(work), `${path.basename(work)}-${DONE}`);
  let result: { code: number | null; stdout: string; stderr: string };
  if (sharedDir && existsSync(record)) {
    result = JSON.parse(readFileSync(record, 'utf8')) as typeof result;
  } else {
    // The demo builds its own vocabulary: no CLIP vocabulary from ../shared.
    result = await runBike(['demo', '--fast', '--quiet', '--work-dir', work], { BIKE_CLIP_VOCAB: '' });
    if (sharedDir) {
      writeFileSync(`${record}.partial`, JSON.stringify(result));
      renameSync(`${record}.partial`, record);
    }
  }
  const videoRun = /video branch: best validation top-1 [\d.]+% \((.+)\)/.exec(result.stdout)?.[1] ?? '';
  const data = path.join(work, 'data');
  const ok = result.code === 0 && existsSync(videoRun);
  return {
    work,
    ...result,
    videoRun,
    classNames: ok ? classNamesOf(path.join(data, 'labels.csv')) : [],
    unseenNames: ok ? classNamesOf(path.join(data, 'zeroshot_labels.csv')) : [],
    shared: Boolean(sharedDir),
    dispose() {
      if (!sharedDir) rmSync(path.dirname(work), { recursive: true, force: true });
    },
  };
}

/** Throws with the demo's output unless it finished. */
export function assertDemoRan(run: DemoRun): void {
  if (run.code !== 0 || !existsSync(run.videoRun))
    throw new Error(
      `bike demo --fast failed (exit ${run.code}):\n${run.stderr.slice(-3000)}\n${run.stdout.slice(-3000)}`,
    );
}

/** The held-out test video the demo's model classifies most clearly (by its saved single-view scores). */
export function clearestTestVideo(run: DemoRun): DemoTestVideo {
  const scores = loadScores(path.join(run.work, 'scores', 'single-view.safetensors'));
  let best: DemoTestVideo | null = null;
  scores.videos.forEach((name, v) => {
    const row = Array.from(scores.scores.subarray(v * scores.classes, (v + 1) * scores.classes));
    const label = scores.labels[v]!;
    const other = Math.max(...row.filter((_, c) => c !== label));
    const margin = row[label]! - other;
    if (!best || margin > best.margin)
      best = {
        frames: path.join(run.work, 'data', 'frames', name),
        mp4: path.join(run.work, 'data', 'videos', `${name}.mp4`),
        label,
        name: run.classNames[label]!,
        margin,
      };
  });
  if (!best) throw new Error(`${run.work}: the demo saved no test scores`);
  return best;
}
