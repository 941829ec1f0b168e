/**
 * CLIP's BPE tokenizer, matching OpenAI's `clip/simple_tokenizer.py` and `clip.tokenize` id for id:
 * clean the text (see text-cleaning.ts), split it with CLIP's regex, map each piece's UTF-8 bytes to
 * printable characters, apply the ranked BPE merges, look the pieces up in the vocabulary.
 */
import type { RawTensor } from '../torch/serialization/raw-tensor.ts';
import { BYTE_TO_UNICODE, END_OF_TEXT, END_OF_WORD, START_OF_TEXT, type BpeVocabulary } from './bpe-vocabulary.ts';
import { cleanText } from './text-cleaning.ts';

/**
 * simple_tokenizer's `pat` (compiled with re.IGNORECASE). `\s` is spelled \p{White_Space} because
 * that is what the Python `regex` module's `\s` matches; JS's `\s` would also match U+FEFF.
 */
const PIECE =
  /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\p{White_Space}\p{L}\p{N}]+/giu;

/**
 * Under re.IGNORECASE the Python `regex` module matches U+0345 (which case-folds to the letter iota)
 * with no alternative, so it separates pieces and is dropped; JS's /iu treats it as a letter. A
 * space has exactly the Python behaviour. (Checked over every code point; it is the only one.)
 */
const UNMATCHED_IN_PYTHON = /\u0345/g;

/** Bounds the memo of encoded pieces so a long-running process cannot grow it without limit. */
const MAX_CACHED_PIECES = 200_000;

/**
 * SimpleTokenizer.bpe of one byte-encoded word (its last symbol marked as the end of the word):
 * repeatedly merge the lowest-ranked adjacent pair under `ranks` ("a b" -> rank), all occurrences at once.
 */
export function bytePairEncode(byteEncoded: string, ranks: ReadonlyMap<string, number>): string[] {
  let word = [...byteEncoded.slice(0, -1), byteEncoded.slice(-1) + END_OF_WORD];
  while (word.length > 1) {
    let bestRank = Infinity;
    let bestIndex = -1;
    for (let i = 0; i < word.length - 1; i++) {
      const rank = ranks.get(`${word[i]} ${word[i + 1]}`);
      if (rank !== undefined && rank < bestRank) {
        bestRank = rank;
        bestIndex = i;
      }
    }
    if (bestIndex < 0) break;
    const first = word[bestIndex]!;
    const second = word[bestIndex + 1]!;
    const merged: string[] = [];
    for (let i = 0; i < word.length;) {
      if (word[i] === first && i < word.length - 1 && word[i + 1] === second) {
        merged.push(first + second);
        i += 2;
      } else {
        merged.push(word[i]!);
        i += 1;
      }
    }
    word = merged;
  }
  return word;
}

export interface TokenizeOptions {
  /** Row length, start and end tokens included; CLIP uses 77. */
  contextLength?: number;
  /** Cut rows that are too long and end them with the end-of-text token instead of throwing. */
  truncate?: boolean;
}

/** The tokenizer over a vocabulary already in memory (Node-free; tokenizer.ts adds the file loaders). */
export class BpeTokenizer {
  readonly startOfTextId: number;
  readonly endOfTextId: number;
  readonly vocabularySize: number;
  private readonly encoder: Map<string, number>;
  private readonly decoder: readonly string[];
  private readonly byteDecoder: Map<string, number>;
  /** "A B" -> merge rank. */
  private readonly mergeRanks: Map<string, number>;
  /** Byte-encoded piece -> its token ids. */
  private readonly cache = new Map<string, number[]>();
  private readonly utf8 = new TextEncoder();

  constructor(readonly vocabulary: BpeVocabulary) {
    this.decoder = vocabulary.tokens;
    this.vocabularySize = vocabulary.tokens.length;
    this.encoder = new Map(vocabulary.tokens.map((token, id) => [token, id]));
    this.mergeRanks = new Map(vocabulary.merges.map(([a, b], rank) => [`${a} ${b}`, rank]));
    this.byteDecoder = new Map(BYTE_TO_UNICODE.map((char, byte) => [char, byte]));
    this.startOfTextId = this.idOf(START_OF_TEXT);
    this.endOfTextId = this.idOf(END_OF_TEXT);
  }

