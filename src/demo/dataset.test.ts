import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClipTokenizer } from '../clip/tokenizer.ts';
import { parseClassList, classNames } from '../data/class-list.ts';
import { Rng } from '../data/rng.ts';
import { probeVideo, readVideoFrames } from '../data/video-decoder.ts';
import { parseVideoList } from '../data/video-list.ts';
import { decodeImageFile } from '../data/image-decoder.ts';
import { classPrompt } from '../engine/datasets/text-prompts.ts';
import { DEMO_COLORS, demoClasses, makeDemoDataset } from './dataset.ts';
import { renderVideo } from './render.ts';
import { buildVocabulary, wordsOf } from './vocabulary.ts';

test('classes: every combination of the words; held-out ones use only words seen in training', () => {
  const { seen, unseen } = demoClasses({ colors: 3, shapes: 2, motions: 4, unseenPeriod: 4 });
  assert.equal(seen.length + unseen.length, 24);
  assert.equal(unseen.length, 6);
  const seenWords = new Set(seen.flatMap((c) => c.name.split(' ')));
  for (const c of unseen)
    for (const word of c.name.split(' ')) assert.ok(seenWords.has(word), `"${word}" of "${c.name}" is never seen`);
  assert.deepEqual(seen[0], { name: 'red discs fading out', color: 'red', shape: 'disc', motion: 'fading out' });
  assert.throws(
    () => demoClasses({ colors: 1, shapes: 1, motions: 2, unseenPeriod: 1 }),
    /unseenPeriod 1: the words .* occur only in held-out classes/,
  );
  assert.throws(
    () => demoClasses({ colors: 9, shapes: 1, motions: 1, unseenPeriod: 0 }),
    /colors: expected an integer in \[1, 4\], got 9/,
  );
});

test("the vocabulary makes every word of the prompts one token, with CLIP's layout", () => {
  const names = ['red discs fading in', 'blue rings growing'];
  const vocabulary = buildVocabulary(wordsOf([classPrompt(''), ...names, ',']));
  const tokenizer = new ClipTokenizer({ ...vocabulary, source: 'test' });
  assert.equal(vocabulary.tokens[vocabulary.tokens.length - 1], '<|endoftext|>', 'the end token has the largest id');
  for (const word of [
    'this',
    'is',
    'a',
    'video',
    'about',
    'red',
    'discs',
    'fading',
    'in',
    'blue',
    'rings',
    'growing',
  ]) {
    assert.equal(tokenizer.encode(word).length, 1, `"${word}" is one token`);
  }
  const row = tokenizer.tokenize([classPrompt(names[0]!)], { contextLength: 16 })[0]!;
  assert.equal(row.filter((id) => id !== 0).length, 2 + 9);
  assert.equal(tokenizer.decode(tokenizer.encode('red discs fading in')).trim(), 'red discs fading in');
  // Words the vocabulary was not built for still tokenise, into bytes.
  assert.ok(tokenizer.encode('purple').length > 1);
});

test('rendering is fixed by the seed and differs between seeds', () => {
  const spec = { color: DEMO_COLORS[0]!.rgb, shape: 'ring' as const, motion: 'growing' as const };
  const options = { width: 32, height: 32, frames: 4 };
  const a = renderVideo(spec, options, new Rng(5));
  assert.deepEqual(renderVideo(spec, options, new Rng(5)), a);
  assert.notDeepEqual(renderVideo(spec, options, new Rng(6)), a);
  assert.equal(a.length, 32 * 32 * 3 * 4);
});

test(
  'the dataset: frame folders and mp4 files of the same videos, original-format lists and label CSVs',
  { timeout: 120_000 },
  async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bike-demo-data-'));
    try {
      const options = {
        dir,
        colors: 2,
        shapes: 2,
        motions: 2,
        unseenPeriod: 3,
        trainPerClass: 2,
        valPerClass: 1,
        zeroShotPerClass: 1,
        frames: 8,
        size: 32,
        seed: 3,
      };
      const data = await makeDemoDataset(options);
      assert.equal(data.created, true);
      assert.equal(data.seen.length, 6);
      assert.equal(data.unseen.length, 2);
      assert.deepEqual(
        classNames(parseClassList(readFileSync(data.labels, 'utf8'), data.labels)),
        data.seen.map((c) => c.name),
      );
      assert.deepEqual(
        classNames(parseClassList(readFileSync(data.zeroShotLabels, 'utf8'), data.zeroShotLabels)),
        data.unseen.map((c) => c.name),
      );
      const frames = parseVideoList(readFileSync(data.train.framesList, 'utf8'), data.train.framesList, {
        numClasses: 6,
      });
      const videos = parseVideoList(readFileSync(data.train.videosList, 'utf8'), data.train.videosList, {
        numClasses: 6,
      });
      assert.equal(frames.format, 'frames');
      assert.equal(videos.format, 'video');
      assert.equal(frames.records.length, 12);
      assert.deepEqual(
        frames.records.map((r) => r.label),
        videos.records.map((r) => r.label),
      );
      const first = frames.records[0]!;
      assert.equal(first.numFrames, 8);
      const folder = path.join(data.framesRoot, first.path);
      assert.deepEqual(
        readdirSync(folder).sort(),
        Array.from({ length: 8 }, (_, i) => `img_${String(i + 1).padStart(5, '0')}.jpg`),
      );
      const mp4 = path.join(data.videosRoot, videos.records[0]!.path);
      assert.equal(videos.records[0]!.path, `${first.path}.mp4`);
      const info = await probeVideo(mp4);
      assert.deepEqual([info.width, info.height, info.frameCount], [32, 32, 8]);
      // The same pixels in both forms, up to JPEG and MPEG-4 compression.
      const jpeg = await decodeImageFile(path.join(folder, 'img_00005.jpg'));
      const [decoded] = await readVideoFrames(mp4, [4], info);
      let difference = 0;
      for (let i = 0; i < jpeg.data.length; i++) difference += Math.abs(jpeg.data[i]! - decoded!.data[i]!);
      assert.ok(
        difference / jpeg.data.length < 12,
        `frame 5 differs by ${(difference / jpeg.data.length).toFixed(1)} per channel between JPEG and mp4`,
      );
      assert.ok(existsSync(data.vocabulary.vocabJson) && existsSync(data.vocabulary.mergesTxt));
      // Asked again with the same options, the files are reused; other options make them again.
      assert.equal((await makeDemoDataset(options)).created, false);
      assert.equal((await makeDemoDataset({ ...options, seed: 4 })).created, true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
