/**
 * Run logging: human lines to the terminal and to `log.txt` in the run directory, machine records to
 * `metrics.jsonl` (one JSON object per iteration and per epoch), and a progress bar with ETA, loss,
 * learning rate and data/compute time when the output is a terminal (plain lines every `print_freq`
 * batches otherwise, as the original prints them).
 *
 * Only rank 0 writes anything (the original's `setup_logger(distributed_rank=...)`); other ranks
 * report warnings and errors on stderr, prefixed with their rank.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { formatDuration } from './meters.ts';

export const LOG_FILE = 'log.txt';
export const METRICS_FILE = 'metrics.jsonl';

interface OutputStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface RunLoggerOptions {
  /** Run directory for log.txt and metrics.jsonl; null logs to the terminal only. */
  dir?: string | null;
  /** Distributed rank; only rank 0 writes. Default 0. */
  rank?: number;
  /** Terminal stream (default process.stdout). */
  stream?: OutputStream;
  /** Draw a progress bar; default: whether `stream` is a terminal. */
  tty?: boolean;
  /** No terminal output at all (files are still written). */
  quiet?: boolean;
  /** Called at every step of every loop (training epochs, evaluation passes, attribute generation), on every rank. */
  onProgress?: ProgressListener;
}

/** One step of a loop: `phase` names the loop (e.g. `epoch 0`, `test`), `step` of `total` are done. */
export interface ProgressEvent {
  phase: string;
  step: number;
  total: number;
  /** The loop's numbers at this step: `loss`, `lossAverage`, `lr`, `dataSeconds`, `computeSeconds`, `etaSeconds`, running metrics. */
  metrics: Record<string, number>;
}

export type ProgressListener = (event: ProgressEvent) => void;

