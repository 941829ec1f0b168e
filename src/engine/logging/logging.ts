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
}

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

  constructor(options: RunLoggerOptions = {}) {
    this.rank = options.rank ?? 0;
    this.dir = options.dir ?? null;
    this.stream = options.stream ?? process.stdout;
    this.tty = options.tty ?? this.stream.isTTY === true;
    this.quiet = options.quiet ?? false;
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
    const bar = this.barText(step + 1, fields);
    if (step % this.printFreq === 0) this.logger.info(this.formatLine ? this.formatLine(step, fields) : bar);
    this.logger.setBar(bar);
  }

  done(): void {
    this.logger.setBar(null);
  }

  private barText(done: number, f: ProgressFields): string {
    const width = 20;
    const filled = this.total > 0 ? Math.min(width, Math.round((done / this.total) * width)) : 0;
    const parts = [`${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total}`];
    if (f.etaSeconds !== undefined) parts.push(`eta ${formatDuration(f.etaSeconds)}`);
    if (f.loss !== undefined) parts.push(`loss ${f.loss.toFixed(4)}${f.lossAverage !== undefined ? ` (${f.lossAverage.toFixed(4)})` : ''}`);
    if (f.lr !== undefined) parts.push(`lr ${f.lr.toExponential(2)}`);
    if (f.dataSeconds !== undefined) parts.push(`data ${f.dataSeconds.toFixed(3)}s`);
    if (f.computeSeconds !== undefined) parts.push(`compute ${f.computeSeconds.toFixed(3)}s`);
    for (const [k, v] of Object.entries(f.extra ?? {})) parts.push(`${k} ${v.toFixed(3)}`);
    return parts.join('  ');
  }
}
