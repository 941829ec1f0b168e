/**
 * Parity of the evaluation protocols with the original code on a reference fixture directory:
 * - `zeroshot.json` / `zeroshot.safetensors`: the half-class splits (numpy seed + permutation) for each
 *   class count, full-classes and per-split half-classes top-1/top-5, their mean and std;
 * - `map.json` / `map.safetensors`: torchnet AP per class, mAP, the Charades running mAP over batches
 *   of 8, and the ActivityNet-style single-label top-1/top-3/mAP.
 *
 * Tolerances (each result's detail repeats the one it used):
 * - class splits: exact.
 * - accuracies, their means and stds (percent): 1e-4 percentage points. The original reports float32
 *   `hits * (100 / N)`, off from the exact percentage by at most ~1e-5 points, while one video changes
 *   an accuracy by 100 / N points (1e-4 points only at a million videos): a single different
 *   prediction fails.
 * - average precision and mAP (fractions): max(1e-6, N * 2^-24) for N rows, the float32 rounding the
 *   original accumulates over N cumulative sums; single-label mAP is in percent, so 100 times that.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ParityResult } from './parity-result.ts';
import type { RawTensor } from '../torch/serialization/raw-tensor.ts';
import { readSafetensorsFileSync } from '../torch/serialization/safetensors-format.ts';
import {
  averagePrecisionPerClass,
  meanAveragePrecision,
  runningMeanAveragePrecision,
  singleLabelMetrics,
} from '../engine/evaluation/metrics.ts';
import { compareNamed, firstDifference } from './compare.ts';
import { halfClassSplit, zeroShotFullClasses, zeroShotHalfClasses } from '../engine/evaluation/zeroshot.ts';

const ACCURACY_TOLERANCE = 1e-4;
const RUNNING_MAP_BATCH = 8;

class FixtureError extends Error {}

function tensorOf(
  tensors: Map<string, RawTensor>,
  name: string,
  file: string,
  dtype: 'float32' | 'int64',
  rank: number,
): RawTensor {
  const t = tensors.get(name);
  if (!t) throw new FixtureError(`${file}: tensor "${name}" is missing`);
  if (t.dtype !== dtype) throw new FixtureError(`${file}: tensor "${name}" is ${t.dtype}, expected ${dtype}`);
  if (t.shape.length !== rank)
    throw new FixtureError(`${file}: tensor "${name}" has shape [${t.shape}], expected ${rank} dimensions`);
  return t;
}

/** Copies the bytes (safetensors views need not be aligned for a typed array). */
function floats(t: RawTensor): Float32Array {
  return new Float32Array(t.data.slice().buffer);
}

function integers(t: RawTensor): number[] {
  return Array.from(new BigInt64Array(t.data.slice().buffer), Number);
}

