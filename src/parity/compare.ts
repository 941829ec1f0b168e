/**
 * The one comparison rule of every parity check: computed values against a fixture's reference
 * values under a `Tolerance`, as a parity result whose detail gives the error measured, the bound
 * it was held to and (when it fails, or when the values are named) the worst element.
 *
 * - `scaled` (forward outputs, losses, gradients; the fixtures README): `max |a-b| <= factor * max(1, max|expected|)`;
 * - `absolute` (parameters after optimizer steps, accuracies, AP): `|a-b| <= atol`;
 * - `relative` (learning rates): `|a-b| <= rtol * |expected|` (absolute where expected is 0);
 * - `exact` (token ids, indices, 0/1 matrices, class splits): equal values.
 *
 * The statistic is the largest error, or the mean absolute difference where resamplers may differ
 * slightly per pixel (preprocessing). A NaN or infinite error always fails. Shapes must match (a
 * one-element tensor may stand for a scalar).
 */
import { Tensor, noGrad, tidy } from '../torch/index.ts';
import type { ParityResult } from './parity-result.ts';

export type Tolerance =
  | { kind: 'exact' }
  | { kind: 'absolute'; atol: number }
  | { kind: 'scaled'; factor: number }
  | { kind: 'relative'; rtol: number };

/** Forward outputs, losses, gradients: `|a-b| <= 1e-4 * max(1, max|expected|)` (fixtures README). */
export const SCALED_TOLERANCE = 1e-4;
/** Parameters after optimizer steps: `|a-b| <= 1e-6`. */
export const PARAMETER_TOLERANCE = 1e-6;

export const SCALED: Tolerance = { kind: 'scaled', factor: SCALED_TOLERANCE };
export const PARAMETERS: Tolerance = { kind: 'absolute', atol: PARAMETER_TOLERANCE };
export const EXACT: Tolerance = { kind: 'exact' };

export interface CompareOptions {
  /** `max` (default): the largest error; `mean`: the mean absolute difference. */
  statistic?: 'max' | 'mean';
  /** Appended to the numbers of the detail, e.g. ` percentage points`. */
  unit?: string;
  /** Names element `i` (default `element i`); with a label the worst element is always reported. */
  label?: (index: number) => string;
}

export interface Measurement {
  ok: boolean;
  /** The statistic: the largest (relative) error or the mean absolute difference; Infinity for NaN. */
  error: number;
  /** The bound the error is held to. */
  limit: number;
  /** Index of the element with the largest error (-1 when there is none). */
  worst: number;
  /** `max|expected|` (what `scaled` multiplies). */
  scale: number;
}

const fmt = (x: number) => (Number.isFinite(x) ? x.toExponential(2) : String(x));

/** Measures `actual` against `expected` (same length) under `tolerance`. */
export function measure(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: Tolerance,
  statistic: 'max' | 'mean' = 'max',
): Measurement {
  const n = Math.min(actual.length, expected.length);
  let scale = 0;
  if (tolerance.kind === 'scaled') for (let i = 0; i < n; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  let largest = -1;
  let worst = -1;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const want = expected[i]!;
    let error = Math.abs(actual[i]! - want);
    if (tolerance.kind === 'relative' && want !== 0) error /= Math.abs(want);
    if (Number.isNaN(error)) error = Infinity;
    sum += error;
    if (error > largest) {
      largest = error;
      worst = i;
    }
  }
  const error = n === 0 ? 0 : statistic === 'mean' ? sum / n : largest;
  const limit =
    tolerance.kind === 'exact'
      ? 0
      : tolerance.kind === 'absolute'
        ? tolerance.atol
        : tolerance.kind === 'relative'
          ? tolerance.rtol
          : tolerance.factor * Math.max(1, scale);
  return {
    ok: n > 0 && actual.length === expected.length && Number.isFinite(error) && error <= limit,
    error,
    limit,
    worst,
    scale,
  };
}