function timestamp(date = new Date()): string {
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

export class RunLogger {
  readonly rank: number;
  readonly dir: string | null;
  readonly tty: boolean;
  private readonly stream: OutputStream;
  private readonly quiet: boolean;
  private logFd: number | null = null;
  private metricsFd: number | null = null;
  /** The progress line currently drawn at the bottom of the terminal, if any. */
  private bar: string | null = null;
  /** Who hears of each step: the terminal bar, then the caller's listener. */
  private readonly listeners: ProgressListener[];

  constructor(options: RunLoggerOptions = {}) {
    this.rank = options.rank ?? 0;
    this.dir = options.dir ?? null;
    this.stream = options.stream ?? process.stdout;
    this.tty = options.tty ?? this.stream.isTTY === true;
    this.quiet = options.quiet ?? false;
    this.listeners = [(event) => this.setBar(progressBar(event))];
    if (options.onProgress) this.listeners.push(options.onProgress);
    if (this.dir !== null && this.isWriter) {
      mkdirSync(this.dir, { recursive: true });
      this.logFd = openSync(path.join(this.dir, LOG_FILE), 'a');
      this.metricsFd = openSync(path.join(this.dir, METRICS_FILE), 'a');
    }
  }

  get isWriter(): boolean {
    return this.rank === 0;
  }

  /** A line for the log file and the terminal (rank 0 only). */
  info(message: string): void {
    if (!this.isWriter) return;
    if (this.logFd !== null) writeSync(this.logFd, `[${timestamp()}] BIKE INFO: ${message}\n`);
    this.toTerminal(message);
  }

  /**
   * A line the user must see even with `quiet` (a run's summary of replaced inputs): the log file
   * and the terminal as `info`, or stderr when quiet, which keeps stdout for `--json`.
   */
  notice(message: string): void {
    if (!this.isWriter) return;
    if (!this.quiet) {
      this.info(message);
      return;
    }
    if (this.logFd !== null) writeSync(this.logFd, `[${timestamp()}] BIKE INFO: ${message}\n`);
    process.stderr.write(`${message}\n`);
  }

  /** A warning from any rank: log file (rank 0) and stderr. */
  warn(message: string): void {
    const text = this.rank === 0 ? `warning: ${message}` : `[rank ${this.rank}] warning: ${message}`;
    if (this.logFd !== null) writeSync(this.logFd, `[${timestamp()}] BIKE WARNING: ${message}\n`);
    if (this.bar !== null && this.tty) this.stream.write('\r\x1b[K');
    process.stderr.write(`${text}\n`);
    if (this.bar !== null && this.tty) this.stream.write(this.bar);
  }

  /** One JSON record in metrics.jsonl (rank 0 only); `time` is added. */
  metrics(record: Record<string, unknown>): void {
    if (!this.isWriter || this.metricsFd === null) return;
    writeSync(this.metricsFd, `${JSON.stringify({ time: Date.now() / 1000, ...record }, jsonNumber)}\n`);
  }

  /** Tells every listener (the terminal bar first) of a step. */
  progress(event: ProgressEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  /** Draws (TTY) a transient status line below the log lines. */
  setBar(line: string | null): void {
    if (!this.isWriter || this.quiet || !this.tty) return;
    const width = Math.max(20, (this.stream.columns ?? 120) - 1);
    const clipped = line === null ? null : line.length > width ? `${line.slice(0, width - 1)}…` : line;
    this.stream.write(`\r\x1b[K${clipped ?? ''}`);
    this.bar = clipped;
  }

  close(): void {
    if (this.bar !== null) {
      this.stream.write('\n');
      this.bar = null;
    }
    for (const fd of [this.logFd, this.metricsFd]) if (fd !== null) closeSync(fd);
    this.logFd = null;
    this.metricsFd = null;
  }

  private toTerminal(message: string): void {
    if (this.quiet) return;
    if (this.bar !== null && this.tty) this.stream.write(`\r\x1b[K${message}\n${this.bar}`);
    else this.stream.write(`${message}\n`);
  }
}

/** NaN and infinities are not JSON: write them as strings so a record never breaks the file. */
function jsonNumber(_key: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return value;
}

export interface ProgressFields {
  loss?: number;
  lossAverage?: number;
  lr?: number;
  dataSeconds?: number;
  computeSeconds?: number;
  etaSeconds?: number;
  /** Extra `name value` pairs (e.g. running top-1 during evaluation). */
  extra?: Record<string, number>;
}

/**
 * Progress of one loop (an epoch of training, or an evaluation pass): a redrawn bar on a terminal,
 * and every `printFreq` steps a plain line for the log file (and the terminal when it is not a TTY).
 */
export class Progress {
  constructor(
    private readonly logger: RunLogger,
    private readonly label: string,
    private readonly total: number,
    private readonly printFreq: number,
    /** Formats the periodic log line (the original's wording); defaults to the bar text. */
    private readonly formatLine?: (step: number, fields: ProgressFields) => string,
  ) {}

  /** Reports step `step` (0-based) done. */
  update(step: number, fields: ProgressFields): void {
    const event: ProgressEvent = {
      phase: this.label,
      step: step + 1,
      total: this.total,
      metrics: progressMetrics(fields),
    };
    if (step % this.printFreq === 0)
      this.logger.info(this.formatLine ? this.formatLine(step, fields) : progressBar(event));
    this.logger.progress(event);
  }

  done(): void {
    this.logger.setBar(null);
  }
}

const BAR_FIELDS = new Set(['etaSeconds', 'loss', 'lossAverage', 'lr', 'dataSeconds', 'computeSeconds']);

function progressMetrics(f: ProgressFields): Record<string, number> {
  const metrics: Record<string, number> = {};
  for (const key of BAR_FIELDS) {
    const value = f[key as keyof ProgressFields];
    if (typeof value === 'number') metrics[key] = value;
  }
  return { ...metrics, ...f.extra };
}

/** The terminal's progress line of a step. */
export function progressBar(e: ProgressEvent): string {
  const width = 20;
  const m = e.metrics;
  const filled = e.total > 0 ? Math.min(width, Math.round((e.step / e.total) * width)) : 0;
  const parts = [`${e.phase} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${e.step}/${e.total}`];
  if (m.etaSeconds !== undefined) parts.push(`eta ${formatDuration(m.etaSeconds)}`);
  if (m.loss !== undefined)
    parts.push(`loss ${m.loss.toFixed(4)}${m.lossAverage !== undefined ? ` (${m.lossAverage.toFixed(4)})` : ''}`);
  if (m.lr !== undefined) parts.push(`lr ${m.lr.toExponential(2)}`);
  if (m.dataSeconds !== undefined) parts.push(`data ${m.dataSeconds.toFixed(3)}s`);
  if (m.computeSeconds !== undefined) parts.push(`compute ${m.computeSeconds.toFixed(3)}s`);
  for (const [k, v] of Object.entries(m)) if (!BAR_FIELDS.has(k)) parts.push(`${k} ${v.toFixed(3)}`);
  return parts.join('  ');
}
