import { readFile, writeFile } from 'node:fs/promises';
import { AnnotationError } from './annotation-error.ts';

/**
 * Video attributes for the attribute (sentence) branch: per video path, the top-k class names
 * a model predicted, stored as `{video_path: {"classname_topk": [...]}}` JSON.
 * Other keys an entry may carry are kept when the file is rewritten.
 */
export interface AttributeEntry {
  classname_topk: string[];
  [other: string]: unknown;
}

export type AttributeTable = Map<string, AttributeEntry>;

/** Parses attribute JSON; every entry must be an object with a `classname_topk` string array. */
export function parseAttributes(text: string, file: string): AttributeTable {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new AnnotationError(
      file,
      undefined,
      `not valid JSON (${(e as Error).message}); expected {video_path: {"classname_topk": [...]}}`,
    );
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new AnnotationError(
      file,
      undefined,
      'expected a JSON object {video_path: {"classname_topk": [...]}} at the top level',
    );
  }
  const table: AttributeTable = new Map();
  for (const [path, entry] of Object.entries(data as Record<string, unknown>)) {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw new AnnotationError(file, undefined, `key "${path}": expected an object {"classname_topk": [...]}`);
    }
    const topk = (entry as Record<string, unknown>)['classname_topk'];
    if (!Array.isArray(topk) || !topk.every((x) => typeof x === 'string')) {
      throw new AnnotationError(file, undefined, `key "${path}": expected "classname_topk" to be an array of strings`);
    }
    table.set(path, entry as AttributeEntry);
  }
  if (table.size === 0) throw new AnnotationError(file, undefined, 'the attribute file has no videos');
  return table;
}

/** Serialises a table to the JSON layout the original reads. */
export function formatAttributes(table: AttributeTable): string {
  const obj: Record<string, AttributeEntry> = {};
  for (const [path, entry] of table) obj[path] = entry;
  return JSON.stringify(obj);
}

export async function readAttributes(file: string): Promise<AttributeTable> {
  return parseAttributes(await readFile(file, 'utf8'), file);
}

export async function writeAttributes(file: string, table: AttributeTable): Promise<void> {
  await writeFile(file, formatAttributes(table), 'utf8');
}

/**
 * The first `topk` attributes of a video (the original's `select_topk_attributes`, 5 by default).
 * A video missing from the table is an error naming it, as in the original (a KeyError there).
 */
export function videoAttributes(
  table: AttributeTable,
  videoPath: string,
  topk: number,
  file = 'attribute table',
): string[] {
  const entry = table.get(videoPath);
  if (!entry)
    throw new AnnotationError(
      file,
      undefined,
      `no attributes for video "${videoPath}" (expected a key with that exact path)`,
    );
  return entry.classname_topk.slice(0, topk);
}

/** The sentence the attribute branch encodes ("This is a video about a,b,c") is the model's: */
export { attributeSentence } from '../bike/attribute-sentence.ts';
