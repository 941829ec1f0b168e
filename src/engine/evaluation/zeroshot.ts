/**
 * Zero-shot evaluation as `test_zeroshot.py` (`compute_accuracy` / `multi_split_test`) defines it.
 *
 * Scores of a video: `100 * frame_feature @ class_feature.T` per frame, softmax over the classes,
 * mean over frames; accuracy is top-1/top-5 of those scores (percent).
 *
 * Full classes: every video against every class.
 * Half classes, split s in 0..splits-1: numpy `seed(s)`, `permutation(C)[:C // 2]` picks classes; the
 * videos whose label is among them are kept; the class set is then the sorted distinct labels of the
 * kept videos (`np.unique(true_label[sel])`, so a picked class without videos drops out), the videos are
 * relabelled by their position in it, and the softmax runs over those classes only. The report is the
 * mean and the population standard deviation (numpy's `np.std`, ddof = 0) over the splits.
 */
import { F, fromTypedArray, tidy, type Tensor } from '../../torch/index.ts';
import { LegacyRandomState } from './numpy-legacy-random.ts';
import { topkAccuracy, type ScoreMatrix } from './metrics.ts';

/** Per-frame video features `[videos, frames, dim]`, row-major. */
export interface FrameFeatures {
  data: ArrayLike<number>;
  videos: number;
  frames: number;
  dim: number;
}

/** Class (text) features `[classes, dim]`, row-major. */
export interface ClassFeatures {
  data: ArrayLike<number>;
  classes: number;
  dim: number;
}

export interface TopAccuracy {
  /** Percent. */
  top1: number;
  /** Percent. */
  top5: number;
}

export interface HalfClassesResult {
  /** Per split, percent. */
  top1: number[];
  top5: number[];
  top1Mean: number;
  /** Population standard deviation (ddof = 0), as `np.std`. */
  top1Std: number;
  top5Mean: number;
  top5Std: number;
  /** The classes each split picked (`permutation(C)[:C // 2]`, in permutation order). */
  pickedClasses: Int32Array[];
}

/** The classes split `split` picks: numpy `seed(split)`, `permutation(numClasses)[:numClasses // 2]`. */
export function halfClassSplit(numClasses: number, split: number): Int32Array {
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new RangeError(`halfClassSplit: numClasses = ${numClasses} must be a positive integer`);
  }
  return new LegacyRandomState(split).permutation(numClasses).slice(0, Math.floor(numClasses / 2));
}

function checkFeatures(video: FrameFeatures, text: ClassFeatures): void {
  const { videos, frames, dim } = video;
  for (const [name, v] of [
    ['videos', videos],
    ['frames', frames],
    ['dim', dim],
    ['classes', text.classes],
  ] as const) {
    if (!Number.isInteger(v) || v < 1)
      throw new RangeError(`zero-shot features: ${name} = ${v} must be a positive integer`);
  }
  if (video.data.length !== videos * frames * dim) {
    throw new RangeError(
      `zero-shot video features hold ${video.data.length} values; [${videos}, ${frames}, ${dim}] needs ${videos * frames * dim}`,
    );
  }
  if (text.dim !== dim) {
    throw new RangeError(`zero-shot features: class features have dim ${text.dim} but video features have dim ${dim}`);
  }
  if (text.data.length !== text.classes * text.dim) {
    throw new RangeError(
      `zero-shot class features hold ${text.data.length} values; [${text.classes}, ${text.dim}] needs ${text.classes * text.dim}`,
    );
  }
}

/** `values` as a float32 tensor of `shape` (rounded to float32 when they are not float32 already). */
function float32Tensor(values: ArrayLike<number>, shape: number[]): Tensor {
  return fromTypedArray(values instanceof Float32Array ? values : Float32Array.from(values), shape);
}

/** Indices as an int64 tensor for `index_select`, each checked to lie in `[0, size)`. */
function indexTensor(indices: ArrayLike<number>, size: number, what: string): Tensor {
  const out = new BigInt64Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const k = indices[i]!;
    if (!Number.isInteger(k) || k < 0 || k >= size)
      throw new RangeError(`frameAveragedScores: ${what} index ${k} outside [0, ${size})`);
    out[i] = BigInt(k);
  }
  return fromTypedArray(out);
}

/**
 * Frame-averaged class probabilities `[rows.length, classSubset.length]` for the given videos
 * (`rows`) against the given classes (`classSubset`): softmax of `100 * frame @ class.T` over the
 * subset, averaged over frames.
 *
 * libtorch float32 ops in the order of the original's `compute_accuracy` (`vis_embs[sel]`,
 * `text_embs[subclasses]`, `100.0 * vis_emb @ text_emb.T`, `.softmax(dim=-1)`, `.mean(dim=1)`), because
 * these scores saturate: many videos end with exactly tied probabilities (0.25, 0.5, ...) and which of
 * them counts as the prediction depends on float32 absorbing the tiny remainders exactly as torch does.
 */
