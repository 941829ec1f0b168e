/** Order statistics the benchmarks print. */

/** The q-quantile (linear interpolation between order statistics, as numpy's default). */
export function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** The median (the mean of the two middle values for an even count). */
export function median(values: number[]): number {
  return quantile(values, 0.5);
}
