/**
 * The demo's HTML report: one self-contained file (inline CSS, inline SVG plots, frames as base64
 * JPEG data URIs; no scripts and no external assets). It shows the training curves read from the
 * runs' metrics.jsonl (loss, learning rate, validation accuracy), the test confusion matrix and
 * per-class accuracy, zero-shot accuracy per unseen class beside chance, and for a few test videos
 * their sampled frames with the concept-spotting saliency of the top classes and the top-5 classes of
 * the video branch, the attribute branch and their fusion.
 */
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import type { RgbImage } from '../data/rgb-image.ts';
import { barChart, escapeXml, heatmap, lineChart, type Series } from './svg-charts.ts';

/** One line of metrics.jsonl as the engine writes it (kind `iteration` or `epoch`). */
export interface MetricRecord {
  kind: string;
  epoch?: number;
  iteration?: number;
  global_iteration?: number;
  loss?: number | string;
  lr?: number[] | number;
  top1?: number | null;
  top5?: number | null;
  [key: string]: unknown;
}

/** Reads metrics.jsonl; a malformed line is an error naming the file and line. */
export function readMetrics(file: string): MetricRecord[] {
  const text = readFileSync(file, 'utf8');
  return text.split('\n').flatMap((line, i) => {
    if (line.trim() === '') return [];
    try {
      const record = JSON.parse(line) as MetricRecord;
      if (typeof record !== 'object' || record === null || typeof record.kind !== 'string')
        throw new Error('no "kind"');
      return [record];
    } catch (error) {
      throw new Error(`${file} line ${i + 1}: not a metrics record (${(error as Error).message})`);
    }
  });
}

export interface RankedClass {
  name: string;
  probability: number;
}

export interface ReportSample {
  video: string;
  /** The true class. */
  label: string;
  /** Sampled frames with their 0-based numbers. */
  frames: { index: number; image: RgbImage }[];
  /** Concept-spotting weights of the top classes, one per frame. */
  saliency: { name: string; weights: number[] }[];
  /** Top classes of each branch: video, attributes, fusion (absent branches left out). */
  branches: { branch: string; top: RankedClass[] }[];
}

export interface ReportData {
  title: string;
  /** Lines of the summary table. */
  summary: { label: string; value: string }[];
  runs: { name: string; metrics: MetricRecord[] }[];
  /** Stage 0: the contrastive pre-training loss of every step (drawn when given). */
  pretrainLoss?: number[];
  classes: string[];
  /** Row-major `[true, predicted]` counts on the test videos. */
  confusion: number[];
  zeroShot: { classes: string[]; accuracy: number[]; chance: number } | null;
  samples: ReportSample[];
  /** Free notes (what was trained, how long), shown at the end. */
  notes: string[];
}