function ruleText(tolerance: Tolerance, m: Measurement, unit: string): string {
  switch (tolerance.kind) {
    case 'exact':
      return 'exact';
    case 'absolute':
      return `${fmt(m.limit)}${unit} absolute`;
    case 'relative':
      return `${tolerance.rtol} relative`;
    case 'scaled':
      return `${tolerance.factor} * max(1, max|expected| = ${fmt(m.scale)}) = ${fmt(m.limit)}`;
  }
}

/** Compares two lists of numbers under `tolerance`; never throws for bad values (a failed result instead). */
export function compareValues(
  name: string,
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: Tolerance,
  options: CompareOptions = {},
): ParityResult {
  const unit = options.unit ?? '';
  const label = options.label ?? ((i: number) => `element ${i}`);
  if (actual.length !== expected.length) {
    return {
      name,
      ok: false,
      detail: `got ${actual.length} values, expected ${expected.length} (tolerance: ${tolerance.kind})`,
    };
  }
  if (actual.length === 0) return { name, ok: false, detail: 'nothing to compare: no values' };
  const m = measure(actual, expected, tolerance, options.statistic);
  const rule = ruleText(tolerance, m, unit);
  const worst =
    m.worst >= 0 && (!m.ok || options.label)
      ? `; worst ${label(m.worst)}: got ${actual[m.worst]}, expected ${expected[m.worst]}`
      : '';
  if (tolerance.kind === 'exact') {
    return m.ok
      ? { name, ok: true, detail: `all ${actual.length} values equal (tolerance: exact)` }
      : {
          name,
          ok: false,
          detail: `${label(m.worst)}: got ${actual[m.worst]}, expected ${expected[m.worst]} (tolerance: exact)`,
        };
  }
  const what =
    options.statistic === 'mean' ? 'mean |a-b|' : tolerance.kind === 'relative' ? 'max relative error' : 'max |a-b|';
  return {
    name,
    ok: m.ok,
    detail: `${what} = ${fmt(m.error)}${unit} ${m.ok ? '<=' : '>'} tolerance ${rule}; ${actual.length} values${worst}`,
  };
}

/** The first position where `actual` and `expected` differ, or null when they are equal (exact). */
export function firstDifference(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  label: (index: number) => string = (i) => `position ${i}`,
): string | null {
  if (actual.length !== expected.length) return `got ${actual.length} values, expected ${expected.length}`;
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) return `${label(i)}: got ${actual[i]}, expected ${expected[i]}`;
  }
  return null;
}

/** Named values, e.g. accuracies: `[what, actual, expected]` each; the worst is named in the detail. */
export function compareNamed(
  name: string,
  pairs: readonly (readonly [string, number, number])[],
  tolerance: Tolerance,
  unit = '',
): ParityResult {
  return compareValues(
    name,
    pairs.map((p) => p[1]),
    pairs.map((p) => p[2]),
    tolerance,
    { unit, label: (i) => pairs[i]![0] },
  );
}

/** A tensor against the fixture's: shapes, then values as float64 (or exact integers). */
export function compareTensor(
  name: string,
  actual: Tensor,
  expected: Tensor,
  tolerance: Tolerance = SCALED,
): ParityResult {
  if (actual.numel !== expected.numel || (actual.shape.join() !== expected.shape.join() && actual.numel !== 1)) {
    return { name, ok: false, detail: `shape [${actual.shape}] differs from the expected [${expected.shape}]` };
  }
  const values = (t: Tensor): ArrayLike<number> =>
    noGrad(() =>
      tidy(() => {
        const flat = t.detach().reshape(-1);
        return tolerance.kind === 'exact' ? flat.toArray() : (flat.to('float64').toTypedArray() as Float64Array);
      }),
    );
  return compareValues(name, values(actual), values(expected), tolerance);
}

/** Exact comparison of integer or 0/1 tensors. */
export function compareExact(name: string, actual: Tensor, expected: Tensor): ParityResult {
  return compareTensor(name, actual, expected, EXACT);
}

/** Byte-for-byte equality (tensors read from two files). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
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
