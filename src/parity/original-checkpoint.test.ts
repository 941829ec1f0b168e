/**
 * The reference fixture's original BIKE checkpoint (`checkpoint_official.pt`, a torch.save zip with
 * `model_state_dict` / `fusion_model_state_dict`) works for `bike test` and as `pretrain`, and gives the
 * same scores as the same weights in the fixture's safetensors layout. Every setting comes from the
 * fixture's meta.json.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  ORIGINAL_CHECKPOINT,
  REFERENCE_FIXTURES,
  originalCheckpointConfig,
  originalCheckpointPresent,
} from './original-checkpoint-setup.ts';
import { lastJson, runBike } from '../testing/run-bike.ts';
import { loadScores } from '../engine/evaluation/score-files.ts';

const fixtures = REFERENCE_FIXTURES;

test(
  'an original checkpoint tests and pretrains like the same weights in safetensors',
  { skip: !originalCheckpointPresent, timeout: 180_000 },
  async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bike-original-'));
    const { file } = await originalCheckpointConfig(dir, 2);

    const fromPt = path.join(dir, 'pt.safetensors');
    const fromSafetensors = path.join(dir, 'st.safetensors');
    const a = await runBike([
      'test',
      file,
      ORIGINAL_CHECKPOINT,
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
      `pretrain=${ORIGINAL_CHECKPOINT}`,
      '--json',
    ]);
    assert.equal(pretrained.code, 0, pretrained.stderr);
    assert.match(
      readFileSync(path.join(lastJson<{ runDir: string }>(pretrained).runDir, 'log.txt'), 'utf8'),
      /loaded pretrain .*checkpoint_official\.pt' \(original, epoch \d+; head: video_head\)/,
    );
  },
);
