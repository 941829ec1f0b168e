/**
 * Annotation files of every kind the original reads, behind one entry point that recognises
 * the kind from the content. The format-specific parsers live in their own files and are
 * re-exported here.
 */
import { readFile } from 'node:fs/promises';
import { AnnotationError, numberedLines, quoteLine } from './annotation-error.ts';
import { parseAttributes, type AttributeTable } from './attributes.ts';
import { parseCharadesSegments, parseCharadesVideos, type CharadesSegment, type CharadesVideo } from './charades.ts';
import { parseCharadesClasses, parseLabelCsv, type ClassList } from './class-list.ts';
import { parseVideoList, type VideoList } from './video-list.ts';

export * from './annotation-error.ts';
export * from './attributes.ts';
export * from './charades.ts';
export * from './class-list.ts';
export * from './video-list.ts';

export type AnnotationFormat =
  | 'frame-list' // path num_frames label
  | 'video-list' // path label
  | 'label-csv' // id,name
  | 'charades-classes' // c000 name
  | 'charades-videos' // Charades_v1_{train,test}.csv
  | 'charades-segments' // Charades_train_split_label.csv
  | 'attributes'; // {video_path: {"classname_topk": [...]}}

export type Annotation =
  | { format: 'frame-list' | 'video-list'; list: VideoList }
  | { format: 'label-csv' | 'charades-classes'; classes: ClassList }
  | { format: 'charades-videos'; videos: CharadesVideo[] }
  | { format: 'charades-segments'; segments: CharadesSegment[] }
  | { format: 'attributes'; attributes: AttributeTable };

/** Recognises the kind of annotation file from its first non-blank line. */
export function detectAnnotationFormat(text: string, file: string): AnnotationFormat {
  const first = numberedLines(text)[0];
  if (!first) throw new AnnotationError(file, undefined, 'the file is empty; expected an annotation list');
  const head = first.text;
  if (head.startsWith('{')) return 'attributes';
  if (head.startsWith('video_id,')) return 'charades-segments';
  if (head.startsWith('id,')) return head.split(',').includes('actions') ? 'charades-videos' : 'label-csv';
  if (/^c\d+\s/.test(head)) return 'charades-classes';
  const fields = head.split(/\s+/).length;
  if (fields === 3) return 'frame-list';
  if (fields === 2) return 'video-list';
  throw new AnnotationError(
    file,
    first.line,
    'unrecognised annotation format; expected "path num_frames label", "path label", an "id,name" label CSV, ' +
      `a Charades CSV, "cNNN name" classes or attribute JSON, got ${quoteLine(head)}`,
  );
}

export interface AnnotationOptions {
  /** Class count for label checks in lists (from the label file). */
  numClasses?: number;
}

/** Parses any annotation file, detecting its kind. */
export function parseAnnotation(text: string, file: string, options: AnnotationOptions = {}): Annotation {
  const format = detectAnnotationFormat(text, file);
  switch (format) {
    case 'frame-list':
    case 'video-list':
      return { format, list: parseVideoList(text, file, options) };
    case 'label-csv':
      return { format, classes: parseLabelCsv(text, file) };
    case 'charades-classes':
      return { format, classes: parseCharadesClasses(text, file) };
    case 'charades-videos':
      return { format, videos: parseCharadesVideos(text, file, options) };
    case 'charades-segments':
      return { format, segments: parseCharadesSegments(text, file, options) };
    case 'attributes':
      return { format, attributes: parseAttributes(text, file) };
  }
}

/** Reads and parses any annotation file; see parseAnnotation. */
export async function readAnnotation(file: string, options: AnnotationOptions = {}): Promise<Annotation> {
  return parseAnnotation(await readFile(file, 'utf8'), file, options);
}

/** Number of entries (videos, classes, intervals) in a parsed annotation file. */
export function annotationSize(a: Annotation): number {
  switch (a.format) {
    case 'frame-list':
    case 'video-list':
      return a.list.records.length;
    case 'label-csv':
    case 'charades-classes':
      return a.classes.classes.length;
    case 'charades-videos':
      return a.videos.length;
    case 'charades-segments':
      return a.segments.length;
    case 'attributes':
      return a.attributes.size;
  }
}
