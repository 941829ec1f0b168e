/**
 * `bike predict <video-file|frame-folder>`: flags to options for src/engine/inference/predict.ts, and the
 * printed result (a ranked list and a bar per sampled frame, or one JSON line with `--json`).
 */
import { predictVideo, type Prediction } from '../engine/inference/predict.ts';
import { type InferencePrecision } from '../engine/training/precision.ts';
import { UsageError, parseArgs, type FlagSpec } from './args.ts';
import type { Command } from './commands.ts';
import { checkModelFlags, modelFlags } from './model-flags.ts';

const flags = {
  ...modelFlags,
  top: { kind: 'int', min: 1, value: 'K', help: 'classes to list (default 5)' },
  json: { kind: 'boolean', help: 'print the result as one JSON line' },
} satisfies Record<string, FlagSpec>;

function formatPrediction(p: Prediction): string {
  const lines = [
    `${p.input}: ${p.kind === 'video' ? 'video' : 'frame folder'}, frames ${p.frameIndices.join(', ')} (${p.mode === 'trained' ? 'trained model' : 'zero-shot CLIP + concept spotting'})`,
    `  ${p.precision}`,
  ];
  if (p.substituted.length > 0)
    lines.push(
      `  substituted (did not decode; the nearest decodable frame's pixels used): ${p.substituted.map((s) => `frame ${s.frame} <- ${s.from}`).join(', ')}`,
    );
  const width = Math.max(...p.top.map((c) => c.name.length));
  p.top.forEach((c, i) =>
    lines.push(
      `  ${String(i + 1).padStart(2)}. ${c.name.padEnd(width)}  ${(100 * c.probability).toFixed(2).padStart(6)}%`,
    ),
  );
  for (const s of p.saliency) {
    lines.push(`frame saliency of "${s.name}" (concept spotting):`);
    const most = Math.max(...s.weights);
    s.weights.forEach((w, i) => {
      const bar = '#'.repeat(Math.round((most > 0 ? w / most : 0) * 30));
      lines.push(`  frame ${String(p.frameIndices[i]).padStart(5)}  ${w.toFixed(3)}  ${bar}`);
    });
  }
  return lines.join('\n');
}

export const predictCommand: Command = {
  summary: 'classify one video file or frame folder: top-K classes and the frame saliency of the best one',
  usage:
    'bike predict <video-file|frame-folder> (--model <run-dir|checkpoint> | --clip <weights> --labels <csv>) [--top K] [--json]',
  flags,
  async run(argv) {
    const parsed = parseArgs(argv, flags, 'predict');
    if (parsed.positionals.length !== 1) {
      throw new UsageError(
        `expected one <video-file|frame-folder>${parsed.positionals.length ? `, got ${parsed.positionals.map((p) => JSON.stringify(p)).join(' ')}` : ''}`,
        'predict',
      );
    }
    const f = parsed.flags;
    const device = checkModelFlags(f, 'predict');
    const prediction = await predictVideo(parsed.positionals[0]!, {
      model: f.model,
      clip: f.clip,
      labels: f.labels,
      config: f.config,
      vocab: f.vocab,
      numSegments: f.frames,
      device,
      top: f.top ?? 5,
      precision: f.precision as InferencePrecision | undefined,
    });
    // On stderr whatever the output format, so a user sees the prediction used substituted frames.
    if (prediction.warning) process.stderr.write(`warning: ${prediction.warning}\n`);
    if (f.json) {
      const { probabilities: _all, ...shown } = prediction;
      process.stdout.write(`${JSON.stringify(shown)}\n`);
    } else {
      process.stdout.write(`${formatPrediction(prediction)}\n`);
    }
    return prediction;
  },
};
