/**
 * The `bike` command's errors name the input at fault: config keys (with file and line), `--set`
 * arguments, flags, missing files, weights that do not fit; and usage mistakes exit with status 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { makeSyntheticDataset, tinyConfig } from '../testing/synthetic-frames.ts';
import { lastJson, runBike } from '../testing/run-bike.ts';
import { parseArgs, UsageError } from './args.ts';
import { workerArgv } from './commands.ts';

test('flag parsing: values, repeats, choices and unknown options', () => {
  const specs = {
    set: { kind: 'string', repeat: true, help: '' },
    'test-crops': { kind: 'int', choices: [1, 3, 5, 10], help: '' },
    dense: { kind: 'boolean', help: '' },
  } as const;
  const parsed = parseArgs(['a.yaml', '--set', 'x=1', '--set=y=2', '--test-crops', '3', '--dense', 'w'], specs, 'test');
  assert.deepEqual(parsed.positionals, ['a.yaml', 'w']);
  assert.deepEqual(parsed.flags, { set: ['x=1', 'y=2'], 'test-crops': 3, dense: true });
  assert.throws(() => parseArgs(['--test-crops', '4'], specs, 'test'), /--test-crops "4": expected one of 1, 3, 5, 10/);
  assert.throws(
    () => parseArgs(['--test-crop', '3'], specs, 'test'),
    (e: unknown) => e instanceof UsageError && /unknown option --test-crop/.test(e.message),
  );
  assert.throws(() => parseArgs(['--set'], specs, 'test'), /--set needs a value/);
  assert.throws(() => parseArgs(['--dense', '--dense'], specs, 'test'), /--dense was given twice/);
  assert.deepEqual(workerArgv(['c.yaml', '--nproc', '2', '--master-port=123', '--set', 'a=b', '--nnodes', '1']), [
    'c.yaml',
    '--set',
    'a=b',
  ]);
});

test('bike reports bad configs, flags and files by name', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bike-errors-'));
  const dataset = await makeSyntheticDataset({
    dir,
    trainPerClass: 3,
    valPerClass: 1,
    frames: 8,
    width: 40,
    height: 32,
  });
  const good = tinyConfig({ dataset, outputPath: path.join(dir, 'runs'), epochs: 1, batchSize: 4, numSegments: 4 });
  const bad = path.join(dir, 'bad.yaml');
  writeFileSync(
    bad,
    good.replace('    batch_size: 4', '    batch_sise: 4').replace('loss_type: NCE', 'loss_type: NCX'),
  );
  const run = await runBike(['train', bad]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /bad\.yaml:\d+: data\.batch_sise: unknown key; did you mean data\.batch_size\?/);
  assert.match(run.stderr, /bad\.yaml:\d+: solver\.loss_type: expected one of NCE, DS, got text "NCX"/);

  const config = path.join(dir, 'good.yaml');
  writeFileSync(config, good);
  const badSet = await runBike(['train', config, '--set', 'solver.lr=fast']);
  assert.equal(badSet.code, 1);
  assert.match(badSet.stderr, /--set solver\.lr=fast: solver\.lr: expected a number/);

  const usage = await runBike(['test', config]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /bike test: expected <config> <weights>/);
  const crops = await runBike(['test', config, dir, '--test-crops', '4']);
  assert.equal(crops.code, 2);
  assert.match(crops.stderr, /--test-crops "4": expected one of 1, 3, 5, 10/);
  const unknown = await runBike(['tran', config]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command "tran"/);

  const missingWeights = await runBike(['test', config, path.join(dir, 'nothing.pt')]);
  assert.equal(missingWeights.code, 1);
  assert.match(missingWeights.stderr, /nothing\.pt: no such file/);

  const missingList = await runBike(['train', config, '--set', `data.train_list=${path.join(dir, 'absent.txt')}`]);
  assert.equal(missingList.code, 1);
  assert.match(missingList.stderr, /data\.train_list: cannot read .*absent\.txt \(ENOENT\)/);

  const badLabel = path.join(dir, 'bad-label.txt');
  writeFileSync(badLabel, 'train/red_0 8 0\ntrain/red_1 8 7\n');
  const labelRun = await runBike(['train', config, '--set', `data.train_list=${badLabel}`]);
  assert.equal(labelRun.code, 1);
  assert.match(labelRun.stderr, /bad-label\.txt:2: unknown label 7/);

  const noVocab = await runBike(['train', config], { BIKE_CLIP_VOCAB: '' });
  assert.equal(noVocab.code, 1);
  assert.match(noVocab.stderr, /no CLIP BPE vocabulary: pass --vocab/);

  // A checkpoint of another architecture: the mismatch is named.
  // Few-shot, the DS loss, SGD with momentum and the multistep schedule in one short run.
  const trained = await runBike([
    'train',
    config,
    '--log-time',
    'shot',
    '--set',
    'data.shot=2',
    '--set',
    'solver.loss_type=DS',
    '--set',
    'solver.optim=sgd',
    '--set',
    'solver.momentum=0.9',
    '--set',
    'solver.type=multistep',
    '--set',
    'solver.lr_decay_step=1',
    '--json',
  ]);
  assert.equal(trained.code, 0, trained.stderr);
  const runDir = lastJson<{ runDir: string }>(trained).runDir;
  const other = path.join(dir, 'other.yaml');
  writeFileSync(other, good.replace('sim_header: Transf', 'sim_header: None'));
  const mismatch = await runBike(['test', other, runDir]);
  assert.equal(mismatch.code, 1);
  assert.match(mismatch.stderr, /unexpected keys: .*frame_position_embeddings/);
  assert.match(
    readFileSync(path.join(runDir, 'log.txt'), 'utf8'),
    /few-shot: 2 videos per class \(8 videos\), repeated to 8 per epoch/,
  );

  // ActivityNet: top-1 / top-3 and mAP of the scores as well.
  const anet = path.join(dir, 'anet.yaml');
  writeFileSync(anet, good.replace('dataset: synthetic', 'dataset: anet'));
  const anetRun = await runBike(['test', anet, runDir, '--json']);
  assert.equal(anetRun.code, 0, anetRun.stderr);
  const anetResult = lastJson<{ top1: number; activityNet: { top1: number; top3: number; mAP: number } }>(anetRun);
  assert.equal(anetResult.activityNet.top1, anetResult.top1);
  assert.ok(anetResult.activityNet.mAP > 0 && anetResult.activityNet.mAP <= 100);
  assert.match(anetRun.stdout, /ActivityNet: top-1 [\d.]+% top-3 [\d.]+% mAP [\d.]+%/);
});
