import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { preprocessParityChecks } from './preprocess-parity.ts';

const fixtureDir = fileURLToPath(new URL('../../../shared/fixtures/bike-reference/', import.meta.url));

test('decoding, 1-crop and 3-crop preprocessing match the reference fixture within tolerance', async () => {
  const results = await preprocessParityChecks(fixtureDir);
  const failed = results.filter((r) => !r.ok || r.skipped);
  assert.deepEqual(failed, [], failed.map((r) => `${r.name}: ${r.detail}`).join('\n'));
  // decoded + (1-crop + 1 position) + (3-crop + 3 positions), for PNG and JPEG.
  assert.equal(results.length, 2 * (1 + 2 + 4));
});

test('a fixture directory without the files yields skipped results', async () => {
  const empty = mkdtempSync(path.join(tmpdir(), 'bike-fixture-'));
  try {
    const results = await preprocessParityChecks(empty);
    assert.equal(results.length, 1);
    assert.equal(results[0]!.skipped, true);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test('the checks fail when the frame is not the one the fixture was made from', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bike-fixture-'));
  try {
    copyFileSync(path.join(fixtureDir, 'preprocess.safetensors'), path.join(dir, 'preprocess.safetensors'));
    // The JPEG stands in for the PNG: similar picture, different pixels.
    copyFileSync(path.join(fixtureDir, 'frame.jpg'), path.join(dir, 'frame.png'));
    const results = await preprocessParityChecks(dir);
    const decoded = results.find((r) => r.name === 'preprocess decoded_rgb.png')!;
    assert.equal(decoded.ok, false, decoded.detail);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
