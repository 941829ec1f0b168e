/**
 * `bike serve`'s API against a server on a free loopback port, over a tiny model trained in the
 * test: every endpoint, batching, every bad request (status, the message naming what was wrong, the
 * server still answering /healthz), and no temporary file left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execFile } from 'node:child_process';
import { VideoClassifier } from '../index.ts';
import { SHARED_VOCAB, runBike, spawnBike } from '../testing/run-bike.ts';
import { createServer, type Server } from './server.ts';
import { damageMjpegFrames, encodeMjpeg } from '../testing/damaged-video.ts';
import { testIndices } from '../data/sampling.ts';
import { makeServeHarness, slowUpload, uploadAndHangUp, type ServeHarness } from './testing/serve-harness.ts';

process.env.BIKE_CLIP_VOCAB ??= SHARED_VOCAB;

function form(file: { bytes: Uint8Array; name: string } | null, fields: Record<string, string> = {}): FormData {
  const body = new FormData();
  for (const [k, v] of Object.entries(fields)) body.append(k, v);
  if (file) body.append('file', new Blob([file.bytes]), file.name);
  return body;
}

async function post(address: string, route: string, body: FormData | Uint8Array, headers: Record<string, string> = {}) {
  const response = await fetch(`${address}${route}`, {
    method: 'POST',
    body,
    headers,
    signal: AbortSignal.timeout(60_000),
  });
  const text = await response.text();
  // eslint-disable-next-line no-useless-assignment -- the initial value is the path where nothing is assigned below
  let json: Record<string, any> = {};
  try {
    json = JSON.parse(text);
  } catch {
    json = { text };
  }
  return { status: response.status, headers: response.headers, json };
}

async function healthy(address: string): Promise<void> {
  const response = await fetch(`${address}/healthz`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(response.status, 200);
  assert.equal(((await response.json()) as { ok: boolean }).ok, true);
}

/** Polls (bounded) until the upload folder is empty. */
async function emptyFolder(dir: string): Promise<void> {
  for (let i = 0; i < 100 && readdirSync(dir).length > 0; i++) await sleep(20);
  assert.deepEqual(readdirSync(dir), [], 'no temporary upload left behind');
}

