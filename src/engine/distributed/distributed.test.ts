/**
 * Distributed data parallel on CPU processes with Gloo: two ranks stay identical and their first loss
 * equals one process's loss on the combined batch (the loss all-gathers features); a dead worker
 * stops the others with an error naming it; `bike train --nproc 2` trains and only rank 0 writes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { findFreePort, launchWorkers, WorkerFailedError } from './launcher.ts';
import { makeSyntheticDataset, tinyConfig } from '../../testing/synthetic-frames.ts';
import { lastJson, runBike } from '../../testing/run-bike.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const PROBE = path.join(here, '..', '..', 'testing', 'ddp-probe.ts');

interface ProbeResult {
  rank: number;
  losses: number[];
  firstGrad: number[];
  firstVisualGrad: number[];
  paramsSha256: string;
  message?: string;
  seconds?: number;
}

function runProbe(env: NodeJS.ProcessEnv): Promise<number | null> {
  const child = spawn(process.execPath, ['--import', 'tsx', PROBE], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

test(
  'two Gloo ranks stay identical and start from the single-process loss of the combined batch',
  { timeout: 180_000 },
  async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'bike-ddp-'));
    await launchWorkers({
      nproc: 2,
      workerArgs: ['--import', 'tsx', PROBE],
      execArgv: [],
      env: { PROBE_OUT: path.join(out) },
    });
    const single = mkdtempSync(path.join(tmpdir(), 'bike-ddp-single-'));
    assert.equal(await runProbe({ PROBE_OUT: single, RANK: '', WORLD_SIZE: '' }), 0);
    const read = (dir: string, rank: number) =>
      JSON.parse(readFileSync(path.join(dir, `rank${rank}.json`), 'utf8')) as ProbeResult;
    const [r0, r1, alone] = [read(out, 0), read(out, 1), read(single, 0)];
    assert.equal(r0.paramsSha256, r1.paramsSha256, 'both ranks hold bitwise the same parameters after three steps');
    assert.deepEqual(r0.losses, r1.losses, 'every rank computes the loss of the whole gathered batch');
    const tolerance = 1e-5 * Math.max(1, Math.abs(alone.losses[0]!));
    assert.ok(
      Math.abs(r0.losses[0]! - alone.losses[0]!) <= tolerance,
      `first loss ${r0.losses[0]} vs single-process ${alone.losses[0]}`,
    );
    // DDP averages the ranks' gradients. The head runs on the gathered batch on every rank, so each rank
    // holds its whole gradient; the image encoder only sees the local slice, so the mean is half of it.
    // Summation order differs between one process and two (and between BLAS kernels of different CPUs):
    // each element within 1e-4 relative, plus 1e-5 of the gradient's largest element for the small ones.
    const largest = (v: number[]) => Math.max(...v.map(Math.abs));
    const close = (a: number, b: number, scale: number) => Math.abs(a - b) <= 1e-4 * Math.abs(b) + 1e-5 * scale;
    const headScale = largest(alone.firstGrad);
    const visualScale = largest(alone.firstVisualGrad) / 2;
    r0.firstGrad.forEach((g, i) =>
      assert.ok(close(g, alone.firstGrad[i]!, headScale), `head gradient ${i}: ${g} vs ${alone.firstGrad[i]}`),
    );
    r0.firstVisualGrad.forEach((g, i) =>
      assert.ok(
        close(g, alone.firstVisualGrad[i]! / 2, visualScale),
        `image encoder gradient ${i}: ${g} vs ${alone.firstVisualGrad[i]! / 2}`,
      ),
    );
    assert.ok(r0.firstVisualGrad.some((g) => g !== 0));
  },
);

test(
  'a worker that dies makes the other fail within the collective timeout, naming the broken peer',
  { timeout: 120_000 },
  async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'bike-ddp-die-'));
    const port = await findFreePort();
    const env = {
      PROBE_OUT: out,
      PROBE_MODE: 'die',
      WORLD_SIZE: '2',
      MASTER_ADDR: '127.0.0.1',
      MASTER_PORT: String(port),
      BIKE_COLLECTIVE_TIMEOUT_S: '10',
    };
    const started = Date.now();
    const codes = await Promise.all(
      [0, 1].map((rank) => runProbe({ ...env, RANK: String(rank), LOCAL_RANK: String(rank) })),
    );
    const result = JSON.parse(readFileSync(path.join(out, 'rank0.json'), 'utf8')) as ProbeResult;
    assert.match(result.message!, /all_reduce failed on rank 0 of 2: worker rank 1 \(pid \d+\) is no longer running/);
    assert.ok(result.seconds! <= 15, `rank 0 noticed after ${result.seconds}s (timeout 10s)`);
    assert.ok((Date.now() - started) / 1000 < 60);
    assert.equal(codes[0], 1);
    assert.equal(codes[1], null, 'rank 1 was killed');
  },
);

test('the launcher stops the survivors and names the worker that failed', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bike-launch-'));
  const script = path.join(dir, 'worker.mjs');
  writeFileSync(script, "if (process.env.RANK === '1') process.exit(3); setTimeout(() => {}, 60000);\n");
  const started = Date.now();
  await assert.rejects(
    launchWorkers({ nproc: 2, workerArgs: [script], execArgv: [], graceSeconds: 1 }),
    (error: unknown) => {
      assert.ok(error instanceof WorkerFailedError);
      assert.match(
        error.message,
        /worker rank 1 \(local rank 1, pid \d+\) exited with code 3; the other workers were stopped/,
      );
      return true;
    },
  );
  assert.ok(Date.now() - started < 20_000);
  await assert.rejects(
    launchWorkers({ nproc: 2, nnodes: 2, nodeRank: 1, workerArgs: [script] }),
    /--master-addr: required with --nnodes > 1/,
  );
  await assert.rejects(
    launchWorkers({ nproc: 1, nnodes: 2, nodeRank: 2, masterAddr: 'x', workerArgs: [script] }),
    /--node-rank 2: must be below --nnodes 2/,
  );
});

test('bike train --nproc 2 trains with two processes and only rank 0 writes', { timeout: 180_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bike-nproc-'));
  const dataset = await makeSyntheticDataset({
    dir,
    trainPerClass: 4,
    valPerClass: 2,
    frames: 8,
    width: 48,
    height: 36,
  });
  const config = path.join(dir, 'ddp.yaml');
  writeFileSync(
    config,
    tinyConfig({ dataset, outputPath: path.join(dir, 'runs'), epochs: 1, batchSize: 2, numSegments: 4 }),
  );
  const run = await runBike(['train', config, '--nproc', '2', '--log-time', 'ddp', '--json']);
  assert.equal(run.code, 0, run.stderr);
  const result = lastJson<{ runDir: string; epochs: { top1: number }[] }>(run);
  assert.equal(result.epochs.length, 1);
  assert.ok(existsSync(path.join(result.runDir, 'last.json')));
  const log = readFileSync(path.join(result.runDir, 'log.txt'), 'utf8');
  assert.match(log, /distributed training on 2 processes/);
  assert.match(log, /16 training videos \(4 batches per process\)|training videos: 16 \(4 batches per process\)/);
  assert.equal(run.stdout.match(/Testing Results/g)?.length, 1, 'only rank 0 prints');
});
