/**
 * Plots as inline SVG text for the demo report: line charts (training curves), a heat map (the
 * confusion matrix) and horizontal bars (per-class accuracy). No scripts, fonts or external files;
 * each drawn element carries a class (`series`, `cell`, `bar`) so a test can check what was drawn.
 */

export function escapeXml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

export interface Series {
  name: string;
  /** [x, y] pairs; non-finite y values are skipped. */
  points: [number, number][];
  color?: string;
  /** Draw each point as a dot too (sparse series such as per-epoch accuracy). */
  dots?: boolean;
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  width?: number;
  height?: number;
  /** Fixed y range (e.g. [0, 100] for accuracies); default: the data's. */
  yRange?: [number, number];
  /** Plot y on a log scale (learning rates). */
  logY?: boolean;
}

/** "Nice" tick values covering [low, high]. */
export function ticks(low: number, high: number, count = 5): number[] {
  if (!(high > low)) return [low];
  const raw = (high - low) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-2) return v.toExponential(0);
  return Number(v.toPrecision(3)).toString();
}

export function lineChart(o: LineChartOptions): string {
  const width = o.width ?? 460;
  const height = o.height ?? 260;
  const m = { left: 58, right: 14, top: 28, bottom: 40 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const transform = (y: number) => (o.logY ? Math.log10(y) : y);
  const all = o.series.flatMap((s) =>
    s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!o.logY || y > 0)),
  );
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => transform(y));
  let [xMin, xMax] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1];
  let [yMin, yMax] = o.yRange
    ? (o.yRange.map(transform) as [number, number])
    : ys.length
      ? [Math.min(...ys), Math.max(...ys)]
      : [0, 1];
  if (xMax === xMin) [xMin, xMax] = [xMin - 0.5, xMax + 0.5];
  if (yMax === yMin) [yMin, yMax] = [yMin - 0.5, yMax + 0.5];
  const px = (x: number) => m.left + ((x - xMin) / (xMax - xMin)) * plotW;
  const py = (y: number) => m.top + plotH - ((transform(y) - yMin) / (yMax - yMin)) * plotH;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart line-chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(o.title)}">`,
  );
  parts.push(`<text x="${width / 2}" y="16" text-anchor="middle" class="chart-title">${escapeXml(o.title)}</text>`);
  const yTicks = o.logY
    ? ticks(Math.floor(yMin), Math.ceil(yMax), 4)
        .filter((t) => Number.isInteger(t))
        .map((t) => 10 ** t)
    : ticks(yMin, yMax);
  for (const t of yTicks) {
    const y = py(t);
    if (y < m.top - 1 || y > m.top + plotH + 1) continue;
    parts.push(`<line x1="${m.left}" x2="${m.left + plotW}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" class="grid"/>`);
    parts.push(
      `<text x="${m.left - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end" class="tick">${formatTick(t)}</text>`,
    );
  }
  for (const t of ticks(xMin, xMax)) {
    const x = px(t);
    parts.push(
      `<text x="${x.toFixed(1)}" y="${m.top + plotH + 16}" text-anchor="middle" class="tick">${formatTick(t)}</text>`,
    );
  }
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${plotW}" height="${plotH}" class="frame"/>`);
  parts.push(
    `<text x="${m.left + plotW / 2}" y="${height - 6}" text-anchor="middle" class="axis-label">${escapeXml(o.xLabel)}</text>`,
  );
  parts.push(
    `<text transform="translate(14 ${m.top + plotH / 2}) rotate(-90)" text-anchor="middle" class="axis-label">${escapeXml(o.yLabel)}</text>`,
  );
  o.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    const points = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!o.logY || y > 0));
    if (points.length === 0) return;
    const d = points.map(([x, y], k) => `${k === 0 ? 'M' : 'L'}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    parts.push(
      `<path d="${d}" class="series" data-series="${escapeXml(s.name)}" data-points="${points.length}" fill="none" stroke="${color}" stroke-width="1.8"/>`,
    );
    if (s.dots || points.length === 1)
      for (const [x, y] of points)
        parts.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="2.8" fill="${color}"/>`);
    const ly = m.top + 10 + i * 14;
    parts.push(
      `<line x1="${m.left + plotW - 120}" x2="${m.left + plotW - 104}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"/>`,
    );
    parts.push(`<text x="${m.left + plotW - 100}" y="${ly + 4}" class="legend">${escapeXml(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

export interface HeatmapOptions {
  title: string;
  rowLabels: string[];
  colLabels: string[];
  /** Row-major `rows x cols` values. */
  values: ArrayLike<number>;
  /** Value shown as the darkest colour (default: the maximum). */
  max?: number;
  cell?: number;
  rowTitle?: string;
  colTitle?: string;
}

/** A grid of shaded cells, one per value, with the count written in non-zero cells. */
export function heatmap(o: HeatmapOptions): string {
  const rows = o.rowLabels.length;
  const cols = o.colLabels.length;
  if (o.values.length !== rows * cols)
    throw new Error(`heatmap "${o.title}": ${o.values.length} values for ${rows} x ${cols} cells`);
  const cell = o.cell ?? Math.max(10, Math.min(26, Math.floor(560 / Math.max(rows, cols))));
  const labelWidth = Math.min(240, 6.2 * Math.max(...o.rowLabels.map((l) => l.length)) + 10);
  const labelHeight = Math.min(240, 6.2 * Math.max(...o.colLabels.map((l) => l.length)) + 10);
  const left = labelWidth + 18;
  const top = 30 + labelHeight;
  // Column labels are rotated up and to the right: leave room for the last ones.
  const width = Math.max(left + cols * cell + 10 + Math.round(labelHeight * 0.5), left + 7 * o.title.length);
  const height = top + rows * cell + 10;
  const max = o.max ?? Math.max(1e-12, ...Array.from(o.values));
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart heatmap" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(o.title)}">`,
  );
  parts.push(`<text x="${left}" y="16" class="chart-title">${escapeXml(o.title)}</text>`);
  if (o.rowTitle)
    parts.push(
      `<text transform="translate(10 ${top + (rows * cell) / 2}) rotate(-90)" text-anchor="middle" class="axis-label">${escapeXml(o.rowTitle)}</text>`,
    );
  if (o.colTitle)
    parts.push(
      `<text x="${left + (cols * cell) / 2}" y="28" text-anchor="middle" class="axis-label">${escapeXml(o.colTitle)}</text>`,
    );
  o.rowLabels.forEach((label, r) =>
    parts.push(
      `<text x="${left - 4}" y="${top + r * cell + cell / 2 + 4}" text-anchor="end" class="tick">${escapeXml(label)}</text>`,
    ),
  );
  o.colLabels.forEach((label, c) => {
    const x = left + c * cell + cell / 2 + 4;
    parts.push(`<text transform="translate(${x} ${top - 4}) rotate(-60)" class="tick">${escapeXml(label)}</text>`);
  });
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = o.values[r * cols + c]!;
      const shade = Math.max(0, Math.min(1, v / max));
      const fill = `rgb(${Math.round(255 - 225 * shade)},${Math.round(255 - 160 * shade)},${Math.round(255 - 60 * shade)})`;
      parts.push(
        `<rect x="${left + c * cell}" y="${top + r * cell}" width="${cell}" height="${cell}" fill="${fill}" class="cell${r === c ? ' diagonal' : ''}" data-value="${v}"><title>${escapeXml(`${o.rowLabels[r]} → ${o.colLabels[c]}: ${v}`)}</title></rect>`,
      );
      if (v > 0 && cell >= 14) {
        parts.push(
          `<text x="${left + c * cell + cell / 2}" y="${top + r * cell + cell / 2 + 4}" text-anchor="middle" class="cell-text" fill="${shade > 0.55 ? '#fff' : '#222'}">${Number.isInteger(v) ? v : v.toFixed(1)}</text>`,
        );
      }
    }
  }
  parts.push('</svg>');
  return parts.join('');
}

