/**
 * Opens a report in headless Chromium (Debian's `chromium`, driven by playwright-core) and reads back
 * what the browser actually drew: for every SVG plot, its drawn elements with their rendered sizes;
 * for every frame / saliency strip, how many frames it shows and whether the images decoded. Used by
 * the tests of the report and of the demo.
 */
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export const CHROMIUM = process.env.BIKE_CHROMIUM ?? '/usr/bin/chromium';

export interface DrawnPlot {
  kind: string;
  title: string;
  /** Drawn marks: series paths with a non-empty outline, cells and bars with a non-zero area. */
  marks: number;
  /** Marks of each kind: `series`, `cell`, `bar`. */
  series: number;
  cells: number;
  bars: number;
  width: number;
  height: number;
}

export interface DrawnStrip {
  kind: 'frames' | 'saliency';
  declaredFrames: number;
  /** Frame images that decoded (naturalWidth > 0) or saliency cells drawn. */
  shown: number;
  /** Saliency cells whose filled bar has a height. */
  filled: number;
}

export interface DrawnReport {
  title: string;
  plots: DrawnPlot[];
  strips: DrawnStrip[];
  /** Requests the page made to anything but itself (should be none: the report is self-contained). */
  externalRequests: string[];
}

/** Runs inside the page (plain JavaScript: the project compiles without the DOM types). */
const MEASURE_IN_PAGE = `(() => {
  const area = (e) => { const r = e.getBoundingClientRect(); return r.width * r.height; };
  const plots = [...document.querySelectorAll('svg.chart')].map((svg) => {
    const series = [...svg.querySelectorAll('path.series')].filter((p) => (p.getAttribute('d') || '').length > 2 && p.getTotalLength() > 0).length;
    const cells = [...svg.querySelectorAll('rect.cell')].filter((r) => area(r) > 0).length;
    const bars = [...svg.querySelectorAll('rect.bar')].filter((r) => area(r) > 0).length;
    const box = svg.getBoundingClientRect();
    return {
      kind: [...svg.classList].find((c) => c !== 'chart') || 'chart', title: svg.getAttribute('aria-label') || '',
      marks: series + cells + bars, series, cells, bars, width: box.width, height: box.height,
    };
  });
  const strips = [...document.querySelectorAll('.strip')].map((strip) => {
    const kind = strip.classList.contains('saliency') ? 'saliency' : 'frames';
    const images = [...strip.querySelectorAll('img')].filter((img) => img.complete && img.naturalWidth > 0);
    const cells = [...strip.querySelectorAll('.saliency-cell')].filter((c) => area(c) > 0);
    const filled = [...strip.querySelectorAll('.saliency-cell .fill')].filter((f) => f.getBoundingClientRect().height > 0).length;
    return { kind, declaredFrames: Number(strip.getAttribute('data-frames')), shown: kind === 'frames' ? images.length : cells.length, filled };
  });
  return { title: document.title, plots, strips };
})()`;

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM);
}

export async function inspectReport(file: string): Promise<DrawnReport> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
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
  try {
    const page = await browser.newPage();
    const url = pathToFileURL(file).href;
    const externalRequests: string[] = [];
    page.on('request', (request) => {
      if (request.url() !== url && !request.url().startsWith('data:')) externalRequests.push(request.url());
    });
    await page.goto(url, { waitUntil: 'load' });
    const drawn = (await page.evaluate(MEASURE_IN_PAGE)) as { title: string; plots: DrawnPlot[]; strips: DrawnStrip[] };
    return { ...drawn, externalRequests };
  } finally {
    await browser.close();
  }
}
