import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { frameFolderLayout, readPredictionInput } from './predict-input.ts';
import { Predictor } from './predict.ts';

function tempDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'bike-predict-'));
}

async function writeFrames(dir: string, names: string[]): Promise<void> {
  mkdirSync(dir, { recursive: true });
  for (const [i, name] of names.entries()) {
    const pixels = Buffer.alloc(24 * 24 * 3, (i * 40) % 256);
    await sharp(pixels, { raw: { width: 24, height: 24, channels: 3 } })
      .png()
      .toFile(path.join(dir, name));
  }
}

test('frame folders: the naming, first number and count are read from the files', async () => {
  const root = tempDir();
  try {
    await writeFrames(path.join(root, 'padded'), ['img_00001.png', 'img_00002.png', 'img_00003.png']);
    assert.deepEqual(frameFolderLayout(path.join(root, 'padded')), {
      template: 'img_{:05d}.png',
      firstIndex: 1,
      frameCount: 3,
    });
    await writeFrames(path.join(root, 'plain'), ['frame0.png', 'frame1.png', 'frame2.png', 'frame10.png'].slice(0, 3));
    assert.deepEqual(frameFolderLayout(path.join(root, 'plain')), {
      template: 'frame{:d}.png',
      firstIndex: 0,
      frameCount: 3,
    });
    await writeFrames(path.join(root, 'gap'), ['img_00001.png', 'img_00003.png']);
    assert.throws(() => frameFolderLayout(path.join(root, 'gap')), /gap: frame numbers 1\.\.3 have gaps \(2 files\)/);
    await writeFrames(path.join(root, 'mixed'), ['img_00001.png', 'pic_00002.png']);
    assert.throws(() => frameFolderLayout(path.join(root, 'mixed')), /mixed: frame files are named differently/);
    mkdirSync(path.join(root, 'empty'));
    writeFileSync(path.join(root, 'empty', 'notes.txt'), 'no frames here');
    assert.throws(() => frameFolderLayout(path.join(root, 'empty')), /empty: the folder has no frame images/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a frame folder becomes the test clip: T centre-sampled frames, centre crop, normalised', async () => {
  const root = tempDir();
  try {
    const dir = path.join(root, 'video');
    await writeFrames(
      dir,
      Array.from({ length: 16 }, (_, i) => `img_${String(i + 1).padStart(5, '0')}.png`),
    );
    const input = await readPredictionInput(dir, { numSegments: 4, inputSize: 16 });
    assert.equal(input.kind, 'frames');
    // test.py's sampler on 16 frames, 4 segments: one frame from the start of each quarter.
    assert.deepEqual(input.frameIndices, [0, 4, 8, 12]);
    assert.deepEqual(input.clip.shape, [4, 3, 16, 16]);
    assert.equal(input.frames.length, 4);
    // Frame k was filled with (k * 40) % 256: the sampled frames' pixels say which they are.
    assert.deepEqual(
      input.frames.map((f) => f.data[0]),
      [0, 160, 64, 224],
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('unreadable inputs are errors that name them', async () => {
  const root = tempDir();
  try {
    const missing = path.join(root, 'missing.mp4');
    await assert.rejects(
      readPredictionInput(missing, { numSegments: 8, inputSize: 32 }),
      new RegExp(`${missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: no such video file or frame folder`),
    );
    const bad = path.join(root, 'bad.mp4');
    writeFileSync(bad, 'not a video');
    await assert.rejects(readPredictionInput(bad, { numSegments: 8, inputSize: 32 }), (error: Error) =>
      error.message.includes(bad),
    );
    const broken = path.join(root, 'broken');
    mkdirSync(broken);
    writeFileSync(path.join(broken, 'img_00001.jpg'), 'not a jpeg');
    writeFileSync(path.join(broken, 'img_00002.jpg'), 'not a jpeg');
    await assert.rejects(readPredictionInput(broken, { numSegments: 2, inputSize: 32 }), (error: Error) =>
      error.message.includes(broken),
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the predictor needs exactly one of trained or CLIP weights, and labels for CLIP', async () => {
  await assert.rejects(Predictor.load({}), /either trained weights \(--model\) or CLIP weights \(--clip\)/);
  await assert.rejects(Predictor.load({ model: 'a', clip: 'b' }), /not both or neither/);
  await assert.rejects(
    Predictor.load({ model: '/nonexistent/run' }),
    /--model \/nonexistent\/run: no such file or directory/,
  );
});
