import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSafetensorsFileSync } from '../torch/safetensors-format.ts';
import { loadOpenAiVocabulary } from './bpe-vocabulary-files.ts';
import { defaultVocabularyPath, tokenizerParityChecks } from './tokenizer-parity.ts';
import { ClipTokenizer, endOfTextPositions, tokenRowsToRawTensor } from './tokenizer.ts';

const fixtureDir = fileURLToPath(new URL('../../../shared/fixtures/bike-reference/', import.meta.url));
const vocabularyPath = defaultVocabularyPath(fixtureDir);
const haveVocabulary = existsSync(vocabularyPath);
const skipWithoutVocabulary = { skip: haveVocabulary ? false : `${vocabularyPath} is absent` };

const tokenizer = haveVocabulary ? ClipTokenizer.fromOpenAiVocabulary(vocabularyPath) : undefined;

function fixtureTexts(): string[] {
  const path = join(fixtureDir, 'tokenizer.json');
  return existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')).cases.map((c: { text: string }) => c.text) : [];
}

test('every reference tokenizer case matches clip.tokenize', skipWithoutVocabulary, async () => {
  const results = await tokenizerParityChecks(fixtureDir);
  assert.ok(results.length > 0);
  assert.ok(results.every((r) => !r.skipped), 'tokenizer.json present');
  const failures = results.filter((r) => !r.ok);
  assert.deepEqual(failures, [], failures.map((r) => `${r.name}: ${r.detail}`).join('\n'));
  assert.ok(results.some((r) => r.detail.startsWith('refused as too long')), 'the fixture exercises the too-long error');
});

test('parity reports a skip when tokenizer.json is absent and a failure when the vocabulary is missing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tokenizer-parity-'));
  try {
    const skipped = await tokenizerParityChecks(dir);
    assert.equal(skipped.length, 1);
    assert.equal(skipped[0]!.skipped, true);
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({ context_length: 77, cases: [{ text: 'a', ids: [49406, 320, 49407], ids_truncate: [49406, 320, 49407] }] }));
    const missing = await tokenizerParityChecks(dir, join(dir, 'nope.txt.gz'));
    assert.equal(missing[0]!.ok, false);
    assert.match(missing[0]!.detail, /nope\.txt\.gz/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a wrong expectation is reported with the differing position', skipWithoutVocabulary, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tokenizer-parity-'));
  try {
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({ context_length: 77, cases: [
      { text: 'a photo', ids: [49406, 320, 1125, 49407], ids_truncate: [49406, 320, 1125, 49407] },
      { text: 'a photo', ids: [49406, 320, 9999, 49407], ids_truncate: [49406, 320, 1125, 49407] },
      { text: 'a photo', ids: 'error: too long', ids_truncate: [49406, 320, 1125, 49407] },
    ] }));
    const [right, wrong, notLong] = await tokenizerParityChecks(dir, vocabularyPath);
    assert.equal(right!.ok, true, right!.detail);
    assert.equal(wrong!.ok, false);
    assert.match(wrong!.detail, /position 2: got 1125, expected 9999/);
    assert.equal(notLong!.ok, false);
    assert.match(notLong!.detail, /expected "too long"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the reference prompts tokenize to input.text_tokens of io.safetensors', { skip: !haveVocabulary || !existsSync(join(fixtureDir, 'io.safetensors')) }, () => {
  const meta = JSON.parse(readFileSync(join(fixtureDir, 'meta.json'), 'utf8'));
  const expected = readSafetensorsFileSync(join(fixtureDir, 'io.safetensors')).tensors.get('input.text_tokens')!;
  const rows = tokenizer!.tokenize(meta.prompts, { contextLength: meta.clip_config.context_length });
  const raw = tokenRowsToRawTensor(rows);
  assert.deepEqual(raw.shape, expected.shape);
  assert.deepEqual([...raw.data], [...expected.data]);
  // The end-of-text position CLIP pools at is the last non-padding id.
  assert.deepEqual(endOfTextPositions(rows), rows.map((row) => row.indexOf(0) === -1 ? row.length - 1 : row.indexOf(0) - 1));
});

