/**
 * Parity of the CLIP encoders with the original BIKE code on a fixture directory: the model built
 * from `meta.json`'s `clip_config` (or inferred from the weights), loaded from `weights.safetensors`
 * (`clip.*`), run on `input.frames` and `input.text_tokens` of `io.safetensors`, compared with
 * `expect.encode_image`, `expect.encode_text.cls`, `expect.encode_text.tokens` and
 * `expect.logit_scale_exp` within compare.ts's scaled tolerance, `|a-b| <= 1e-4 * max(1, max|expected|)`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor, noGrad, tidy } from '../torch/index.ts';
import type { ParityResult } from './parity-result.ts';
import { loadSafetensors } from '../torch/serialization/serialization.ts';
import { inferClipConfig, parseClipConfig, type ClipConfig } from '../clip/config.ts';
import { CLIP } from '../clip/model.ts';
import { splitPrefixed } from '../clip/load.ts';
import { compareTensor } from './compare.ts';

const CHECKS = [
  { name: 'expect.encode_image', inputs: ['input.frames'] },
  { name: 'expect.encode_text.cls', inputs: ['input.text_tokens'] },
  { name: 'expect.encode_text.tokens', inputs: ['input.text_tokens'] },
  { name: 'expect.logit_scale_exp', inputs: [] },
] as const;

/** The CLIP hyper-parameters of a fixture: `meta.json`'s `clip_config`, else inferred from the weights. */
export function fixtureClipConfig(fixtureDir: string, clipWeights: ReadonlyMap<string, Tensor>): ClipConfig {
  const metaPath = join(fixtureDir, 'meta.json');
  if (existsSync(metaPath)) {
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as { clip_config?: unknown };
    if (meta.clip_config !== undefined) return parseClipConfig(meta.clip_config, `${metaPath} clip_config`);
  }
  return inferClipConfig(clipWeights, join(fixtureDir, 'weights.safetensors'));
}

export async function clipParityChecks(fixtureDir: string): Promise<ParityResult[]> {
  const weightsPath = join(fixtureDir, 'weights.safetensors');
  const ioPath = join(fixtureDir, 'io.safetensors');
  for (const path of [weightsPath, ioPath]) {
    if (!existsSync(path))
      return CHECKS.map((c) => ({ name: `clip ${c.name}`, ok: false, skipped: true, detail: `${path} is missing` }));
  }
  return tidy(() => {
    const io = loadSafetensors(ioPath);
    const { clip: weights } = splitPrefixed(loadSafetensors(weightsPath), weightsPath);
    let model: CLIP;
    try {
      model = new CLIP(fixtureClipConfig(fixtureDir, weights));
      model.loadStateDict(weights);
    } catch (error) {
      return CHECKS.map((c) => ({ name: `clip ${c.name}`, ok: false, detail: (error as Error).message }));
    }
    model.eval();
    const results: ParityResult[] = [];
    noGrad(() => {
      let text: { cls: Tensor; tokens: Tensor } | null = null;
      for (const check of CHECKS) {
        const name = `clip ${check.name}`;
        const expected = io.get(check.name);
        const missing = [check.name, ...check.inputs].filter((key) => !io.has(key));
        if (!expected || missing.length) {
          results.push({ name, ok: false, skipped: true, detail: `${ioPath} has no ${missing.join(', ')}` });
          continue;
        }
        try {
          let actual: Tensor;
          if (check.name === 'expect.encode_image') actual = model.encodeImage(io.get('input.frames')!);
          else if (check.name === 'expect.logit_scale_exp') actual = model.logit_scale.exp();
          else {
            text ??= model.encodeText(io.get('input.text_tokens')!);
            actual = check.name === 'expect.encode_text.cls' ? text.cls : text.tokens;
          }
          results.push(compareTensor(name, actual, expected));
        } catch (error) {
          results.push({ name, ok: false, detail: (error as Error).message });
        }
      }
    });
    for (const t of model.stateDict().values()) t.dispose();
    return results;
  });
}
