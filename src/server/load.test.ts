/**
 * `bike serve` under load, loopback only: 200 requests at concurrency 8 on a tiny model, no errors,
 * p50/p99 latency and requests/s printed, resident memory after the run within 100 MB of before.
 * (Throughput at concurrency 8 against 1 is `npm run bench:serve`: a ratio, not a timed assertion.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { VideoClassifier } from '../index.ts';
import { SHARED_VOCAB } from '../testing/run-bike.ts';
import { makeTinyRun } from '../testing/tiny-run.ts';
import { createServer } from './server.ts';
import { formatLoad, runLoad } from './testing/load.ts';

process.env.BIKE_CLIP_VOCAB ??= SHARED_VOCAB;

test('bike serve: 200 requests at concurrency 8', { timeout: 600_000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bike-serve-load-'));
  const classifier = await (async () => {
    const run = await makeTinyRun(dir);
    return { run, classifier: await VideoClassifier.load({ model: run.runDir, decodeWorkers: 2 }) };
  })();
  const server = await createServer({ classifier: classifier.classifier });
  try {
    const address = await server.listen(0);
    const body = readFileSync(classifier.run.video);
    await runLoad(`${address}/v1/classify`, body, { total: 24, concurrency: 8 }); // warm-up
    (globalThis as { gc?: () => void }).gc?.();
    const before = process.memoryUsage().rss;
    const result = await runLoad(`${address}/v1/classify`, body, { total: 200, concurrency: 8 });
    (globalThis as { gc?: () => void }).gc?.();
    const growth = (process.memoryUsage().rss - before) / 2 ** 20;
    t.diagnostic(
      `${formatLoad(result)} (measured under load); resident memory ${growth >= 0 ? '+' : ''}${growth.toFixed(1)} MB`,
    );
    process.stdout.write(`# ${formatLoad(result)}; rss growth ${growth.toFixed(1)} MB\n`);
    assert.deepEqual(result.errors, []);
    assert.equal(result.statuses[200], 200);
    assert.ok(growth < 100, `resident memory grew ${growth.toFixed(1)} MB`);
    const metrics = await (await fetch(`${address}/metrics`)).text();
    const batches = Number(/^bike_batch_size_count (\d+)$/m.exec(metrics)?.[1]);
    const clips = Number(/^bike_batch_size_sum (\d+)$/m.exec(metrics)?.[1]);
    t.diagnostic(`${clips} clips in ${batches} forward passes`);
    assert.ok(batches < clips, 'requests shared forward passes');
    assert.deepEqual(readdirSync(server.uploadDir), []);
  } finally {
    await server.close();
    classifier.classifier.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
