/**
 * A small CLIP BPE vocabulary for the demo, written as Hugging Face tokenizer files (`vocab.json` +
 * `merges.txt`). OpenAI's 49k-token vocabulary ships with real CLIP weights and cannot be fetched
 * here; a model trained from scratch only needs the words it will ever read. The vocabulary has CLIP's
 * layout: the 256 byte tokens, the 256 end-of-word byte tokens, one token per merge, then the start and
 * end tokens (the end token last, so CLIP's argmax finds it). Merges are added until every given word
 * is one token under CLIP's own BPE, so prompts are short and each word has its own embedding; any
 * other text still tokenises (into bytes).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  BYTE_TO_UNICODE,
  END_OF_TEXT,
  END_OF_WORD,
  START_OF_TEXT,
  byteCharactersInVocabularyOrder,
  vocabularyFromHuggingFace,
} from '../clip/bpe-vocabulary.ts';
import { ClipTokenizer, bytePairEncode } from '../clip/tokenizer.ts';

export interface DemoVocabulary {
  /** Token strings; id = index. */
  tokens: string[];
  merges: [string, string][];
}

/** A word's UTF-8 bytes as CLIP's byte characters. */
function byteEncoded(word: string): string {
  let encoded = '';
  for (const byte of new TextEncoder().encode(word)) encoded += BYTE_TO_UNICODE[byte]!;
  return encoded;
}

/**
 * The words of `texts` as CLIP's tokenizer splits them (lower case; letters runs, digits and
 * punctuation runs are separate pieces).
 */
export function wordsOf(texts: readonly string[]): string[] {
  const words = new Set<string>();
  for (const text of texts)
    for (const match of text.toLowerCase().matchAll(/[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/gu)) words.add(match[0]);
  return [...words].sort();
}

/**
 * A vocabulary in which each of `words` is a single token. A new merge is always ranked after every
 * earlier one, so it can never change how an already finished word splits (BPE prefers lower ranks).
 */
export function buildVocabulary(words: readonly string[]): DemoVocabulary {
  const merges: [string, string][] = [];
  const ranks = new Map<string, number>();
  for (const word of words) {
    if (word.length === 0) throw new Error('buildVocabulary: empty word');
    for (;;) {
      const pieces = bytePairEncode(byteEncoded(word), ranks);
      if (pieces.length === 1) break;
      const pair: [string, string] = [pieces[0]!, pieces[1]!];
      ranks.set(pair.join(' '), merges.length);
      merges.push(pair);
    }
  }
  const bytes = byteCharactersInVocabularyOrder();
  const tokens = [...bytes, ...bytes.map((b) => b + END_OF_WORD)];
  const known = new Set(tokens);
  for (const [a, b] of merges) {
    // Two merges may spell the same token (different splits of one prefix): it gets one id.
    if (known.has(a + b)) continue;
    known.add(a + b);
    tokens.push(a + b);
  }
  tokens.push(START_OF_TEXT, END_OF_TEXT);
  return { tokens, merges };
}

export interface VocabularyFiles {
  dir: string;
  vocabJson: string;
  mergesTxt: string;
  /** Tokens in the vocabulary (CLIP's `vocab_size` must be at least this). */
  size: number;
}

/** Writes `vocab.json` and `merges.txt` into `dir` and checks that the tokenizer reads them back. */
export function writeVocabulary(dir: string, vocabulary: DemoVocabulary): VocabularyFiles {
  mkdirSync(dir, { recursive: true });
  const vocabJson = path.join(dir, 'vocab.json');
  const mergesTxt = path.join(dir, 'merges.txt');
  const json = JSON.stringify(Object.fromEntries(vocabulary.tokens.map((t, id) => [t, id])));
  const merges = `#version: 0.2 (bike demo)\n${vocabulary.merges.map(([a, b]) => `${a} ${b}`).join('\n')}\n`;
  vocabularyFromHuggingFace(json, merges, vocabJson, mergesTxt);
  writeFileSync(vocabJson, json);
  writeFileSync(mergesTxt, merges);
  return { dir, vocabJson, mergesTxt, size: vocabulary.tokens.length };
}

/** Ids of `word` under `tokenizer` (for checks: a demo word must be exactly one id). */
export function tokenIdsOf(tokenizer: ClipTokenizer, word: string): number[] {
  return tokenizer.encode(word);
}
