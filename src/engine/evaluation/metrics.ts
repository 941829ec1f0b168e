/**
 * Evaluation metrics on plain typed arrays, as the original BIKE code computes them:
 * - top-k accuracy: `utils.utils.accuracy` (percent of rows whose label is among the k highest scores);
 * - average precision per class and mAP: torchnet's `APMeter` / `mAPMeter` (used by `test_charades.py`
 *   and `utils.utils.mean_average_precision`);
 * - the running mAP that `test_charades.py` prints: after every batch the meter's mAP over *all* rows
 *   seen so far is fed to an `AverageMeter` weighted by the batch size;
 * - ActivityNet-style single-label metrics: torchnet `ClassErrorMeter(topk=[1, 3])` on the logits and
 *   mAP of their softmax against one-hot targets, in percent.
 *
 * Scores become float32 tensors (the original's tensors are float32) and are ranked by libtorch's own CPU
 * `topk` / `sort` (non-stable, as the original calls them), so ties come out in torch's order: saturated
 * zero-shot scores tie exactly in float32, and the reported accuracy then depends on which tied class
 * comes first. NaN ranks above every number.
 */

import { fromTypedArray, tidy, type Tensor } from '../../torch/index.ts';

/** A row-major `[rows, cols]` matrix of scores. */
export interface ScoreMatrix {
  data: ArrayLike<number>;
  rows: number;
  cols: number;
}

function checkMatrix(m: ScoreMatrix, what: string): void {
  if (!Number.isInteger(m.rows) || !Number.isInteger(m.cols) || m.rows < 0 || m.cols < 0) {
    throw new RangeError(`${what}: dims [${m.rows}, ${m.cols}] must be non-negative integers`);
  }
  if (m.data.length !== m.rows * m.cols) {
    throw new RangeError(
      `${what}: data holds ${m.data.length} values but dims [${m.rows}, ${m.cols}] need ${m.rows * m.cols}`,
    );
  }
}

function checkLabels(labels: ArrayLike<number>, rows: number, numClasses: number, what: string): void {
  if (labels.length !== rows) {
    throw new RangeError(`${what}: ${labels.length} labels for ${rows} score rows; expected one label per row`);
  }
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i]!;
    if (!Number.isInteger(label) || label < 0 || label >= numClasses) {
      throw new RangeError(`${what}: label[${i}] = ${label} is not a class index in [0, ${numClasses})`);
    }
  }
}

/** The scores as a float32 `[rows, cols]` tensor (values rounded to float32). */
function scoresTensor(m: ScoreMatrix): Tensor {
  return fromTypedArray(Float32Array.from(m.data), [m.rows, m.cols]);
}

/** A tensor's values as int32 (indices). */
function int32Values(t: Tensor): Int32Array {
  return t.to('int32').toTypedArray() as Int32Array;
}

/** `a` ranks above `b` (descending order, NaN first). */
function ranksAbove(a: number, b: number): boolean {
  if (Number.isNaN(a)) return !Number.isNaN(b);
  return a > b;
}

/**
 * Top-k accuracy in percent for each k in `ks`, as `utils.utils.accuracy`: one `topk(max k)` per row
 * (torch's CPU order, ties included, on float32 scores), a row counts for k when its label is among the
 * first k predictions. A k at or above the number of classes counts every row (torch would refuse it).
 */
export function topkAccuracy(scores: ScoreMatrix, labels: ArrayLike<number>, ks: readonly number[] = [1, 5]): number[] {
  checkMatrix(scores, 'topkAccuracy scores');
  checkLabels(labels, scores.rows, scores.cols, 'topkAccuracy');
  for (const k of ks) {
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`topkAccuracy: k = ${k} must be a positive integer`);
  }
  if (scores.rows === 0) throw new RangeError('topkAccuracy: no rows to score (accuracy of an empty set is undefined)');
  const maxk = Math.min(Math.max(...ks), scores.cols);
  const hits = new Array<number>(ks.length).fill(0);
  // `output.topk(maxk, 1, True, True)` of `utils.utils.accuracy`.
  const predictions =
    scores.cols === 0
      ? new Int32Array(0)
      : tidy(() => int32Values(scoresTensor(scores).topk(maxk, 1, true, true).indices));
  for (let r = 0; r < scores.rows; r++) {
    const position = predictions.subarray(r * maxk, (r + 1) * maxk).indexOf(labels[r]!);
    ks.forEach((k, i) => {
      if (k >= scores.cols || (position >= 0 && position < k)) hits[i]!++;
    });
  }
  return hits.map((h) => (100 * h) / scores.rows);
}

