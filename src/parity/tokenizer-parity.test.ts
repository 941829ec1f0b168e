import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensorsFileSync } from '../torch/serialization/safetensors-format.ts';
import { ClipTokenizer, endOfTextPositions, tokenRowsToRawTensor } from '../clip/tokenizer.ts';
import { defaultVocabularyPath, tokenizerParityChecks } from './tokenizer-parity.ts';
import { DEFAULT_FIXTURE_DIR as fixtureDir } from './run.ts';

const vocabularyPath = defaultVocabularyPath(fixtureDir);
const haveVocabulary = existsSync(vocabularyPath);
const skipWithoutVocabulary = { skip: haveVocabulary ? false : `${vocabularyPath} is absent` };
const tokenizer = haveVocabulary ? ClipTokenizer.fromOpenAiVocabulary(vocabularyPath) : undefined;

test('every reference tokenizer case matches clip.tokenize', skipWithoutVocabulary, async () => {
  const results = await tokenizerParityChecks(fixtureDir);
  assert.ok(results.length > 0);
  assert.ok(
    results.every((r) => !r.skipped),
    'tokenizer.json present',
  );
  const failures = results.filter((r) => !r.ok);
  assert.deepEqual(failures, [], failures.map((r) => `${r.name}: ${r.detail}`).join('\n'));
  assert.ok(
    results.some((r) => r.detail.startsWith('refused as too long')),
    'the fixture exercises the too-long error',
  );
});

test('parity reports a skip when tokenizer.json is absent and a failure when the vocabulary is missing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tokenizer-parity-'));
  try {
    const skipped = await tokenizerParityChecks(dir);
    assert.equal(skipped.length, 1);
    assert.equal(skipped[0]!.skipped, true);
    writeFileSync(
      join(dir, 'tokenizer.json'),
      JSON.stringify({
        context_length: 77,
        cases: [{ text: 'a', ids: [49406, 320, 49407], ids_truncate: [49406, 320, 49407] }],
      }),
    );
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
    writeFileSync(
      join(dir, 'tokenizer.json'),
      JSON.stringify({
        context_length: 77,
        cases: [
          { text: 'a photo', ids: [49406, 320, 1125, 49407], ids_truncate: [49406, 320, 1125, 49407] },
          { text: 'a photo', ids: [49406, 320, 9999, 49407], ids_truncate: [49406, 320, 1125, 49407] },
          { text: 'a photo', ids: 'error: too long', ids_truncate: [49406, 320, 1125, 49407] },
        ],
      }),
    );
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

test('the reference prompts tokenize to input.text_tokens of io.safetensors', skipWithoutVocabulary, () => {
  const meta = JSON.parse(readFileSync(join(fixtureDir, 'meta.json'), 'utf8'));
  const expected = readSafetensorsFileSync(join(fixtureDir, 'io.safetensors')).tensors.get('input.text_tokens')!;
  const rows = tokenizer!.tokenize(meta.prompts, { contextLength: meta.clip_config.context_length });
  const raw = tokenRowsToRawTensor(rows);
  assert.deepEqual(raw.shape, expected.shape);
  assert.deepEqual([...raw.data], [...expected.data]);
  // The end-of-text position CLIP pools at is the last non-padding id.
  assert.deepEqual(
    endOfTextPositions(rows),
    rows.map((row) => (row.indexOf(0) === -1 ? row.length - 1 : row.indexOf(0) - 1)),
  );
});
