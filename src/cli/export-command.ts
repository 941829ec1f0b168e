/** `bike export <run-dir|checkpoint> --onnx <out-dir>`: flags to src/export/export-onnx.ts. */
import { exportOnnx } from '../export/export-onnx.ts';
import { UsageError, parseArgs, type FlagSpec } from './args.ts';
import type { Command } from './commands.ts';

const flags = {
  onnx: {
    kind: 'string',
    value: 'out-dir',
    help: 'write video.onnx, text.onnx, head.onnx, bike-onnx.json and vocabulary.json there',
  },
  labels: {
    kind: 'string',
    value: 'csv',
    help: 'class names (id,name CSV) baked into the video graph; default: the label list the model was trained with',
  },
  config: {
    kind: 'string',
    value: 'config.yaml',
    help: 'the config of weights that carry none (original BIKE checkpoints)',
  },
  vocab: {
    kind: 'string',
    value: 'file|folder',
    help: 'CLIP BPE vocabulary; default BIKE_CLIP_VOCAB or beside the weights',
  },
} satisfies Record<string, FlagSpec>;

export const exportCommand: Command = {
  summary: 'export a trained model as ONNX graphs (video, text, head) for ONNX Runtime in Node or a browser',
  usage: 'bike export <run-dir|checkpoint> --onnx <out-dir> [--labels <csv>]',
  flags,
  async run(argv) {
    const parsed = parseArgs(argv, flags, 'export');
    if (parsed.positionals.length !== 1) {
      throw new UsageError(
        `expected one <run-dir|checkpoint>${parsed.positionals.length ? `, got ${parsed.positionals.map((p) => JSON.stringify(p)).join(' ')}` : ''}`,
        'export',
      );
    }
    const f = parsed.flags;
    if (!f.onnx) throw new UsageError('--onnx <out-dir> is required (the only export format)', 'export');
    const result = await exportOnnx(parsed.positionals[0]!, f.onnx, {
      labels: f.labels,
      config: f.config,
      vocab: f.vocab,
    });
    process.stdout.write(
      `wrote ${result.files.join(', ')} (${result.meta.classes.length} classes, ${result.meta.frames} frames of ${result.meta.inputSize}px; ONNX nodes: video ${result.nodes.video}, text ${result.nodes.text}, head ${result.nodes.head})\n`,
    );
    return result;
  },
};
