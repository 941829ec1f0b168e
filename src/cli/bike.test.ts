/**
 * End to end through the `bike` command on a tiny synthetic frame dataset made here: train the video
 * branch for two epochs with a tiny custom CLIP, test with 3 crops x 2 clips, zero-shot, generate
 * attributes, train the attribute branch, and fuse the two branches.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { makeSyntheticDataset, tinyConfig } from '../testing/synthetic-frames.ts';
import { lastJson, runBike } from '../testing/run-bike.ts';
import { loadScores } from '../engine/evaluation/score-files.ts';
import { topkAccuracy } from '../engine/evaluation/metrics.ts';

test(
  'bike train / test / zeroshot / attributes / train --attributes / test --fuse on a synthetic dataset',
  { timeout: 240_000 },
  async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bike-e2e-'));
    const dataset = await makeSyntheticDataset({
      dir,
      trainPerClass: 8,
      valPerClass: 3,
      frames: 8,
      width: 48,
      height: 36,
    });
    const out = path.join(dir, 'runs');
    const attrTrain = path.join(dir, 'attributes_train.json');
    const attrVal = path.join(dir, 'attributes_val.json');
    const config = path.join(dir, 'synthetic.yaml');
    writeFileSync(
      config,
      tinyConfig({
        dataset,
        outputPath: out,
        epochs: 2,
        batchSize: 4,
        numSegments: 4,
        attributesTrain: attrTrain,
        attributesVal: attrVal,
      }),
    );
    const chance = 100 / dataset.classNames.length;

    // Video branch, two epochs.
    const trained = await runBike(['train', config, '--log-time', 'video', '--json']);
    assert.equal(trained.code, 0, trained.stderr);
    const training = lastJson<{ runDir: string; epochs: { top1: number; loss: number }[]; bestMetric: number }>(
      trained,
    );
    assert.equal(training.epochs.length, 2);
    assert.ok(training.bestMetric > chance, `validation top-1 ${training.bestMetric}% should beat chance (${chance}%)`);
    const runDir = path.join(out, 'synthetic', 'custom-vit1x64p8-r32-txt1x64-e32', 'video');
    assert.equal(training.runDir, runDir);
    for (const file of [
      'last.json',
      'best.json',
      'log.txt',
      'metrics.jsonl',
      'synthetic.yaml',
      'config.resolved.json',
    ]) {
      assert.ok(existsSync(path.join(runDir, file)), `${file} is in the run directory`);
    }
    const records = readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(
      records.filter((r) => r.kind === 'iteration').length,
      2 * 8,
      'one record per iteration (32 videos / batch 4, two epochs)',
    );
    assert.equal(records.filter((r) => r.kind === 'epoch').length, 2);
    assert.match(readFileSync(path.join(runDir, 'log.txt'), 'utf8'), /Epoch: \[1\]\[6\/8\], lr: [\d.]+e-0\d/);

    // Multi-view test, scores saved for fusion.
    const videoScores = path.join(dir, 'video-scores.safetensors');
    const tested = await runBike([
      'test',
      config,
      runDir,
      '--test-crops',
      '3',
      '--test-clips',
      '2',
      '--save-scores',
      videoScores,
      '--json',
    ]);
    assert.equal(tested.code, 0, tested.stderr);
    const testResult = lastJson<{ videos: number; top1: number; top5: number }>(tested);
    assert.equal(testResult.videos, 12);
    assert.ok(testResult.top1 > chance, `multi-view top-1 ${testResult.top1}% should beat chance`);
    assert.equal(testResult.top5, 100, 'with 4 classes every label is in the top 5');
    assert.match(tested.stdout, /3 crop\(s\) x 2 clip\(s\)/);
    // The default precision is auto, and the run says what it chose.
    assert.match(tested.stdout, /precision auto -> (bf16|fp16|fp32): /);
    const saved = loadScores(videoScores);
    assert.equal(saved.videos.length, 12);
    for (let r = 0; r < 12; r++) {
      const row = saved.scores.subarray(r * 4, r * 4 + 4);
      assert.ok(
        Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5,
        'test scores are probabilities (softmax of the view average)',
      );
    }
    const [recomputedTop1] = topkAccuracy({ data: saved.scores, rows: 12, cols: 4 }, saved.labels, [1]);
    assert.equal(recomputedTop1, testResult.top1);

    // Zero-shot protocols.
    const zeroshot = await runBike([
      'zeroshot',
      config,
      path.join(runDir, 'best.json'),
      '--precision',
      'fp32',
      '--json',
    ]);
    assert.equal(zeroshot.code, 0, zeroshot.stderr);
    const zs = lastJson<{
      full: { top1: number };
      half: { top1: number[]; top1Mean: number; pickedClasses: number[][] };
    }>(zeroshot);
    assert.equal(zs.half.top1.length, 10);
    assert.deepEqual(zs.half.pickedClasses[0]!.length, 2);
    assert.match(zeroshot.stdout, /Half-classes Evaluation/);
    assert.match(zeroshot.stdout, /precision fp32: float32/);

    // Attributes from the trained CLIP, with a lexicon larger than the class list.
    const lexicon = path.join(dir, 'lexicon.txt');
    writeFileSync(lexicon, 'red\ngreen\nblue\nyellow\npurple\nsquare\ncircle\ngrey\n');
    const generated = await runBike(['attributes', config, runDir, '--lexicon', lexicon, '--topk', '3', '--json']);
    assert.equal(generated.code, 0, generated.stderr);
    const table = JSON.parse(readFileSync(attrVal, 'utf8')) as Record<string, { classname_topk: string[] }>;
    assert.equal(Object.keys(table).length, 12);
    for (const entry of Object.values(table)) {
      assert.equal(entry.classname_topk.length, 3);
      assert.equal(new Set(entry.classname_topk).size, 3);
    }
    assert.equal(Object.keys(JSON.parse(readFileSync(attrTrain, 'utf8'))).length, 32);

    // Attribute branch, initialised from the video run (as the original's co-training script).
    const attributeRun = await runBike([
      'train',
      config,
      '--attributes',
      '--log-time',
      'attr',
      '--set',
      `pretrain=${path.join(runDir, 'best.json')}`,
      '--json',
    ]);
    assert.equal(attributeRun.code, 0, attributeRun.stderr);
    const attributeDir = lastJson<{ runDir: string }>(attributeRun).runDir;
    const attributeScores = path.join(attributeDir, 'attribute-scores.safetensors');
    assert.ok(existsSync(attributeScores));

    // Fusion of the two branches: 0.7 video + 0.3 attributes, aligned by video path.
    const fused = await runBike([
      'test',
      config,
      runDir,
      '--test-crops',
      '3',
      '--test-clips',
      '2',
      '--fuse',
      attributeScores,
      '--json',
    ]);
    assert.equal(fused.code, 0, fused.stderr);
    const fusedResult = lastJson<{ top1: number; fused: { top1: number; top5: number; weight: number } }>(fused);
    assert.equal(fusedResult.top1, testResult.top1);
    const attribute = loadScores(attributeScores);
    const rowOf = new Map(attribute.videos.map((v, i) => [v, i]));
    const expected = new Float32Array(saved.scores.length);
    saved.videos.forEach((video, r) => {
      const a = rowOf.get(video)!;
      for (let c = 0; c < 4; c++)
        expected[r * 4 + c] = Math.fround(
          Math.fround(saved.scores[r * 4 + c]! * 0.7) +
            Math.fround(attribute.scores[a * 4 + c]! * Math.fround(1 - 0.7)),
        );
    });
    const [expectedTop1] = topkAccuracy({ data: expected, rows: 12, cols: 4 }, saved.labels, [1]);
    assert.equal(fusedResult.fused.top1, expectedTop1);
    assert.equal(fusedResult.fused.weight, 0.7);
  },
);
