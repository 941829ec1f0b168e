/**
 * `bike test` on a Charades-format test list (multi-label CSV, `cNNN name` class file, `{}-{:06d}`
 * frame names): the mAP over the test set and the original's running average, checked against the
 * metrics computed from the saved scores.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { makeSyntheticDataset, tinyConfig } from '../../testing/synthetic-frames.ts';
import { lastJson, runBike } from '../../testing/run-bike.ts';
import { loadScores } from './score-files.ts';
import { meanAveragePrecision, runningMeanAveragePrecision } from './metrics.ts';

test('bike test reports Charades mAP and the running batch average', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bike-charades-'));
  const dataset = await makeSyntheticDataset({
    dir,
    trainPerClass: 3,
    valPerClass: 2,
    frames: 8,
    width: 40,
    height: 32,
  });
  const config = tinyConfig({ dataset, outputPath: path.join(dir, 'runs'), epochs: 1, batchSize: 4, numSegments: 4 });
  const trainConfig = path.join(dir, 'train.yaml');
  writeFileSync(trainConfig, config);
  const trained = await runBike(['train', trainConfig, '--log-time', 'c', '--json']);
  assert.equal(trained.code, 0, trained.stderr);
  const runDir = lastJson<{ runDir: string }>(trained).runDir;

  // The validation videos as Charades test videos: folder = id, frames `<id>-000001.png`.
  const charadesRoot = path.join(dir, 'charades');
  const names = ['red', 'green', 'blue', 'yellow'];
  const rows: string[] = [];
  const targets: number[][] = [];
  names.forEach((name, label) => {
    for (let v = 0; v < 2; v++) {
      const id = `${name.toUpperCase()}${v}`;
      const source = path.join(dataset.root, 'val', `${name}_${v}`);
      mkdirSync(path.join(charadesRoot, id), { recursive: true });
      readdirSync(source).forEach((file, i) =>
        copyFileSync(
          path.join(source, file),
          path.join(charadesRoot, id, `${id}-${String(i + 1).padStart(6, '0')}.png`),
        ),
      );
      // The second video of each colour also "contains" the next class.
      const actions = v === 0 ? `c00${label} 0.0 1.0` : `c00${label} 0.0 1.0;c00${(label + 1) % 4} 0.5 1.0`;
      rows.push(`${id},S,Room,5,6,Yes,script,objects,descriptions,${actions},1.0`);
      targets.push(names.map((_, c) => (c === label || (v === 1 && c === (label + 1) % 4) ? 1 : 0)));
    }
  });
  const testCsv = path.join(dir, 'Charades_v1_test.csv');
  writeFileSync(
    testCsv,
    `id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length\n${rows.join('\n')}\n`,
  );
  const classes = path.join(dir, 'Charades_v1_classes.txt');
  writeFileSync(classes, `${names.map((n, i) => `c00${i} ${n}`).join('\n')}\n`);
  const charadesConfig = path.join(dir, 'charades.yaml');
  writeFileSync(
    charadesConfig,
    config
      .replace('dataset: synthetic', 'dataset: charades')
      .replace(`val_root: '${dataset.root}'`, `val_root: '${charadesRoot}'`)
      .replace(`val_list: '${dataset.valList}'`, `val_list: '${testCsv}'`)
      .replace(`label_list: '${dataset.labelCsv}'`, `label_list: '${classes}'`)
      .replace("image_tmpl: 'img_{:05d}.png'", "image_tmpl: '{}-{:06d}.png'"),
  );

  const scoresFile = path.join(dir, 'charades-scores.safetensors');
  const run = await runBike([
    'test',
    charadesConfig,
    runDir,
    '--test-clips',
    '2',
    '--save-scores',
    scoresFile,
    '--json',
  ]);
  assert.equal(run.code, 0, run.stderr);
  const result = lastJson<{ videos: number; top1: null; charades: { mAP: number; runningMAP: number } }>(run);
  assert.equal(result.videos, 8);
  assert.equal(result.top1, null);
  assert.match(run.stdout, /Overall mAP [\d.]+% \(the original's running average over batches of 4: [\d.]+%\)/);
  const saved = loadScores(scoresFile);
  assert.deepEqual(saved.videos, ['RED0', 'RED1', 'GREEN0', 'GREEN1', 'BLUE0', 'BLUE1', 'YELLOW0', 'YELLOW1']);
  const matrix = { data: saved.scores, rows: 8, cols: 4 };
  const truth = { data: Uint8Array.from(targets.flat()), rows: 8, cols: 4 };
  assert.ok(Math.abs(result.charades.mAP - 100 * meanAveragePrecision(matrix, truth)) < 1e-9);
  assert.ok(Math.abs(result.charades.runningMAP - 100 * runningMeanAveragePrecision(matrix, truth, 4)) < 1e-9);

  const zeroshot = await runBike(['zeroshot', charadesConfig, runDir]);
  assert.equal(zeroshot.code, 1);
  assert.match(zeroshot.stderr, /multi-label Charades list/);
});
