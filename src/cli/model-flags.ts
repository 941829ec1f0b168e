/** The flags that say which model to load and how to run it: shared by `predict` and `serve`. */
import { INFERENCE_PRECISIONS } from '../engine/training/precision.ts';
import { UsageError, type FlagSpec } from './args.ts';

export const modelFlags = {
  model: {
    kind: 'string',
    value: 'run-dir|checkpoint',
    help: 'trained weights: a run directory (its best, else last checkpoint), a checkpoint .json, or a weights file',
  },
  clip: {
    kind: 'string',
    value: 'weights',
    help: 'instead of --model: plain CLIP weights, classified zero-shot with concept spotting (needs --labels)',
  },
  labels: {
    kind: 'string',
    value: 'csv',
    help: 'class names (id,name CSV); default: the label list the model was trained with',
  },
  config: {
    kind: 'string',
    value: 'config.yaml',
    help: 'the config of weights that carry none (original BIKE checkpoints)',
  },
  frames: {
    kind: 'int',
    min: 1,
    value: 'T',
    help: 'frames sampled with --clip (default 8; a trained model uses its num_segments)',
  },
  vocab: {
    kind: 'string',
    value: 'file|folder',
    help: 'CLIP BPE vocabulary; default BIKE_CLIP_VOCAB or beside the weights',
  },
  device: { kind: 'string', value: 'cpu|cuda|cuda:N', help: 'where the model runs (default cpu)' },
  precision: {
    kind: 'string',
    choices: INFERENCE_PRECISIONS,
    value: 'auto|fp32|bf16|fp16',
    help: 'arithmetic (default auto: bf16 autocast on CPUs with native bfloat16, fp16 autocast on CUDA, else fp32)',
  },
} satisfies Record<string, FlagSpec>;

/** Checks the combination of `modelFlags` given to `command`; returns the device (default cpu). */
export function checkModelFlags(
  f: { model?: string; clip?: string; labels?: string; frames?: number; device?: string },
  command: string,
): string {
  if (!f.model === !f.clip)
    throw new UsageError('give --model <run-dir|checkpoint> or --clip <weights> (one of them)', command);
  if (f.clip && !f.labels)
    throw new UsageError('--clip needs --labels <csv> (the class names to choose from)', command);
  if (f.frames !== undefined && f.model)
    throw new UsageError('--frames applies to --clip; a trained model samples its own num_segments', command);
  const device = f.device ?? 'cpu';
  if (!/^(cpu|cuda(:\d+)?)$/.test(device))
    throw new UsageError(`--device ${JSON.stringify(device)}: expected cpu, cuda or cuda:N`, command);
  return device;
}
