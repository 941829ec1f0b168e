/**
 * The page at `/` in headless Chromium (Debian's chromium through playwright-core): upload a video
 * through the file input, wait for the result, check the top-1 bar and the ranking against the library, one saliency cell per sampled frame, the timeline band, re-scoring with typed labels; a
 * screenshot is saved under runs/test-artifacts/ (ignored by git).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { VideoClassifier } from '../index.ts';
import { SHARED_VOCAB } from '../testing/run-bike.ts';
import { CHROMIUM } from '../demo/browser-check.ts';
import { makeTinyRun } from '../testing/tiny-run.ts';
import { createServer } from './server.ts';

process.env.BIKE_CLIP_VOCAB ??= SHARED_VOCAB;
const ARTIFACTS = path.resolve(process.env.BIKE_TEST_ARTIFACTS ?? 'runs/test-artifacts');

/** A VP9 webm (what Chromium plays) of a frame folder. */
function framesToWebm(folder: string, output: string): void {
  const run = spawnSync(
    process.env.BIKE_FFMPEG ?? 'ffmpeg',
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-y',
      '-framerate',
      '4',
      '-i',
      path.join(folder, 'img_%05d.png'),
      '-c:v',
      'libvpx-vp9',
      '-b:v',
      '0',
      '-crf',
      '20',
      '-pix_fmt',
      'yuv420p',
      output,
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  if (run.status !== 0) throw new Error(`ffmpeg could not write ${output}: ${run.error?.message ?? run.stderr}`);
}

test('the page at / in headless Chromium', { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bike-serve-page-'));
  const { chromium } = await import('playwright-core');
  let classifier: VideoClassifier | undefined;
  let server: Awaited<ReturnType<typeof createServer>> | undefined;
  let browser: Awaited<ReturnType<typeof chromium.launch>> | undefined;
  try {
    const run = await makeTinyRun(dir);
    const video = path.join(dir, 'green_0.webm');
    framesToWebm(run.frameFolder, video);
    classifier = await VideoClassifier.load({ model: run.runDir, decodeWorkers: 1 });
    const direct = await classifier.classify(video, { topK: 4 });
    // The tiny model of one epoch does not tell the classes apart reliably (near-uniform probabilities),
    // so the page is checked against the library's answer for this video, not the video's true class.
    server = await createServer({ classifier, uploadDir: path.join(dir, 'uploads') });
    mkdirSync(path.join(dir, 'uploads'));
    const address = await server.listen(0);

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
        '--disable-sync',
      ],
    });
    const page = await browser.newPage({ viewport: { width: 1000, height: 1100 } });
    const external: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(address) && !r.url().startsWith('blob:')) external.push(r.url());
    });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(address);
    await page.waitForFunction(`(document.getElementById('model').textContent || '').includes('classes')`, undefined, {
      timeout: 30_000,
    });
    await page.setInputFiles('#file', video);
    await page.waitForFunction(`['done', 'error'].includes(document.body.dataset.state || '')`, undefined, {
      timeout: 120_000,
    });
    assert.equal(await page.evaluate('document.body.dataset.state'), 'done', (await page.textContent('#status')) ?? '');

    const bars = (await page.evaluate(
      `[...document.querySelectorAll('#bars .bar')].map((r) => ({ name: r.getAttribute('data-name'), width: r.querySelector('.fill').getBoundingClientRect().width }))`,
    )) as { name: string; width: number }[];
    assert.equal(bars.length, 4, 'top-5 of 4 classes');
    assert.equal(bars[0]!.name, direct.top[0]!.name, "top-1 is the library's top-1 for the video");
    assert.deepEqual(
      bars.map((b) => b.name),
      direct.top.map((c) => c.name),
      "the bars are the library's ranking",
    );
    assert.ok(bars[0]!.width > bars.at(-1)!.width, 'bars drawn by probability');
    const strip = (await page.evaluate(`(() => {
      const el = document.getElementById('strip');
      return {
        declared: Number(el.getAttribute('data-frames')),
        cells: [...el.querySelectorAll('.saliency-cell')].filter((c) => c.getBoundingClientRect().height > 0).length,
        filled: [...el.querySelectorAll('.saliency-cell .fill')].filter((f) => f.getBoundingClientRect().height > 0).length,
        drawn: el.querySelectorAll('canvas[data-drawn]').length,
      };
    })()`)) as { declared: number; cells: number; filled: number; drawn: number };
    assert.equal(strip.declared, classifier.numSegments);
    assert.equal(strip.cells, classifier.numSegments, 'one saliency cell per sampled frame');
    assert.ok(strip.filled >= 1);
    assert.equal(strip.drawn, classifier.numSegments, 'each sampled frame drawn from the playing video');
    const segments = (await page.evaluate(
      `[...document.querySelectorAll('#timeline .segment')].filter((e) => e.getBoundingClientRect().width > 0).length`,
    )) as number;
    assert.ok(segments >= 1, 'the timeline band has segments');
    const playable = (await page.evaluate(`document.getElementById('player').readyState`)) as number;
    assert.ok(playable >= 1, 'the video loaded in the player');

    await page.fill('#labels', 'a red square\na blue circle\nsomething yellow');
    await page.click('#rescore-button');
    await page.waitForFunction(`['rescored', 'error'].includes(document.body.dataset.state || '')`, undefined, {
      timeout: 60_000,
    });
    const rescored = (await page.evaluate(
      `[...document.querySelectorAll('#bars .bar')].map((r) => r.getAttribute('data-name'))`,
    )) as string[];
    assert.deepEqual(
      [...rescored].sort(),
      ['a blue circle', 'a red square', 'something yellow'],
      'the bars show the typed labels',
    );
    assert.notDeepEqual(
      rescored,
      bars.map((b) => b.name),
    );

    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = path.join(ARTIFACTS, 'serve-page.png');
    await page.screenshot({ path: shot, fullPage: true });
    process.stdout.write(`# screenshot: ${shot}\n`);
    assert.deepEqual(external, [], 'no request leaves the server');
    assert.deepEqual(errors, [], 'no script errors');
  } finally {
    await browser?.close();
    await server?.close();
    classifier?.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
