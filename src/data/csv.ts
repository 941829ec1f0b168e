import { AnnotationError } from './annotation-error.ts';

/** One CSV record with the 1-based line on which it starts. */
export interface CsvRow {
  line: number;
  fields: string[];
}

/**
 * Parses CSV text as Python's csv.reader does with its default dialect: comma separated,
 * double-quoted fields may hold commas, newlines and doubled quotes (""), CRLF or LF line ends.
 * Blank lines are skipped. `file` names the source in errors.
 */
export function parseCsv(text: string, file: string): CsvRow[] {
  const rows: CsvRow[] = [];
  let fields: string[] = [];
  let field = '';
  let inQuotes = false;
  let fieldWasQuoted = false;
  let line = 1;
  let rowStartLine = 1;
  let quoteOpenedLine = 1;
  let rowHasContent = false;

  const endField = () => {
    fields.push(field);
    field = '';
    fieldWasQuoted = false;
  };
  const endRow = () => {
    endField();
    if (rowHasContent) rows.push({ line: rowStartLine, fields });
    fields = [];
    rowHasContent = false;
  };

  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (inQuotes) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else {
          inQuotes = false;
        }
      } else {
        if (ch === '\n') line++;
        field += ch;
      }
      continue;
    }
    if (ch === '"' && field.length === 0 && !fieldWasQuoted) {
      inQuotes = true;
      fieldWasQuoted = true;
      quoteOpenedLine = line;
      rowHasContent = true;
    } else if (ch === ',') {
      rowHasContent = true;
      endField();
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      endRow();
      line++;
      rowStartLine = line;
    } else {
      if (!rowHasContent) rowStartLine = line;
      // Python's csv keeps text after a closing quote as part of the field; so do we.
      field += ch;
      rowHasContent = true;
    }
  }
  if (inQuotes) {
    throw new AnnotationError(file, quoteOpenedLine, 'a quoted CSV field is never closed (expected a closing ")');
  }
  endRow();
  return rows;
}
