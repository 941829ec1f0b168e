/**
 * Parity of the `.pt` reader with the reference: `checkpoint_official.pt` (an original BIKE training
 * checkpoint) must hold exactly the tensors of `weights.safetensors`, `model_state_dict` under the
 * `clip.` prefix and `fusion_model_state_dict` under `video_head.`. One result per state dict.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ParityResult } from './parity-result.ts';
import { isLoadedTensor, readPtFile } from '../torch/serialization/pt-reader.ts';
import type { RawTensor } from '../torch/serialization/raw-tensor.ts';
import { parseSafetensors } from '../torch/serialization/safetensors-format.ts';
import { sameBytes } from './compare.ts';

const STATE_DICT_PREFIXES: [stateDict: string, safetensorsPrefix: string][] = [
  ['model_state_dict', 'clip.'],
  ['fusion_model_state_dict', 'video_head.'],
];

/** Why `stateDict` differs from the `prefix` tensors of `reference`, or null when it matches exactly. */
export function compareStateDict(stateDict: unknown, reference: Map<string, RawTensor>, prefix: string): string | null {
  if (typeof stateDict !== 'object' || stateDict === null || Array.isArray(stateDict) || stateDict instanceof Map) {
    return 'is not a dict with string keys';
  }
  const names = Object.keys(stateDict);
  const expected = [...reference.keys()]
    .filter((name) => name.startsWith(prefix))
    .map((name) => name.slice(prefix.length));
  const missing = expected.filter((name) => !(name in stateDict));
  const extra = names.filter((name) => !reference.has(prefix + name));
  if (missing.length || extra.length)
    return `names differ: missing [${missing.join(', ')}], unexpected [${extra.join(', ')}]`;
  for (const name of names) {
    const tensor = (stateDict as Record<string, unknown>)[name];
    const want = reference.get(prefix + name)!;
    if (!isLoadedTensor(tensor)) return `'${name}' is not a tensor`;
    if (tensor.dtype !== want.dtype || tensor.shape.join() !== want.shape.join()) {
      return `'${name}' is ${tensor.dtype} [${tensor.shape}], expected ${want.dtype} [${want.shape}]`;
    }
    if (!sameBytes(tensor.data, want.data)) return `'${name}' bytes differ`;
  }
  return null;
}

export async function ptReaderParityChecks(fixtureDir: string): Promise<ParityResult[]> {
  const checkpointPath = join(fixtureDir, 'checkpoint_official.pt');
  const weightsPath = join(fixtureDir, 'weights.safetensors');
  const names = STATE_DICT_PREFIXES.map(([stateDict]) => `pt reader ${stateDict}`);
  for (const path of [checkpointPath, weightsPath]) {
    if (!existsSync(path))
      return names.map((name) => ({ name, ok: false, skipped: true, detail: `${path} is missing` }));
  }
  let checkpoint: Record<string, unknown>;
  try {
    checkpoint = readPtFile(checkpointPath) as Record<string, unknown>;
  } catch (error) {
    return names.map((name) => ({ name, ok: false, detail: (error as Error).message }));
  }
  const reference = parseSafetensors(readFileSync(weightsPath), weightsPath).tensors;
  return STATE_DICT_PREFIXES.map(([stateDict, prefix], i) => {
    const fault = compareStateDict(checkpoint[stateDict], reference, prefix);
    const count = [...reference.keys()].filter((name) => name.startsWith(prefix)).length;
    return fault
      ? {
          name: names[i],
          ok: false,
          detail: `${checkpointPath} ${stateDict} vs ${weightsPath} ${prefix}*: ${fault} (tolerance: exact bytes)`,
        }
      : { name: names[i], ok: true, detail: `${count} tensors byte-identical to ${prefix}* (tolerance: exact bytes)` };
  });
}