export function frameAveragedScores(
  video: FrameFeatures,
  text: ClassFeatures,
  rows?: ArrayLike<number>,
  classSubset?: ArrayLike<number>,
): ScoreMatrix {
  checkFeatures(video, text);
  const { videos, frames, dim } = video;
  return tidy(() => {
    // Index tensors first: a bad index is refused before the features are copied.
    const rowIndex = rows && indexTensor(rows, videos, 'video');
    const classIndex = classSubset && indexTensor(classSubset, text.classes, 'class');
    let visEmb = float32Tensor(video.data, [videos, frames, dim]); // [N, T, D]
    if (rowIndex) visEmb = visEmb.indexSelect(0, rowIndex);
    let textEmb = float32Tensor(text.data, [text.classes, dim]); // [C, D]
    if (classIndex) textEmb = textEmb.indexSelect(0, classIndex);
    const n = visEmb.shape[0]!;
    const cols = textEmb.shape[0]!;
    const similarity = visEmb.mul(100).matmul(textEmb.t()); // [N, T, D] @ [D, C] -> [N, T, C]
    const probabilities = F.softmax(similarity.view(n, frames, cols), -1).mean(1); // [N, C] (the original views [N, -1, C])
    return { data: probabilities.toTypedArray() as Float32Array, rows: n, cols };
  });
}

function checkLabels(labels: ArrayLike<number>, video: FrameFeatures, text: ClassFeatures): void {
  if (labels.length !== video.videos) {
    throw new RangeError(`zero-shot: ${labels.length} labels for ${video.videos} videos; expected one label per video`);
  }
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i]!;
    if (!Number.isInteger(label) || label < 0 || label >= text.classes) {
      throw new RangeError(`zero-shot: label[${i}] = ${label} is not a class index in [0, ${text.classes})`);
    }
  }
}

/** Full-classes zero-shot accuracy: every video against every class. */
export function zeroShotFullClasses(video: FrameFeatures, text: ClassFeatures, labels: ArrayLike<number>): TopAccuracy {
  checkFeatures(video, text);
  checkLabels(labels, video, text);
  const [top1, top5] = topkAccuracy(frameAveragedScores(video, text), labels, [1, 5]);
  return { top1: top1!, top5: top5! };
}

/** Mean and population standard deviation (ddof = 0), as `np.mean` / `np.std`. */
export function meanAndStd(values: readonly number[]): { mean: number; std: number } {
  if (values.length === 0) throw new RangeError('meanAndStd: no values');
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, b) => a + (b - mean) * (b - mean), 0) / values.length;
  return { mean, std: Math.sqrt(variance) };
}

/** Half-classes zero-shot accuracy over `splits` random class halves (the original uses 10). */
export function zeroShotHalfClasses(
  video: FrameFeatures,
  text: ClassFeatures,
  labels: ArrayLike<number>,
  splits = 10,
): HalfClassesResult {
  checkFeatures(video, text);
  checkLabels(labels, video, text);
  if (!Number.isInteger(splits) || splits < 1)
    throw new RangeError(`zeroShotHalfClasses: splits = ${splits} must be a positive integer`);
  const top1: number[] = [];
  const top5: number[] = [];
  const pickedClasses: Int32Array[] = [];
  for (let split = 0; split < splits; split++) {
    const picked = halfClassSplit(text.classes, split);
    pickedClasses.push(picked);
    const pickedSet = new Set(picked);
    const rows: number[] = [];
    for (let i = 0; i < labels.length; i++) if (pickedSet.has(labels[i]!)) rows.push(i);
    if (rows.length === 0) {
      throw new RangeError(
        `zero-shot half-classes split ${split}: no video has a label among the picked classes [${Array.from(picked).join(', ')}]`,
      );
    }
    const subclasses = [...new Set(rows.map((i) => labels[i]!))].sort((a, b) => a - b);
    const position = new Map(subclasses.map((c, i) => [c, i]));
    const relabelled = rows.map((i) => position.get(labels[i]!)!);
    const [acc1, acc5] = topkAccuracy(frameAveragedScores(video, text, rows, subclasses), relabelled, [1, 5]);
    top1.push(acc1!);
    top5.push(acc5!);
  }
  const s1 = meanAndStd(top1);
  const s5 = meanAndStd(top5);
  return { top1, top5, top1Mean: s1.mean, top1Std: s1.std, top5Mean: s5.mean, top5Std: s5.std, pickedClasses };
}
