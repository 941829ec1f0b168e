import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { alignScores, loadScores, saveScores } from './score-files.ts';

test('scores round-trip and align by video path for fusion', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bike-scores-'));
  const file = path.join(dir, 's.safetensors');
  const scores = Float32Array.from([0.1, 0.9, 0.8, 0.2, 0.5, 0.5]);
  saveScores(file, {
    scores,
    labels: Int32Array.from([1, 0, 1]),
    videos: ['a', 'b', 'c'],
    classes: 2,
    branch: 'attributes',
  });
  const loaded = loadScores(file);
  assert.deepEqual(loaded.scores, scores);
  assert.deepEqual(loaded.labels, Int32Array.from([1, 0, 1]));
  assert.deepEqual(loaded.videos, ['a', 'b', 'c']);
  assert.equal(loaded.branch, 'attributes');
  assert.deepEqual(
    alignScores(['c', 'a'], Int32Array.from([1, 1]), 2, loaded, file),
    Float32Array.from([0.5, 0.5, 0.1, 0.9]),
  );
  assert.throws(
    () => alignScores(['a', 'z'], Int32Array.from([1, 0]), 2, loaded, file),
    /no scores for 1 video\(s\) of this evaluation, e\.g\. z/,
  );
  assert.throws(() => alignScores(['b'], Int32Array.from([1]), 2, loaded, file), /video b has label 0 there but 1/);
  assert.throws(
    () => alignScores(['a'], Int32Array.from([1]), 3, loaded, file),
    /2 classes, but this evaluation has 3/,
  );
  assert.throws(
    () => saveScores(file, { scores, labels: Int32Array.from([1]), videos: ['a'], classes: 2, branch: 'x' }),
    /do not match/,
  );
  writeFileSync(path.join(dir, 'bad.safetensors'), 'nonsense');
  assert.throws(() => loadScores(path.join(dir, 'bad.safetensors')), /bad\.safetensors/);
  assert.throws(() => loadScores(path.join(dir, 'missing.safetensors')), /cannot read \(ENOENT\)/);
});
