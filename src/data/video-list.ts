import { readFile } from 'node:fs/promises';
import { AnnotationError, numberedLines, parseIntStrict, quoteLine } from './annotation-error.ts';

/**
 * One line of a video list, as the original's VideoRecord reads it: the path is the first
 * field and the label the last one (always a single class index; these lists are never
 * multi-label, Charades has its own CSV format).
 */
export interface VideoRecord {
  /** Frame folder or video file, relative to the data root. */
  path: string;
  /** Frame count written in the list (`path num_frames label` lists); null for `path label` lists. */
  numFrames: number | null;
  label: number;
  /** 1-based line in the list file, for messages about this entry. */
  line: number;
}

/** `frames`: `path num_frames label` (frame folders); `video`: `path label` (video files). */
export type VideoListFormat = 'frames' | 'video';

export interface VideoList {
  file: string;
  format: VideoListFormat;
  records: VideoRecord[];
}

export interface VideoListOptions {
  /** When given (from the label CSV), every label must be below it. */
  numClasses?: number;
}

const FORMAT_FIELDS: Record<VideoListFormat, { count: number; shape: string }> = {
  frames: { count: 3, shape: '"path num_frames label"' },
  video: { count: 2, shape: '"path label"' },
};

/**
 * Parses a space-separated video list. The format (2 or 3 fields) is decided by the first
 * entry, as in the original, and every later line must have the same number of fields.
 * Blank lines are skipped. `file` names the source in errors.
 */
export function parseVideoList(text: string, file: string, options: VideoListOptions = {}): VideoList {
  const lines = numberedLines(text);
  if (lines.length === 0) {
    throw new AnnotationError(
      file,
      undefined,
      'the list is empty; expected lines "path num_frames label" or "path label"',
    );
  }
  const first = lines[0]!;
  const firstCount = first.text.split(/\s+/).length;
  let format: VideoListFormat;
  if (firstCount === 3) format = 'frames';
  else if (firstCount === 2) format = 'video';
  else {
    throw new AnnotationError(
      file,
      first.line,
      `expected "path num_frames label" (3 fields) or "path label" (2 fields), got ${firstCount} fields: ${quoteLine(first.text)}`,
    );
  }
  const { count, shape } = FORMAT_FIELDS[format];
  const { numClasses } = options;

  const records: VideoRecord[] = [];
  for (const { line, text: content } of lines) {
    const fields = content.split(/\s+/);
    if (fields.length !== count) {
      throw new AnnotationError(
        file,
        line,
        `expected ${shape} (${count} fields, like line ${first.line}), got ${fields.length} fields: ${quoteLine(content)}`,
      );
    }
    const labelToken = fields[count - 1]!;
    const label = parseIntStrict(labelToken);
    if (label === undefined || label < 0) {
      throw new AnnotationError(
        file,
        line,
        `expected the label (last field) to be a class index >= 0, got "${labelToken}"`,
      );
    }
    if (numClasses !== undefined && label >= numClasses) {
      throw new AnnotationError(
        file,
        line,
        `unknown label ${label}: the label file has ${numClasses} classes (valid labels 0..${numClasses - 1})`,
      );
    }
    let numFrames: number | null = null;
    if (format === 'frames') {
      const framesToken = fields[1]!;
      const parsed = parseIntStrict(framesToken);
      if (parsed === undefined || parsed < 0) {
        throw new AnnotationError(
          file,
          line,
          `expected num_frames (second field) to be an integer >= 0, got "${framesToken}"`,
        );
      }
      numFrames = parsed;
    }
    records.push({ path: fields[0]!, numFrames, label, line });
  }
  return { file, format, records };
}

/** Reads and parses a video list file; see parseVideoList. */
export async function readVideoList(file: string, options: VideoListOptions = {}): Promise<VideoList> {
  return parseVideoList(await readFile(file, 'utf8'), file, options);
}

/** The original drops frame-folder entries shorter than this outside test mode (train and val). */
export const MIN_FRAMES_OUTSIDE_TEST = 8;

/**
 * The original's `_parse_list` filter: when not in test mode, a `path num_frames label` list
 * keeps only videos with at least 8 frames; `path label` lists and test mode keep everything.
 */
export function dropShortVideos(list: VideoList, testMode: boolean): VideoRecord[] {
  if (testMode || list.format !== 'frames') return list.records;
  return list.records.filter((r) => (r.numFrames ?? 0) >= MIN_FRAMES_OUTSIDE_TEST);
}
