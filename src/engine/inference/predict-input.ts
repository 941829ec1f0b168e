/**
 * One video for `bike predict`, read the way test.py reads its list entries: a video file (anything
 * the data layer decodes: mp4, webm, avi, mkv, ...) or a folder of numbered frame images (the folder's
 * naming, e.g. `img_00001.jpg`, is found from its files). `num_segments` frames are sampled with the
 * test sampler (one clip, segment centres) and centre-cropped with the test transform.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { testTransform, type ClipArray } from '../../data/clip-transform.ts';
import { MediaError } from '../../data/media-error.ts';
import { ShapeError } from '../../torch/shape-error.ts';
import { loadFrameFolder } from '../../data/frame-loader.ts';
import type { RgbImage } from '../../data/rgb-image.ts';
import { testIndices } from '../../data/sampling.ts';
import { probeVideo, readVideoFrames, type SubstitutedFrame } from '../../data/video-decoder.ts';

const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff'];

export interface FrameFolderLayout {
  /** Python format template of the file names, e.g. `img_{:05d}.jpg`. */
  template: string;
  /** Number of the first frame file (the sampler's index bias). */
  firstIndex: number;
  frameCount: number;
}

/** The naming of a folder of numbered frames: one prefix, one extension, consecutive numbers. */
export function frameFolderLayout(dir: string): FrameFolderLayout {
  const images = readdirSync(dir).filter((f) => IMAGE_EXTENSIONS.includes(path.extname(f).toLowerCase()));
  if (images.length === 0) throw new Error(`${dir}: the folder has no frame images (${IMAGE_EXTENSIONS.join(', ')})`);
  const parsed = images.map((name) => ({ name, match: /^(.*?)(\d+)(\.[^.]+)$/.exec(name) }));
  const unnumbered = parsed.find((p) => !p.match);
  if (unnumbered)
    throw new Error(`${dir}: frame file ${unnumbered.name} has no frame number (expected names like img_00001.jpg)`);
  const first = parsed[0]!.match!;
  const [prefix, extension] = [first[1]!, first[3]!];
  const other = parsed.find((p) => p.match![1] !== prefix || p.match![3] !== extension);
  if (other)
    throw new Error(
      `${dir}: frame files are named differently (${parsed[0]!.name} and ${other.name}); expected one naming such as img_00001.jpg`,
    );
  const numbers = parsed.map((p) => Number(p.match![2]));
  const widths = new Set(parsed.map((p) => p.match![2]!.length));
  const padded = widths.size === 1 && parsed.some((p) => p.match![2]!.length > 1 && p.match![2]!.startsWith('0'));
  const digits = padded ? `{:0${[...widths][0]}d}` : '{:d}';
  const escape = (s: string) => s.replaceAll('{', '{{').replaceAll('}', '}}');
  const firstIndex = Math.min(...numbers);
  const lastIndex = Math.max(...numbers);
  if (lastIndex - firstIndex + 1 !== numbers.length) {
    throw new Error(
      `${dir}: frame numbers ${firstIndex}..${lastIndex} have gaps (${numbers.length} files); expected consecutive frames`,
    );
  }
  return { template: `${escape(prefix)}${digits}${escape(extension)}`, firstIndex, frameCount: numbers.length };
}

export interface PredictionInput {
  input: string;
  kind: 'video' | 'frames';
  /** 0-based numbers of the sampled frames in the video / folder. */
  frameIndices: number[];
  /** The decoded frames at those numbers (full size). */
  frames: RgbImage[];
  /** The test transform's clip `[T, 3, S, S]`. */
  clip: ClipArray;
  /**
   * Sampled frames of a video file that did not decode (a damaged packet) and got the pixels of the
   * nearest frame that does; empty when every frame decoded.
   */
  substituted: SubstitutedFrame[];
  /** When `substituted` is not empty: one message naming the file and the frames, for the caller to print. */
  warning?: string;
}

export interface ReadInputOptions {
  numSegments: number;
  inputSize: number;
  /** `data.dataset` (Something-Something scaling). */
  dataset?: string;
}

/** Decodes and transforms `input`; any failure is an Error that names it. */
export async function readPredictionInput(input: string, options: ReadInputOptions): Promise<PredictionInput> {
  let stat;
  try {
    stat = statSync(input);
  } catch {
    throw new MediaError('video', input, 'no such video file or frame folder');
  }
  try {
    let frames: RgbImage[];
    let frameIndices: number[];
    let kind: PredictionInput['kind'];
    let report: Pick<PredictionInput, 'substituted' | 'warning'> = { substituted: [] };
    if (stat.isDirectory()) {
      kind = 'frames';
      const layout = frameFolderLayout(input);
      const indices = testIndices(layout.frameCount, {
        numSegments: options.numSegments,
        indexBias: layout.firstIndex,
        testClips: 1,
      });
      const loaded = await loadFrameFolder(
        { root: path.dirname(input), directory: path.basename(input), template: layout.template },
        indices,
      );
      if (loaded.report.fallbacks.length > 0) {
        const f = loaded.report.fallbacks[0]!;
        throw new Error(`frame ${f.path} cannot be decoded (${f.reason})`);
      }
      frames = loaded.frames;
      frameIndices = indices.map((i) => i - layout.firstIndex);
    } else {
      kind = 'video';
      const info = await probeVideo(input);
      frameIndices = testIndices(info.frameCount, { numSegments: options.numSegments, indexBias: 0, testClips: 1 });
      const read = await readVideoFrames(input, frameIndices, info);
      frames = read;
      report = { substituted: read.substituted, ...(read.warning ? { warning: read.warning } : {}) };
    }
    const clip = testTransform(frames, {
      inputSize: options.inputSize,
      dataset: options.dataset,
      testCrops: 1,
      stage: 'test',
    });
    return { input, kind, frameIndices, frames, clip, ...report };
  } catch (error) {
    if (error instanceof MediaError) throw error;
    const message = (error as Error).message;
    const prefix = `${input}: `;
    throw new MediaError(
      stat.isDirectory() ? 'image' : 'video',
      input,
      message.startsWith(prefix) ? message.slice(prefix.length) : message,
    );
  }
}

/**
 * Already decoded frames (all frames of a video, in order) as `readPredictionInput` gives a video:
 * `num_segments` of them sampled with the test sampler, then the test transform.
 */
export function predictionInputFromFrames(
  frames: readonly RgbImage[],
  options: ReadInputOptions & { input?: string },
): PredictionInput {
  const input = options.input ?? '<frames>';
  if (frames.length === 0) throw new MediaError('image', input, 'no frames given');
  frames.forEach((frame, i) => {
    const expected = frame.width * frame.height * 3;
    if (
      !Number.isInteger(frame.width) ||
      !Number.isInteger(frame.height) ||
      frame.width < 1 ||
      frame.height < 1 ||
      frame.data?.length !== expected
    ) {
      throw new ShapeError(
        `${input} frame ${i}`,
        [frame.height, frame.width, 3],
        [frame.data?.length ?? 0],
        `an RGB frame of ${frame.width}x${frame.height} needs ${expected} bytes`,
      );
    }
  });
  const frameIndices = testIndices(frames.length, { numSegments: options.numSegments, indexBias: 0, testClips: 1 });
  const sampled = frameIndices.map((i) => frames[i]!);
  const clip = testTransform(sampled, {
    inputSize: options.inputSize,
    dataset: options.dataset,
    testCrops: 1,
    stage: 'test',
  });
  return { input, kind: 'frames', frameIndices, frames: sampled, clip, substituted: [] };
}
