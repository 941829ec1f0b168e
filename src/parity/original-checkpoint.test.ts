/**
 * The reference fixture's original BIKE checkpoint (`checkpoint_official.pt`, a torch.save zip with
 * `model_state_dict` / `fusion_model_state_dict`) works for `bike test` and as `pretrain`, and gives the
 * same scores as the same weights in the fixture's safetensors layout. Every setting comes from the
 * fixture's meta.json.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { makeSyntheticDataset, tinyConfig } from '../testing/synthetic-frames.ts';
import { REPO_ROOT, lastJson, runBike } from '../testing/run-bike.ts';
import { loadScores } from '../engine/evaluation/score-files.ts';

const fixtures = path.resolve(REPO_ROOT, '..', 'shared', 'fixtures', 'bike-reference');
const present =
  existsSync(path.join(fixtures, 'checkpoint_official.pt')) && existsSync(path.join(fixtures, 'meta.json'));

test(
  'an original checkpoint tests and pretrains like the same weights in safetensors',
  { skip: !present, timeout: 180_000 },
  async () => {
    const meta = JSON.parse(readFileSync(path.join(fixtures, 'meta.json'), 'utf8'));
    const clip = meta.clip_config as Record<string, number>;
    const dir = mkdtempSync(path.join(tmpdir(), 'bike-original-'));
    const t = meta.num_segments as number;
    const dataset = await makeSyntheticDataset({
      dir,
      trainPerClass: 2,
      valPerClass: 2,
      frames: Math.max(8, t),
      width: clip.image_resolution! + 8,
      height: clip.image_resolution!,
    });
    const arch = Object.entries(clip)
      .map(([k, v]) => `        ${k}: ${v}`)
      .join('\n');
    const config = tinyConfig({ dataset, outputPath: path.join(dir, 'runs'), epochs: 1, batchSize: 2, numSegments: t })
      .replace(/    arch:\n(        .*\n)+/, `    arch:\n${arch}\n`)
      .replace('input_size: 32', `input_size: ${clip.image_resolution}`)
      .replace('sim_header: Transf', `sim_header: ${meta.video_head.sim_header}`)
      .replace('interaction: VCS', `interaction: ${meta.video_head.interaction}`);
    const file = path.join(dir, 'fixture.yaml');
    writeFileSync(file, config);

    const fromPt = path.join(dir, 'pt.safetensors');
    const fromSafetensors = path.join(dir, 'st.safetensors');
    const a = await runBike([
      'test',
      file,
      path.join(fixtures, 'checkpoint_official.pt'),
      '--test-crops',
      '3',
      '--save-scores',
      fromPt,
      '--json',
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /load model: epoch \d+ \(original/);
    const b = await runBike([
      'test',
      file,
      path.join(fixtures, 'weights.safetensors'),
      '--test-crops',
      '3',
      '--save-scores',
      fromSafetensors,
      '--json',
    ]);
    assert.equal(b.code, 0, b.stderr);
    assert.deepEqual(lastJson(a), lastJson(b));
    assert.deepEqual(loadScores(fromPt).scores, loadScores(fromSafetensors).scores);

    // As `pretrain` of a training run (the original's k400 -> downstream fine-tuning).
    const pretrained = await runBike([
      'train',
      file,
      '--log-time',
      'p',
      '--set',
      `pretrain=${path.join(fixtures, 'checkpoint_official.pt')}`,
      '--json',
    ]);
    assert.equal(pretrained.code, 0, pretrained.stderr);
    assert.match(
      readFileSync(path.join(lastJson<{ runDir: string }>(pretrained).runDir, 'log.txt'), 'utf8'),
      /loaded pretrain .*checkpoint_official\.pt' \(original, epoch \d+; head: video_head\)/,
    );
  },
);
