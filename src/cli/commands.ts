/**
 * The `bike` commands: each parses its flags, loads the config for its purpose and calls the engine.
 * Nothing here computes anything the engine does not offer.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateAttributes } from '../engine/inference/attribute-generation.ts';
import { loadConfig, type BikeConfig, type ConfigPurpose } from '../engine/config/config.ts';
import { DeviceError, resolveDevice } from '../engine/distributed/device-policy.ts';
import { openCollectives } from '../engine/distributed/distributed-env.ts';
import { runTest, runZeroShot } from '../engine/evaluation/test-runs.ts';
import { launchWorkers } from '../engine/distributed/launcher.ts';
import {
  INFERENCE_PRECISIONS,
  PRECISIONS,
  parsePrecision,
  type InferencePrecision,
} from '../engine/training/precision.ts';
import { logTimeNow } from '../engine/logging/run-dir.ts';
import { train } from '../engine/training/trainer.ts';
import { TEST_CROP_COUNTS } from '../data/crop-geometry.ts';
import { UsageError, parseArgs, type FlagSpec } from './args.ts';
import { demoCommand } from './demo-command.ts';
import { predictCommand } from './predict-command.ts';
import { serveCommand } from './serve-command.ts';
import { MAX_LOADER_WORKERS } from '../data/loader-limits.ts';
import { exportCommand } from './export-command.ts';

export interface Command {
  summary: string;
  usage: string;
  flags: Record<string, FlagSpec>;
  run(argv: string[]): Promise<unknown>;
}

const common = {
  set: {
    kind: 'string',
    repeat: true,
    value: 'key.path=value',
    help: 'override a config value (YAML), e.g. --set solver.lr=1.e-5',
  },
  vocab: {
    kind: 'string',
    value: 'file|folder',
    help: 'CLIP BPE vocabulary (bpe_simple_vocab_16e6.txt.gz or a Hugging Face tokenizer folder); default BIKE_CLIP_VOCAB or beside the weights',
  },
  device: {
    kind: 'string',
    value: 'cpu|cuda|cuda:N',
    help: 'where the model runs (default: cuda when available, else cpu)',
  },
  workers: {
    kind: 'int',
    min: 0,
    max: MAX_LOADER_WORKERS,
    value: 'N',
    help: 'data loader threads (default data.workers)',
  },
  quiet: { kind: 'boolean', help: 'no progress output (log files are still written)' },
  json: { kind: 'boolean', help: 'print the result as one JSON line at the end' },
} satisfies Record<string, FlagSpec>;

const evaluationFlags = {
  'test-crops': {
    kind: 'int',
    choices: TEST_CROP_COUNTS,
    value: 'N',
    help: 'spatial crops per clip: 1, 3, 5 or 10 (default 1)',
  },
  'test-clips': { kind: 'int', min: 1, value: 'N', help: 'clips per video (default 1)' },
  dense: { kind: 'boolean', help: 'dense (I3D-style) frame sampling' },
  fuse: {
    kind: 'string',
    value: 'scores.safetensors',
    help: 'fuse with attribute-branch scores saved by `bike train --attributes`',
  },
  'fuse-weight': { kind: 'number', min: 0, value: 'w', help: 'weight of the video branch in the fusion (default 0.7)' },
  'save-scores': { kind: 'string', value: 'file', help: 'save the scores and labels (safetensors) for later fusion' },
  precision: {
    kind: 'string',
    choices: INFERENCE_PRECISIONS,
    value: 'auto|fp32|bf16|fp16',
    help: 'arithmetic (default auto: bf16 autocast on CPUs with native bfloat16, fp16 autocast on CUDA, else fp32)',
  },
  ...common,
} satisfies Record<string, FlagSpec>;

function positionals(parsed: { positionals: string[] }, names: string[], command: string): string[] {
  if (parsed.positionals.length !== names.length) {
    const got = parsed.positionals.length ? `: got ${parsed.positionals.map((p) => JSON.stringify(p)).join(' ')}` : '';
    throw new UsageError(`expected ${names.map((n) => `<${n}>`).join(' ')}${got}`, command);
  }
  return parsed.positionals;
}

function readConfig(file: string, flags: { set?: string[] }, purpose: ConfigPurpose): BikeConfig {
  return loadConfig(file, { overrides: flags.set ?? [], purpose });
}

function defaultDevice(flags: { device?: string }): string {
  try {
    return resolveDevice(flags.device);
  } catch (error) {
    if (error instanceof DeviceError) throw new UsageError(error.message);
    throw error;
  }
}

function printJson(flags: { json?: true }, value: unknown): void {
  if (flags.json) process.stdout.write(`${JSON.stringify(value)}\n`);
}

const trainFlags = {
  attributes: { kind: 'boolean', help: 'train the attribute branch (train_attributes.py) instead of the video branch' },
  precision: {
    kind: 'string',
    choices: PRECISIONS,
    value: 'amp|fp16|fp32',
    help: 'floating-point precision (default amp; on the CPU amp runs in float32)',
  },
  'log-time': {
    kind: 'string',
    value: 'name',
    help: 'run folder name under output_path/dataset/arch (default: the start time)',
  },
  nproc: {
    kind: 'int',
    min: 1,
    value: 'N',
    help: 'start N worker processes on this machine (distributed data parallel)',
  },
  nnodes: { kind: 'int', min: 1, value: 'M', help: 'machines taking part (default 1)' },
  'node-rank': { kind: 'int', min: 0, value: 'R', help: "this machine's index (0 hosts the rendezvous)" },
  'master-addr': { kind: 'string', value: 'host', help: 'address of the machine with --node-rank 0' },
  'master-port': {
    kind: 'int',
    min: 1,
    value: 'port',
    help: 'rendezvous port (default: a free port on one machine, 29500 across machines)',
  },
  ...common,
} satisfies Record<string, FlagSpec>;

const attributeFlags = {
  lexicon: {
    kind: 'string',
    value: 'file',
    help: 'words to choose from, one per line (default: the class names of data.label_list)',
  },
  topk: { kind: 'int', min: 1, value: 'K', help: 'words per video (default max(5, data.select_topk_attributes))' },
  'train-out': {
    kind: 'string',
    value: 'file',
    help: 'output for the training list (default data.attributes_train_path)',
  },
  'val-out': {
    kind: 'string',
    value: 'file',
    help: 'output for the validation list (default data.attributes_val_path)',
  },
  ...common,
} satisfies Record<string, FlagSpec>;

const LAUNCHER_FLAGS = ['nproc', 'nnodes', 'node-rank', 'master-addr', 'master-port'];

/** argv without the launcher's flags (what each worker runs). */
export function workerArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const name = arg.startsWith('--') ? arg.slice(2).split('=')[0]! : '';
    if (LAUNCHER_FLAGS.includes(name)) {
      if (!arg.includes('=')) i++;
      continue;
    }
    out.push(arg);
  }
  return out;
}

