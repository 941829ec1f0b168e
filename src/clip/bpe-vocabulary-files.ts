/** Reading CLIP's BPE vocabulary files (Node): OpenAI's gzipped merges, Hugging Face's vocab.json + merges.txt. */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { vocabularyFromHuggingFace, vocabularyFromOpenAiMergesText, type BpeVocabulary } from './bpe-vocabulary.ts';

/** Builds the vocabulary exactly as OpenAI's SimpleTokenizer does from the gzipped merges file. */
export function vocabularyFromOpenAiMerges(gzipped: Uint8Array, source = '<bpe vocab>'): BpeVocabulary {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(gunzipSync(gzipped));
  } catch (error) {
    throw new Error(`${source}: not a gzip-compressed UTF-8 BPE merges file (${(error as Error).message})`);
  }
  return vocabularyFromOpenAiMergesText(text, source);
}

export function loadOpenAiVocabulary(path: string): BpeVocabulary {
  return vocabularyFromOpenAiMerges(readFileSync(path), path);
}

export function loadHuggingFaceVocabulary(vocabJsonPath: string, mergesPath: string): BpeVocabulary {
  return vocabularyFromHuggingFace(
    readFileSync(vocabJsonPath, 'utf8'),
    readFileSync(mergesPath, 'utf8'),
    vocabJsonPath,
    mergesPath,
  );
}
