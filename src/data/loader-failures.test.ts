/**
 * Loader failures reach the command: a worker's error ends the run with status 1 and a message
 * naming the file, every time (they used to be reported as unhandled rejections, or to leave the
 * command's promise unsettled: exit status 13, nothing printed), and every wait is bounded.
 * The previously intermittent cases run 20 times each, in child processes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { VideoLoader, LoaderTimeoutError, loaderTimeoutMs, withDeadline, type LoaderOptions } from './loader.ts';
import type { VideoDatasetSpec } from './video-dataset.ts';

const RUN_LOADER = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'testing', 'run-loader.ts');

interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function runLoader(cases: { spec: VideoDatasetSpec; options: LoaderOptions }[], limitMs = 120_000): Promise<ChildRun> {
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', RUN_LOADER, JSON.stringify(cases)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), limitMs);
  return new Promise((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - started });
    }),
  );
}

async function makeFrames(
  root: string,
  videos: number,
  frames: number,
  size = { width: 24, height: 18 },
): Promise<void> {
  for (let v = 0; v < videos; v++) {
    const dir = path.join(root, `video${v}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 1; f <= frames; f++) {
      const pixels = Buffer.alloc(size.width * size.height * 3, (v * 37 + f * 11) % 256);
      await sharp(pixels, { raw: { ...size, channels: 3 } })
        .png()
        .toFile(path.join(dir, `img_${String(f).padStart(5, '0')}.png`));
    }
  }
}

function spec(root: string, mode: VideoDatasetSpec['mode'], videos: number): VideoDatasetSpec {
  return {
    records: Array.from({ length: videos }, (_, v) => ({ path: `video${v}`, numFrames: 6, label: v % 3 })),
    root,
    format: 'frames',
    imageTmpl: 'img_{:05d}.png',
    mode,
    numSegments: 3,
    inputSize: 16,
    seed: 7,
  };
}

/** The run ended as a command's error should: status 1, for each case one message naming its file, no stack, no signal. */
function assertReported(run: ChildRun, files: RegExp[], what: string): void {
  assert.equal(run.signal, null, `${what}: killed by ${run.signal} after ${run.ms.toFixed(0)} ms\n${run.stderr}`);
  assert.equal(run.code, 1, `${what}: exit ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
  const lines = run.stderr.trimEnd().split('\n');
  assert.equal(lines.length, files.length, `${what}: expected one message per case:\n${run.stderr}`);
  files.forEach((file, k) => {
    assert.match(
      lines[k]!,
      new RegExp(`^run-loader: case ${k}: `),
      `${what}: not the command's message:\n${run.stderr}`,
    );
    assert.match(lines[k]!, file, `${what}: case ${k}'s message does not name the file:\n${run.stderr}`);
  });
  assert.doesNotMatch(
    run.stderr,
    /\n\s+at |Node\.js v|unhandled/i,
    `${what}: a stack trace or an unhandled rejection:\n${run.stderr}`,
  );
}