/** Index of the highest score in each row (first one on ties). */
export function argmaxRows(scores: ScoreMatrix): Int32Array {
  checkMatrix(scores, 'argmaxRows scores');
  if (scores.cols === 0) throw new RangeError('argmaxRows: rows have no columns');
  const out = new Int32Array(scores.rows);
  for (let r = 0; r < scores.rows; r++) {
    const base = r * scores.cols;
    let best = 0;
    for (let c = 1; c < scores.cols; c++) {
      if (ranksAbove(scores.data[base + c]!, scores.data[base + best]!)) best = c;
    }
    out[r] = best;
  }
  return out;
}

/**
 * Softmax along each row in float32, the way torch's CPU kernel computes it: `e = exp(x - max)`, then
 * `e * (1 / sum(e))`, each step rounded to float32. Saturated rows therefore give exactly 1 and 0 (or
 * exactly tied values) as in the original, which matters for the tie order of the metrics above.
 */
export function softmaxRows(scores: ScoreMatrix): Float32Array {
  checkMatrix(scores, 'softmaxRows scores');
  const f32 = Math.fround;
  const out = new Float32Array(scores.rows * scores.cols);
  for (let r = 0; r < scores.rows; r++) {
    const base = r * scores.cols;
    let max = -Infinity;
    for (let c = 0; c < scores.cols; c++) max = Math.max(max, f32(scores.data[base + c]!));
    let sum = 0;
    for (let c = 0; c < scores.cols; c++) {
      out[base + c] = f32(Math.exp(f32(f32(scores.data[base + c]!) - max)));
      sum = f32(sum + out[base + c]!);
    }
    const inverse = f32(1 / sum);
    for (let c = 0; c < scores.cols; c++) out[base + c] = f32(out[base + c]! * inverse);
  }
  return out;
}

function checkBinaryTargets(targets: ScoreMatrix, scores: ScoreMatrix, what: string): void {
  checkMatrix(targets, `${what} targets`);
  if (targets.rows !== scores.rows || targets.cols !== scores.cols) {
    throw new RangeError(
      `${what}: targets are [${targets.rows}, ${targets.cols}] but scores are [${scores.rows}, ${scores.cols}]; expected the same shape`,
    );
  }
  for (let i = 0; i < targets.data.length; i++) {
    const t = targets.data[i]!;
    if (t !== 0 && t !== 1) {
      throw new RangeError(
        `${what}: targets[${Math.floor(i / targets.cols)}, ${i % targets.cols}] = ${t}; targets must be binary (0 or 1)`,
      );
    }
  }
}

/**
 * For each class k, rows `0..rows-1` in the order `torch.sort(scores[:rows], 0, True)` gives column k
 * (torchnet APMeter; ties included).
 */
function descendingRowOrders(scores: Tensor, rows: number): Int32Array[] {
  const cols = scores.shape[1]!;
  if (rows === 0) return Array.from({ length: cols }, () => new Int32Array(0));
  const byClass = tidy(() => int32Values(scores.narrow(0, 0, rows).sort(0, true).indices.t().contiguous()));
  return Array.from({ length: cols }, (_, k) => byClass.subarray(k * rows, (k + 1) * rows));
}

