/**
 * Runs one epoch of a VideoLoader in this process, as the commands do, and reports the way `bike`
 * does: the error's message on stderr and exit status 1, or the batches seen on stdout and 0. The
 * loader tests run it in child processes, so that an unhandled rejection, a promise that never
 * settles (exit status 13) or a hang shows as what it is.
 *
 * Several loaders run one after the other (each its own case, with its own workers): one child
 * process serves many cases, as starting one costs seconds on a loaded machine.
 *
 * usage: node --import tsx run-loader.ts '<json: [{ spec, options, epoch? }, ...]>'
 */
import { VideoLoader, type LoaderOptions } from '../data/loader.ts';
import type { VideoDatasetSpec } from '../data/video-dataset.ts';

const cases = JSON.parse(process.argv[2] ?? '[]') as {
  spec: VideoDatasetSpec;
  options: LoaderOptions;
  epoch?: number;
}[];

async function runCase({ spec, options, epoch }: (typeof cases)[number], k: number): Promise<void> {
  const loader = new VideoLoader(spec, options);
  try {
    let batches = 0;
    for await (const batch of loader.epoch(epoch ?? 0)) {
      batches++;
      process.stdout.write(
        `${JSON.stringify({ case: k, batch: batches, indices: batch.indices, fallbacks: batch.fallbacks.length, skipped: batch.skipped.length })}\n`,
      );
    }
  } finally {
    await loader.close();
  }
}

async function run(): Promise<number> {
  let failed = 0;
  for (const [k, c] of cases.entries()) {
    try {
      await runCase(c, k);
    } catch (error) {
      failed++;
      process.stderr.write(`run-loader: case ${k}: ${error instanceof Error ? error.message : String(error)}\n`);
    }
  }
  return failed > 0 ? 1 : 0;
}

run().then((code) => process.exit(code));
