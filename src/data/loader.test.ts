import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { VideoLoader } from './loader.ts';
import { makeBatch, makeSample, sampleSeed, type Batch, type VideoDatasetSpec } from './video-dataset.ts';
import { testTransform, trainTransform } from './clip-transform.ts';
import { loadFrameFolder } from './frame-loader.ts';
import { Rng } from './rng.ts';
import { testIndices, trainIndices, valIndices } from './sampling.ts';
import { damageMjpegFrames, encodeMjpeg } from '../testing/damaged-video.ts';

async function makeFrames(root: string, videos: number, frames: number): Promise<void> {
  for (let v = 0; v < videos; v++) {
    const dir = path.join(root, `video${v}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 1; f <= frames; f++) {
      const pixels = Buffer.alloc(40 * 30 * 3, (v * 37 + f * 11) % 256);
      await sharp(pixels, { raw: { width: 40, height: 30, channels: 3 } })
        .png()
        .toFile(path.join(dir, `img_${String(f).padStart(5, '0')}.png`));
    }
  }
}

function spec(root: string, mode: VideoDatasetSpec['mode'], videos: number): VideoDatasetSpec {
  return {
    records: Array.from({ length: videos }, (_, v) => ({ path: `video${v}`, numFrames: 10, label: v % 3 })),
    root,
    format: 'frames',
    imageTmpl: 'img_{:05d}.png',
    mode,
    numSegments: 4,
    inputSize: 16,
    seed: 7,
    testCrops: 3,
    testClips: 2,
  };
}

test('every sample arrives exactly once per epoch, the same with 0 or 2 workers', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'bike-loader-'));
  try {
    await makeFrames(root, 7, 10);
    const results: { indices: number[]; sums: number[] }[] = [];
    for (const workers of [0, 2]) {
      const loader = new VideoLoader(spec(root, 'train', 7), { batchSize: 2, workers, dropLast: false });
      const seen: number[] = [];
      const sums: number[] = [];
      for await (const batch of loader.epoch(1)) {
        assert.deepEqual(batch.shape, [batch.indices.length * 4, 3, 16, 16]);
        assert.equal(
          batch.frames.length,
          batch.shape.reduce((a, b) => a * b, 1),
        );
        seen.push(...batch.indices);
        sums.push(batch.frames.reduce((a, b) => a + b, 0));
      }
      await loader.close();
      assert.deepEqual([...seen].sort(), [0, 1, 2, 3, 4, 5, 6]);
      results.push({ indices: seen, sums });
    }
    assert.deepEqual(results[0]!.indices, results[1]!.indices);
    results[0]!.sums.forEach((s, i) =>
      assert.ok(Math.abs(s - results[1]!.sums[i]!) < 1e-3, 'same augmentation whatever the workers'),
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('recycled batch arrays are reused and give the same batches as fresh ones, with 0 or 1 worker', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'bike-loader-'));
  try {
    await makeFrames(root, 7, 10);
    for (const mode of ['train', 'test'] as const) {
      for (const workers of [0, 1]) {
        const copies: Float32Array[][] = [];
        for (const recycle of [false, true]) {
          const loader = new VideoLoader(spec(root, mode, 7), { batchSize: 2, workers, dropLast: false });
          const seen: Float32Array[] = [];
          const delivered = new Set<Float32Array>();
          let reused = 0;
          // Each batch is held until the next arrives, and must be unchanged then: a recycled array
          // is never one a consumer still holds.
          let held: Batch | null = null;
          const release = (batch: Batch) => {
            assert.deepEqual(batch.frames, seen[seen.length - 1], `${mode}: a held batch changed`);
            if (!recycle) return;
            loader.recycle(batch);
            if (workers > 0) assert.equal(batch.frames.length, 0, 'a recycled array moves back to its worker');
            loader.recycle(batch); // a second time is ignored
          };
          try {
            for (const epoch of [0, 1]) {
              for await (const batch of loader.epoch(epoch)) {
                if (held) release(held);
                if (delivered.has(batch.frames)) reused++;
                delivered.add(batch.frames);
                seen.push(batch.frames.slice());
                held = batch;
              }
            }
          } finally {
            await loader.close();
          }
          if (workers === 0) assert.ok(recycle ? reused > 0 : reused === 0, `${mode}: reused ${reused} arrays`);
          copies.push(seen);
        }
        assert.deepEqual(copies[1], copies[0], `${mode}, ${workers} workers: recycled arrays change no value`);
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("a batch holds its samples' clips in order, each repeated augmentation in its own slot", async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'bike-loader-'));
  try {
    await makeFrames(root, 3, 10);
    for (const [mode, numSample] of [
      ['train', 2],
      ['test', 1],
    ] as const) {
      const dataset = { ...spec(root, mode, 3), numSample };
      const batch = await makeBatch(dataset, [2, 0, 1], 3);
      const separate = await Promise.all([2, 0, 1].map((i) => makeSample(dataset, i, 3)));
      const expected = separate.flatMap((s) => s.clips.map((c) => [...c.data]));
      assert.equal(expected.length, 3 * numSample);
      const perClip = batch.frames.length / expected.length;
      expected.forEach((clip, k) =>
        assert.deepEqual([...batch.frames.subarray(k * perClip, (k + 1) * perClip)], clip, `${mode} clip ${k}`),
      );
      assert.deepEqual(batch.labels, Int32Array.from(separate.flatMap((s) => s.labels)));
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('test mode lays out crops x clips x frames per video; a missing frame falls back and is reported', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'bike-loader-'));
  try {
    await makeFrames(root, 2, 10);
    rmSync(path.join(root, 'video1', 'img_00006.png'));
    const loader = new VideoLoader(spec(root, 'test', 2), { batchSize: 2, workers: 1 });
    const batches = [];
    for await (const batch of loader.epoch(0)) batches.push(batch);
    await loader.close();
    assert.equal(batches.length, 1);
    const batch = batches[0]!;
    assert.equal(batch.views, 3);
    assert.equal(batch.framesPerView, 8);
    assert.deepEqual(batch.shape, [2 * 3 * 8, 3, 16, 16]);
    assert.ok(batch.fallbacks.some((f) => f.path.endsWith(path.join('video1', 'img_00006.png'))));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('training replaces an unreadable video and reports it; evaluation names it', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'bike-loader-'));
  try {
    await makeFrames(root, 3, 10);
    writeFileSync(path.join(root, 'broken.mp4'), 'not a video');
    const videoSpec: VideoDatasetSpec = {
      ...spec(root, 'train', 0),
      format: 'video',
      records: [{ path: 'broken.mp4', numFrames: null, label: 0 }],
    };
    const trainLoader = new VideoLoader(videoSpec, { batchSize: 1 });
    await assert.rejects(async () => {
      for await (const _ of trainLoader.epoch(0));
    }, /1 videos in a row could not be read; last: broken\.mp4/);
    const evalLoader = new VideoLoader({ ...videoSpec, mode: 'val' }, { batchSize: 1 });
    await assert.rejects(async () => {
      for await (const _ of evalLoader.epoch(0));
    }, /broken\.mp4/);
    const mixed: VideoDatasetSpec = {
      ...spec(root, 'train', 3),
      records: [{ path: 'missing-folder', numFrames: 10, label: 0 }, ...spec(root, 'train', 3).records],
    };
    const loader = new VideoLoader(mixed, { batchSize: 4, shuffle: false });
    const batch = (await loader.epoch(0).next()).value!;
    assert.equal(batch.skipped.length, 1);
    assert.equal(batch.skipped[0]!.path, 'missing-folder');
    assert.equal(batch.indices[0], 1, 'replaced by the next video');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

const noFfmpeg = spawnSync('ffmpeg', ['-version']).status === 0 ? false : 'the ffmpeg program is not installed';

test(
  'a video file with one damaged packet: the batch reports the substituted frame, from a worker thread too',
  { skip: noFfmpeg },
  async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'bike-loader-'));
    try {
      const clean = encodeMjpeg(path.join(root, 'clean.mp4'));
      // The second sampled frame's packet is damaged (test sampling, index_bias 1 for this template).
      const sampled = testIndices(50, { numSegments: 4, indexBias: 1, testClips: 1 }).map((p) => p - 1);
      const lost = sampled[1]!;
      assert.equal(damageMjpegFrames(clean, path.join(root, 'damaged.mp4'), [lost]), 50);
      const videoSpec: VideoDatasetSpec = {
        ...spec(root, 'test', 0),
        format: 'video',
        testCrops: 1,
        testClips: 1,
        records: [
          { path: 'clean.mp4', numFrames: null, label: 0 },
          { path: 'damaged.mp4', numFrames: null, label: 1 },
        ],
      };
      for (const workers of [0, 1]) {
        const loader = new VideoLoader(videoSpec, { batchSize: 2, workers });
        const batches = [];
        for await (const batch of loader.epoch(0)) batches.push(batch);
        await loader.close();
        assert.equal(batches.length, 1);
        assert.equal(batches[0]!.substitutedFrames.length, 1, `workers ${workers}`);
        const [substituted] = batches[0]!.substitutedFrames;
        assert.equal(substituted!.path, path.join(root, 'damaged.mp4'));
        assert.equal(substituted!.frame, lost);
        assert.equal(Math.abs(substituted!.from - lost), 1, 'a neighbour (both decode)');
        assert.ok(substituted!.reason.length > 0);
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
);

test('empty datasets and bad batch sizes are refused clearly', () => {
  assert.throws(() => new VideoLoader(spec('/nowhere', 'train', 0), { batchSize: 2 }), /dataset is empty/);
  assert.throws(() => new VideoLoader(spec('/nowhere', 'train', 2), { batchSize: 0 }), /batchSize/);
});

test('closing a loader while workers decode JPEG frames ends cleanly (no native abort)', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'bike-loader-'));
  try {
    const dir = path.join(root, 'video0');
    mkdirSync(dir, { recursive: true });
    for (let f = 1; f <= 10; f++) {
      const pixels = Buffer.alloc(320 * 240 * 3, (f * 23) % 256);
      await sharp(pixels, { raw: { width: 320, height: 240, channels: 3 } })
        .jpeg()
        .toFile(path.join(dir, `img_${String(f).padStart(5, '0')}.jpg`));
    }
    const jpegSpec: VideoDatasetSpec = {
      ...spec(root, 'train', 1),
      imageTmpl: 'img_{:05d}.jpg',
      records: Array.from({ length: 16 }, () => ({ path: 'video0', numFrames: 10, label: 0 })),
    };
    const loader = new VideoLoader(jpegSpec, { batchSize: 1, workers: 2, prefetch: 4 });
    const first = await loader.epoch(0).next();
    assert.equal(first.value!.labels.length, 1);
    await loader.close();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('frame parts decoded for the drawn crops give the clips of whole frames, fallbacks of another size included', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'bike-loader-'));
  try {
    const noiseJpeg = (width: number, height: number, seed: number) => {
      const rng = new Rng(seed);
      const pixels = Buffer.alloc(width * height * 3);
      for (let i = 0; i < pixels.length; i++) pixels[i] = (i % 251) ^ rng.nextInt(64);
      return sharp(pixels, { raw: { width, height, channels: 3 } })
        .jpeg({ quality: 90 })
        .toBuffer();
    };
    for (let v = 0; v < 2; v++) mkdirSync(path.join(root, `video${v}`));
    for (let f = 1; f <= 10; f++) {
      writeFileSync(path.join(root, 'video0', `img_${String(f).padStart(5, '0')}.jpg`), await noiseJpeg(320, 240, f));
      // video1: frame 1 is smaller, the others are cut short, so every frame falls back to frame 1.
      const frame = await noiseJpeg(f === 1 ? 300 : 320, f === 1 ? 200 : 240, 50 + f);
      writeFileSync(
        path.join(root, 'video1', `img_${String(f).padStart(5, '0')}.jpg`),
        f === 1 ? frame : frame.subarray(0, frame.length >> 1),
      );
    }
    for (const mode of ['train', 'val', 'test'] as const) {
      const dataset: VideoDatasetSpec = {
        records: [
          { path: 'video0', numFrames: 10, label: 1 },
          { path: 'video1', numFrames: 10, label: 2 },
        ],
        root,
        format: 'frames',
        imageTmpl: 'img_{:05d}.jpg',
        mode,
        numSegments: 3,
        inputSize: 112,
        seed: 9,
        testCrops: 3,
        testClips: 2,
        numSample: 2,
      };
      for (const index of [0, 1]) {
        const sample = await makeSample(dataset, index, 4);
        // The same sample the plain way: whole frames, then the transforms.
        const rng = new Rng(sampleSeed(dataset.seed, 4, index));
        const options = { numSegments: 3, indexBias: 1, dense: false };
        const indices =
          mode === 'train'
            ? trainIndices(10, options, rng)
            : mode === 'val'
              ? valIndices(10, options, rng)
              : testIndices(10, { ...options, testClips: 2 });
        const folder = { root, directory: `video${index}`, template: dataset.imageTmpl };
        const { frames } = await loadFrameFolder(folder, indices);
        const clips =
          mode === 'train'
            ? [0, 1].map(() => trainTransform(frames, 1, { inputSize: 112 }, rng).clip)
            : [testTransform(frames, { inputSize: 112, testCrops: mode === 'test' ? 3 : 1, stage: mode })];
        assert.equal(sample.clips.length, clips.length);
        clips.forEach((clip, k) =>
          assert.deepEqual(sample.clips[k]!.data, clip.data, `${mode} video${index} clip ${k}`),
        );
        if (index === 1) assert.equal(sample.fallbacks.length, indices.filter((i) => i !== 1).length);
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