/** Whether two entries of a descending order compare equal (float32), where any sort's tie order shows. */
function orderHasTies(scores: ScoreMatrix, k: number, order: Int32Array): boolean {
  for (let i = 1; i < order.length; i++) {
    const a = Math.fround(scores.data[order[i - 1]! * scores.cols + k]!);
    const b = Math.fround(scores.data[order[i]! * scores.cols + k]!);
    if (a === b || (Number.isNaN(a) && Number.isNaN(b))) return true;
  }
  return false;
}

/** AP of class `k` over the rows below `limit`, walking a precomputed descending order. */
function averagePrecisionFromOrder(order: Int32Array, targets: ScoreMatrix, k: number, limit: number): number {
  let rank = 0;
  let truePositives = 0;
  let precisionSum = 0;
  for (const row of order) {
    if (row >= limit) continue;
    rank++;
    if (targets.data[row * targets.cols + k] === 1) {
      truePositives++;
      precisionSum += truePositives / rank;
    }
  }
  return precisionSum / Math.max(truePositives, 1);
}

/**
 * Average precision of each class over the first `rows` rows (all by default), as torchnet's APMeter:
 * rows sorted by descending score, precision at every rank, AP = sum of precision at the positives /
 * max(#positives, 1). A class with no positive row scores 0.
 */
export function averagePrecisionPerClass(scores: ScoreMatrix, targets: ScoreMatrix, rows = scores.rows): Float64Array {
  checkMatrix(scores, 'averagePrecisionPerClass scores');
  checkBinaryTargets(targets, scores, 'averagePrecisionPerClass');
  if (!Number.isInteger(rows) || rows < 0 || rows > scores.rows) {
    throw new RangeError(`averagePrecisionPerClass: rows = ${rows} must be an integer in [0, ${scores.rows}]`);
  }
  const ap = new Float64Array(scores.cols);
  const orders = tidy(() => descendingRowOrders(scoresTensor(scores), rows));
  for (let k = 0; k < scores.cols; k++) ap[k] = averagePrecisionFromOrder(orders[k]!, targets, k, rows);
  return ap;
}

/** torchnet `mAPMeter.value()`: the mean of `averagePrecisionPerClass` over every class (a fraction in [0, 1]). */
export function meanAveragePrecision(scores: ScoreMatrix, targets: ScoreMatrix, rows = scores.rows): number {
  const ap = averagePrecisionPerClass(scores, targets, rows);
  if (ap.length === 0) throw new RangeError('meanAveragePrecision: scores have no classes');
  let sum = 0;
  for (const v of ap) sum += v;
  return sum / ap.length;
}

/**
 * The mAP `test_charades.py` reports: rows arrive in batches of `batchSize` (the last may be shorter);
 * after each batch the mAP over all rows so far is averaged, weighted by the batch's size
 * (`AverageMeter.update(maper.value(), labels.size(0))`). A fraction in [0, 1].
 */
export function runningMeanAveragePrecision(scores: ScoreMatrix, targets: ScoreMatrix, batchSize: number): number {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`runningMeanAveragePrecision: batchSize = ${batchSize} must be a positive integer`);
  }
  checkMatrix(scores, 'runningMeanAveragePrecision scores');
  checkBinaryTargets(targets, scores, 'runningMeanAveragePrecision');
  if (scores.rows === 0 || scores.cols === 0) {
    throw new RangeError(`runningMeanAveragePrecision: scores [${scores.rows}, ${scores.cols}] are empty`);
  }
  // Each class is sorted once over all rows: without ties, a prefix of rows keeps the same relative
  // order. With ties, torch's (unstable) sort of the prefix may order them differently: sort again.
  return tidy(() => {
    const scoresT = scoresTensor(scores);
    const orders = descendingRowOrders(scoresT, scores.rows);
    const tiedClasses = orders.flatMap((order, k) => (orderHasTies(scores, k, order) ? [k] : []));
    // Only the tied classes' columns are sorted again (each column sorts on its own values alone).
    const tiedScores =
      tiedClasses.length > 0
        ? scoresT.indexSelect(1, fromTypedArray(BigInt64Array.from(tiedClasses, BigInt))).contiguous()
        : undefined;
    let weighted = 0;
    for (let seen = 0; seen < scores.rows;) {
      const batch = Math.min(batchSize, scores.rows - seen);
      seen += batch;
      const prefixOrders = tiedScores && seen < scores.rows ? descendingRowOrders(tiedScores, seen) : undefined;
      const order = orders.slice();
      tiedClasses.forEach((k, i) => {
        if (prefixOrders) order[k] = prefixOrders[i]!;
      });
      let sum = 0;
      for (let k = 0; k < scores.cols; k++) sum += averagePrecisionFromOrder(order[k]!, targets, k, seen);
      weighted += (sum / scores.cols) * batch;
    }
    return weighted / scores.rows;
  });
}

