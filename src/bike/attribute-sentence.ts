/**
 * The attribute branch's input text (datasets/video_attr.py `get_attributes`): a video's top-k
 * attributes joined by commas after "This is a video about ", tokenised to a 77-id row.
 */
import type { ClipTokenizer } from '../clip/tokenizer.ts';

export const ATTRIBUTE_SENTENCE_PREFIX = 'This is a video about ';
/** The original's `select_topk_attributes` default. */
export const DEFAULT_TOPK_ATTRIBUTES = 5;

/** "This is a video about a,b,c" from the first `topk` attributes (commas, no spaces, as the original). */
export function attributeSentence(attributes: readonly string[], topk = DEFAULT_TOPK_ATTRIBUTES): string {
  if (!Number.isInteger(topk) || topk < 0)
    throw new Error(`attributeSentence: topk must be a non-negative integer, got ${topk}`);
  return ATTRIBUTE_SENTENCE_PREFIX + attributes.slice(0, topk).join(',');
}

/**
 * Token rows of attribute sentences: start token, at most `contextLength - 2` ids, end token, zero
 * padding. A longer sentence is cut, never refused (the original truncates these).
 */
export function attributeSentenceTokens(
  tokenizer: ClipTokenizer,
  sentences: readonly string[],
  contextLength = 77,
): number[][] {
  return tokenizer.tokenize(sentences, { contextLength, truncate: true });
}
