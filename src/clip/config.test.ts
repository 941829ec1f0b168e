import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLIP_ARCHITECTURES, clipArchitecture, parseClipConfig, visionHeads } from './config.ts';

test("released architectures: OpenAI's nine models with the heads the original derives", () => {
  assert.deepEqual(Object.keys(CLIP_ARCHITECTURES), [
    'RN50',
    'RN101',
    'RN50x4',
    'RN50x16',
    'RN50x64',
    'ViT-B/32',
    'ViT-B/16',
    'ViT-L/14',
    'ViT-L/14-336px',
  ]);
  assert.equal(visionHeads(clipArchitecture('RN50')), 32, 'vision_width * 32 // 64');
  assert.equal(visionHeads(clipArchitecture('ViT-L/14')), 16, 'vision_width // 64');
  assert.equal(clipArchitecture('ViT-L/14-336px').image_resolution, 336);
  for (const name of Object.keys(CLIP_ARCHITECTURES))
    assert.deepEqual(parseClipConfig(clipArchitecture(name)), clipArchitecture(name), name);
  const copy = clipArchitecture('RN50');
  (copy.vision_layers as number[])[0] = 99;
  assert.deepEqual(clipArchitecture('RN50').vision_layers, [3, 4, 6, 3], 'callers get copies');
  assert.throws(
    () => clipArchitecture('ViT-B/8'),
    /unknown CLIP architecture 'ViT-B\/8'; expected one of RN50, .*ViT-L\/14-336px/,
  );
});

test('a hyper-parameter mapping is checked key by key', () => {
  assert.throws(
    () => parseClipConfig({ embed_dim: 8, vision_layerz: 2 }, 'meta.json clip_config'),
    (e: Error) =>
      e.message.startsWith('meta.json clip_config: ') &&
      /unknown key 'vision_layerz'/.test(e.message) &&
      /'image_resolution' is missing/.test(e.message),
  );
  const good = {
    embed_dim: 8,
    image_resolution: 32,
    vision_layers: 2,
    vision_width: 64,
    vision_patch_size: 8,
    context_length: 77,
    vocab_size: 100,
    transformer_width: 64,
    transformer_heads: 2,
    transformer_layers: 1,
  };
  assert.deepEqual(parseClipConfig(good), good);
  assert.throws(
    () => parseClipConfig({ ...good, vision_layers: [1, 2, 3] }),
    /'vision_layers' must be a positive integer \(ViT\) or 4 positive integers \(ResNet\), got \[1,2,3\]/,
  );
  assert.throws(
    () => parseClipConfig({ ...good, vision_layers: [1, 1, 1, 1] }),
    /'vision_patch_size' must be null for a ResNet, got 8/,
  );
  assert.throws(
    () => parseClipConfig({ ...good, vision_width: 32 }),
    /image encoder width 32 cannot be split into 0 attention heads/,
  );
  assert.deepEqual(parseClipConfig({ ...good, vision_width: 32, vision_heads: 2 }).vision_heads, 2);
  assert.throws(() => parseClipConfig({ ...good, embed_dim: 0 }), /'embed_dim' must be a positive integer, got 0/);
  assert.throws(() => parseClipConfig([1, 2]), /expected a mapping of CLIP hyper-parameters/);
});