const CSS = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1120px; color: #222; padding: 0 16px; }
h1 { font-size: 24px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
table.summary { border-collapse: collapse; } table.summary td { padding: 3px 14px 3px 0; } table.summary td.value { font-weight: 600; font-variant-numeric: tabular-nums; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; }
svg .chart-title { font-weight: 600; font-size: 13px; } svg .tick, svg .legend { font-size: 10px; fill: #444; } svg .axis-label { font-size: 11px; fill: #333; }
svg .grid { stroke: #eee; } svg .frame { fill: none; stroke: #999; } svg .bar { fill: #4c78a8; } svg .bar-back { fill: #f0f0f0; }
svg .reference { stroke: #d62728; stroke-dasharray: 4 3; } svg .cell { stroke: #fff; stroke-width: 0.5; } svg .cell.diagonal { stroke: #333; stroke-width: 0.8; } svg .cell-text { font-size: 9px; }
.sample { border: 1px solid #ddd; border-radius: 6px; padding: 12px; margin: 14px 0; }
.sample h3 { margin: 0 0 8px; font-size: 15px; } .sample .truth { color: #555; font-weight: normal; }
.strip { display: grid; gap: 3px; align-items: end; margin-bottom: 10px; } .strip .label { font-size: 12px; color: #333; align-self: center; white-space: nowrap; padding-right: 8px; }
.strip img { width: 72px; height: 72px; image-rendering: pixelated; display: block; } .strip .frame-no { font-size: 10px; color: #777; text-align: center; }
.saliency-cell { height: 34px; position: relative; background: #f3f3f3; } .saliency-cell .fill { position: absolute; bottom: 0; left: 0; right: 0; background: #e45756; }
.saliency-cell .w { position: absolute; top: 1px; width: 100%; text-align: center; font-size: 9px; color: #333; }
.branches { display: flex; gap: 24px; flex-wrap: wrap; } .branches table { border-collapse: collapse; font-size: 12px; } .branches td { padding: 1px 8px 1px 0; }
.branches th { text-align: left; font-size: 12px; } .hit { font-weight: 700; color: #1a7f37; } .notes { color: #555; font-size: 12px; }
`;

function lrOf(record: MetricRecord): number | undefined {
  if (Array.isArray(record.lr)) return record.lr[record.lr.length - 1];
  return typeof record.lr === 'number' ? record.lr : undefined;
}

function numberOf(value: unknown): number {
  return typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN;
}

/** Loss, learning rate and validation accuracy charts of the runs. */
function curvePlots(runs: ReportData['runs']): string[] {
  const perIteration = (pick: (r: MetricRecord) => number | undefined) =>
    runs.map((run): Series => ({
      name: run.name,
      points: run.metrics
        .filter((r) => r.kind === 'iteration')
        .map((r, i) => [r.global_iteration ?? i, pick(r) ?? NaN]),
    }));
  const smooth = (series: Series[]): Series[] =>
    series.map((s) => {
      // An exponential moving average (bias-corrected) makes the noisy per-batch loss readable.
      let avg = 0;
      return {
        ...s,
        points: s.points.map(([x, y], i) => {
          avg = 0.9 * avg + 0.1 * y;
          return [x, avg / (1 - 0.9 ** (i + 1))] as [number, number];
        }),
      };
    });
  const accuracy: Series[] = runs.flatMap((run) => {
    const epochs = run.metrics.filter((r) => r.kind === 'epoch');
    return [
      {
        name: `${run.name} top-1`,
        points: epochs.map((r) => [numberOf(r.epoch) + 1, numberOf(r.top1)] as [number, number]),
        dots: true,
      },
      {
        name: `${run.name} top-5`,
        points: epochs.map((r) => [numberOf(r.epoch) + 1, numberOf(r.top5)] as [number, number]),
        dots: true,
      },
    ];
  });
  return [
    lineChart({
      title: 'Training loss (per batch, smoothed)',
      xLabel: 'iteration',
      yLabel: 'loss',
      series: smooth(perIteration((r) => numberOf(r.loss))),
    }),
    lineChart({ title: 'Learning rate', xLabel: 'iteration', yLabel: 'lr', series: perIteration(lrOf) }),
    lineChart({ title: 'Validation accuracy', xLabel: 'epoch', yLabel: 'percent', yRange: [0, 100], series: accuracy }),
  ];
}

/** Base64 JPEG data URI of a frame. */
async function dataUri(image: RgbImage): Promise<string> {
  const jpeg = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
  return `data:image/jpeg;base64,${jpeg.toString('base64')}`;
}

async function sampleHtml(sample: ReportSample): Promise<string> {
  const n = sample.frames.length;
  const columns = `grid-template-columns: 220px repeat(${n}, 72px)`;
  const images = await Promise.all(sample.frames.map((f) => dataUri(f.image)));
  const rows: string[] = [];
  rows.push(
    `<div class="strip frames" style="${columns}" data-frames="${n}"><div class="label">frames</div>${images.map((uri, i) => `<div><img src="${uri}" alt="frame ${sample.frames[i]!.index}" class="frame-image"><div class="frame-no">#${sample.frames[i]!.index}</div></div>`).join('')}</div>`,
  );
  for (const s of sample.saliency) {
    if (s.weights.length !== n)
      throw new Error(
        `report sample ${sample.video}: saliency of "${s.name}" has ${s.weights.length} weights for ${n} frames`,
      );
    const most = Math.max(1e-12, ...s.weights);
    rows.push(
      `<div class="strip saliency" style="${columns}" data-frames="${n}" data-class="${escapeXml(s.name)}"><div class="label">saliency: ${escapeXml(s.name)}</div>${s.weights.map((w) => `<div class="saliency-cell" title="${w.toFixed(3)}"><div class="fill" style="height:${((100 * w) / most).toFixed(1)}%"></div><div class="w">${w.toFixed(2)}</div></div>`).join('')}</div>`,
    );
  }
  const tables = sample.branches.map(
    (b) =>
      `<table class="branch" data-branch="${escapeXml(b.branch)}"><tr><th colspan="2">${escapeXml(b.branch)}</th></tr>${b.top.map((c) => `<tr class="${c.name === sample.label ? 'hit' : ''}"><td>${escapeXml(c.name)}</td><td>${(100 * c.probability).toFixed(1)}%</td></tr>`).join('')}</table>`,
  );
  return `<div class="sample"><h3>${escapeXml(sample.video)} <span class="truth">— true class: ${escapeXml(sample.label)}</span></h3>${rows.join('')}<div class="branches">${tables.join('')}</div></div>`;
}

/** The report's HTML. */
export async function renderReport(data: ReportData): Promise<string> {
  const n = data.classes.length;
  if (data.confusion.length !== n * n)
    throw new Error(`report: confusion matrix has ${data.confusion.length} cells for ${n} classes`);
  const perClass = data.classes.map((_, c) => {
    let total = 0;
    for (let p = 0; p < n; p++) total += data.confusion[c * n + p]!;
    return total > 0 ? (100 * data.confusion[c * n + c]!) / total : 0;
  });
  const sections: string[] = [];
  sections.push(`<h1>${escapeXml(data.title)}</h1>`);
  sections.push(
    `<table class="summary">${data.summary.map((s) => `<tr><td>${escapeXml(s.label)}</td><td class="value">${escapeXml(s.value)}</td></tr>`).join('')}</table>`,
  );
  const pretrain = data.pretrainLoss?.length
    ? [
        lineChart({
          title: 'Stage 0: CLIP pre-training loss (symmetric InfoNCE)',
          xLabel: 'step',
          yLabel: 'loss',
          series: [
            { name: 'image-caption loss', points: data.pretrainLoss.map((y, x) => [x + 1, y] as [number, number]) },
          ],
        }),
      ]
    : [];
  sections.push(`<h2>Training</h2><div class="plots">${[...pretrain, ...curvePlots(data.runs)].join('')}</div>`);
  sections.push(
    `<h2>Test videos of the seen classes</h2><div class="plots">${heatmap({
      title: 'Confusion matrix (video branch, test videos)',
      rowLabels: data.classes,
      colLabels: data.classes,
      values: data.confusion,
      rowTitle: 'true class',
      colTitle: 'predicted class',
    })}${barChart({ title: 'Per-class top-1 accuracy', labels: data.classes, values: perClass, max: 100, unit: '%' })}</div>`,
  );
  if (data.zeroShot) {
    const z = data.zeroShot;
    sections.push(
      `<h2>Zero-shot: unseen combinations of seen words</h2><div class="plots">${barChart({
        title: 'Zero-shot top-1 per unseen class',
        labels: z.classes,
        values: z.accuracy,
        max: 100,
        unit: '%',
        reference: { value: z.chance, label: `chance ${z.chance.toFixed(1)}%` },
      })}</div>`,
    );
  }
  if (data.samples.length > 0) {
    const samples = await Promise.all(data.samples.map(sampleHtml));
    sections.push(
      `<h2>What the model looked at</h2><p class="notes">Each strip shows the frames the model sampled; below them, the weight Video Concept Spotting gave each frame for the top classes (bar height relative to the largest weight), then the top-5 classes of each branch (the true class in green).</p>${samples.join('')}`,
    );
  }
  if (data.notes.length > 0)
    sections.push(`<h2>Notes</h2><ul class="notes">${data.notes.map((n) => `<li>${escapeXml(n)}</li>`).join('')}</ul>`);
  return `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>${escapeXml(data.title)}</title><style>${CSS}</style></head><body>${sections.join('\n')}</body></html>\n`;
}
