/**
 * The files a loader worker has open, kept in memory the loader's thread reads directly: a timeout
 * can name the file a worker is stuck on even when the worker is blocked in a read and could never
 * post a message, and a clip costs no messages (two per frame, about 5% of a validation clip).
 */

/** Files one worker may have open at once that the board records (frames decode one at a time). */
const SLOTS = 16;
/** A path's UTF-8 bytes kept per slot (a multiple of 4); longer paths are cut at a character and marked. */
const PATH_BYTES = 1000;
/** Per slot: job id (-1 when free), sample index, path length in bytes (negative when cut). */
const HEADER_INTS = 3;
const SLOT_INTS = HEADER_INTS + PATH_BYTES / 4;
const BOARD_BYTES = SLOTS * SLOT_INTS * 4;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class ReadingBoard {
  private readonly ints: Int32Array;
  private readonly bytes: Uint8Array;
  /** Slots this side opened, by job and file (the writer's bookkeeping). */
  private readonly open = new Map<string, number>();

  readonly buffer: SharedArrayBuffer;

  /** A new board, or (in the worker) a view of the one the loader made. */
  constructor(shared?: SharedArrayBuffer) {
    if (shared && shared.byteLength !== BOARD_BYTES)
      throw new Error(`ReadingBoard: expected ${BOARD_BYTES} bytes, got ${shared.byteLength}`);
    this.buffer = shared ?? new SharedArrayBuffer(BOARD_BYTES);
    this.ints = new Int32Array(this.buffer);
    this.bytes = new Uint8Array(this.buffer);
    if (!shared) for (let slot = 0; slot < SLOTS; slot++) this.ints[slot * SLOT_INTS] = -1;
  }

  /** Records that job `job`'s sample `index` started (done: false) or finished reading `file`. */
  record(job: number, index: number, file: string, done: boolean): void {
    const key = `${job}\n${file}`;
    if (done) {
      const slot = this.open.get(key);
      if (slot === undefined) return;
      this.open.delete(key);
      Atomics.store(this.ints, slot * SLOT_INTS, -1);
      return;
    }
    if (this.open.has(key)) return;
    for (let slot = 0; slot < SLOTS; slot++) {
      const at = slot * SLOT_INTS;
      if (Atomics.load(this.ints, at) !== -1) continue;
      const start = (at + HEADER_INTS) * 4;
      const { read, written } = encoder.encodeInto(file, this.bytes.subarray(start, start + PATH_BYTES));
      this.ints[at + 1] = index;
      this.ints[at + 2] = read < file.length ? -written : written;
      this.open.set(key, slot);
      // The job id last: a reader sees a slot only once its fields are written.
      Atomics.store(this.ints, at, job);
      return;
    }
  }

  /** The files job `job` is reading now, for a timeout's message. */
  describe(job: number): string {
    const entries: string[] = [];
    for (let slot = 0; slot < SLOTS; slot++) {
      const at = slot * SLOT_INTS;
      if (Atomics.load(this.ints, at) !== job) continue;
      const length = this.ints[at + 2]!;
      const start = (at + HEADER_INTS) * 4;
      const path = decoder.decode(this.bytes.slice(start, start + Math.abs(length)));
      entries.push(`sample ${this.ints[at + 1]}: ${path}${length < 0 ? '...' : ''}`);
    }
    if (entries.length === 0) return 'no file open';
    const shown = entries.slice(0, 3).join('; ');
    return `reading ${shown}${entries.length > 3 ? ` (and ${entries.length - 3} more)` : ''}`;
  }
}
