/**
 * Loads the sampled frames of one video stored as a folder of images (`root/directory/<template>`),
 * as the original `Video_dataset._load_image` does: a frame that is missing or cannot be decoded is
 * replaced by frame 1 of the same video (`image_tmpl.format(1)`), with a message; if frame 1 fails
 * too, the original raises, and so does this. Every replacement is recorded in the clip's report.
 */
import path from 'node:path';
import { decodeImageFile } from './image-decoder.ts';
import { frameFileName } from './frame-template.ts';
import type { RgbImage } from './rgb-image.ts';

/** The frame number the original falls back to, whatever `index_bias` is. */
export const FALLBACK_FRAME_INDEX = 1;

export interface FrameFallback {
  /** Frame number that was asked for. */
  index: number;
  path: string;
  /** Why it could not be used (the read or decode error). */
  reason: string;
  /** The file used in its place. */
  replacement: string;
}

export interface FrameLoadReport {
  /** Frames asked for (with repeats). */
  requested: number;
  /** Distinct files decoded. */
  decoded: number;
  /** One entry per requested frame that was replaced (repeats of one index count once each). */
  fallbacks: FrameFallback[];
}

export interface LoadedFrames {
  /** One image per requested index, in request order; repeated indices share one image object. */
  frames: RgbImage[];
  report: FrameLoadReport;
}

export interface FrameFolder {
  /** Dataset root (`data.train_root` / `data.val_root`). */
  root: string;
  /** The video's folder relative to the root (the list's path column). */
  directory: string;
  /** `data.image_tmpl`, e.g. `img_{:05d}.jpg`. */
  template: string;
}

export type ImageFileDecoder = (path: string) => Promise<RgbImage>;

export function framePath(folder: FrameFolder, index: number): string {
  return path.join(folder.root, folder.directory, frameFileName(folder.template, folder.directory, index));
}

/**
 * Decodes the frames `indices` (frame numbers as the samplers return them, index_bias included).
 * Distinct files are decoded concurrently; `onFallback` sees each replacement as it happens.
 */
export async function loadFrameFolder(
  folder: FrameFolder,
  indices: readonly number[],
  options: { decode?: ImageFileDecoder; onFallback?: (fallback: FrameFallback) => void } = {},
): Promise<LoadedFrames> {
  const decode = options.decode ?? decodeImageFile;
  const distinct = [...new Set(indices)];
  const fallbackPath = framePath(folder, FALLBACK_FRAME_INDEX);
  const failures = new Map<number, FrameFallback>();
  // One decode per distinct file, shared by the requests for it and by fallbacks to frame 1.
  const decodes = new Map<number, Promise<RgbImage>>();
  const decodeIndex = (index: number): Promise<RgbImage> => {
    let pending = decodes.get(index);
    if (!pending) {
      pending = decode(framePath(folder, index));
      pending.catch(() => {}); // awaited below; this only keeps Node from reporting it early
      decodes.set(index, pending);
    }
    return pending;
  };

  const loadOne = async (index: number): Promise<RgbImage> => {
    try {
      return await decodeIndex(index);
    } catch (error) {
      const reason = (error as Error).message;
      const fallback: FrameFallback = { index, path: framePath(folder, index), reason, replacement: fallbackPath };
      failures.set(index, fallback);
      options.onFallback?.(fallback);
      try {
        return await decodeIndex(FALLBACK_FRAME_INDEX);
      } catch (fallbackError) {
        throw new Error(
          `video ${path.join(folder.root, folder.directory)}: frame ${index} (${fallback.path}) failed: ${reason}; ` +
            `its replacement, frame ${FALLBACK_FRAME_INDEX} (${fallbackPath}), failed too: ${(fallbackError as Error).message}`,
        );
      }
    }
  };

  const images = await Promise.all(distinct.map(loadOne));
  const byIndex = new Map(distinct.map((index, i) => [index, images[i]!]));
  const fallbacks: FrameFallback[] = [];
  for (const index of indices) {
    const failure = failures.get(index);
    if (failure) fallbacks.push(failure);
  }
  return {
    frames: indices.map((index) => byIndex.get(index)!),
    report: { requested: indices.length, decoded: decodes.size, fallbacks },
  };
}
