/**
 * CLIP's BPE tokenizer (bpe-tokenizer.ts, Node-free) with its vocabulary read from files: OpenAI's
 * `bpe_simple_vocab_16e6.txt.gz` or a Hugging Face `vocab.json` + `merges.txt`.
 */
import { BpeTokenizer } from './bpe-tokenizer.ts';
import { loadHuggingFaceVocabulary, loadOpenAiVocabulary } from './bpe-vocabulary-files.ts';

export {
  BpeTokenizer,
  bytePairEncode,
  endOfTextPositions,
  tokenRowsToRawTensor,
  type TokenizeOptions,
} from './bpe-tokenizer.ts';

export class ClipTokenizer extends BpeTokenizer {
  /** From OpenAI's `bpe_simple_vocab_16e6.txt.gz`. */
  static fromOpenAiVocabulary(path: string): ClipTokenizer {
    return new ClipTokenizer(loadOpenAiVocabulary(path));
  }

  /** From a Hugging Face CLIPTokenizer's `vocab.json` and `merges.txt`. */
  static fromHuggingFace(vocabJsonPath: string, mergesPath: string): ClipTokenizer {
    return new ClipTokenizer(loadHuggingFaceVocabulary(vocabJsonPath, mergesPath));
  }
}