  private idOf(token: string): number {
    const id = this.encoder.get(token);
    if (id === undefined)
      throw new Error(`${this.vocabulary.source}: the vocabulary has no token ${JSON.stringify(token)}`);
    return id;
  }

  /** Token ids of `text`, without start/end tokens (SimpleTokenizer.encode). */
  encode(text: string): number[] {
    const ids: number[] = [];
    for (const match of cleanText(text).replace(UNMATCHED_IN_PYTHON, ' ').matchAll(PIECE)) {
      for (const id of this.encodePiece(match[0])) ids.push(id);
    }
    return ids;
  }

  private encodePiece(piece: string): number[] {
    let byteEncoded = '';
    for (const byte of this.utf8.encode(piece)) byteEncoded += BYTE_TO_UNICODE[byte]!;
    const cached = this.cache.get(byteEncoded);
    if (cached) return cached;
    // The special tokens are in the original's BPE cache from the start: they are never split.
    const pieces =
      byteEncoded === START_OF_TEXT || byteEncoded === END_OF_TEXT
        ? [byteEncoded]
        : bytePairEncode(byteEncoded, this.mergeRanks);
    const ids = pieces.map((token) => this.idOf(token));
    if (this.cache.size >= MAX_CACHED_PIECES) this.cache.clear();
    this.cache.set(byteEncoded, ids);
    return ids;
  }

  /** Text of token ids (SimpleTokenizer.decode): end-of-word markers become spaces. */
  decode(ids: readonly number[]): string {
    const bytes: number[] = [];
    for (const id of ids) {
      const token = this.decoder[id];
      if (token === undefined || !Number.isInteger(id)) {
        throw new Error(`decode: token id ${id} is outside the vocabulary [0, ${this.vocabularySize})`);
      }
      for (const char of token) {
        const byte = this.byteDecoder.get(char);
        if (byte === undefined)
          throw new Error(`decode: token ${id} ${JSON.stringify(token)} has a character outside the byte alphabet`);
        bytes.push(byte);
      }
    }
    return new TextDecoder('utf-8').decode(Uint8Array.from(bytes)).replaceAll(END_OF_WORD, ' ');
  }

  /**
   * clip.tokenize: one row of `contextLength` ids per text, start token, ids, end token, zero padding.
   * A text whose row would be longer throws unless `truncate`, which cuts it and makes its last id
   * the end token.
   */
  tokenize(texts: readonly string[], options: TokenizeOptions = {}): number[][] {
    const contextLength = options.contextLength ?? 77;
    if (!Number.isInteger(contextLength) || contextLength < 1) {
      throw new Error(`tokenize: contextLength must be a positive integer, got ${contextLength}`);
    }
    return texts.map((text) => {
      let ids = [this.startOfTextId, ...this.encode(text), this.endOfTextId];
      if (ids.length > contextLength) {
        if (!options.truncate) {
          throw new Error(
            `tokenize: input ${JSON.stringify(text)} is too long for context length ${contextLength}: it has ${ids.length} tokens including the start and end tokens`,
          );
        }
        ids = ids.slice(0, contextLength);
        ids[contextLength - 1] = this.endOfTextId;
      }
      const row = new Array<number>(contextLength).fill(0);
      for (let i = 0; i < ids.length; i++) row[i] = ids[i]!;
      return row;
    });
  }
}

/**
 * Index of the end-of-text token in each row, found as CLIP's text encoder does: `argmax` over the
 * ids (the end token has the largest id in CLIP's vocabulary); the first maximum on ties.
 */
export function endOfTextPositions(rows: readonly (readonly number[])[]): number[] {
  return rows.map((row) => {
    let best = 0;
    for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
    return best;
  });
}

/** Token rows as the int64 `[rows, contextLength]` tensor that CLIP's text encoder takes. */
export function tokenRowsToRawTensor(rows: readonly (readonly number[])[]): RawTensor {
  const contextLength = rows[0]?.length ?? 0;
  const values = new BigInt64Array(rows.length * contextLength);
  rows.forEach((row, r) => {
    if (row.length !== contextLength) {
      throw new Error(`tokenRowsToRawTensor: row ${r} has ${row.length} ids, row 0 has ${contextLength}`);
    }
    row.forEach((id, c) => {
      values[r * contextLength + c] = BigInt(id);
    });
  });
  return { dtype: 'int64', shape: [rows.length, contextLength], data: new Uint8Array(values.buffer) };
}
