/**
 * What the original-checkpoint tests share: the reference fixture's `checkpoint_official.pt`, and a
 * config for it (every setting from the fixture's meta.json) over a synthetic frame dataset.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { makeSyntheticDataset, tinyConfig, type SyntheticDataset } from '../testing/synthetic-frames.ts';
import { REPO_ROOT } from '../testing/run-bike.ts';

export const REFERENCE_FIXTURES = path.resolve(REPO_ROOT, '..', 'shared', 'fixtures', 'bike-reference');
export const ORIGINAL_CHECKPOINT = path.join(REFERENCE_FIXTURES, 'checkpoint_official.pt');
export const originalCheckpointPresent =
  existsSync(ORIGINAL_CHECKPOINT) && existsSync(path.join(REFERENCE_FIXTURES, 'meta.json'));

/** Writes `dir/fixture.yaml` for the checkpoint's architecture and heads over a new synthetic dataset in `dir`. */
export async function originalCheckpointConfig(
  dir: string,
  perClass: number,
): Promise<{ file: string; dataset: SyntheticDataset; numSegments: number }> {
  const meta = JSON.parse(readFileSync(path.join(REFERENCE_FIXTURES, 'meta.json'), 'utf8'));
  const clip = meta.clip_config as Record<string, number>;
  const t = meta.num_segments as number;
  const dataset = await makeSyntheticDataset({
    dir,
    trainPerClass: perClass,
    valPerClass: perClass,
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
  return { file, dataset, numSegments: t };
}
