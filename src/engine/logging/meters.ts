/**
 * The original's `AverageMeter` (last value, weighted running average) and the ETA it prints:
 * the average batch time times the batches left in the whole run.
 */

export class AverageMeter {
  value = 0;
  sum = 0;
  count = 0;

  get average(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  update(value: number, n = 1): void {
    this.value = value;
    this.sum += value * n;
    this.count += n;
  }

  reset(): void {
    this.value = 0;
    this.sum = 0;
    this.count = 0;
  }
}

/** `H:MM:SS` as Python's `str(datetime.timedelta(seconds=int(s)))` prints it (days as `N day(s), `). */
export function formatDuration(seconds: number): string {
  const total = Math.max(0, Math.floor(Number.isFinite(seconds) ? seconds : 0));
  const days = Math.floor(total / 86400);
  const h = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const clock = `${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
  return days > 0 ? `${days} day${days === 1 ? '' : 's'}, ${clock}` : clock;
}

/** The original's ETA: `batch_time.avg * (max_iter - cur_iter + 1)` seconds. */
export function etaSeconds(averageBatchSeconds: number, currentIteration: number, maxIteration: number): number {
  return averageBatchSeconds * Math.max(0, maxIteration - currentIteration + 1);
}
