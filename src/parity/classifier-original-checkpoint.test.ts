/**
 * VideoClassifier from an original BIKE checkpoint (the reference fixture's `checkpoint_official.pt`)
 * with the config it was trained with: the same classes and probabilities as `bike predict --model
 * <checkpoint> --config <yaml>`, and from the fixture's safetensors layout of the same weights.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { VideoClassifier } from '../index.ts';
import {
  ORIGINAL_CHECKPOINT,
  REFERENCE_FIXTURES,
  originalCheckpointConfig,
  originalCheckpointPresent,
} from './original-checkpoint-setup.ts';
import { SHARED_VOCAB, lastJson, runBike } from '../testing/run-bike.ts';

const fixtures = REFERENCE_FIXTURES;

test(
  'VideoClassifier loads an original BIKE checkpoint with its config, as bike predict does',
  { skip: !originalCheckpointPresent, timeout: 300_000 },
  async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bike-api-original-'));
    try {
      const { file, dataset, numSegments: t } = await originalCheckpointConfig(dir, 1);
      const video = path.join(dataset.root, 'val', 'blue_0');
      const checkpoint = ORIGINAL_CHECKPOINT;
      const classes = dataset.classNames.length;

      const classifier = await VideoClassifier.load({
        model: checkpoint,
        config: file,
        vocab: SHARED_VOCAB,
        precision: 'fp32',
      });
      const sameWeights = await VideoClassifier.load({
        model: path.join(fixtures, 'weights.safetensors'),
        config: file,
        vocab: SHARED_VOCAB,
        precision: 'fp32',
      });
      try {
        assert.equal(classifier.mode, 'trained');
        assert.equal(classifier.numSegments, t);
        const result = await classifier.classify(video, { topK: classes });
        assert.deepEqual(await sameWeights.classify(video, { topK: classes }), result);
        const cli = await runBike([
          'predict',
          video,
          '--model',
          checkpoint,
          '--config',
          file,
          '--top',
          String(classes),
          '--precision',
          'fp32',
          '--json',
        ]);
        assert.equal(cli.code, 0, cli.stderr);
        assert.deepEqual(lastJson<{ top: unknown }>(cli).top, result.top);
      } finally {
        classifier.dispose();
        sameWeights.dispose();
      }
      // Without its config an original checkpoint cannot be rebuilt: the error says what to pass.
      await assert.rejects(
        VideoClassifier.load({ model: checkpoint, vocab: SHARED_VOCAB }),
        /carry no config .*--config/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
