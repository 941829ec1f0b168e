/**
 * The page at `/` in headless Chromium (Debian's chromium through playwright-core): upload a video
 * through the file input (a held-out test video of the demo's model, `bike demo --fast`), wait for the
 * result, check that the top-1 bar is the video's class and the ranking the library's, one saliency
 * cell per sampled frame, the timeline band, re-scoring with typed labels; a screenshot is saved under runs/test-artifacts/ (ignored by git).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { VideoClassifier } from '../index.ts';
import { CHROMIUM } from '../demo/browser-check.ts';
import { assertDemoRan, clearestTestVideo, demoFastRun } from '../testing/demo-run.ts';
import { spawnBike } from '../testing/run-bike.ts';
import { createServer } from './server.ts';

// The demo's run carries its own vocabulary; a CLIP vocabulary named in the environment would override it.
delete process.env.BIKE_CLIP_VOCAB;
const ARTIFACTS = path.resolve(process.env.BIKE_TEST_ARTIFACTS ?? 'runs/test-artifacts');

/** A VP9 webm (what Chromium plays) of a video file. */
function toWebm(input: string, output: string): void {
  const run = spawnSync(
    process.env.BIKE_FFMPEG ?? 'ffmpeg',
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-y',
      '-i',
      input,
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
  const demo = await demoFastRun();
  const { chromium } = await import('playwright-core');
  let classifier: VideoClassifier | undefined;
  let server: Awaited<ReturnType<typeof createServer>> | undefined;
  let browser: Awaited<ReturnType<typeof chromium.launch>> | undefined;
  try {
    // The demo's model (bike demo --fast) and the test video it classifies most clearly, as a webm.
    assertDemoRan(demo);
    const clearest = clearestTestVideo(demo);
    const video = path.join(dir, `${path.basename(clearest.frames)}.webm`);
    toWebm(clearest.mp4, video);
    classifier = await VideoClassifier.load({ model: demo.videoRun, decodeWorkers: 1 });
    const direct = await classifier.classify(video, { topK: 5 });
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
    assert.equal(bars.length, 5, 'the top-5');
    assert.equal(bars[0]!.name, clearest.name, "top-1 is the video's class");
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

    // Re-scoring with typed names: the demo's unseen classes (combinations of seen words) and two more.
    const typed = [...demo.unseenNames, 'something yellow', 'a purple square'];
    await page.fill('#labels', typed.join('\n'));
    await page.click('#rescore-button');
    await page.waitForFunction(`['rescored', 'error'].includes(document.body.dataset.state || '')`, undefined, {
      timeout: 60_000,
    });
    const rescored = (await page.evaluate(
      `[...document.querySelectorAll('#bars .bar')].map((r) => r.getAttribute('data-name'))`,
    )) as string[];
    for (const name of rescored) assert.ok(typed.includes(name), `the bar "${name}" is not a typed label`);
    assert.equal(rescored.length, Math.min(5, typed.length), 'the top-5 of the typed labels');
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
    demo.dispose();
  }
});

test(
  "bike serve --model <the demo's video run> serves the page and the API, then stops on SIGINT",
  { timeout: 600_000 },
  async () => {
    const demo = await demoFastRun();
    const child = spawnBike(['serve', '--model', demo.videoRun, '--port', '0'], { BIKE_CLIP_VOCAB: '' });
    try {
      assertDemoRan(demo);
      const clearest = clearestTestVideo(demo);
      let stdout = '';
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const address = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`bike serve did not start in 120 s:\n${stderr}`)), 120_000);
        child.stdout!.on('data', (d: Buffer) => {
          stdout += d.toString();
          const match = /listening on (http:\/\/\S+)/.exec(stdout);
          if (match) {
            clearTimeout(timer);
            resolve(match[1]!);
          }
        });
        child.once('exit', (code) => reject(new Error(`bike serve exited with ${code}:\n${stderr}`)));
      });
      assert.match(stdout, new RegExp(`${demo.classNames.length} classes`));
      const page = await fetch(`${address}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<html/i);
      const model = (await (await fetch(`${address}/v1/model`)).json()) as { classes: string[] };
      assert.deepEqual(model.classes, demo.classNames);
      const form = new FormData();
      form.append('file', new Blob([readFileSync(clearest.mp4)], { type: 'video/mp4' }), path.basename(clearest.mp4));
      form.append('top', '3');
      const classified = await fetch(`${address}/v1/classify`, { method: 'POST', body: form });
      const body = (await classified.json()) as { top: { name: string }[] };
      assert.equal(classified.status, 200, JSON.stringify(body));
      assert.equal(body.top.length, 3);
      assert.equal(body.top[0]!.name, clearest.name, "the served model names the demo video's class");
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGINT');
      assert.equal(await exited, 0, `bike serve did not exit cleanly on SIGINT:\n${stderr}`);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      demo.dispose();
    }
  },
);
