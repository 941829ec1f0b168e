import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOpenAiVocabulary } from './bpe-vocabulary-files.ts';
import { SHARED_VOCAB } from '../testing/run-bike.ts';
import { ClipTokenizer, endOfTextPositions } from './tokenizer.ts';

const vocabularyPath = SHARED_VOCAB;
const haveVocabulary = existsSync(vocabularyPath);
const skipWithoutVocabulary = { skip: haveVocabulary ? false : `${vocabularyPath} is absent` };

const tokenizer = haveVocabulary ? ClipTokenizer.fromOpenAiVocabulary(vocabularyPath) : undefined;

/** Texts that exercise the BPE: contractions, numbers, punctuation runs, long words, HTML entities, whitespace. */
const SAMPLE_TEXTS = [
  'This is a video about playing guitar',
  "don't stop, we're 100% sure it's 3.14!",
  'A  lot\tof   white\nspace',
  'supercalifragilisticexpialidocious antidisestablishmentarianism',
  'Tom &amp; Jerry &lt;3',
  '¡¿ünïcödé?! 日本語 😀',
];

test('the Hugging Face vocab.json + merges.txt route gives identical ids', skipWithoutVocabulary, () => {
  const vocabulary = loadOpenAiVocabulary(vocabularyPath);
  const dir = mkdtempSync(join(tmpdir(), 'clip-hf-vocab-'));
  try {
    const vocab = Object.fromEntries(vocabulary.tokens.map((token, id) => [token, id]));
    writeFileSync(join(dir, 'vocab.json'), JSON.stringify(vocab));
    const mergeLines = vocabulary.merges.map(([a, b]) => `${a} ${b}`);
    writeFileSync(join(dir, 'merges.txt'), `#version: 0.2\n${mergeLines.join('\n')}\n`);
    writeFileSync(join(dir, 'merges-no-header.txt'), mergeLines.join('\n'));
    const texts = [...SAMPLE_TEXTS, 'Ünïcödé ｆｕｌｌｗｉｄｔｈ and “quotes”', '<|startoftext|> x <|endoftext|>'];
    const expected = tokenizer!.tokenize(texts, { truncate: true });
    for (const merges of ['merges.txt', 'merges-no-header.txt']) {
      const hf = ClipTokenizer.fromHuggingFace(join(dir, 'vocab.json'), join(dir, merges));
      assert.equal(hf.vocabularySize, tokenizer!.vocabularySize);
      assert.deepEqual(hf.tokenize(texts, { truncate: true }), expected, merges);
    }

    writeFileSync(join(dir, 'bad-merges.txt'), `#version: 0.2\ni n\nthree parts here\n`);
    assert.throws(
      () => ClipTokenizer.fromHuggingFace(join(dir, 'vocab.json'), join(dir, 'bad-merges.txt')),
      /bad-merges\.txt line 3: expected a merge "A B", got "three parts here"/,
    );
    writeFileSync(join(dir, 'small-vocab.json'), JSON.stringify({ a: 0, b: 1 }));
    assert.throws(
      () => ClipTokenizer.fromHuggingFace(join(dir, 'small-vocab.json'), join(dir, 'merges.txt')),
      /small-vocab\.json: missing the required token "<\|startoftext\|>"/,
    );
    writeFileSync(join(dir, 'dup-vocab.json'), JSON.stringify({ a: 0, b: 0 }));
    assert.throws(
      () => ClipTokenizer.fromHuggingFace(join(dir, 'dup-vocab.json'), join(dir, 'merges.txt')),
      /id 0 is used by both "a" and "b"/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('too-long texts throw unless truncating, which ends the row with end-of-text', skipWithoutVocabulary, () => {
  const tok = tokenizer!;
  const long = Array.from({ length: 100 }, (_, i) => `word${i}`).join(' ');
  const tokenCount = tok.encode(long).length + 2;
  assert.ok(tokenCount > 77);
  assert.throws(
    () => tok.tokenize([long]),
    (error: Error) => {
      assert.match(error.message, /too long for context length 77/);
      assert.ok(error.message.includes(`it has ${tokenCount} tokens`), error.message);
      assert.ok(error.message.includes('word0 word1'), 'names the text');
      return true;
    },
  );
  const [row] = tok.tokenize([long], { truncate: true });
  assert.equal(row!.length, 77);
  assert.equal(row![0], tok.startOfTextId);
  assert.equal(row![76], tok.endOfTextId);
  assert.deepEqual(row!.slice(1, 76), tok.encode(long).slice(0, 75));
  assert.deepEqual(endOfTextPositions([row!]), [76]);

  const short = tok.tokenize(['a photo of a cat'], { contextLength: 10 });
  assert.deepEqual(short[0], [tok.startOfTextId, ...tok.encode('a photo of a cat'), tok.endOfTextId, 0, 0, 0]);
  assert.throws(() => tok.tokenize(['a photo of a cat'], { contextLength: 5 }), /too long for context length 5/);
  assert.throws(() => tok.tokenize(['x'], { contextLength: 0 }), /contextLength must be a positive integer/);
});

test('encode and decode round-trip cleaned text', skipWithoutVocabulary, () => {
  const tok = tokenizer!;
  assert.equal(tok.decode(tok.encode('Hello   World')), 'hello world ');
  assert.equal(tok.decode(tok.encode("playing  tennis, isn't it?")), "playing tennis , isn 't it ? ");
  assert.equal(tok.decode(tok.encode('café 😀 日本')), 'café 😀 日本 ');
  assert.equal(tok.decode(tok.encode('&amp; &lt;b&gt;')), '& < b > ');
  assert.deepEqual(tok.encode(''), []);
  assert.deepEqual(tok.encode('<|endoftext|>'), [tok.endOfTextId]);
  assert.equal(
    tok.decode([tok.startOfTextId, ...tok.encode('a dog'), tok.endOfTextId]),
    '<|startoftext|>a dog <|endoftext|>',
  );
  assert.throws(() => tok.decode([tok.vocabularySize]), /token id 49408 is outside the vocabulary/);
});

test('the OpenAI vocabulary file is validated', () => {
  const dir = mkdtempSync(join(tmpdir(), 'clip-bad-vocab-'));
  try {
    writeFileSync(join(dir, 'plain.txt.gz'), 'not gzip');
    assert.throws(
      () => ClipTokenizer.fromOpenAiVocabulary(join(dir, 'plain.txt.gz')),
      /plain\.txt\.gz: not a gzip-compressed/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
