import { readFile } from 'node:fs/promises';
import { AnnotationError, numberedLines, parseIntStrict, quoteLine } from './annotation-error.ts';
import { parseCsv } from './csv.ts';

/**
 * One class of a label file. The class index is the row order (the original feeds
 * `for i, c in classes` to the prompts and indexes them by list label), so `id` must equal it.
 */
export interface ClassEntry {
  /** Class index, 0-based, equal to the row position. */
  index: number;
  /** The id as written: "12" in label CSVs, "c012" in Charades' class file. */
  id: string;
  name: string;
  /** 1-based line in the label file. */
  line: number;
}

export interface ClassList {
  file: string;
  classes: ClassEntry[];
}

/**
 * Parses a label CSV `id,name` with its header line. Names may be quoted (and then hold
 * commas). Ids must run 0, 1, 2, ... in row order, because labels index the rows.
 */
export function parseLabelCsv(text: string, file: string): ClassList {
  const rows = parseCsv(text, file);
  if (rows.length === 0) {
    throw new AnnotationError(
      file,
      undefined,
      'the label file is empty; expected a header "id,name" and one line per class',
    );
  }
  const header = rows[0]!;
  if (header.fields.length !== 2 || header.fields[0]!.trim() !== 'id') {
    throw new AnnotationError(
      file,
      header.line,
      `expected the header line "id,name", got ${quoteLine(header.fields.join(','))}`,
    );
  }
  if (rows.length === 1) {
    throw new AnnotationError(file, undefined, 'the label file has a header but no classes; expected lines "id,name"');
  }
  const classes: ClassEntry[] = [];
  for (const { line, fields } of rows.slice(1)) {
    if (fields.length !== 2) {
      throw new AnnotationError(
        file,
        line,
        `expected "id,name" (2 fields; quote names that contain commas), got ${fields.length} fields: ${quoteLine(fields.join(','))}`,
      );
    }
    const index = classes.length;
    const id = fields[0]!.trim();
    if (parseIntStrict(id) !== index) {
      throw new AnnotationError(
        file,
        line,
        `expected class id ${index} (ids must count 0, 1, 2, ... in row order), got "${id}"`,
      );
    }
    const name = fields[1]!;
    if (name.trim().length === 0) throw new AnnotationError(file, line, `class ${index} has an empty name`);
    classes.push({ index, id, name, line });
  }
  return { file, classes };
}

/**
 * Parses Charades' class file, lines `c000 Holding some clothes` (id, one space, name), as the
 * original splits them with `split(' ', 1)`. Ids must be c000, c001, ... in order.
 */
export function parseCharadesClasses(text: string, file: string): ClassList {
  const lines = numberedLines(text);
  if (lines.length === 0) {
    throw new AnnotationError(file, undefined, 'the class file is empty; expected lines "c000 class name"');
  }
  const classes: ClassEntry[] = [];
  for (const { line, text: content } of lines) {
    const match = /^c(\d+)\s+(.+)$/.exec(content);
    if (!match) {
      throw new AnnotationError(
        file,
        line,
        `expected "cNNN class name" (e.g. "c000 Holding some clothes"), got ${quoteLine(content)}`,
      );
    }
    const index = classes.length;
    if (Number(match[1]) !== index) {
      throw new AnnotationError(
        file,
        line,
        `expected class id c${String(index).padStart(3, '0')} (ids in order), got "c${match[1]}"`,
      );
    }
    classes.push({ index, id: `c${match[1]}`, name: match[2]!, line });
  }
  return { file, classes };
}

/** Parses a label file of either kind: Charades' `cNNN name` lines, else an `id,name` CSV. */
export function parseClassList(text: string, file: string): ClassList {
  const firstLine = numberedLines(text)[0]?.text ?? '';
  return /^c\d+\s/.test(firstLine) ? parseCharadesClasses(text, file) : parseLabelCsv(text, file);
}

/** Reads a label file of either kind; see parseClassList. */
export async function readClassList(file: string): Promise<ClassList> {
  return parseClassList(await readFile(file, 'utf8'), file);
}

/** The class names in index order, as the prompts use them. */
export function classNames(list: ClassList): string[] {
  return list.classes.map((c) => c.name);
}