test(
  'worker errors reach the command with its message and status 1, 20 runs in a row',
  { timeout: 900_000 },
  async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'bike-loader-fail-'));
    try {
      await makeFrames(root, 6, 6);
      // The cases: a bad image_tmpl, a wrong val_root, a list that does not match the modality
      // Batches of one, two workers, prefetch: later batches fail while earlier ones are awaited.
      const options: LoaderOptions = { batchSize: 1, workers: 2, prefetch: 2 };
      const cases = [
        { spec: { ...spec(root, 'test', 6), imageTmpl: 'x_{:05d}.png' }, file: /video\d\/x_0000\d\.png/ },
        { spec: { ...spec(root, 'train', 6), imageTmpl: 'x_{:05d}.png' }, file: /video\d\/x_0000\d\.png/ },
        { spec: spec(path.join(root, 'absent'), 'val', 6), file: /absent\/video\d\/img_0000\d\.png/ },
        {
          spec: { ...spec(root, 'val', 6), format: 'video' as const },
          file: /video\d: is a folder, not a regular file/,
        },
      ];
      for (let run = 0; run < 20; run++) {
        assertReported(
          await runLoader(cases.map((c) => ({ spec: c.spec, options }))),
          cases.map((c) => c.file),
          `run ${run + 1}`,
        );
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
);

test('every loader wait is bounded: the timeout names the worker, the samples and the file being read', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'bike-loader-timeout-'));
  try {
    // Frames large enough that decoding one takes far longer than the bound below.
    const dir = path.join(root, 'big');
    mkdirSync(dir, { recursive: true });
    const width = 3000;
    const height = 2400;
    const noise = Buffer.alloc(width * height * 3);
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
    const png = await sharp(noise, { raw: { width, height, channels: 3 } })
      .png({ compressionLevel: 1 })
      .toBuffer();
    for (let f = 1; f <= 3; f++) writeFileSync(path.join(dir, `img_${String(f).padStart(5, '0')}.png`), png);
    const big: VideoDatasetSpec = { ...spec(root, 'val', 1), records: [{ path: 'big', numFrames: 3, label: 0 }] };

    const mainThread = new VideoLoader(big, { batchSize: 1, workers: 0, timeoutMs: 20 });
    await assert.rejects(
      async () => {
        for await (const _ of mainThread.epoch(0));
      },
      (error: unknown) => {
        assert.ok(error instanceof LoaderTimeoutError, String(error));
        assert.match(
          error.message,
          /^loader \(main thread\): batch of samples 0 \(big\) of epoch 0, reading sample 0: .*big\/img_0000\d\.png: no result within 0\.02 s/,
        );
        return true;
      },
    );
    await mainThread.close();

    const pooled = new VideoLoader(big, { batchSize: 1, workers: 1, timeoutMs: 50 });
    await assert.rejects(async () => {
      for await (const _ of pooled.epoch(0));
    }, /^Error: loader worker 0: batch of samples 0 \(big\) of epoch 0, (no file open|reading sample 0: .*img_0000\d\.png): no result within 0\.05 s/);
    // The stuck worker fails the loader: later requests get the same error at once, not a new wait.
    const started = performance.now();
    await assert.rejects(async () => {
      for await (const _ of pooled.epoch(1));
    }, /loader worker 0: batch of samples 0/);
    assert.ok(performance.now() - started < 40, 'a broken loader fails at once');
    await pooled.close();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a FIFO among the frames is refused by name instead of blocking a thread for good', async (t) => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'bike-loader-fifo-'));
  try {
    await makeFrames(root, 1, 6);
    const fifo = path.join(root, 'video0', 'img_00003.png');
    rmSync(fifo);
    const made = await new Promise<boolean>((resolve) =>
      spawn('mkfifo', [fifo])
        .on('close', (code) => resolve(code === 0))
        .on('error', () => resolve(false)),
    );
    if (!made) return t.skip('mkfifo is not available');
    const options: LoaderOptions = { batchSize: 1, workers: 1, timeoutMs: 30_000 };
    const video: VideoDatasetSpec = {
      ...spec(root, 'val', 1),
      format: 'video',
      records: [{ path: 'video0/img_00003.png', numFrames: null, label: 0 }],
    };
    const run = await runLoader(
      [
        { spec: video, options },
        { spec: { ...spec(root, 'test', 1), numSegments: 6 }, options },
      ],
      60_000,
    );
    assertReported(
      { ...run, stderr: run.stderr },
      [/img_00003\.png: is a FIFO, not a regular file/],
      'a FIFO as a video',
    );
    // As a frame, the FIFO was replaced by frame 1, as an unreadable frame is.
    assert.match(run.stdout, /"case":1,"batch":1,.*"fallbacks":1/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the loader timeout comes from BIKE_LOADER_TIMEOUT_S, and nonsense is refused by name', async () => {
  assert.equal(loaderTimeoutMs({}), 600_000);
  assert.equal(loaderTimeoutMs({ BIKE_LOADER_TIMEOUT_S: '2.5' }), 2500);
  assert.throws(
    () => loaderTimeoutMs({ BIKE_LOADER_TIMEOUT_S: 'soon' }),
    /BIKE_LOADER_TIMEOUT_S "soon": expected seconds/,
  );
  assert.throws(() => loaderTimeoutMs({ BIKE_LOADER_TIMEOUT_S: '0' }), /BIKE_LOADER_TIMEOUT_S "0"/);
  assert.equal(await withDeadline(Promise.resolve(3), 10, () => 'x'), 3);
  await assert.rejects(
    withDeadline(new Promise(() => {}), 10, () => 'waiting for x'),
    /^LoaderTimeoutError|waiting for x: no result within 0\.01 s/,
  );
});
