/**
 * Frame index sampling, exactly as the original `Video_dataset` computes it: which frames of
 * a video become the `num_segments` inputs of one clip. Indices come back 1-based by default
 * (`index_bias` 1, as the frame files img_00001.jpg... are numbered); a video decoder subtracts
 * the bias again. The frame count is what the loader sees (the original counts the files in
 * the frame folder or the decoded video), not necessarily the list's num_frames.
 *
 * Repeated augmentation (`num_sample` > 1) reuses one set of indices and only repeats the
 * transform, so it does not appear here.
 */
import type { CharadesSegment } from './charades.ts';
import { charadesSegmentFrames } from './charades.ts';
import type { Rng } from './rng.ts';
import { roundHalfEven } from './round-half-even.ts';

/** Frames spanned by one dense clip (the original's `sample_range`). */
export const DEFAULT_SAMPLE_RANGE = 128;

export interface SamplingOptions {
  numSegments: number;
  /** Added to every 0-based index; 1 unless the frame template is "frame{:d}.jpg". */
  indexBias?: number;
  /** I3D-style dense sampling: frames `sampleRange / numSegments` apart. */
  dense?: boolean;
  sampleRange?: number;
}

export interface TestSamplingOptions extends SamplingOptions {
  /** Clips per video at test time (`test_clips`). */
  testClips: number;
}

export interface PaddedSamplingOptions extends SamplingOptions {
  /** Consecutive frames per segment (`new_length` / `seg_length`), 1 in every released config. */
  segLength?: number;
}

/** The original's default: index_bias 0 only for "frame{:d}.jpg" templates when none is configured. */
export function resolveIndexBias(indexBias: number | null | undefined, imageTmpl: string): number {
  if (indexBias !== null && indexBias !== undefined) return indexBias;
  return imageTmpl === 'frame{:d}.jpg' ? 0 : 1;
}

/** Python's `%`: the result takes the sign of the divisor, so negative offsets wrap to the end. */
export function pythonMod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

export { roundHalfEven };

/**
 * `np.linspace(start, stop, num, dtype=int)` with NumPy >= 2 semantics (values rounded towards
 * -inf; NumPy 1.x truncated towards zero instead, which differs only when stop < 0, i.e. when a
 * video has fewer frames than segments). The original's reference outputs were made with NumPy 2.
 */
export function linspaceInt(start: number, stop: number, num: number): number[] {
  const div = num - 1;
  const delta = stop - start;
  const out: number[] = [];
  for (let i = 0; i < num; i++) {
    let y: number;
    if (div > 0) {
      const step = delta / div;
      y = step === 0 ? (i / div) * delta : i * step;
    } else {
      y = i * delta;
    }
    out.push(y + start);
  }
  if (num > 1) out[num - 1] = stop;
  return out.map((y) => Math.floor(y));
}

interface Resolved {
  numSegments: number;
  indexBias: number;
  dense: boolean;
  sampleRange: number;
}

function resolve(numFrames: number, o: SamplingOptions): Resolved {
  if (!Number.isInteger(numFrames) || numFrames < 1) {
    throw new Error(`cannot sample frames from a video with ${numFrames} frames; expected at least 1 frame`);
  }
  if (!Number.isInteger(o.numSegments) || o.numSegments < 1) {
    throw new Error(`num_segments must be an integer >= 1, got ${o.numSegments}`);
  }
  const sampleRange = o.sampleRange ?? DEFAULT_SAMPLE_RANGE;
  if (!Number.isInteger(sampleRange) || sampleRange < 1)
    throw new Error(`sample_range must be an integer >= 1, got ${sampleRange}`);
  const indexBias = o.indexBias ?? 1;
  if (!Number.isInteger(indexBias)) throw new Error(`index_bias must be an integer, got ${indexBias}`);
  return { numSegments: o.numSegments, indexBias, dense: o.dense ?? false, sampleRange };
}

/** One dense clip: `numSegments` frames `sampleRange // numSegments` apart from `start`, wrapping. */
function denseClip(numFrames: number, r: Resolved, start: number): number[] {
  const interval = Math.floor(r.sampleRange / r.numSegments);
  const out: number[] = [];
  for (let k = 0; k < r.numSegments; k++) out.push(((k * interval + start) % numFrames) + r.indexBias);
  return out;
}

/** Random dense start as the original draws it: 0 for short videos, else `randint(0, sample_pos - 1)`. */
function denseRandomStart(numFrames: number, r: Resolved, rng: Rng | undefined, sampler: string): number {
  const samplePos = Math.max(1, 1 + numFrames - r.sampleRange);
  // numpy's randint excludes its upper bound, so the start lies in [0, samplePos - 2].
  if (samplePos <= 2) return 0;
  if (!rng) {
    throw new Error(`${sampler}: dense sampling of a ${numFrames}-frame video draws a random start; pass a seeded Rng`);
  }
  return rng.nextInt(samplePos - 1);
}

/**
 * Training indices of `datasets/video.py` `_sample_indices` (used by train.py): the video is cut
 * into `numSegments` spans with numpy-rounded bounds over `numFrames - 1`, and one frame is
 * drawn in each span, both ends included. Short videos simply repeat frames. With `dense`, one
 * random dense clip.
 */