/** One-hot `[labels.length, numClasses]` targets. */
export function oneHot(labels: ArrayLike<number>, numClasses: number): ScoreMatrix {
  checkLabels(labels, labels.length, numClasses, 'oneHot');
  const data = new Uint8Array(labels.length * numClasses);
  for (let i = 0; i < labels.length; i++) data[i * numClasses + labels[i]!] = 1;
  return { data, rows: labels.length, cols: numClasses };
}

export interface SingleLabelMetrics {
  /** Percent. */
  top1: number;
  /** Percent. */
  top3: number;
  /** mAP of the softmax of the logits against one-hot labels, in percent. */
  mAP: number;
}

/** `utils.utils.mean_average_precision` for single-label data (ActivityNet): top-1/top-3 on the logits, mAP of their softmax. */
export function singleLabelMetrics(logits: ScoreMatrix, labels: ArrayLike<number>): SingleLabelMetrics {
  const [top1, top3] = topkAccuracy(logits, labels, [1, 3]);
  const probabilities = { data: softmaxRows(logits), rows: logits.rows, cols: logits.cols };
  const mAP = 100 * meanAveragePrecision(probabilities, oneHot(labels, logits.cols));
  return { top1: top1!, top3: top3!, mAP };
}

/** `[numClasses, numClasses]` counts, row = true label, column = predicted class. */
export function confusionMatrix(
  predictions: ArrayLike<number>,
  labels: ArrayLike<number>,
  numClasses: number,
): Int32Array {
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new RangeError(`confusionMatrix: numClasses = ${numClasses} must be a positive integer`);
  }
  checkLabels(labels, predictions.length, numClasses, 'confusionMatrix labels');
  checkLabels(predictions, predictions.length, numClasses, 'confusionMatrix predictions');
  const counts = new Int32Array(numClasses * numClasses);
  for (let i = 0; i < labels.length; i++) counts[labels[i]! * numClasses + predictions[i]!]!++;
  return counts;
}

/**
 * Per-class accuracy (recall) in percent from a confusion matrix: diagonal over row sum.
 * A class with no samples gets NaN, so it can be told apart from a class that scored 0.
 */
export function perClassAccuracy(confusion: Int32Array, numClasses: number): Float64Array {
  if (confusion.length !== numClasses * numClasses) {
    throw new RangeError(
      `perClassAccuracy: confusion holds ${confusion.length} counts; expected ${numClasses}x${numClasses}`,
    );
  }
  const out = new Float64Array(numClasses);
  for (let c = 0; c < numClasses; c++) {
    let total = 0;
    for (let p = 0; p < numClasses; p++) total += confusion[c * numClasses + p]!;
    out[c] = total === 0 ? NaN : (100 * confusion[c * numClasses + c]!) / total;
  }
  return out;
}

/** Mean of the per-class accuracies over the classes that have samples (percent). */
export function meanClassAccuracy(confusion: Int32Array, numClasses: number): number {
  const perClass = perClassAccuracy(confusion, numClasses);
  let sum = 0;
  let count = 0;
  for (const v of perClass) {
    if (!Number.isNaN(v)) {
      sum += v;
      count++;
    }
  }
  if (count === 0) throw new RangeError('meanClassAccuracy: no class has any sample');
  return sum / count;
}
