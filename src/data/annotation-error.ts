/**
 * An error in an annotation file, naming the file, the 1-based line and what was expected there,
 * so a user can open the file at the right place.
 */
export class AnnotationError extends Error {
  readonly file: string;
  /** 1-based line number, or undefined when the error concerns the file as a whole. */
  readonly line: number | undefined;

  constructor(file: string, line: number | undefined, message: string) {
    super(line === undefined ? `${file}: ${message}` : `${file}:${line}: ${message}`);
    this.name = 'AnnotationError';
    this.file = file;
    this.line = line;
  }
}

/** One non-blank line of a text file with its 1-based line number. */
export interface NumberedLine {
  line: number;
  text: string;
}

/**
 * Splits text into trimmed, non-blank lines with their line numbers. Accepts LF and CRLF
 * (Python's universal newlines, which the original relies on, accept both too).
 */
export function numberedLines(text: string): NumberedLine[] {
  const out: NumberedLine[] = [];
  const raw = text.split('\n');
  for (let i = 0; i < raw.length; i++) {
    const trimmed = raw[i]!.trim();
    if (trimmed.length > 0) out.push({ line: i + 1, text: trimmed });
  }
  return out;
}

/**
 * Parses a decimal integer the way Python's int() accepts it from a list file (optional sign,
 * digits); anything else, including fractions, is rejected with undefined.
 */
export function parseIntStrict(token: string): number | undefined {
  if (!/^[+-]?\d+$/.test(token)) return undefined;
  const value = Number(token);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** Parses a finite decimal number (Python float() of a CSV field); undefined when it is not one. */
export function parseFloatStrict(token: string): number | undefined {
  const t = token.trim();
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return undefined;
  return Number(t);
}

/** Quotes a line for an error message, shortened so huge lines do not flood the terminal. */
export function quoteLine(text: string, max = 120): string {
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}...` : text);
}
