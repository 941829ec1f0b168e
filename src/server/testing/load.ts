/**
 * A bounded load generator for `bike serve` (loopback only): `total` POSTs of one video, `concurrency`
 * in flight at a time, each with a time limit; latencies and statuses collected.
 */
export interface LoadResult {
  total: number;
  concurrency: number;
  statuses: Record<number, number>;
  errors: string[];
  seconds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export async function runLoad(
  url: string,
  body: Uint8Array,
  options: { total: number; concurrency: number; timeoutMs?: number },
): Promise<LoadResult> {
  const latencies: number[] = [];
  const statuses: Record<number, number> = {};
  const errors: string[] = [];
  let next = 0;
  const start = performance.now();
  const worker = async () => {
    while (next < options.total) {
      next++;
      const t0 = performance.now();
      try {
        const response = await fetch(url, {
          method: 'POST',
          body,
          headers: { 'content-type': 'video/mp4' },
          signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
        });
        await response.arrayBuffer();
        statuses[response.status] = (statuses[response.status] ?? 0) + 1;
        if (response.status !== 200) errors.push(`status ${response.status}`);
      } catch (error) {
        errors.push((error as Error).message);
      }
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    total: options.total,
    concurrency: options.concurrency,
    statuses,
    errors,
    seconds,
    requestsPerSecond: options.total / seconds,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
  };
}

export function formatLoad(r: LoadResult): string {
  return (
    `${r.total} requests at concurrency ${r.concurrency}: ${r.requestsPerSecond.toFixed(1)} req/s, p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms, ` +
    `statuses ${JSON.stringify(r.statuses)}${r.errors.length ? `, errors: ${r.errors.slice(0, 3).join('; ')}` : ''}`
  );
}
