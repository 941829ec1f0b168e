/**
 * Class prompts (the original's `text_prompt`: "This is a video about {}" for every class name, one
 * 77-id row each) and where the CLIP BPE vocabulary comes from. Users supply the vocabulary with
 * their weights: `--vocab <file>` (OpenAI's `bpe_simple_vocab_16e6.txt.gz`, or a Hugging Face
 * folder / `vocab.json` with `merges.txt` beside it), the BIKE_CLIP_VOCAB environment variable, or
 * the vocabulary files next to the CLIP weights.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { ClipTokenizer, tokenRowsToRawTensor } from '../../clip/tokenizer.ts';
import { fromRaw, type Tensor } from '../../torch/index.ts';

export const PROMPT_TEMPLATE = 'This is a video about {}';
export const OPENAI_VOCAB_FILE = 'bpe_simple_vocab_16e6.txt.gz';

/** The prompt of one class, as Python's `'This is a video about {}'.format(name)`. */
export function classPrompt(name: string): string {
  return PROMPT_TEMPLATE.replace('{}', name);
}

function tokenizerAt(location: string, source: string): ClipTokenizer | null {
  if (!existsSync(location)) return null;
  const dir = statSync(location).isDirectory() ? location : null;
  if (dir) {
    if (existsSync(path.join(dir, OPENAI_VOCAB_FILE)))
      return ClipTokenizer.fromOpenAiVocabulary(path.join(dir, OPENAI_VOCAB_FILE));
    if (existsSync(path.join(dir, 'vocab.json')) && existsSync(path.join(dir, 'merges.txt'))) {
      return ClipTokenizer.fromHuggingFace(path.join(dir, 'vocab.json'), path.join(dir, 'merges.txt'));
    }
    throw new Error(`${source} ${location}: the folder has neither ${OPENAI_VOCAB_FILE} nor vocab.json + merges.txt`);
  }
  if (location.endsWith('.json')) {
    const merges = path.join(path.dirname(location), 'merges.txt');
    if (!existsSync(merges))
      throw new Error(
        `${source} ${location}: a Hugging Face vocab.json needs merges.txt beside it (${merges} is missing)`,
      );
    return ClipTokenizer.fromHuggingFace(location, merges);
  }
  return ClipTokenizer.fromOpenAiVocabulary(location);
}

export interface VocabularyOptions {
  /** `--vocab`. */
  vocab?: string | null;
  /** CLIP weights file or folder; its folder is searched for the vocabulary. */
  weightsPath?: string | null;
  env?: NodeJS.ProcessEnv;
}

/** The tokenizer from the first place that has a vocabulary (see the file comment). */
export function resolveTokenizer(options: VocabularyOptions = {}): ClipTokenizer {
  const env = options.env ?? process.env;
  if (options.vocab) {
    const t = tokenizerAt(options.vocab, '--vocab');
    if (!t) throw new Error(`--vocab ${options.vocab}: no such file or folder`);
    return t;
  }
  if (env.BIKE_CLIP_VOCAB) {
    const t = tokenizerAt(env.BIKE_CLIP_VOCAB, 'BIKE_CLIP_VOCAB');
    if (!t) throw new Error(`environment variable BIKE_CLIP_VOCAB=${env.BIKE_CLIP_VOCAB}: no such file or folder`);
    return t;
  }
  if (options.weightsPath && existsSync(options.weightsPath)) {
    const dir = statSync(options.weightsPath).isDirectory() ? options.weightsPath : path.dirname(options.weightsPath);
    const candidates = [path.join(dir, OPENAI_VOCAB_FILE), path.join(dir, 'vocab.json')];
    for (const c of candidates) if (existsSync(c)) return tokenizerAt(c, 'vocabulary')!;
  }
  throw new Error(
    `no CLIP BPE vocabulary: pass --vocab <${OPENAI_VOCAB_FILE} or a Hugging Face tokenizer folder>, ` +
      'or set BIKE_CLIP_VOCAB (it is distributed with the CLIP weights)',
  );
}

/** Token ids `[classes, contextLength]` (int64) of the class prompts; ids must fit `vocabSize`. */
export function classPromptTokens(
  tokenizer: ClipTokenizer,
  classNames: readonly string[],
  contextLength: number,
  vocabSize: number,
): Tensor {
  if (tokenizer.vocabularySize > vocabSize) {
    throw new Error(
      `the tokenizer's vocabulary has ${tokenizer.vocabularySize} tokens but the CLIP model's vocab_size is ${vocabSize}; network.arch vocab_size must be at least ${tokenizer.vocabularySize}`,
    );
  }
  const rows = classNames.map((name, i) => {
    try {
      return tokenizer.tokenize([classPrompt(name)], { contextLength })[0]!;
    } catch (error) {
      throw new Error(`class ${i} "${name}": ${(error as Error).message}`);
    }
  });
  return fromRaw(tokenRowsToRawTensor(rows));
}

/** Token ids `[n, contextLength]` of free sentences, truncated when too long (attribute sentences). */
export function sentenceTokens(tokenizer: ClipTokenizer, sentences: readonly string[], contextLength: number): Tensor {
  return fromRaw(tokenRowsToRawTensor(tokenizer.tokenize(sentences, { contextLength, truncate: true })));
}
