import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closestMatch, editDistance } from './edit-distance.ts';

test('edit distance counts insertions, deletions, substitutions and adjacent swaps', () => {
  assert.equal(editDistance('num_segments', 'num_segments'), 0);
  assert.equal(editDistance('num_segmetns', 'num_segments'), 1); // swap
  assert.equal(editDistance('lrr', 'lr'), 1);
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('RGB', 'rgb'), 0); // case-insensitive
});

test('closest match only suggests plausible typos', () => {
  assert.equal(closestMatch('fix_txt', ['fix_text', 'fix_video']), 'fix_text');
  assert.equal(closestMatch('colour', ['data', 'network', 'solver']), undefined);
  assert.equal(closestMatch('lr', ['lr_warmup_step', 'lr']), 'lr');
});
