/**
 * `bike export` on the demo's model (`bike demo --fast`, shared with the other tests that need it),
 * then the exported graphs against `bike predict`: in Node with onnxruntime-node, and in headless
 * Chromium with onnxruntime-web, where a local page decodes a demo video's sampled JPEG frames and
 * prepares them itself, and zero-shots class names typed into it through the text graph.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import * as ortNode from 'onnxruntime-node';
import { assertDemoRan, clearestTestVideo, demoFastRun } from '../testing/demo-run.ts';
import { REPO_ROOT, lastJson, runBike } from '../testing/run-bike.ts';
import { readPredictionInput } from '../engine/inference/predict-input.ts';
import { CHROMIUM, chromiumAvailable } from '../demo/browser-check.ts';
import { BikeOnnxModel, readExport, type OrtModule } from './onnx-runtime.ts';

interface PredictJson {
  frameIndices: number[];
  top: { label: number; name: string; probability: number }[];
}

const TOLERANCE = 1e-4;

const measured: string[] = [];
function assertProbabilities(actual: number[], expected: number[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: class count`);
  const worst = Math.max(...actual.map((p, i) => Math.abs(p - expected[i]!)));
  assert.ok(
    worst <= TOLERANCE,
    `${what}: max |difference| ${worst} > ${TOLERANCE} (${JSON.stringify(actual)} vs ${JSON.stringify(expected)})`,
  );
  measured.push(`${what}: max |probability - bike predict's| ${worst.toExponential(2)}`);
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.onnx': 'application/octet-stream',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
};

/** Serves `routes` (URL prefix -> folder) on 127.0.0.1; anything else is a 404. */
function serve(routes: Record<string, string>): Promise<{ server: Server; origin: string }> {
  const server = createServer(async (request, response) => {
    const url = decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname);
    for (const [prefix, dir] of Object.entries(routes)) {
      if (!url.startsWith(prefix)) continue;
      const file = path.join(dir, url.slice(prefix.length));
      if (!file.startsWith(dir)) break;
      try {
        if (!statSync(file).isFile()) break;
        response.writeHead(200, { 'content-type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream' });
        response.end(await readFile(file));
        return;
      } catch {
        break;
      }
    }
    response.writeHead(404);
    response.end();
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve({ server, origin: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` });
    }),
  );
}

test(
  "bike export: ONNX Runtime in Node and in Chromium gives bike predict's answers; typed class names zero-shot through the text graph",
  { timeout: 600_000 },
  async (t) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bike-onnx-export-'));
    const demo = await demoFastRun();
    try {
      assertDemoRan(demo);
      const runDir = demo.videoRun;
      const classes = demo.classNames.length;
      // The run carries its own vocabulary; one named in the environment would override it.
      const env = { BIKE_CLIP_VOCAB: '' };

      const out = path.join(dir, 'onnx');
      const exported = await runBike(['export', runDir, '--onnx', out], env);
      assert.equal(exported.code, 0, exported.stderr);
      assert.match(exported.stdout, new RegExp(`wrote .*video\\.onnx.*${classes} classes, \\d+ frames of \\d+px`));
      const refused = await runBike(['export', runDir], env);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /--onnx <out-dir> is required/);
      const missing = await runBike(['export', path.join(dir, 'no-such-run'), '--onnx', out]);
      assert.notEqual(missing.code, 0);
      assert.match(missing.stderr, /no-such-run: no such file or directory/);

      const video = clearestTestVideo(demo).frames;
      const predicted = await runBike(
        ['predict', video, '--model', runDir, '--top', String(classes), '--precision', 'fp32', '--json'],
        env,
      );
      assert.equal(predicted.code, 0, predicted.stderr);
      const prediction = lastJson<PredictJson>(predicted);
      const expected = Array.from(
        { length: classes },
        (_, label) => prediction.top.find((c) => c.label === label)!.probability,
      );
      const top1 = prediction.top[0]!;

      // Node: the same runtime code the page bundles, over onnxruntime-node.
      const files = await readExport(async (name) => new Uint8Array(await readFile(path.join(out, name))));
      assert.deepEqual(files.meta.classes, demo.classNames);
      const model = await BikeOnnxModel.create(ortNode as unknown as OrtModule, files);
      const input = await readPredictionInput(video, {
        numSegments: files.meta.frames,
        inputSize: files.meta.inputSize,
      });
      assert.deepEqual(input.frameIndices, prediction.frameIndices);
      const frames = model.prepareFrames(input.frames);
      assert.deepEqual(
        Array.from(frames),
        Array.from(input.clip.data),
        "the Node-free preparation makes bike predict's input",
      );
      const classified = await model.classify(frames);
      assert.equal(classified.top1, top1.label);
      assertProbabilities(classified.probabilities, expected, 'Node video graph');
      const zeroShot = await model.zeroShot(frames, demo.classNames);
      assertProbabilities(zeroShot.probabilities, expected, 'Node text + head graphs');

      // The runtime bundles for a browser (esbuild fails on any Node API it reaches).
      const www = path.join(dir, 'www');
      await build({
        entryPoints: [path.join(REPO_ROOT, 'src/export/onnx-runtime.ts')],
        bundle: true,
        platform: 'browser',
        format: 'esm',
        outfile: path.join(www, 'bike-onnx-runtime.js'),
        logLevel: 'error',
      });
      if (!chromiumAvailable()) {
        t.diagnostic(`skipping the browser half: no Chromium at ${CHROMIUM}`);
        return;
      }
      writeFileSync(
        path.join(www, 'index.html'),
        readFileSync(path.join(REPO_ROOT, 'src/export/testing/onnx-page.html')),
      );
      const { server, origin } = await serve({
        '/ort/': path.join(REPO_ROOT, 'node_modules/onnxruntime-web/dist'),
        '/model/': out,
        '/video/': video,
        '/': www,
      });
      const { chromium } = await import('playwright-core');
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
      });
      try {
        const page = await browser.newPage();
        const external: string[] = [];
        page.on('request', (r) => {
          if (!r.url().startsWith(origin) && !r.url().startsWith('blob:') && !r.url().startsWith('data:'))
            external.push(r.url());
        });
        const frameUrls = prediction.frameIndices.map((i) => `video/img_${String(i + 1).padStart(5, '0')}.jpg`);
        await page.goto(`${origin}/index.html?model=model&frames=${frameUrls.join(',')}`);
        await page.waitForFunction('window.bikeReady === true || window.bikeError !== undefined', undefined, {
          timeout: 120_000,
        });
        const error = await page.evaluate('window.bikeError');
        assert.equal(error, undefined, `the page failed: ${String(error)}`);
        const inPage = (await page.evaluate('window.bikeExported')) as {
          top1: number;
          name: string;
          probabilities: number[];
        };
        assert.equal(inPage.name, top1.name, "the page's top-1 is bike predict's");
        assertProbabilities(inPage.probabilities, expected, 'Chromium video graph');
        // Zero-shot: names typed into the page, in another order.
        const typed = [...demo.classNames].reverse();
        await page.fill('#classes', typed.join(', '));
        await page.click('#zeroshot');
        await page.waitForSelector('#result[data-done]', { timeout: 120_000 });
        const z = JSON.parse((await page.textContent('#result')) ?? '{}') as {
          name: string;
          probabilities: number[];
          error?: string;
        };
        assert.equal(z.error, undefined, z.error);
        assert.equal(z.name, top1.name);
        assertProbabilities(
          z.probabilities,
          typed.map((n) => expected[demo.classNames.indexOf(n)]!),
          'Chromium text + head graphs',
        );
        assert.deepEqual(external, [], 'the page loads nothing from outside the test server');
        for (const line of measured) t.diagnostic(line);
      } finally {
        await browser.close();
        await new Promise((resolve) => server.close(resolve));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
      demo.dispose();
    }
  },
);
