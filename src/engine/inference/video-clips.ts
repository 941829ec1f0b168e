/**
 * What the classifier reads from a video file, beyond `readPredictionInput`: the frame rate (so each
 * sampled frame has a timestamp), the refusal of still images given as videos, and the clips of a
 * sliding-window timeline (`window` and `stride` in seconds, each window sampled with the test
 * sampler inside it, all windows' frames decoded in one pass).
 */
import { openSync, readSync, closeSync } from 'node:fs';
import { testTransform, type ClipArray } from '../../data/clip-transform.ts';
import { MediaError } from '../../data/media-error.ts';
import { testIndices } from '../../data/sampling.ts';
import {
  imageFormatOf,
  probeFrameRate,
  probeVideo,
  readVideoFrames,
  type SubstitutedFrame,
} from '../../data/video-decoder.ts';
import { readPredictionInput, type ReadInputOptions } from './predict-input.ts';

/** A video sampled and transformed for the model, with where its frames lie in time. */
export interface DecodedClip {
  input: string;
  kind: 'video' | 'frames';
  frameIndices: number[];
  /** Seconds of each sampled frame (frame index / fps), or null without a frame rate (frame folders). */
  timestamps: number[] | null;
  fps: number | null;
  clip: ClipArray;
  /** Sampled frames that did not decode and got the nearest decodable frame's pixels (empty: none). */
  substituted: SubstitutedFrame[];
  /** When `substituted` is not empty: the decoder's message naming the file and the frames. */
  warning?: string;
}

export interface TimelineOptions {
  /** Window length in seconds. */
  window: number;
  /** Seconds between window starts (default: `window`). */
  stride?: number;
  /** Windows allowed at most (default 512): a longer timeline is refused, not computed. */
  maxWindows?: number;
}

export interface TimelineWindow {
  /** Start and end of the window in seconds. */
  start: number;
  end: number;
  frameIndices: number[];
}

export interface DecodedTimeline {
  input: string;
  fps: number;
  frameCount: number;
  duration: number;
  windows: TimelineWindow[];
  /** Per window: its frames that did not decode are in its clip's `substituted`. */
  clips: DecodedClip[];
  /** Every frame of the timeline that did not decode, and the one used instead (empty: none). */
  substituted: SubstitutedFrame[];
  warning?: string;
}

function refuseImages(file: string): void {
  let fd: number | undefined;
  const head = new Uint8Array(16);
  try {
    fd = openSync(file, 'r');
    readSync(fd, head, 0, head.length, 0);
  } catch {
    return; // a folder or a missing file: readPredictionInput names it
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  const image = imageFormatOf(head);
  if (image) throw new MediaError('video', file, `is a ${image} image, expected a video (mp4, webm, avi, mkv, ...)`);
}

/** Reads one video (or frame folder) as `readPredictionInput`, with its frame rate and timestamps. */
export async function readClip(file: string, options: ReadInputOptions): Promise<DecodedClip> {
  refuseImages(file);
  const read = await readPredictionInput(file, options);
  const fps = read.kind === 'video' ? await probeFrameRate(file) : null;
  return {
    input: file,
    kind: read.kind,
    frameIndices: read.frameIndices,
    fps,
    timestamps: fps ? read.frameIndices.map((i) => i / fps) : null,
    clip: read.clip,
    substituted: read.substituted,
    ...(read.warning ? { warning: read.warning } : {}),
  };
}

function checkSeconds(value: number | undefined, name: string): void {
  if (value !== undefined && !(Number.isFinite(value) && value > 0))
    throw new RangeError(`timeline: ${name} must be a positive number of seconds, got ${value}`);
}

/** The windows of a video of `frameCount` frames at `fps`: each start every `stride` seconds, the last one ending at the video's end. */
export function timelineWindows(
  frameCount: number,
  fps: number,
  numSegments: number,
  options: TimelineOptions,
): TimelineWindow[] {
  checkSeconds(options.window, 'window');
  checkSeconds(options.stride, 'stride');
  const maxWindows = options.maxWindows ?? 512;
  const windowFrames = Math.max(1, Math.min(frameCount, Math.round(options.window * fps)));
  const strideFrames = Math.max(1, Math.round((options.stride ?? options.window) * fps));
  const starts: number[] = [];
  for (let s = 0; s + windowFrames <= frameCount; s += strideFrames) {
    starts.push(s);
    if (starts.length > maxWindows) {
      throw new RangeError(
        `timeline: more than ${maxWindows} windows of ${options.window} s every ${options.stride ?? options.window} s in ${(frameCount / fps).toFixed(1)} s of video; choose a longer stride`,
      );
    }
  }
  if (starts.at(-1)! + windowFrames < frameCount) starts.push(frameCount - windowFrames);
  return starts.map((s) => ({
    start: s / fps,
    end: (s + windowFrames) / fps,
    frameIndices: testIndices(windowFrames, { numSegments, indexBias: 0, testClips: 1 }).map((i) => i + s),
  }));
}

/** Decodes every window's frames of a video file (once each) and transforms each window's clip. */
export async function readTimeline(
  file: string,
  options: ReadInputOptions & TimelineOptions,
): Promise<DecodedTimeline> {
  refuseImages(file);
  try {
    const info = await probeVideo(file);
    const fps = await probeFrameRate(file);
    if (!fps) throw new Error('the container gives no frame rate, so windows in seconds cannot be placed');
    const windows = timelineWindows(info.frameCount, fps, options.numSegments, options);
    const wanted = [...new Set(windows.flatMap((w) => w.frameIndices))].sort((a, b) => a - b);
    const frames = await readVideoFrames(file, wanted, info);
    const byIndex = new Map(wanted.map((n, i) => [n, frames[i]!]));
    const clips = windows.map((w): DecodedClip => {
      const substituted = frames.substituted.filter((s) => w.frameIndices.includes(s.frame));
      return {
        input: file,
        kind: 'video',
        frameIndices: w.frameIndices,
        fps,
        timestamps: w.frameIndices.map((i) => i / fps),
        clip: testTransform(
          w.frameIndices.map((i) => byIndex.get(i)!),
          { inputSize: options.inputSize, dataset: options.dataset, testCrops: 1, stage: 'test' },
        ),
        substituted,
        ...(substituted.length > 0 && frames.warning ? { warning: frames.warning } : {}),
      };
    });
    return {
      input: file,
      fps,
      frameCount: info.frameCount,
      duration: info.frameCount / fps,
      windows,
      clips,
      substituted: frames.substituted,
      ...(frames.warning ? { warning: frames.warning } : {}),
    };
  } catch (error) {
    if (error instanceof MediaError || error instanceof RangeError) throw error;
    const message = (error as Error).message;
    const prefix = `video ${file}: `;
    throw new MediaError('video', file, message.startsWith(prefix) ? message.slice(prefix.length) : message);
  }
}