export function cliEntry(): string {
  return process.argv[1] ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'main.ts');
}

export const COMMANDS: Record<string, Command> = {
  train: {
    summary: 'fine-tune BIKE on a dataset (train.py; --attributes: train_attributes.py)',
    usage: 'bike train <config.yaml> [options]',
    flags: trainFlags,
    async run(argv) {
      const parsed = parseArgs(argv, trainFlags, 'train');
      const [configFile] = positionals(parsed, ['config'], 'train');
      const f = parsed.flags;
      const branch = f.attributes ? 'attributes' : 'video';
      // Check the config before starting any worker, so mistakes are reported once.
      const config = readConfig(configFile!, f, branch === 'attributes' ? 'train-attributes' : 'train');
      if (f.nproc !== undefined || f.nnodes !== undefined) {
        const logTime = f['log-time'] ?? logTimeNow();
        await launchWorkers({
          nproc: f.nproc ?? 1,
          nnodes: f.nnodes,
          nodeRank: f['node-rank'],
          masterAddr: f['master-addr'],
          masterPort: f['master-port'],
          workerArgs: [cliEntry(), 'train', ...workerArgv(argv)],
          env: { BIKE_LOG_TIME: logTime },
        });
        return { launched: true };
      }
      const collectives = openCollectives();
      try {
        const result = await train({
          config,
          configFile: configFile!,
          branch,
          precision: parsePrecision(f.precision ?? 'amp'),
          device: defaultDevice(f),
          logTime: f['log-time'],
          vocab: f.vocab,
          quiet: f.quiet,
          workers: f.workers,
          collectives,
        });
        if (collectives.rank === 0) printJson(f, result);
        return result;
      } finally {
        collectives.close();
      }
    },
  },
  test: {
    summary: 'test trained weights with the original protocols (test.py): top-1/top-5, multi-view, fusion',
    usage: 'bike test <config.yaml> <weights> [options]',
    flags: evaluationFlags,
    run: (argv) => evaluation(argv, 'test'),
  },
  zeroshot: {
    summary: 'zero-shot evaluation (test_zeroshot.py): full classes and the 10 half-class splits',
    usage: 'bike zeroshot <config.yaml> <weights> [options]',
    flags: evaluationFlags,
    run: (argv) => evaluation(argv, 'zeroshot'),
  },
  attributes: {
    summary: 'generate the attribute JSON of the training and validation videos with a frozen CLIP',
    usage: 'bike attributes <config.yaml> <clip-weights> [options]',
    flags: attributeFlags,
    async run(argv) {
      const parsed = parseArgs(argv, attributeFlags, 'attributes');
      const [configFile, weights] = positionals(parsed, ['config', 'clip-weights'], 'attributes');
      const f = parsed.flags;
      const config = readConfig(configFile!, f, 'test');
      const collectives = openCollectives();
      try {
        const result = await generateAttributes({
          config,
          weights: weights!,
          lexicon: f.lexicon,
          topk: f.topk,
          trainOut: f['train-out'],
          valOut: f['val-out'],
          device: defaultDevice(f),
          vocab: f.vocab,
          workers: f.workers,
          quiet: f.quiet,
          collectives,
        });
        if (collectives.rank === 0) printJson(f, result);
        return result;
      } finally {
        collectives.close();
      }
    },
  },
  predict: predictCommand,
  export: exportCommand,
  demo: demoCommand,
  serve: serveCommand,
};

async function evaluation(argv: string[], command: 'test' | 'zeroshot'): Promise<unknown> {
  const parsed = parseArgs(argv, evaluationFlags, command);
  const [configFile, weights] = positionals(parsed, ['config', 'weights'], command);
  const f = parsed.flags;
  const config = readConfig(configFile!, f, 'test');
  const collectives = openCollectives();
  try {
    const options = {
      config,
      weights: weights!,
      testCrops: f['test-crops'] ?? 1,
      testClips: f['test-clips'] ?? 1,
      dense: Boolean(f.dense),
      fuse: f.fuse,
      fuseWeight: f['fuse-weight'],
      saveScores: f['save-scores'],
      device: defaultDevice(f),
      vocab: f.vocab,
      workers: f.workers,
      quiet: f.quiet,
      collectives,
      precision: f.precision as InferencePrecision | undefined,
    };
    if (options.fuseWeight !== undefined && options.fuseWeight > 1)
      throw new UsageError(`--fuse-weight ${options.fuseWeight}: expected a weight in [0, 1]`, command);
    const result = command === 'test' ? await runTest(options) : await runZeroShot(options);
    if (collectives.rank === 0) printJson(f, result);
    return result;
  } finally {
    collectives.close();
  }
}