export function trainIndices(numFrames: number, options: SamplingOptions, rng: Rng): number[] {
  const r = resolve(numFrames, options);
  if (r.dense) return denseClip(numFrames, r, denseRandomStart(numFrames, r, rng, 'trainIndices'));
  const segSize = (numFrames - 1) / r.numSegments;
  const out: number[] = [];
  for (let i = 0; i < r.numSegments; i++) {
    const start = roundHalfEven(segSize * i);
    const end = roundHalfEven(segSize * (i + 1));
    out.push(rng.intInclusive(start, end) + r.indexBias);
  }
  return out;
}

/**
 * Training indices of `datasets/video_attr.py` and `datasets/charades.py` (TSN style): videos
 * no longer than `numSegments * segLength` frames use every frame once plus random repeats,
 * sorted (the original's padding); longer ones split into equal integer segments with a
 * random `segLength`-frame run in each. With `dense`, as trainIndices.
 */
export function paddedTrainIndices(numFrames: number, options: PaddedSamplingOptions, rng: Rng): number[] {
  const r = resolve(numFrames, options);
  if (r.dense) return denseClip(numFrames, r, denseRandomStart(numFrames, r, rng, 'paddedTrainIndices'));
  const segLength = options.segLength ?? 1;
  if (!Number.isInteger(segLength) || segLength < 1)
    throw new Error(`seg_length must be an integer >= 1, got ${segLength}`);
  const totalLength = r.numSegments * segLength;
  if (numFrames <= totalLength) {
    const offsets: number[] = [];
    for (let i = 0; i < numFrames; i++) offsets.push(i);
    for (let i = numFrames; i < totalLength; i++) offsets.push(rng.nextInt(numFrames));
    offsets.sort((a, b) => a - b);
    return offsets.map((o) => o + r.indexBias);
  }
  const ticks: number[] = [];
  for (let i = 0; i <= r.numSegments; i++) ticks.push(Math.floor((i * numFrames) / r.numSegments));
  const out: number[] = [];
  for (let i = 0; i < r.numSegments; i++) {
    const tickLen = ticks[i + 1]! - ticks[i]!;
    let tick = ticks[i]!;
    if (tickLen >= segLength) tick += rng.nextInt(tickLen - segLength + 1);
    for (let j = tick; j < tick + segLength; j++) out.push(j + r.indexBias);
  }
  return out;
}

/**
 * Charades training clip of one action interval: the interval's frames at `fps` are sampled
 * with paddedTrainIndices and shifted to the interval's first frame, as datasets/charades.py does.
 */
export function charadesTrainIndices(
  segment: CharadesSegment,
  fps: number,
  options: PaddedSamplingOptions,
  rng: Rng,
): number[] {
  const { numFrames, firstFrame } = charadesSegmentFrames(segment, fps);
  if (numFrames < 1) {
    throw new Error(
      `Charades interval of video ${segment.videoId} (line ${segment.line}) spans ${numFrames} frames at ${fps} fps ` +
        `(start ${segment.startTime}s, end ${segment.endTime}s, length ${segment.totalTime}s); expected at least 1`,
    );
  }
  return paddedTrainIndices(numFrames, options, rng).map((i) => i + firstFrame);
}

/**
 * Single-clip validation indices (`_get_val_indices`): frame `int(x * numFrames / numSegments)`
 * for each segment x. With `dense`, a dense clip whose start is random when the video is longer
 * than `sampleRange + 1` frames (pass `rng` then).
 */
export function valIndices(numFrames: number, options: SamplingOptions, rng?: Rng): number[] {
  const r = resolve(numFrames, options);
  if (r.dense) return denseClip(numFrames, r, denseRandomStart(numFrames, r, rng, 'valIndices'));
  const tick = numFrames / r.numSegments;
  const out: number[] = [];
  for (let x = 0; x < r.numSegments; x++) out.push((Math.trunc(tick * x) % numFrames) + r.indexBias);
  return out;
}

/**
 * Multi-clip test indices (`_get_test_indices`), `testClips * numSegments` of them, clip after
 * clip. Uniform: clips shifted by `linspace(0, tick - 1, testClips)` frames. Dense: clip c starts
 * at `c * floor(max(0, numFrames - sampleRange) / (testClips - 1))`.
 *
 * Documented fallback: dense with a single clip divides by zero in the original
 * (ZeroDivisionError); here that clip starts at frame 0, which is what the formula gives for
 * its first clip whatever the clip count.
 */
export function testIndices(numFrames: number, options: TestSamplingOptions): number[] {
  const r = resolve(numFrames, options);
  const clips = options.testClips;
  if (!Number.isInteger(clips) || clips < 1) throw new Error(`test_clips must be an integer >= 1, got ${clips}`);
  const out: number[] = [];
  if (r.dense) {
    const samplePos = Math.max(0, numFrames - r.sampleRange);
    const spacing = clips > 1 ? Math.floor(samplePos / (clips - 1)) : 0;
    for (let c = 0; c < clips; c++) out.push(...denseClip(numFrames, r, c * spacing));
    return out;
  }
  const tick = numFrames / r.numSegments;
  for (const start of linspaceInt(0, tick - 1, clips)) {
    for (let x = 0; x < r.numSegments; x++) out.push(pythonMod(Math.trunc(start + tick * x), numFrames) + r.indexBias);
  }
  return out;
}
