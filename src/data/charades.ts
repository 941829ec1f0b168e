import { readFile } from 'node:fs/promises';
import { AnnotationError, parseFloatStrict, quoteLine } from './annotation-error.ts';
import { parseCsv, type CsvRow } from './csv.ts';

/** Charades has 157 action classes; the original hard-codes this size for its test targets. */
export const CHARADES_NUM_CLASSES = 157;

/** One annotated action interval, `c092 11.90 21.20` in the CSV. */
export interface CharadesAction {
  classIndex: number;
  start: number;
  end: number;
}

/** One row of Charades_v1_{train,test}.csv: a whole video with all its actions (multi-label). */
export interface CharadesVideo {
  /** Video id, also the frame folder name. */
  id: string;
  actions: CharadesAction[];
  /** Video length in seconds (`length` column), null when the CSV has no such column. */
  length: number | null;
  line: number;
}

/** One row of Charades_train_split_label.csv: a single action interval used as a training clip. */
export interface CharadesSegment {
  videoId: string;
  label: number;
  startTime: number;
  endTime: number;
  totalTime: number;
  line: number;
}

export interface CharadesOptions {
  /** Number of classes (from the class file); defaults to 157. */
  numClasses?: number;
}

function parseClassId(token: string, file: string, line: number, numClasses: number): number {
  const match = /^c(\d+)$/.exec(token);
  if (!match) throw new AnnotationError(file, line, `expected an action class like "c092", got "${token}"`);
  const classIndex = Number(match[1]);
  if (classIndex >= numClasses) {
    throw new AnnotationError(
      file,
      line,
      `unknown label ${token}: the class file has ${numClasses} classes (c000..c${String(numClasses - 1).padStart(3, '0')})`,
    );
  }
  return classIndex;
}

function parseSeconds(token: string, what: string, file: string, line: number): number {
  const value = parseFloatStrict(token);
  if (value === undefined)
    throw new AnnotationError(file, line, `expected ${what} in seconds (a number), got "${token}"`);
  return value;
}

function headerIndex(header: CsvRow, name: string, file: string, expected: string): number {
  const index = header.fields.findIndex((f) => f.trim() === name);
  if (index < 0) {
    throw new AnnotationError(
      file,
      header.line,
      `expected a header with a "${name}" column (${expected}), got ${quoteLine(header.fields.join(','))}`,
    );
  }
  return index;
}

const VIDEO_HEADER = 'id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length';

/**
 * Parses Charades_v1_{train,test}.csv (header line, then one video per row). Only `id`,
 * `actions` (`cNNN start end` joined by ';', may be empty) and `length` are read, like the
 * original's test loader, which builds a multi-hot target from the actions.
 */
export function parseCharadesVideos(text: string, file: string, options: CharadesOptions = {}): CharadesVideo[] {
  const numClasses = options.numClasses ?? CHARADES_NUM_CLASSES;
  const rows = parseCsv(text, file);
  if (rows.length === 0)
    throw new AnnotationError(
      file,
      undefined,
      `the file is empty; expected the header "${VIDEO_HEADER}" and one video per line`,
    );
  const header = rows[0]!;
  const idCol = headerIndex(header, 'id', file, VIDEO_HEADER);
  const actionsCol = headerIndex(header, 'actions', file, VIDEO_HEADER);
  const lengthCol = header.fields.findIndex((f) => f.trim() === 'length');
  const videos: CharadesVideo[] = [];
  for (const { line, fields } of rows.slice(1)) {
    if (fields.length !== header.fields.length) {
      throw new AnnotationError(
        file,
        line,
        `expected ${header.fields.length} fields like the header (quote fields that contain commas), got ${fields.length}`,
      );
    }
    const id = fields[idCol]!.trim();
    if (id.length === 0)
      throw new AnnotationError(file, line, 'expected a video id in the "id" column, got an empty field');
    const actionsText = fields[actionsCol]!.trim();
    const actions: CharadesAction[] = [];
    if (actionsText !== '') {
      for (const part of actionsText.split(';')) {
        const tokens = part.trim().split(/\s+/);
        if (tokens.length !== 3) {
          throw new AnnotationError(
            file,
            line,
            `expected each action as "cNNN start end" (e.g. "c092 11.90 21.20"), got "${part}"`,
          );
        }
        actions.push({
          classIndex: parseClassId(tokens[0]!, file, line, numClasses),
          start: parseSeconds(tokens[1]!, 'an action start', file, line),
          end: parseSeconds(tokens[2]!, 'an action end', file, line),
        });
      }
    }
    const length = lengthCol < 0 ? null : parseSeconds(fields[lengthCol]!, 'the video length', file, line);
    videos.push({ id, actions, length, line });
  }
  if (videos.length === 0) throw new AnnotationError(file, undefined, 'the file has a header but no videos');
  return videos;
}

