/**
 * CLIP's byte-level BPE vocabulary: the token list (index = id) and the ranked merges, loaded either
 * from OpenAI's `bpe_simple_vocab_16e6.txt.gz` or from a Hugging Face `vocab.json` + `merges.txt`.
 */
// Node-free (the browser page of an ONNX export tokenizes with it); files: bpe-vocabulary-files.ts.

export const START_OF_TEXT = '<|startoftext|>';
export const END_OF_TEXT = '<|endoftext|>';
export const END_OF_WORD = '</w>';

/** OpenAI keeps merge lines 1 .. 49152-256-2 of the file (line 0 is a version header). */
export const OPENAI_MERGE_COUNT = 49152 - 256 - 2;

/**
 * GPT-2/CLIP `bytes_to_unicode`: each byte maps to a printable character; printable Latin-1 bytes
 * map to themselves, the rest to U+0100 upwards in byte order. Index = byte value.
 */
export const BYTE_TO_UNICODE: readonly string[] = (() => {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const table = new Array<string>(256);
  for (const b of printable) table[b] = String.fromCharCode(b);
  let next = 0;
  for (let b = 0; b < 256; b++) {
    if (table[b] === undefined) table[b] = String.fromCharCode(256 + next++);
  }
  return table;
})();

/** The characters of BYTE_TO_UNICODE in OpenAI's vocabulary order (printable bytes first). */
export function byteCharactersInVocabularyOrder(): string[] {
  const order: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) order.push(b);
  for (let b = 0xa1; b <= 0xac; b++) order.push(b);
  for (let b = 0xae; b <= 0xff; b++) order.push(b);
  const seen = new Set(order);
  for (let b = 0; b < 256; b++) if (!seen.has(b)) order.push(b);
  return order.map((b) => BYTE_TO_UNICODE[b]!);
}

export interface BpeVocabulary {
  /** Token strings; a token's id is its index. */
  tokens: string[];
  /** Merges in rank order (rank = index), each a pair of token strings. */
  merges: [string, string][];
  /** Where it was loaded from, for error messages. */
  source: string;
}

function parseMergeLine(line: string, lineNumber: number, source: string): [string, string] {
  // Python's str.split(): runs of whitespace, ends trimmed.
  const parts = line.trim().split(/\s+/);
  if (parts.length !== 2 || parts[0] === '') {
    throw new Error(`${source} line ${lineNumber}: expected a merge "A B", got ${JSON.stringify(line)}`);
  }
  return [parts[0]!, parts[1]!];
}

/** Builds the vocabulary exactly as OpenAI's SimpleTokenizer does from the (decompressed) merges file's text. */
export function vocabularyFromOpenAiMergesText(text: string, source = '<bpe vocab>'): BpeVocabulary {
  const lines = text.split('\n');
  if (lines.length < OPENAI_MERGE_COUNT + 1) {
    throw new Error(
      `${source}: has ${lines.length} lines, expected at least ${OPENAI_MERGE_COUNT + 1} (a header and ${OPENAI_MERGE_COUNT} merges)`,
    );
  }
  const merges: [string, string][] = [];
  for (let i = 1; i <= OPENAI_MERGE_COUNT; i++) merges.push(parseMergeLine(lines[i]!, i + 1, source));

  const byteCharacters = byteCharactersInVocabularyOrder();
  const tokens = [...byteCharacters, ...byteCharacters.map((c) => c + END_OF_WORD)];
  for (const [a, b] of merges) tokens.push(a + b);
  tokens.push(START_OF_TEXT, END_OF_TEXT);
  return { tokens, merges, source };
}

/**
 * Builds the vocabulary from Hugging Face's CLIPTokenizer files: `vocab.json` ({token: id}) and
 * `merges.txt` (optional `#version` header line, then one "A B" merge per line in rank order).
 */
export function vocabularyFromHuggingFace(
  vocabJson: string,
  mergesText: string,
  vocabSource = 'vocab.json',
  mergesSource = 'merges.txt',
): BpeVocabulary {
  let parsed: unknown;
  try {
    parsed = JSON.parse(vocabJson);
  } catch (error) {
    throw new Error(`${vocabSource}: not valid JSON (${(error as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error(`${vocabSource}: expected a JSON object mapping token to id`);
  }
  const entries = Object.entries(parsed as Record<string, unknown>);
  const tokens = new Array<string>(entries.length);
  for (const [token, id] of entries) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= entries.length) {
      throw new Error(
        `${vocabSource}: token ${JSON.stringify(token)} has id ${JSON.stringify(id)}, expected an integer in [0, ${entries.length})`,
      );
    }
    if (tokens[id] !== undefined) {
      throw new Error(
        `${vocabSource}: id ${id} is used by both ${JSON.stringify(tokens[id])} and ${JSON.stringify(token)}`,
      );
    }
    tokens[id] = token;
  }

  const lines = mergesText.split('\n');
  const merges: [string, string][] = [];
  lines.forEach((line, index) => {
    if (index === 0 && line.startsWith('#version')) return;
    if (line.trim() === '') {
      if (lines.slice(index).every((rest) => rest.trim() === '')) return;
      throw new Error(`${mergesSource} line ${index + 1}: empty line among the merges`);
    }
    merges.push(parseMergeLine(line, index + 1, mergesSource));
  });

  const known = new Set(tokens);
  for (const required of [
    START_OF_TEXT,
    END_OF_TEXT,
    ...BYTE_TO_UNICODE,
    ...BYTE_TO_UNICODE.map((c) => c + END_OF_WORD),
  ]) {
    if (!known.has(required)) throw new Error(`${vocabSource}: missing the required token ${JSON.stringify(required)}`);
  }
  merges.forEach(([a, b], rank) => {
    if (!known.has(a + b)) {
      throw new Error(
        `${mergesSource}: merge ${rank + 1} "${a} ${b}" produces ${JSON.stringify(a + b)}, which vocab.json lacks`,
      );
    }
  });
  return { tokens, merges, source: `${vocabSource} + ${mergesSource}` };
}
