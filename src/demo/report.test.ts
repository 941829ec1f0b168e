import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeRgbImage } from '../data/rgb-image.ts';
import { chromiumAvailable, CHROMIUM, inspectReport } from './browser-check.ts';
import { readMetrics, renderReport, type MetricRecord, type ReportData } from './report.ts';
import { calibrate } from './calibrated.ts';

function metrics(epochs: number, batches: number, scale: number): MetricRecord[] {
  const out: MetricRecord[] = [];
  for (let e = 0; e < epochs; e++) {
    for (let i = 0; i < batches; i++) {
      const g = e * batches + i;
      out.push({
        kind: 'iteration',
        epoch: e,
        iteration: i,
        global_iteration: g,
        loss: scale * Math.exp(-g / 10),
        lr: [(1e-3 * (g + 1)) / (epochs * batches), (1e-3 * (g + 1)) / (epochs * batches)],
      });
    }
    out.push({ kind: 'epoch', epoch: e, loss: scale * Math.exp(-e), top1: 30 + 20 * e, top5: 60 + 10 * e, lr: [1e-3] });
  }
  return out;
}

function reportData(frames: number): ReportData {
  const classes = ['a red circle moving up', 'a red circle moving down', 'a blue square growing'];
  const image = makeRgbImage(
    16,
    16,
    new Uint8Array(16 * 16 * 3).map((_, i) => (i * 37) % 256),
  );
  return {
    title: 'test report',
    summary: [{ label: 'top-1', value: '66.7%' }],
    runs: [
      { name: 'video branch', metrics: metrics(3, 4, 2) },
      { name: 'attribute branch', metrics: metrics(2, 3, 1) },
    ],
    classes,
    confusion: [2, 1, 0, 0, 3, 0, 1, 0, 2],
    zeroShot: { classes: ['a blue circle moving up', 'a red square growing'], accuracy: [50, 0], chance: 50 },
    samples: [
      {
        video: 'val/red_circle_moving_up_000.mp4',
        label: classes[0]!,
        frames: Array.from({ length: frames }, (_, i) => ({ index: 2 * i, image })),
        saliency: [
          {
            name: classes[0]!,
            weights: Array.from({ length: frames }, (_, i) => (i + 1) / ((frames * (frames + 1)) / 2)),
          },
          { name: classes[1]!, weights: Array.from({ length: frames }, () => 1 / frames) },
        ],
        branches: [
          { branch: 'video branch', top: classes.map((name, i) => ({ name, probability: [0.6, 0.3, 0.1][i]! })) },
          { branch: 'attribute branch', top: classes.map((name, i) => ({ name, probability: [0.5, 0.4, 0.1][i]! })) },
        ],
      },
    ],
    notes: ['made by a test'],
  };
}

test('the report is one self-contained HTML file with every section', async () => {
  const html = await renderReport(reportData(8));
  assert.match(html, /^<!DOCTYPE html>/);
  assert.doesNotMatch(html, /<script|<link|src="http|href="http/i, 'no scripts, stylesheets or remote assets');
  assert.equal((html.match(/<svg /g) ?? []).length, 6, 'loss, lr, accuracy, confusion, per-class, zero-shot');
  assert.equal((html.match(/data:image\/jpeg;base64,/g) ?? []).length, 8);
  assert.match(html, /a red circle moving up/);
});

test('a saliency strip must have one weight per frame; a confusion matrix one cell per class pair', async () => {
  const data = reportData(4);
  data.samples[0]!.saliency[0]!.weights.pop();
  await assert.rejects(renderReport(data), /saliency of "a red circle moving up" has 3 weights for 4 frames/);
  await assert.rejects(
    renderReport({ ...reportData(4), confusion: [1, 2, 3] }),
    /confusion matrix has 3 cells for 3 classes/,
  );
});

test('readMetrics names the file and line of a bad record', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bike-report-'));
  try {
    const file = path.join(dir, 'metrics.jsonl');
    writeFileSync(file, '{"kind":"iteration","loss":1}\n\n{"kind":"epoch","top1":5}\nnot json\n');
    assert.throws(() => readMetrics(file), new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} line 4`));
    writeFileSync(file, '{"kind":"iteration","loss":1}\n{"kind":"epoch","top1":5}\n');
    assert.deepEqual(
      readMetrics(file).map((r) => r.kind),
      ['iteration', 'epoch'],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test(
  'in headless Chromium every plot draws and each saliency strip shows every frame',
  { skip: chromiumAvailable() ? false : `no browser at ${CHROMIUM} (scripts/setup.sh installs Debian's chromium)` },
  async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bike-report-'));
    try {
      const file = path.join(dir, 'report.html');
      writeFileSync(file, await renderReport(reportData(8)));
      const drawn = await inspectReport(file);
      assert.equal(drawn.title, 'test report');
      assert.deepEqual(drawn.externalRequests, []);
      assert.equal(drawn.plots.length, 6);
      for (const plot of drawn.plots) {
        assert.ok(
          plot.marks > 0 && plot.width > 0 && plot.height > 0,
          `plot "${plot.title}" drew nothing: ${JSON.stringify(plot)}`,
        );
      }
      const byTitle = new Map(drawn.plots.map((p) => [p.title, p]));
      assert.equal(byTitle.get('Training loss (per batch, smoothed)')!.series, 2);
      assert.equal(byTitle.get('Validation accuracy')!.series, 4);
      assert.equal(byTitle.get('Confusion matrix (video branch, test videos)')!.cells, 9);
      assert.equal(byTitle.get('Per-class top-1 accuracy')!.bars, 3);
      assert.equal(byTitle.get('Zero-shot top-1 per unseen class')!.bars, 1, 'a class at 0% draws no bar');
      const strips = drawn.strips;
      assert.deepEqual(
        strips.map((s) => s.kind),
        ['frames', 'saliency', 'saliency'],
      );
      for (const strip of strips) {
        assert.equal(strip.declaredFrames, 8);
        assert.equal(strip.shown, 8, `${strip.kind} strip shows ${strip.shown} of 8 frames`);
      }
      assert.equal(strips[1]!.filled, 8);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test("calibrate turns the protocol's softmax(s) into the logit-scaled softmax(scale * s) that predict prints", () => {
  const s = [0.31, -0.12, 0.05, 0.3];
  const softmax = (xs: number[]) => {
    const e = xs.map((x) => Math.exp(x - Math.max(...xs)));
    const sum = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / sum);
  };
  const calibrated = calibrate(Float32Array.from(softmax(s)), 50);
  const expected = softmax(s.map((x) => 50 * x));
  calibrated.forEach((p, i) => assert.ok(Math.abs(p - expected[i]!) < 1e-4, `class ${i}: ${p} vs ${expected[i]}`));
  assert.ok(Math.max(...calibrated) > 0.5, 'sharp, unlike the protocol scores near 1/4');
  assert.deepEqual(calibrate([0.25, 0.25, 0.25, 0.25], 100), [0.25, 0.25, 0.25, 0.25]);
});
