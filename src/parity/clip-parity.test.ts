import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, copyFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { clipParityChecks } from './clip-parity.ts';

const fixtureDir = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  'shared',
  'fixtures',
  'bike-reference',
);

test('CLIP encoders match the reference fixture within the README tolerance', async () => {
  const results = await clipParityChecks(fixtureDir);
  assert.deepEqual(
    results.map((r) => r.name),
    [
      'clip expect.encode_image',
      'clip expect.encode_text.cls',
      'clip expect.encode_text.tokens',
      'clip expect.logit_scale_exp',
    ],
  );
  for (const r of results) {
    assert.equal(r.skipped, undefined, r.detail);
    assert.ok(r.ok, `${r.name}: ${r.detail}`);
    assert.match(r.detail, /max \|a-b\| = .* <= tolerance 0\.0001 \* max\(1, /);
  }
});

test('a fixture directory without its files gives skipped results naming the file', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'clip-parity-'));
  try {
    const results = await clipParityChecks(dir);
    assert.equal(results.length, 4);
    for (const r of results) {
      assert.equal(r.skipped, true);
      assert.match(r.detail, /weights\.safetensors is missing/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('wrong expected values fail with the error and the bound in the detail', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'clip-parity-'));
  try {
    copyFileSync(path.join(fixtureDir, 'io.safetensors'), path.join(dir, 'io.safetensors'));
    copyFileSync(path.join(fixtureDir, 'weights.safetensors'), path.join(dir, 'weights.safetensors'));
    // A config that disagrees with the weights (text heads) changes every text output.
    writeFileSync(
      path.join(dir, 'meta.json'),
      JSON.stringify({
        clip_config: {
          embed_dim: 64,
          image_resolution: 32,
          vision_layers: 2,
          vision_width: 128,
          vision_patch_size: 8,
          context_length: 77,
          vocab_size: 49408,
          transformer_width: 128,
          transformer_heads: 4,
          transformer_layers: 2,
        },
      }),
    );
    const results = await clipParityChecks(dir);
    const byName = new Map(results.map((r) => [r.name, r]));
    assert.ok(byName.get('clip expect.encode_image')!.ok, 'the image encoder does not depend on text heads');
    const cls = byName.get('clip expect.encode_text.cls')!;
    assert.equal(cls.ok, false);
    assert.match(cls.detail, /max \|a-b\| = .* > tolerance /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
