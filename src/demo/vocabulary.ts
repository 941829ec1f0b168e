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
import { BYTE_TO_UNICODE, END_OF_TEXT, END_OF_WORD, START_OF_TEXT, vocabularyFromHuggingFace } from '../clip/bpe-vocabulary.ts';
import { ClipTokenizer } from '../clip/tokenizer.ts';

export interface DemoVocabulary {
  /** Token strings; id = index. */
  tokens: string[];
  merges: [string, string][];
}

/** Printable bytes first, then the rest, as OpenAI orders its byte tokens. */
function byteTokensInVocabularyOrder(): string[] {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const seen = new Set(printable);
  const rest = [...Array(256).keys()].filter((b) => !seen.has(b));
  return [...printable, ...rest].map((b) => BYTE_TO_UNICODE[b]!);
}

/** The byte-encoded symbols of one word, the last marked as the end of the word (CLIP's `bpe` start). */
function symbolsOf(word: string): string[] {
  let encoded = '';
  for (const byte of new TextEncoder().encode(word)) encoded += BYTE_TO_UNICODE[byte]!;
  const chars = [...encoded];
  return [...chars.slice(0, -1), chars[chars.length - 1]! + END_OF_WORD];
}

/** CLIP's BPE of one word under `ranks` (lowest-ranked adjacent pair first, every occurrence at once). */
function applyMerges(symbols: string[], ranks: Map<string, number>): string[] {
  let word = symbols;
  while (word.length > 1) {
    let best = -1;
    let bestRank = Infinity;
    for (let i = 0; i < word.length - 1; i++) {
      const rank = ranks.get(`${word[i]} ${word[i + 1]}`);
      if (rank !== undefined && rank < bestRank) {
        bestRank = rank;
        best = i;
      }
    }
    if (best < 0) break;
    const [a, b] = [word[best]!, word[best + 1]!];
    const merged: string[] = [];
    for (let i = 0; i < word.length;) {
      if (i < word.length - 1 && word[i] === a && word[i + 1] === b) {
        merged.push(a + b);
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

/**
 * The words of `texts` as CLIP's tokenizer splits them (lower case; letters runs, digits and
 * punctuation runs are separate pieces).
 */
export function wordsOf(texts: readonly string[]): string[] {
  const words = new Set<string>();
  for (const text of texts) for (const match of text.toLowerCase().matchAll(/[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/gu)) words.add(match[0]);
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
      const pieces = applyMerges(symbolsOf(word), ranks);
      if (pieces.length === 1) break;
      const pair: [string, string] = [pieces[0]!, pieces[1]!];
      ranks.set(pair.join(' '), merges.length);
      merges.push(pair);
    }
  }
  const bytes = byteTokensInVocabularyOrder();
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