export interface BarChartOptions {
  title: string;
  labels: string[];
  values: number[];
  /** Axis maximum (default: the largest value). */
  max?: number;
  unit?: string;
  /** A dashed reference line (e.g. chance level). */
  reference?: { value: number; label: string };
}

/** Horizontal bars, one per label. */
export function barChart(o: BarChartOptions): string {
  if (o.labels.length !== o.values.length)
    throw new Error(`barChart "${o.title}": ${o.labels.length} labels for ${o.values.length} values`);
  const bar = 16;
  const labelWidth = Math.min(260, 6.2 * Math.max(...o.labels.map((l) => l.length)) + 10);
  const left = labelWidth + 8;
  const plotW = 300;
  const top = 28;
  const width = left + plotW + 60;
  const height = top + o.labels.length * (bar + 4) + 24;
  const max = o.max ?? Math.max(1e-12, ...o.values);
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart bar-chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(o.title)}">`,
  );
  parts.push(`<text x="${left}" y="16" class="chart-title">${escapeXml(o.title)}</text>`);
  o.labels.forEach((label, i) => {
    const y = top + i * (bar + 4);
    const w = Math.max(0, Math.min(1, o.values[i]! / max)) * plotW;
    parts.push(`<text x="${left - 6}" y="${y + bar - 4}" text-anchor="end" class="tick">${escapeXml(label)}</text>`);
    parts.push(`<rect x="${left}" y="${y}" width="${plotW}" height="${bar}" class="bar-back"/>`);
    parts.push(
      `<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${bar}" class="bar" data-value="${o.values[i]}"/>`,
    );
    parts.push(
      `<text x="${left + plotW + 6}" y="${y + bar - 4}" class="tick">${o.values[i]!.toFixed(1)}${o.unit ?? ''}</text>`,
    );
  });
  if (o.reference) {
    const x = left + Math.max(0, Math.min(1, o.reference.value / max)) * plotW;
    const bottom = top + o.labels.length * (bar + 4);
    parts.push(`<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${top - 4}" y2="${bottom}" class="reference"/>`);
    parts.push(
      `<text x="${x.toFixed(1)}" y="${bottom + 14}" text-anchor="middle" class="tick">${escapeXml(o.reference.label)}</text>`,
    );
  }
  parts.push('</svg>');
  return parts.join('');
}
