import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClipTokenizer } from '../clip/tokenizer.ts';
import { attributeSentence, attributeSentenceTokens } from './attribute-sentence.ts';

const VOCAB = path.resolve(
  fileURLToPath(new URL('../../', import.meta.url)),
  '..',
  'shared',
  'clip',
  'bpe_simple_vocab_16e6.txt.gz',
);

test('the sentence joins the top-k attributes with bare commas', () => {
  const attributes = [
    'folding napkins',
    'skiing crosscountry',
    'swimming butterfly stroke',
    'busking',
    'kissing',
    'singing',
  ];
  assert.equal(
    attributeSentence(attributes),
    'This is a video about folding napkins,skiing crosscountry,swimming butterfly stroke,busking,kissing',
  );
  assert.equal(attributeSentence(attributes, 2), 'This is a video about folding napkins,skiing crosscountry');
  assert.throws(() => attributeSentence(attributes, -1), /topk must be a non-negative integer, got -1/);
});

test('sentence tokens: start, ids, end, zero padding; a long sentence is cut and still ends with the end token', () => {
  const tokenizer = ClipTokenizer.fromOpenAiVocabulary(VOCAB);
  const [short] = attributeSentenceTokens(tokenizer, [attributeSentence(['kissing'])]);
  const ids = [tokenizer.startOfTextId, ...tokenizer.encode('This is a video about kissing'), tokenizer.endOfTextId];
  assert.deepEqual(short!.slice(0, ids.length), ids);
  assert.ok(short!.slice(ids.length).every((id) => id === 0));
  const [long] = attributeSentenceTokens(tokenizer, [attributeSentence(new Array(40).fill('playing tennis'), 40)]);
  assert.equal(long!.length, 77);
  assert.equal(long![76], tokenizer.endOfTextId);
  assert.deepEqual(
    long!.slice(1, 76),
    tokenizer.encode(attributeSentence(new Array(40).fill('playing tennis'), 40)).slice(0, 75),
  );
});