test('the Hugging Face vocab.json + merges.txt route gives identical ids', skipWithoutVocabulary, () => {
  const vocabulary = loadOpenAiVocabulary(vocabularyPath);
  const dir = mkdtempSync(join(tmpdir(), 'clip-hf-vocab-'));
  try {
    const vocab = Object.fromEntries(vocabulary.tokens.map((token, id) => [token, id]));
    writeFileSync(join(dir, 'vocab.json'), JSON.stringify(vocab));
    const mergeLines = vocabulary.merges.map(([a, b]) => `${a} ${b}`);
    writeFileSync(join(dir, 'merges.txt'), `#version: 0.2\n${mergeLines.join('\n')}\n`);
    writeFileSync(join(dir, 'merges-no-header.txt'), mergeLines.join('\n'));
    const texts = [...fixtureTexts(), 'Ünïcödé ｆｕｌｌｗｉｄｔｈ and “quotes”', '<|startoftext|> x <|endoftext|>'];
    const expected = tokenizer!.tokenize(texts, { truncate: true });
    for (const merges of ['merges.txt', 'merges-no-header.txt']) {
      const hf = ClipTokenizer.fromHuggingFace(join(dir, 'vocab.json'), join(dir, merges));
      assert.equal(hf.vocabularySize, tokenizer!.vocabularySize);
      assert.deepEqual(hf.tokenize(texts, { truncate: true }), expected, merges);
    }

    writeFileSync(join(dir, 'bad-merges.txt'), `#version: 0.2\ni n\nthree parts here\n`);
    assert.throws(() => ClipTokenizer.fromHuggingFace(join(dir, 'vocab.json'), join(dir, 'bad-merges.txt')),
      /bad-merges\.txt line 3: expected a merge "A B", got "three parts here"/);
    writeFileSync(join(dir, 'small-vocab.json'), JSON.stringify({ a: 0, b: 1 }));
    assert.throws(() => ClipTokenizer.fromHuggingFace(join(dir, 'small-vocab.json'), join(dir, 'merges.txt')),
      /small-vocab\.json: missing the required token "<\|startoftext\|>"/);
    writeFileSync(join(dir, 'dup-vocab.json'), JSON.stringify({ a: 0, b: 0 }));
    assert.throws(() => ClipTokenizer.fromHuggingFace(join(dir, 'dup-vocab.json'), join(dir, 'merges.txt')),
      /id 0 is used by both "a" and "b"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('too-long texts throw unless truncating, which ends the row with end-of-text', skipWithoutVocabulary, () => {
  const tok = tokenizer!;
  const long = Array.from({ length: 100 }, (_, i) => `word${i}`).join(' ');
  const tokenCount = tok.encode(long).length + 2;
  assert.ok(tokenCount > 77);
  assert.throws(() => tok.tokenize([long]), (error: Error) => {
    assert.match(error.message, /too long for context length 77/);
    assert.ok(error.message.includes(`it has ${tokenCount} tokens`), error.message);
    assert.ok(error.message.includes('word0 word1'), 'names the text');
    return true;
  });
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
  assert.equal(tok.decode([tok.startOfTextId, ...tok.encode('a dog'), tok.endOfTextId]), '<|startoftext|>a dog <|endoftext|>');
  assert.throws(() => tok.decode([tok.vocabularySize]), /token id 49408 is outside the vocabulary/);
});

test('the OpenAI vocabulary file is validated', () => {
  const dir = mkdtempSync(join(tmpdir(), 'clip-bad-vocab-'));
  try {
    writeFileSync(join(dir, 'plain.txt.gz'), 'not gzip');
    assert.throws(() => ClipTokenizer.fromOpenAiVocabulary(join(dir, 'plain.txt.gz')), /plain\.txt\.gz: not a gzip-compressed/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
