/**
 * `bike demo`: flags for src/demo/run-demo.ts. The last line printed is the summary
 * `demo: top1=<percent> fused_top1=<percent> zeroshot_top1=<percent> report=<path>`.
 */
import { DEMO_PRESETS, demoSummaryLine, runDemo } from '../demo/run-demo.ts';
import { parseArgs, UsageError, type FlagSpec } from './args.ts';
import type { Command } from './commands.ts';

const flags: Record<string, FlagSpec> = {
  'work-dir': {
    kind: 'string',
    value: 'folder',
    help: 'where the dataset, CLIP weights, configs, runs and report go (default runs/demo; an empty or new folder, or one an earlier demo made)',
  },
  fast: {
    kind: 'boolean',
    help: 'fewer test videos, pre-training steps and epochs (well above chance but not trained out; used by the tests)',
  },
  quiet: { kind: 'boolean', help: "only the demo's own stage lines, not the engine's progress" },
};

export const demoCommand: Command = {
  summary:
    "pre-train a small CLIP on procedural videos' still frames, train and test BIKE from it, then write an HTML report",
  usage: 'bike demo [--work-dir runs/demo] [--fast] [--quiet]',
  flags,
  async run(argv) {
    const parsed = parseArgs(argv, flags, 'demo');
    if (parsed.positionals.length > 0)
      throw new UsageError(
        `takes no arguments, got ${parsed.positionals.map((p) => JSON.stringify(p)).join(' ')}`,
        'demo',
      );
    const f = parsed.flags;
    const result = await runDemo({
      workDir: (f['work-dir'] as string | undefined) ?? 'runs/demo',
      preset: f.fast ? DEMO_PRESETS.fast : DEMO_PRESETS.full,
      quiet: f.quiet as boolean | undefined,
    });
    process.stdout.write(`${demoSummaryLine(result)}\n`);
    return result;
  },
};
