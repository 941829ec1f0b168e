/** Comparisons of computed tensors with a fixture's `expect.*` tensors, as parity results. */
import { Tensor, noGrad, tidy } from '../torch/index.ts';
import type { ParityResult } from './parity-result.ts';

/** Forward outputs, losses, gradients: `|a-b| <= 1e-4 * max(1, max|expected|)` (fixtures README). */
export const RELATIVE_TOLERANCE = 1e-4;
/** Parameters after optimizer steps: `|a-b| <= 1e-6`. */
export const PARAMETER_TOLERANCE = 1e-6;

export type Tolerance = { kind: 'scaled'; factor: number } | { kind: 'absolute'; atol: number };
export const SCALED: Tolerance = { kind: 'scaled', factor: RELATIVE_TOLERANCE };
export const PARAMETERS: Tolerance = { kind: 'absolute', atol: PARAMETER_TOLERANCE };

const fmt = (x: number) => (Number.isFinite(x) ? x.toExponential(2) : String(x));

/** Measures `actual` against `expected` under `tolerance`; never throws for bad values (a failed result instead). */
export function compareTensor(name: string, actual: Tensor, expected: Tensor, tolerance: Tolerance = SCALED): ParityResult {
  if (actual.numel !== expected.numel || (actual.shape.join() !== expected.shape.join() && actual.numel !== 1)) {
    return { name, ok: false, detail: `shape [${actual.shape}] differs from the expected [${expected.shape}]` };
  }
  const { diff, scale } = noGrad(() => tidy(() => {
    const a = actual.detach().to('float64').reshape(-1);
    const e = expected.detach().to('float64').reshape(-1);
    return { diff: a.sub(e).abs().max().item(), scale: e.abs().max().item() };
  }));
  const limit = tolerance.kind === 'scaled' ? tolerance.factor * Math.max(1, scale) : tolerance.atol;
  const rule = tolerance.kind === 'scaled'
    ? `${tolerance.factor} * max(1, max|expected| = ${fmt(scale)}) = ${fmt(limit)}`
    : `${fmt(limit)} absolute`;
  const ok = diff <= limit; // false for NaN
  return { name, ok, detail: `max |a-b| = ${fmt(diff)} ${ok ? '<=' : '>'} ${rule}` };
}

/** Exact comparison of integer or 0/1 tensors. */
export function compareExact(name: string, actual: Tensor, expected: Tensor): ParityResult {
  if (actual.shape.join() !== expected.shape.join()) {
    return { name, ok: false, detail: `shape [${actual.shape}] differs from the expected [${expected.shape}]` };
  }
  const a = actual.toArray();
  const e = expected.toArray();
  const first = a.findIndex((v, i) => v !== e[i]);
  return first < 0
    ? { name, ok: true, detail: `${a.length} values equal (exact match required)` }
    : { name, ok: false, detail: `element ${first}: ${a[first]} vs expected ${e[first]} (exact match required)` };
}

/** Runs one check, turning an exception into a failed result that names it. */
export function guarded(name: string, check: () => ParityResult | ParityResult[]): ParityResult[] {
  try {
    const result = check();
    return Array.isArray(result) ? result : [result];
  } catch (error) {
    return [{ name, ok: false, detail: `threw: ${(error as Error).message}` }];
  }
}
