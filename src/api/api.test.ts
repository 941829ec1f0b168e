/**
 * The library's public entry on a tiny model trained here through `train()`: VideoClassifier on every
 * kind of input (and the same numbers as `bike predict`), class names changed after loading, native
 * memory over 1,000 calls, progress events, and each exported error class with its fields.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  AnnotationError,
  ConfigError,
  DeviceError,
  MediaError,
  ShapeError,
  StateDictError,
  VideoClassifier,
  WeightsError,
  generateAttributes,
  loadConfig,
  test as runTest,
  zeroShot,
  type Classification,
  type ProgressEvent,
} from '../index.ts';
import { probeVideo, readVideoFrames } from '../data/video-decoder.ts';
import { native } from '../torch/index.ts';
import { lastJson, runBike, SHARED_VOCAB } from '../testing/run-bike.ts';
import { makeTinyRun, type TinyRun } from '../testing/tiny-run.ts';

process.env.BIKE_CLIP_VOCAB ??= SHARED_VOCAB;

function close(a: readonly number[], b: readonly number[], tolerance: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  a.forEach((x, i) => assert.ok(Math.abs(x - b[i]!) <= tolerance, `${what}[${i}]: ${x} vs ${b[i]}`));
}

test('the library API on a tiny trained model', { timeout: 600_000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bike-api-'));
  let run: TinyRun;
  try {
    run = await makeTinyRun(dir);

    await t.test('train() reports progress events with phase, step, total and metrics', () => {
      assert.ok(run.progress.length > 0);
      const training = run.progress.filter((e) => e.phase.startsWith('epoch'));
      assert.ok(training.length > 0, `phases seen: ${[...new Set(run.progress.map((e) => e.phase))].join(', ')}`);
      for (const e of run.progress) {
        assert.ok(
          Number.isInteger(e.step) && e.step >= 1 && e.step <= e.total,
          `${e.phase} step ${e.step} of ${e.total}`,
        );
      }
      assert.equal(training.at(-1)!.step, training.at(-1)!.total);
      assert.equal(typeof training[0]!.metrics.loss, 'number');
      assert.ok(
        run.progress.some((e) => !e.phase.startsWith('epoch')),
        'the validation pass reports too',
      );
    });

    // Equality with `bike predict` (another process, other thread counts) is about the input paths, not
    // bf16 rounding: both sides run in float32.
    const classifier = await VideoClassifier.load({ model: run.runDir, precision: 'fp32' });
    const info = await probeVideo(run.video);
    const decoded = await readVideoFrames(
      run.video,
      Array.from({ length: info.frameCount }, (_, i) => i),
      info,
    );
    const classes = run.dataset.classNames.length;

    await t.test(
      'classify a video file, its bytes and its decoded frames: the same result, as bike predict gives',
      async () => {
        assert.equal(classifier.mode, 'trained');
        assert.deepEqual(classifier.classNames, run.dataset.classNames);
        const fromFile = await classifier.classify(run.video, { topK: classes });
        const fromBytes = await classifier.classify(readFileSync(run.video), { topK: classes });
        const fromFrames = await classifier.classify(decoded, { topK: classes });
        assert.equal(fromFile.probabilities.length, classes);
        close([fromFile.probabilities.reduce((s, p) => s + p, 0)], [1], 1e-5, 'probabilities sum');
        assert.deepEqual(fromBytes, fromFile);
        assert.deepEqual(fromFrames.probabilities, fromFile.probabilities);
        assert.deepEqual(fromFrames.frameIndices, fromFile.frameIndices);
        assert.equal(fromFile.saliency.length, classes);
        for (const s of fromFile.saliency) {
          assert.equal(s.weights.length, classifier.numSegments);
          close([s.weights.reduce((a, w) => a + w, 0)], [1], 1e-4, `saliency of ${s.name}`);
        }
        const cli = await runBike([
          'predict',
          run.video,
          '--model',
          run.runDir,
          '--top',
          String(classes),
          '--precision',
          'fp32',
          '--json',
        ]);
        assert.equal(cli.code, 0, cli.stderr);
        const predicted = lastJson<{
          top: { label: number; name: string; probability: number }[];
          frameIndices: number[];
        }>(cli);
        assert.deepEqual(predicted.frameIndices, fromFrames.frameIndices);
        assert.deepEqual(predicted.top, fromFrames.top);
        const folder = await classifier.classify(run.frameFolder, { topK: 2, saliencyClasses: 1 });
        assert.equal(folder.top.length, 2);
        assert.equal(folder.saliency.length, 1);
        assert.equal(folder.saliency[0]!.label, folder.top[0]!.label);
      },
    );

    await t.test('setClassNames gives what loading with those names gives', async () => {
      const names = ['a blue square', 'a red square', 'something yellow', 'green'];
      const loaded = await VideoClassifier.load({ model: run.runDir, classNames: names, precision: 'fp32' });
      const changed = await VideoClassifier.load({ model: run.runDir, precision: 'fp32' });
      try {
        changed.setClassNames(names);
        assert.deepEqual(changed.classNames, names);
        const a = await loaded.classify(decoded, { topK: 4 });
        const b = await changed.classify(decoded, { topK: 4 });
        assert.deepEqual(b, a);
        const before = await classifier.classify(decoded, { topK: 4 });
        assert.notDeepEqual(a.probabilities, before.probabilities, 'other names, other probabilities');
        // Back to the original names: the original result again (the cache holds the current names only).
        changed.setClassNames(run.dataset.classNames);
        assert.deepEqual((await changed.classify(decoded, { topK: 4 })).probabilities, before.probabilities);
        assert.throws(() => changed.setClassNames([]), /at least one/);
      } finally {
        loaded.dispose();
        changed.dispose();
      }
      assert.throws(() => changed.setClassNames(names), /after dispose/);
      await assert.rejects(changed.classify(decoded), /after dispose/);
    });

    await t.test('zero-shot from the CLIP of a checkpoint with class names', async () => {
      const zeroShot = await VideoClassifier.load({
        clip: run.runDir,
        classNames: run.dataset.classNames,
        numSegments: 4,
        precision: 'fp32',
      });
      try {
        assert.equal(zeroShot.mode, 'zero-shot');
        const result: Classification = await zeroShot.classify(run.video, { topK: 1 });
        assert.equal(result.top.length, 1);
        assert.equal(result.probabilities.length, classes);
        const cli = await runBike([
          'predict',
          run.video,
          '--clip',
          run.runDir,
          '--labels',
          run.dataset.labelCsv,
          '--frames',
          '4',
          '--precision',
          'fp32',
          '--top',
          String(classes),
          '--json',
        ]);
        assert.equal(cli.code, 0, cli.stderr);
        const all = await zeroShot.classify(run.video, { topK: classes });
        assert.deepEqual(lastJson<{ top: unknown }>(cli).top, all.top);
      } finally {
        zeroShot.dispose();
      }
    });

    await t.test('1,000 classify calls on one classifier: resident memory stays flat', async (st) => {
      const frames = decoded.slice();
      // One libtorch thread: on a loaded machine OpenMP's spinning threads make tiny calls 5-10x slower.
      const threads = native.getNumThreads();
      native.setNumThreads(1);
      try {
        for (let i = 0; i < 50; i++) await classifier.classify(frames, { topK: 1 });
        (globalThis as { gc?: () => void }).gc?.();
        const start = process.memoryUsage().rss;
        let last: Classification | null = null;
        for (let i = 0; i < 1000; i++) last = await classifier.classify(frames, { topK: 1 });
        (globalThis as { gc?: () => void }).gc?.();
        const growth = (process.memoryUsage().rss - start) / 2 ** 20;
        st.diagnostic(`resident memory growth over 1,000 calls: ${growth.toFixed(1)} MB`);
        assert.ok(last && last.top.length === 1);
        assert.ok(growth < 50, `resident memory grew ${growth.toFixed(1)} MB over 1,000 calls`);
      } finally {
        native.setNumThreads(threads);
      }
    });

    await t.test(
      'the workflows as functions: test, zeroShot, generateAttributes, with typed results and progress',
      async () => {
        const events: ProgressEvent[] = [];
        const tested = await runTest({
          config: run.configFile,
          weights: run.runDir,
          device: 'cpu',
          onProgress: (e) => events.push(e),
        });
        assert.equal(tested.videos, 4);
        assert.equal(typeof tested.top1, 'number');
        assert.ok(
          events.some((e) => e.phase === 'test' && e.step === e.total),
          `phases: ${[...new Set(events.map((e) => e.phase))].join(', ')}`,
        );
        const config = loadConfig(run.configFile, { purpose: 'test' });
        const zero = await zeroShot({ config, weights: run.runDir, device: 'cpu' });
        assert.equal(zero.videos, 4);
        assert.equal(typeof zero.full.top1, 'number');
        assert.equal(zero.half.pickedClasses.length, 10);
        const trainOut = path.join(dir, 'attributes-train.json');
        const valOut = path.join(dir, 'attributes-val.json');
        const attributes = await generateAttributes({
          config,
          weights: run.runDir,
          topk: 2,
          trainOut,
          valOut,
          device: 'cpu',
        });
        assert.deepEqual(
          attributes.files.map((f) => [f.output, f.videos]),
          [
            [trainOut, 12],
            [valOut, 4],
          ],
        );
        const table = JSON.parse(readFileSync(valOut, 'utf8')) as Record<string, { classname_topk: string[] }>;
        for (const entry of Object.values(table)) assert.equal(entry.classname_topk.length, 2);
      },
    );

    await t.test('each exported error class, with the fields naming the input', async () => {
      // ConfigError: the file, line and key of a mistyped key.
      const badConfig = path.join(dir, 'bad.yaml');
      writeFileSync(
        badConfig,
        readFileSync(run.configFile, 'utf8').replace('    batch_size: 4', '    batch_size: 4\n    bacth_size: 4'),
      );
      assert.throws(
        () => loadConfig(badConfig, { purpose: 'test' }),
        (e: unknown) => {
          assert.ok(e instanceof ConfigError);
          assert.equal(e.file, badConfig);
          assert.equal(e.key, 'data.bacth_size');
          assert.equal(
            e.line,
            readFileSync(badConfig, 'utf8')
              .split('\n')
              .findIndex((l) => l.includes('bacth_size')) + 1,
          );
          return true;
        },
      );
      // AnnotationError: the list file and line of a bad entry.
      const badList = path.join(dir, 'bad-val.txt');
      writeFileSync(badList, `${readFileSync(run.dataset.valList, 'utf8').trim()}\nval/green_0 eight 1\n`);
      const config = loadConfig(run.configFile, { purpose: 'test', overrides: [`data.val_list=${badList}`] });
      await assert.rejects(runTest({ config, weights: run.runDir, device: 'cpu' }), (e: unknown) => {
        assert.ok(e instanceof AnnotationError, String(e));
        assert.equal(e.file, badList);
        assert.equal(e.line, 5);
        return true;
      });
      // DeviceError: a device that does not exist.
      await assert.rejects(
        runTest({ config, weights: run.runDir, device: 'tpu' }),
        (e: unknown) => e instanceof DeviceError && e.device === 'tpu',
      );
      // MediaError: a missing file, and bytes that are no video.
      const missing = path.join(dir, 'missing.mp4');
      await assert.rejects(
        classifier.classify(missing),
        (e: unknown) => e instanceof MediaError && e.file === missing && /no such video file/.test(e.reason),
      );
      await assert.rejects(classifier.classify(Buffer.from('not a video at all')), (e: unknown) => {
        assert.ok(e instanceof MediaError, String(e));
        assert.equal(e.file, '<buffer>');
        assert.ok(!e.message.includes(os.tmpdir()), `the message names the buffer, not a temporary file: ${e.message}`);
        return true;
      });
      // ShapeError: a frame whose bytes do not fit its size.
      await assert.rejects(classifier.classify([{ width: 4, height: 4, data: new Uint8Array(5) }]), (e: unknown) => {
        assert.ok(e instanceof ShapeError, String(e));
        assert.equal(e.what, '<frames> frame 0');
        assert.deepEqual(e.expected, [4, 4, 3]);
        assert.deepEqual(e.actual, [5]);
        return true;
      });
      // WeightsError: a file that is no weights format.
      const junk = path.join(dir, 'junk.pt');
      writeFileSync(junk, 'not a checkpoint');
      await assert.rejects(
        VideoClassifier.load({ clip: junk, classNames: ['a'] }),
        (e: unknown) => e instanceof WeightsError && e.file === junk,
      );
      await assert.rejects(
        VideoClassifier.load({ model: path.join(dir, 'no-run') }),
        (e: unknown) => e instanceof WeightsError && e.file === path.join(dir, 'no-run'),
      );
      // StateDictError: weights that do not fit the network the config describes.
      const mismatched = path.join(dir, 'mismatched.yaml');
      writeFileSync(mismatched, readFileSync(run.configFile, 'utf8').replace('sim_header: Transf', 'sim_header: None'));
      const withoutHead = loadConfig(mismatched, { purpose: 'test' });
      await assert.rejects(runTest({ config: withoutHead, weights: run.runDir, device: 'cpu' }), (e: unknown) => {
        assert.ok(e instanceof StateDictError, String(e));
        assert.ok(e.unexpected.length > 0);
        return true;
      });
    });
    classifier.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
