/**
 * numpy's legacy `np.random.RandomState` (MT19937), bit-exact for what the BIKE evaluation uses:
 * `np.random.seed(s)` followed by `np.random.permutation(n)`.
 *
 * Seeding follows numpy's `_legacy_seeding`: an integer seed goes through `mt19937_seed`
 * (Matsumoto-Nishimura `init_genrand`), a 1-d array of integers through `mt19937_init_by_array`.
 * Note `seed(5)` and `seed([5])` therefore give different streams, as in numpy.
 * `permutation(n)` is `shuffle(arange(n))`: Fisher-Yates from the last element down, drawing each
 * index with the legacy `random_interval` (mask to the next power of two minus one, reject above max).
 */

const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;
const MAX_SEED = 0xffffffff;

function checkSeedWord(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_SEED) {
    throw new RangeError(`numpy legacy seed: ${what} must be an integer between 0 and 2**32 - 1, got ${value}`);
  }
  return value >>> 0;
}

export class LegacyRandomState {
  private readonly key = new Uint32Array(N);
  private pos = N;

  /** `seed` as numpy's `RandomState(seed)` / `np.random.seed(seed)`: an integer or a non-empty 1-d integer array. */
  constructor(seed: number | readonly number[]) {
    this.seed(seed);
  }

  seed(seed: number | readonly number[]): void {
    if (typeof seed === 'number') {
      this.initGenrand(checkSeedWord(seed, 'seed'));
    } else {
      if (seed.length === 0) throw new RangeError('numpy legacy seed: a seed array must be non-empty');
      this.initByArray(seed.map((word, i) => checkSeedWord(word, `seed[${i}]`)));
    }
  }

  private initGenrand(seed: number): void {
    const key = this.key;
    key[0] = seed;
    for (let i = 1; i < N; i++) {
      const previous = key[i - 1]! ^ (key[i - 1]! >>> 30);
      // 1812433253 * previous + i, modulo 2**32 (Math.imul keeps the low 32 bits).
      key[i] = (Math.imul(1812433253, previous) + i) >>> 0;
    }
    this.pos = N;
  }

  private initByArray(words: readonly number[]): void {
    this.initGenrand(19650218);
    const key = this.key;
    const length = words.length;
    let i = 1;
    let j = 0;
    for (let k = Math.max(N, length); k > 0; k--) {
      const previous = key[i - 1]! ^ (key[i - 1]! >>> 30);
      key[i] = ((key[i]! ^ Math.imul(previous, 1664525)) + words[j]! + j) >>> 0;
      i++;
      j++;
      if (i >= N) {
        key[0] = key[N - 1]!;
        i = 1;
      }
      if (j >= length) j = 0;
    }
    for (let k = N - 1; k > 0; k--) {
      const previous = key[i - 1]! ^ (key[i - 1]! >>> 30);
      key[i] = ((key[i]! ^ Math.imul(previous, 1566083941)) - i) >>> 0;
      i++;
      if (i >= N) {
        key[0] = key[N - 1]!;
        i = 1;
      }
    }
    key[0] = 0x80000000; // MSB set: assures a non-zero initial state, as numpy does.
    this.pos = N;
  }

  private generate(): void {
    const key = this.key;
    let kk = 0;
    for (; kk < N - M; kk++) {
      const y = (key[kk]! & UPPER_MASK) | (key[kk + 1]! & LOWER_MASK);
      key[kk] = key[kk + M]! ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    for (; kk < N - 1; kk++) {
      const y = (key[kk]! & UPPER_MASK) | (key[kk + 1]! & LOWER_MASK);
      key[kk] = key[kk + (M - N)]! ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    const y = (key[N - 1]! & UPPER_MASK) | (key[0]! & LOWER_MASK);
    key[N - 1] = key[M - 1]! ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    this.pos = 0;
  }

  /** The next raw 32-bit output (numpy's `mt19937_next32`, tempered). */
  nextUint32(): number {
    if (this.pos >= N) this.generate();
    let y = this.key[this.pos++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** numpy's legacy `random_interval(max)`: uniform integer in [0, max], max < 2**32. */
  randomInterval(max: number): number {
    if (!Number.isInteger(max) || max < 0 || max > MAX_SEED) {
      throw new RangeError(`randomInterval: max must be an integer in [0, 2**32 - 1], got ${max}`);
    }
    if (max === 0) return 0;
    let mask = max;
    mask |= mask >>> 1;
    mask |= mask >>> 2;
    mask |= mask >>> 4;
    mask |= mask >>> 8;
    mask |= mask >>> 16;
    mask >>>= 0;
    let value: number;
    do {
      value = (this.nextUint32() & mask) >>> 0;
    } while (value > max);
    return value;
  }

  /** In-place legacy `shuffle` of a 1-d array. */
  shuffle<T extends { length: number; [index: number]: number }>(values: T): T {
    for (let i = values.length - 1; i > 0; i--) {
      const j = this.randomInterval(i);
      const held = values[i]!;
      values[i] = values[j]!;
      values[j] = held;
    }
    return values;
  }

  /** Legacy `permutation(n)`: a shuffled `arange(n)`. */
  permutation(n: number): Int32Array {
    if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) {
      throw new RangeError(`permutation: n must be a non-negative integer, got ${n}`);
    }
    const values = new Int32Array(n);
    for (let i = 0; i < n; i++) values[i] = i;
    return this.shuffle(values);
  }
}