test('bike serve: the HTTP API', { timeout: 600_000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bike-serve-test-'));
  const uploads = path.join(dir, 'uploads');
  let harness: ServeHarness;
  let classifier: VideoClassifier | undefined;
  let server: Server | undefined;
  try {
    harness = await makeServeHarness(dir);
    const { run } = harness;
    // fp32: batched and single forward passes must rank near-tied classes alike (bf16 autocast, the
    // default on CPUs with native bfloat16, rounds a batch of 8 differently from a batch of 1).
    classifier = await VideoClassifier.load({ model: run.runDir, decodeWorkers: 2, precision: 'fp32' });
    mkdirSync(uploads, { recursive: true });
    server = await createServer({ classifier, uploadDir: uploads, maxUploadMb: 1, maxLabels: 8, maxWindows: 8 });
    const address = await server.listen(0);
    assert.match(address, /^http:\/\/127\.0\.0\.1:\d+$/);
    const video = { bytes: readFileSync(run.video), name: 'green_0.mp4' };
    const expected = await classifier.classify(run.video, { topK: 3 });

    await t.test('GET /healthz and /v1/model', async () => {
      await healthy(address);
      const model = (await (await fetch(`${address}/v1/model`)).json()) as Record<string, any>;
      assert.equal(model.mode, 'trained');
      assert.deepEqual(model.classes, run.dataset.classNames);
      assert.equal(model.frames, 4);
      assert.match(model.precision, /fp32|bf16|fp16/);
      assert.equal(typeof model.architecture, 'string');
      assert.ok(model.architecture.length > 0);
    });

    await t.test(
      'POST /v1/classify, multipart and raw body: what the library gives, with saliency, frames and timings',
      async () => {
        const multi = await post(address, '/v1/classify', form(video, { top: '3' }));
        assert.equal(multi.status, 200, JSON.stringify(multi.json));
        assert.equal(multi.json.top.length, 3);
        multi.json.top.forEach((c: { name: string; probability: number }, i: number) => {
          assert.equal(c.name, expected.top[i]!.name);
          assert.ok(Math.abs(c.probability - expected.top[i]!.probability) < 1e-4);
        });
        assert.equal(multi.json.saliency.length, 3);
        assert.equal(multi.json.saliency[0].weights.length, 4);
        assert.deepEqual(
          multi.json.frames.map((f: { index: number }) => f.index),
          expected.frameIndices,
        );
        assert.ok(
          multi.json.frames.every(
            (f: { index: number; timestamp: number }) => Math.abs(f.timestamp - f.index / 8) < 1e-6,
          ),
          'timestamps at 8 fps',
        );
        for (const key of ['uploadMs', 'decodeMs', 'queueMs', 'modelMs'])
          assert.equal(typeof multi.json.timings[key], 'number', key);
        const raw = await post(address, '/v1/classify?top=3', video.bytes, { 'content-type': 'video/mp4' });
        assert.equal(raw.status, 200, JSON.stringify(raw.json));
        assert.deepEqual(raw.json.top, multi.json.top);
        await emptyFolder(uploads);
      },
    );

    await t.test('labels: open vocabulary, prompt features cached per label set', async () => {
      const labels = ['a green square', 'a red square', 'something blue'];
      const before = classifier!.labelSetCache;
      const a = await post(address, '/v1/classify', form(video, { labels: JSON.stringify(labels) }));
      assert.equal(a.status, 200, JSON.stringify(a.json));
      assert.deepEqual(a.json.top.map((c: { name: string }) => c.name).sort(), [...labels].sort());
      const b = await post(address, '/v1/classify', form(video, { labels: labels.join('\n') }));
      assert.deepEqual(b.json.top, a.json.top);
      const after = classifier!.labelSetCache;
      assert.equal(after.misses, before.misses + 1, 'encoded once');
      assert.equal(after.hits, before.hits + 1, 'reused the second time');
      const trained = await post(address, '/v1/classify', form(video));
      assert.deepEqual(
        trained.json.top.map((c: { name: string }) => c.name),
        expected.top.map((c) => c.name).concat(trained.json.top.slice(3).map((c: { name: string }) => c.name)),
        'without labels: the model classes again',
      );
    });

    await t.test(
      'a video with a damaged packet: its substituted frames in the response, named by the upload',
      async () => {
        const clean = encodeMjpeg(path.join(dir, 'clean-mjpeg.mp4'));
        const lost = testIndices(50, { numSegments: 4, indexBias: 0, testClips: 1 })[1]!;
        const damaged = path.join(dir, 'damaged-mjpeg.mp4');
        damageMjpegFrames(clean, damaged, [lost]);
        const r = await post(address, '/v1/classify', form({ bytes: readFileSync(damaged), name: 'damaged.mp4' }));
        assert.equal(r.status, 200, JSON.stringify(r.json));
        assert.equal(r.json.substituted.length, 1);
        assert.equal(r.json.substituted[0].frame, lost);
        assert.match(r.json.warning, /^video damaged\.mp4: 1 of the 4 sampled frames did not decode/);
        const timeline = await post(
          address,
          '/v1/timeline',
          form({ bytes: readFileSync(damaged), name: 'damaged.mp4' }, { window: '2' }),
        );
        assert.equal(timeline.status, 200, JSON.stringify(timeline.json));
        assert.deepEqual(timeline.json.substituted, r.json.substituted, 'one window: the whole video, sampled alike');
        assert.deepEqual(timeline.json.windows[0].substituted, r.json.substituted);
        const intact = await post(address, '/v1/classify', form(video));
        assert.deepEqual(intact.json.substituted, []);
        assert.equal(intact.json.warning, undefined);
        await emptyFolder(uploads);
      },
    );

    await t.test('POST /v1/rescore: the kept clip against typed labels, no upload', async () => {
      const first = await post(address, '/v1/classify', form(video));
      assert.equal(typeof first.json.clip, 'string');
      const labels = ['a green square', 'a red square'];
      const response = await fetch(`${address}/v1/rescore`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ clip: first.json.clip, labels }),
      });
      assert.equal(response.status, 200);
      const rescored = (await response.json()) as Record<string, any>;
      const direct = await post(address, '/v1/classify', form(video, { labels: JSON.stringify(labels) }));
      assert.deepEqual(rescored.top, direct.json.top);
      assert.deepEqual(rescored.saliency, direct.json.saliency);
      const gone = await fetch(`${address}/v1/rescore`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ clip: 'nope', labels }),
      });
      assert.equal(gone.status, 404);
      assert.match(((await gone.json()) as { error: string }).error, /clip "nope": not kept/);
      const unknown = await fetch(`${address}/v1/rescore`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ clip: first.json.clip, lables: labels }),
      });
      assert.equal(unknown.status, 400);
      assert.match(((await unknown.json()) as { error: string }).error, /unknown field "lables"/);
    });

    await t.test('POST /v1/timeline: a label per window', async () => {
      const long = { bytes: readFileSync(harness.longVideo), name: 'long.mp4' };
      const r = await post(address, '/v1/timeline', form(long, { window: '1', stride: '0.5' }));
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.equal(r.json.fps, 8);
      assert.equal(r.json.frameCount, 32);
      assert.equal(r.json.windows.length, 7);
      r.json.windows.forEach((w: { start: number; end: number; label: string }, i: number) => {
        assert.ok(
          Math.abs(w.start - 0.5 * i) < 1e-9 && Math.abs(w.end - w.start - 1) < 1e-9,
          `window ${i}: ${w.start}-${w.end}`,
        );
        assert.ok(run.dataset.classNames.includes(w.label));
      });
      const direct = await classifier!.timeline(harness.longVideo, { window: 1, stride: 0.5, topK: 3 });
      assert.deepEqual(
        r.json.windows.map((w: { label: string }) => w.label),
        direct.windows.map((w) => w.top[0]!.name),
      );
      const tooMany = await post(address, '/v1/timeline', form(long, { window: '0.25', stride: '0.125' }));
      assert.equal(tooMany.status, 400);
      assert.match(tooMany.json.error, /more than 8 windows/);
    });

    await t.test('concurrent requests share forward passes', async () => {
      const results = await Promise.all(
        Array.from({ length: 8 }, () => post(address, '/v1/classify', form(video, { top: '3' }))),
      );
      for (const r of results) {
        assert.equal(r.status, 200);
        assert.deepEqual(
          r.json.top.map((c: { name: string }) => c.name),
          expected.top.map((c) => c.name),
        );
      }
      const largest = Math.max(...results.map((r) => r.json.batch as number));
      t.diagnostic(`batch sizes: ${results.map((r) => r.json.batch).join(', ')}`);
      assert.ok(
        largest > 1,
        `8 concurrent requests: some shared a forward pass (batch sizes ${results.map((r) => r.json.batch).join(', ')})`,
      );
    });

    await t.test('bad requests: a 4xx naming what was wrong, and the server keeps serving', async () => {
      const cases: {
        what: string;
        send: () => Promise<{ status: number; json: Record<string, any> }>;
        status: number;
        message: RegExp;
      }[] = [
        {
          what: 'no file',
          send: () => post(address, '/v1/classify', form(null, { top: '1' })),
          status: 400,
          message: /no file/,
        },
        {
          what: 'raw body absent',
          send: () => post(address, '/v1/classify', new Uint8Array(0), { 'content-type': 'video/mp4' }),
          status: 400,
          message: /0 bytes|no file/,
        },
        {
          what: '0 bytes',
          send: () => post(address, '/v1/classify', form({ bytes: new Uint8Array(0), name: 'empty.mp4' })),
          status: 400,
          message: /empty\.mp4: 0 bytes/,
        },
        {
          what: 'over the limit (multipart)',
          send: () => post(address, '/v1/classify', form({ bytes: new Uint8Array(1.5 * 2 ** 20), name: 'big.mp4' })),
          status: 413,
          message: /max-upload-mb \(1 MB\)/,
        },
        {
          what: 'over the limit (raw)',
          send: () => post(address, '/v1/classify', new Uint8Array(1.5 * 2 ** 20), { 'content-type': 'video/mp4' }),
          status: 413,
          message: /max-upload-mb/,
        },
        {
          what: 'random bytes',
          send: () =>
            post(
              address,
              '/v1/classify',
              form({ bytes: Uint8Array.from({ length: 5000 }, (_, i) => (i * 7919) % 251), name: 'noise.mp4' }),
            ),
          status: 422,
          message: /noise\.mp4: cannot be read as a video: /,
        },
        {
          what: 'truncated mp4',
          send: () => post(address, '/v1/classify', form({ bytes: readFileSync(harness.truncated), name: 'cut.mp4' })),
          status: 422,
          message: /cut\.mp4: cannot be read as a video: .*(truncated|damaged|cannot)/,
        },
        {
          what: 'an image',
          send: () => post(address, '/v1/classify', form({ bytes: readFileSync(harness.image), name: 'frame.png' })),
          status: 422,
          message: /frame\.png: .*PNG image, expected a video/,
        },
        {
          what: 'unknown field',
          send: () => post(address, '/v1/classify', form(video, { topk: '3' })),
          status: 400,
          message: /unknown field "topk"/,
        },
        {
          what: 'unknown query field',
          send: () => post(address, '/v1/classify?colour=red', video.bytes, { 'content-type': 'video/mp4' }),
          status: 400,
          message: /unknown field "colour"/,
        },
        {
          what: 'bad top',
          send: () => post(address, '/v1/classify', form(video, { top: 'many' })),
          status: 400,
          message: /top: "many"/,
        },
        {
          what: 'empty label list',
          send: () => post(address, '/v1/classify', form(video, { labels: '[]' })),
          status: 400,
          message: /labels: the list is empty/,
        },
        {
          what: 'too long a label list',
          send: () =>
            post(
              address,
              '/v1/classify',
              form(video, { labels: JSON.stringify(Array.from({ length: 9 }, (_, i) => `class ${i}`)) }),
            ),
          status: 400,
          message: /labels: 9 class names, at most 8/,
        },
        {
          what: 'labels not JSON',
          send: () => post(address, '/v1/classify', form(video, { labels: '["a", ' })),
          status: 400,
          message: /labels: not a valid JSON array/,
        },
        {
          what: 'a second file field',
          send: () => {
            const f = form(video);
            f.append('other', new Blob([video.bytes]), 'b.mp4');
            return post(address, '/v1/classify', f);
          },
          status: 400,
          message: /more than one file/,
        },
      ];
      for (const c of cases) {
        const r = await c.send();
        assert.equal(r.status, c.status, `${c.what}: ${JSON.stringify(r.json)}`);
        assert.match(String(r.json.error), c.message, c.what);
        if (c.status === 422) assert.equal(typeof r.json.reason, 'string', `${c.what}: the decoder's reason`);
        assert.ok(!String(r.json.error).includes(uploads), `${c.what}: names the upload, not the temporary file`);
        await healthy(address);
      }
      await uploadAndHangUp(address, '/v1/classify', 500_000, 100_000);
      await healthy(address);
      await emptyFolder(uploads);
      const after = await post(address, '/v1/classify', form(video, { top: '1' }));
      assert.equal(after.status, 200);
    });

    await t.test('a full queue answers 503 with Retry-After', async () => {
      const small = await createServer({ classifier: classifier!, uploadDir: uploads, queueLimit: 1 });
      const smallAddress = await small.listen(0);
      try {
        const hold = await slowUpload(smallAddress, '/v1/classify');
        await sleep(50);
        const refused = await post(smallAddress, '/v1/classify', form(video));
        assert.equal(refused.status, 503);
        assert.equal(refused.headers.get('retry-after'), '1');
        assert.match(refused.json.error, /queue is full/);
        hold.finish();
        let ok = 0;
        for (let i = 0; i < 50 && ok === 0; i++) {
          await sleep(20);
          const again = await post(smallAddress, '/v1/classify', form(video));
          if (again.status === 200) ok++;
        }
        assert.equal(ok, 1, 'served again once the slot was freed');
        const metrics = await (await fetch(`${smallAddress}/metrics`)).text();
        const rejected = Number(/^bike_queue_rejected_total (\d+)$/m.exec(metrics)?.[1]);
        assert.ok(rejected >= 1, `rejections counted: ${rejected}`);
        assert.match(
          metrics,
          new RegExp(
            `^bike_http_requests_total\\{route="/v1/classify",method="POST",status="503"\\} ${rejected}$`,
            'm',
          ),
        );
      } finally {
        await small.close();
      }
      await emptyFolder(uploads);
    });

    await t.test('GET /metrics: request counts, latencies, queue length, batches (Prometheus text)', async () => {
      const response = await fetch(`${address}/metrics`);
      assert.match(response.headers.get('content-type') ?? '', /text\/plain/);
      const text = await response.text();
      assert.match(text, /^bike_http_requests_total\{route="\/v1\/classify",method="POST",status="200"\} \d+$/m);
      assert.match(text, /^bike_http_requests_total\{route="\/v1\/classify",method="POST",status="422"\} 3$/m);
      assert.match(text, /^bike_http_request_duration_seconds_count\{route="\/v1\/classify"\} \d+$/m);
      assert.match(text, /^bike_queue_length 0$/m);
      assert.match(text, /^bike_batch_size_count \d+$/m);
      assert.match(text, /^# TYPE bike_http_request_duration_seconds histogram$/m);
    });

    await t.test("the README's curl examples work as written", async () => {
      const readme = readFileSync(
        path.join(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), '../../README.md'),
        'utf8',
      );
      const block = /<!-- serve-examples[^>]*-->\s*```bash\n([\s\S]*?)```\s*<!-- \/serve-examples -->/.exec(readme);
      assert.ok(block, 'the README has the serve examples');
      const commands = block[1]!.split('\n').filter((l) => l.startsWith('curl '));
      assert.ok(commands.length >= 7, `${commands.length} curl examples`);
      const work = path.join(dir, 'curl');
      mkdirSync(work, { recursive: true });
      (await import('node:fs')).copyFileSync(harness.longVideo, path.join(work, 'video.mp4'));
      for (const command of commands) {
        const line = command
          .replaceAll('http://127.0.0.1:8080', address)
          .replace('curl -s ', 'curl -s --fail-with-body --max-time 60 ');
        // Asynchronously: the server answering runs in this process.
        const out = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
          execFile('bash', ['-c', line], { cwd: work, encoding: 'utf8', timeout: 90_000 }, (error, stdout, stderr) => {
            resolve({ status: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
          });
        });
        assert.equal(out.status, 0, `${command}: ${out.stderr}${out.stdout}`);
        if (command.includes('/metrics')) assert.match(out.stdout, /^bike_http_requests_total/m);
        else JSON.parse(out.stdout);
        if (command.includes('labels='))
          assert.deepEqual((JSON.parse(out.stdout).top as { name: string }[]).map((c) => c.name).sort(), [
            'cooking',
            'dancing',
            'riding a bike',
          ]);
      }
    });

    await t.test('the bike serve command: listens, answers, stops on SIGTERM; usage errors name the flag', async () => {
      const child = spawnBike([
        'serve',
        '--model',
        run.runDir,
        '--port',
        '0',
        '--concurrency',
        '1',
        '--precision',
        'fp32',
      ]);
      // A failed check must not leave the server running (its pipes would keep this process alive).
      try {
        let out = '';
        let err = '';
        child.stderr!.on('data', (d: Buffer) => {
          err += d.toString();
        });
        const listening = await new Promise<string>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`bike serve did not start in 60 s: ${err}`)), 60_000);
          child.stdout!.on('data', (d: Buffer) => {
            out += d.toString();
            const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
            if (m) {
              clearTimeout(timer);
              resolve(m[1]!);
            }
          });
          child.on('exit', (code) => {
            clearTimeout(timer);
            reject(new Error(`bike serve exited ${code}: ${err}`));
          });
        });
        await healthy(listening);
        const r = await post(listening, '/v1/classify?top=2', video.bytes, { 'content-type': 'video/mp4' });
        assert.equal(r.status, 200, JSON.stringify(r.json));
        assert.deepEqual(
          r.json.top.map((c: { name: string }) => c.name),
          expected.top.slice(0, 2).map((c) => c.name),
        );
        const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
        child.kill('SIGTERM');
        const code = await Promise.race([exited, sleep(30_000).then(() => 'timeout' as const)]);
        assert.equal(code, 0, `exit after SIGTERM: ${err}`);
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
      const usage = await runBike(['serve', '--port', '0']);
      assert.equal(usage.code, 2);
      assert.match(usage.stderr, /give --model <run-dir\|checkpoint> or --clip <weights>/);
      const badFlag = await runBike(['serve', '--model', run.runDir, '--max-upload-mb', 'lots']);
      assert.equal(badFlag.code, 2);
      assert.match(badFlag.stderr, /--max-upload-mb "lots": expected a number/);
    });

    await t.test('GET / serves the page and its script, no external resources', async () => {
      const page = await (await fetch(`${address}/`)).text();
      assert.match(page, /<title>bike serve<\/title>/);
      assert.doesNotMatch(page, /https?:\/\//);
      const script = await fetch(`${address}/app.js`);
      assert.equal(script.status, 200);
    });
    await emptyFolder(uploads);
  } finally {
    await server?.close();
    classifier?.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