function numberAt(json: unknown, path: string, file: string): number {
  let node: unknown = json;
  for (const part of path.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
  if (typeof node !== 'number')
    throw new FixtureError(`${file}: "${path}" must be a number, got ${JSON.stringify(node)}`);
  return node;
}

function numbersAt(json: unknown, path: string, file: string, length?: number): number[] {
  let node: unknown = json;
  for (const part of path.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
  if (
    !Array.isArray(node) ||
    !node.every((v) => typeof v === 'number') ||
    (length !== undefined && node.length !== length)
  ) {
    throw new FixtureError(
      `${file}: "${path}" must be a list of ${length ?? 'some'} numbers, got ${JSON.stringify(node)?.slice(0, 80)}`,
    );
  }
  return node as number[];
}

/** Named values (accuracies, AP) held to an absolute tolerance; the detail names the worst. */
function compare(name: string, pairs: [string, number, number][], atol: number, unit: string): ParityResult {
  return compareNamed(name, pairs, { kind: 'absolute', atol }, unit);
}

/** Runs checks that append to `results`; a fault stops them but keeps the results made so far. */
function guard(name: string, run: (results: ParityResult[]) => void): ParityResult[] {
  const results: ParityResult[] = [];
  try {
    run(results);
  } catch (error) {
    const detail = error instanceof FixtureError ? error.message : `threw: ${(error as Error).message}`;
    results.push({ name, ok: false, detail });
  }
  return results;
}

function zeroShotChecks(fixtureDir: string): ParityResult[] {
  const jsonFile = join(fixtureDir, 'zeroshot.json');
  const tensorFile = join(fixtureDir, 'zeroshot.safetensors');
  const missing = [jsonFile, tensorFile].filter((f) => !existsSync(f));
  if (missing.length > 0)
    return [{ name: 'eval zero-shot', ok: false, skipped: true, detail: `${missing.join(' and ')} absent` }];
  return guard('eval zero-shot', (results) => {
    const expected = JSON.parse(readFileSync(jsonFile, 'utf8')) as Record<string, unknown>;

    const splits = expected.splits_by_num_classes;
    if (typeof splits !== 'object' || splits === null)
      throw new FixtureError(`${jsonFile}: "splits_by_num_classes" must be a mapping`);
    for (const [classes, perSplit] of Object.entries(splits)) {
      const name = `eval zero-shot half-class splits C=${classes}`;
      if (!Array.isArray(perSplit)) {
        results.push({
          name,
          ok: false,
          detail: `${jsonFile}: splits_by_num_classes.${classes} must be a list of splits`,
        });
        continue;
      }
      const wrong = perSplit.flatMap((want, s) => {
        const got = Array.from(halfClassSplit(Number(classes), s));
        const difference = Array.isArray(want)
          ? firstDifference(got, want as number[])
          : `expected a list of class indices, got ${JSON.stringify(want)?.slice(0, 40)}`;
        return difference === null ? [] : [`split ${s}: ${difference}`];
      });
      results.push({
        name,
        ok: wrong.length === 0 && perSplit.length > 0,
        detail:
          wrong.length === 0
            ? `${perSplit.length} splits of ${Math.floor(Number(classes) / 2)} classes equal; exact match required`
            : wrong.join('; '),
      });
    }

    const tensors = readSafetensorsFileSync(tensorFile).tensors;
    const v = tensorOf(tensors, 'input.video_frame_features', tensorFile, 'float32', 3);
    const c = tensorOf(tensors, 'input.class_features', tensorFile, 'float32', 2);
    const labels = integers(tensorOf(tensors, 'input.labels', tensorFile, 'int64', 1));
    const video = { data: floats(v), videos: v.shape[0]!, frames: v.shape[1]!, dim: v.shape[2]! };
    const text = { data: floats(c), classes: c.shape[0]!, dim: c.shape[1]! };
    const pp = ' percentage points';

    const full = zeroShotFullClasses(video, text, labels);
    results.push(
      compare(
        'eval zero-shot full-classes top1/top5',
        [
          ['top1', full.top1, numberAt(expected, 'full.top1', jsonFile)],
          ['top5', full.top5, numberAt(expected, 'full.top5', jsonFile)],
        ],
        ACCURACY_TOLERANCE,
        pp,
      ),
    );

    const expectedTop1 = numbersAt(expected, 'half.top1', jsonFile);
    const half = zeroShotHalfClasses(video, text, labels, expectedTop1.length);
    const expectedTop5 = numbersAt(expected, 'half.top5', jsonFile, expectedTop1.length);
    results.push(
      compare(
        `eval zero-shot half-classes top1/top5 per split (${half.top1.length} splits)`,
        [
          ...half.top1.map((a, s): [string, number, number] => [`top1 split ${s}`, a, expectedTop1[s]!]),
          ...half.top5.map((a, s): [string, number, number] => [`top5 split ${s}`, a, expectedTop5[s]!]),
        ],
        ACCURACY_TOLERANCE,
        pp,
      ),
    );
    results.push(
      compare(
        'eval zero-shot half-classes mean/std (np.std, ddof 0)',
        [
          ['top1 mean', half.top1Mean, numberAt(expected, 'half.top1_mean', jsonFile)],
          ['top1 std', half.top1Std, numberAt(expected, 'half.top1_std', jsonFile)],
          ['top5 mean', half.top5Mean, numberAt(expected, 'half.top5_mean', jsonFile)],
          ['top5 std', half.top5Std, numberAt(expected, 'half.top5_std', jsonFile)],
        ],
        ACCURACY_TOLERANCE,
        pp,
      ),
    );
  });
}

function mapChecks(fixtureDir: string): ParityResult[] {
  const jsonFile = join(fixtureDir, 'map.json');
  const tensorFile = join(fixtureDir, 'map.safetensors');
  const missing = [jsonFile, tensorFile].filter((f) => !existsSync(f));
  if (missing.length > 0)
    return [{ name: 'eval mAP', ok: false, skipped: true, detail: `${missing.join(' and ')} absent` }];
  return guard('eval mAP', (results) => {
    const expected = JSON.parse(readFileSync(jsonFile, 'utf8')) as unknown;
    const tensors = readSafetensorsFileSync(tensorFile).tensors;
    const s = tensorOf(tensors, 'input.scores', tensorFile, 'float32', 2);
    const t = tensorOf(tensors, 'input.targets', tensorFile, 'int64', 2);
    if (t.shape[0] !== s.shape[0] || t.shape[1] !== s.shape[1]) {
      throw new FixtureError(
        `${tensorFile}: input.targets [${t.shape}] and input.scores [${s.shape}] must have the same shape`,
      );
    }
    const [rows, cols] = s.shape as [number, number];
    const scores = { data: floats(s), rows, cols };
    const targets = { data: integers(t), rows, cols };
    const apTolerance = Math.max(1e-6, rows * 2 ** -24);

    const ap = averagePrecisionPerClass(scores, targets);
    const expectedAp = numbersAt(expected, 'ap_per_class', jsonFile, cols);
    results.push(
      compare(
        `eval mAP: AP per class (${cols} classes, ${rows} rows; no positives scores 0)`,
        Array.from(ap, (a, k): [string, number, number] => [`class ${k}`, a, expectedAp[k]!]),
        apTolerance,
        '',
      ),
    );
    results.push(
      compare(
        'eval mAP: mean over classes',
        [['mAP', meanAveragePrecision(scores, targets), numberAt(expected, 'mAP', jsonFile)]],
        apTolerance,
        '',
      ),
    );
    results.push(
      compare(
        `eval mAP: running mAP over batches of ${RUNNING_MAP_BATCH} (test_charades.py)`,
        [
          [
            'running mAP',
            runningMeanAveragePrecision(scores, targets, RUNNING_MAP_BATCH),
            numberAt(expected, 'official_running_mAP_batch8', jsonFile),
          ],
        ],
        apTolerance,
        '',
      ),
    );

    const l = tensorOf(tensors, 'input.single_label_logits', tensorFile, 'float32', 2);
    const labels = integers(tensorOf(tensors, 'input.single_labels', tensorFile, 'int64', 1));
    const single = singleLabelMetrics({ data: floats(l), rows: l.shape[0]!, cols: l.shape[1]! }, labels);
    results.push(
      compare(
        'eval single-label top1/top3 (ClassErrorMeter on logits)',
        [
          ['top1', single.top1, numberAt(expected, 'single_label.top1', jsonFile)],
          ['top3', single.top3, numberAt(expected, 'single_label.top3', jsonFile)],
        ],
        ACCURACY_TOLERANCE,
        ' percentage points',
      ),
    );
    results.push(
      compare(
        'eval single-label mAP of softmax (percent)',
        [['mAP', single.mAP, numberAt(expected, 'single_label.mAP', jsonFile)]],
        100 * Math.max(1e-6, l.shape[0]! * 2 ** -24),
        ' percentage points',
      ),
    );
  });
}

export async function evalParityChecks(fixtureDir: string): Promise<ParityResult[]> {
  return [...zeroShotChecks(fixtureDir), ...mapChecks(fixtureDir)];
}