const SEGMENT_HEADER = 'video_id,label,start_time,end_time,total_time';

/**
 * Parses Charades_train_split_label.csv (header, then `video_id,label,start_time,end_time,total_time`
 * rows, label like "c092"). Columns are read by position, as the original does.
 */
export function parseCharadesSegments(text: string, file: string, options: CharadesOptions = {}): CharadesSegment[] {
  const numClasses = options.numClasses ?? CHARADES_NUM_CLASSES;
  const rows = parseCsv(text, file);
  if (rows.length === 0)
    throw new AnnotationError(
      file,
      undefined,
      `the file is empty; expected the header "${SEGMENT_HEADER}" and one action per line`,
    );
  const header = rows[0]!;
  if (header.fields.length !== 5 || parseFloatStrict(header.fields[2]!) !== undefined) {
    throw new AnnotationError(
      file,
      header.line,
      `expected the header line "${SEGMENT_HEADER}", got ${quoteLine(header.fields.join(','))}`,
    );
  }
  const segments: CharadesSegment[] = [];
  for (const { line, fields } of rows.slice(1)) {
    if (fields.length !== 5) {
      throw new AnnotationError(
        file,
        line,
        `expected "${SEGMENT_HEADER}" (5 fields), got ${fields.length}: ${quoteLine(fields.join(','))}`,
      );
    }
    const videoId = fields[0]!.trim();
    if (videoId.length === 0)
      throw new AnnotationError(file, line, 'expected a video id in the first field, got an empty field');
    segments.push({
      videoId,
      label: parseClassId(fields[1]!.trim(), file, line, numClasses),
      startTime: parseSeconds(fields[2]!, 'start_time', file, line),
      endTime: parseSeconds(fields[3]!, 'end_time', file, line),
      totalTime: parseSeconds(fields[4]!, 'total_time', file, line),
      line,
    });
  }
  if (segments.length === 0) throw new AnnotationError(file, undefined, 'the file has a header but no actions');
  return segments;
}

/** The original's training filter: only intervals with end_time > start_time are kept. */
export function dropEmptySegments(segments: CharadesSegment[]): CharadesSegment[] {
  return segments.filter((s) => s.endTime > s.startTime);
}

/**
 * The frames of a training interval at `fps` as the original computes them: the clip is
 * `int(min(end, total) * fps - start * fps)` frames long and starts at frame `int(start * fps)`
 * (0-based, before index_bias).
 */
export function charadesSegmentFrames(
  segment: CharadesSegment,
  fps: number,
): { numFrames: number; firstFrame: number } {
  const end = Math.min(segment.endTime, segment.totalTime);
  return {
    numFrames: Math.trunc(end * fps - segment.startTime * fps),
    firstFrame: Math.trunc(segment.startTime * fps),
  };
}

/** Multi-hot test target of a video: 1 for every class that occurs in its actions. */
export function charadesMultiHot(video: CharadesVideo, numClasses = CHARADES_NUM_CLASSES): Uint8Array {
  const target = new Uint8Array(numClasses);
  for (const a of video.actions) {
    if (a.classIndex >= numClasses) {
      throw new Error(
        `video ${video.id} (line ${video.line}) has action class ${a.classIndex}, outside ${numClasses} classes`,
      );
    }
    target[a.classIndex] = 1;
  }
  return target;
}

export async function readCharadesVideos(file: string, options: CharadesOptions = {}): Promise<CharadesVideo[]> {
  return parseCharadesVideos(await readFile(file, 'utf8'), file, options);
}

export async function readCharadesSegments(file: string, options: CharadesOptions = {}): Promise<CharadesSegment[]> {
  return parseCharadesSegments(await readFile(file, 'utf8'), file, options);
}
