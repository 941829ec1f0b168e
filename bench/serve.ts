/**
 * `npm run bench:serve`: throughput of `bike serve` at concurrency 1 and 8 on a tiny model trained
 * here (loopback only), printed with the ratio: what sharing forward passes (and the decode workers)
 * buy. Noisy on a loaded machine; compare, do not assert.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { VideoClassifier } from '../src/index.ts';
import { SHARED_VOCAB } from '../src/testing/run-bike.ts';
import { makeTinyRun } from '../src/testing/tiny-run.ts';
import { createServer } from '../src/server/server.ts';
import { formatLoad, runLoad } from '../src/server/testing/load.ts';

process.env.BIKE_CLIP_VOCAB ??= SHARED_VOCAB;
const total = Number(process.env.BENCH_REQUESTS ?? 160);
const dir = mkdtempSync(path.join(os.tmpdir(), 'bike-bench-serve-'));
try {
  const run = await makeTinyRun(dir);
  const classifier = await VideoClassifier.load({
    model: run.runDir,
    decodeWorkers: Number(process.env.BENCH_DECODE_WORKERS ?? 2),
  });
  const server = await createServer({ classifier, batchSize: 8 });
  try {
    const url = `${await server.listen(0)}/v1/classify`;
    const body = readFileSync(run.video);
    await runLoad(url, body, { total: 16, concurrency: 8 });
    const one = await runLoad(url, body, { total, concurrency: 1 });
    console.log(formatLoad(one));
    const eight = await runLoad(url, body, { total, concurrency: 8 });
    console.log(formatLoad(eight));
    console.log(
      `throughput ratio, concurrency 8 / concurrency 1: ${(eight.requestsPerSecond / one.requestsPerSecond).toFixed(2)}x`,
    );
  } finally {
    await server.close();
    classifier.dispose();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
