/** Comparison helpers for tests of tensor code (used by the `*.test.ts` files; no test runner needed). */
import assert from 'node:assert/strict';
import { Tensor } from '../torch/tensor.ts';

function flatten(values: unknown): number[] {
  if (values instanceof Tensor) return values.toArray();
  if (Array.isArray(values)) return (values as unknown[]).flat(Infinity) as number[];
  return [values as number];
}

/**
 * Asserts `|actual - expected| <= atol + rtol * |expected|` elementwise (NaN equals NaN, infinities
 * must match), naming the first element that differs. Accepts tensors, nested arrays or numbers.
 */
export function assertClose(
  actual: unknown,
  expected: unknown,
  options: { atol?: number; rtol?: number; message?: string } = {},
): void {
  const atol = options.atol ?? 1e-6;
  const rtol = options.rtol ?? 1e-5;
  const a = flatten(actual);
  const e = flatten(expected);
  const label = options.message ? `${options.message}: ` : '';
  if (actual instanceof Tensor && expected instanceof Tensor) {
    assert.deepEqual(actual.shape, expected.shape, `${label}shapes differ`);
  }
  assert.equal(a.length, e.length, `${label}${a.length} values, expected ${e.length}`);
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = e[i]!;
    if (Number.isNaN(y) && Number.isNaN(x)) continue;
    if (!Number.isFinite(y) && x === y) continue;
    const ok = Math.abs(x - y) <= atol + rtol * Math.abs(y);
    if (!ok) assert.fail(`${label}element ${i}: ${x} vs expected ${y} (atol ${atol}, rtol ${rtol})`);
  }
}

/** Largest absolute elementwise difference of two equally long value lists. */
export function maxAbsDiff(a: unknown, b: unknown): number {
  const x = flatten(a);
  const y = flatten(b);
  assert.equal(x.length, y.length, `maxAbsDiff: ${x.length} vs ${y.length} values`);
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
  return worst;
}
