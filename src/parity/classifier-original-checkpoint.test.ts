/**
 * VideoClassifier from an original BIKE checkpoint (the reference fixture's `checkpoint_official.pt`)
 * with the config it was trained with: the same classes and probabilities as `bike predict --model
 * <checkpoint> --config <yaml>`, and from the fixture's safetensors layout of the same weights.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { VideoClassifier } from '../index.ts';
import { makeSyntheticDataset, tinyConfig } from '../testing/synthetic-frames.ts';
import { REPO_ROOT, SHARED_VOCAB, lastJson, runBike } from '../testing/run-bike.ts';

const fixtures = path.resolve(REPO_ROOT, '..', 'shared', 'fixtures', 'bike-reference');
const present =
  existsSync(path.join(fixtures, 'checkpoint_official.pt')) && existsSync(path.join(fixtures, 'meta.json'));

test(
  'VideoClassifier loads an original BIKE checkpoint with its config, as bike predict does',
  { skip: !present, timeout: 300_000 },
  async () => {
    const meta = JSON.parse(readFileSync(path.join(fixtures, 'meta.json'), 'utf8'));
    const clip = meta.clip_config as Record<string, number>;
    const dir = mkdtempSync(path.join(tmpdir(), 'bike-api-original-'));
    try {
      const t = meta.num_segments as number;
      const dataset = await makeSyntheticDataset({
        dir,
        trainPerClass: 1,
        valPerClass: 1,
        frames: Math.max(8, t),
        width: clip.image_resolution! + 8,
        height: clip.image_resolution!,
      });
      const arch = Object.entries(clip)
        .map(([k, v]) => `        ${k}: ${v}`)
        .join('\n');
      const config = tinyConfig({
        dataset,
        outputPath: path.join(dir, 'runs'),
        epochs: 1,
        batchSize: 2,
        numSegments: t,
      })
        .replace(/    arch:\n(        .*\n)+/, `    arch:\n${arch}\n`)
        .replace('input_size: 32', `input_size: ${clip.image_resolution}`)
        .replace('sim_header: Transf', `sim_header: ${meta.video_head.sim_header}`)
        .replace('interaction: VCS', `interaction: ${meta.video_head.interaction}`);
      const file = path.join(dir, 'fixture.yaml');
      writeFileSync(file, config);
      const video = path.join(dataset.root, 'val', 'blue_0');
      const checkpoint = path.join(fixtures, 'checkpoint_official.pt');
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
