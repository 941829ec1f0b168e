// The runtime the addon sets up for libtorch: which BLAS it calls and how the heap treats large blocks.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { manualSeed, noGrad, randn } from './index.ts';
import { mallocTuned, native } from './native.ts';

// The OpenMP OpenBLAS folder the addon was linked against (native/build.mjs), or 'system'.
const linkedBlas: string = JSON.parse(
  readFileSync(new URL('../../native/build/build-info.json', import.meta.url), 'utf8'),
).blas;

test('BLAS: the addon built against Debian libtorch calls the OpenMP OpenBLAS, and no second OpenBLAS is loaded', (t) => {
  if (!linkedBlas || linkedBlas === 'system' || !existsSync(linkedBlas))
    return t.skip(`the addon uses the system's BLAS (linked: ${linkedBlas ?? 'unknown'})`);
  assert.match(native.version().blas, /\/openblas-openmp\/libblas\.so\.3$/);
  const mapped = new Set(
    readFileSync('/proc/self/maps', 'utf8')
      .split('\n')
      .map((line) => line.split(/\s+/).pop()!)
      .filter((file) => /libopenblas|libblas|liblapack/.test(file)),
  );
  for (const file of mapped) assert.match(file, /\/openblas-openmp\//, `a second BLAS is loaded: ${file}`);
});

test('BLAS: products computed in several threads at once equal the same products computed alone', async () => {
  const size = 192;
  // The factors are made here: libtorch's random generator is one per process, so workers seeding it
  // at once would draw each other's numbers.
  const factors = [1, 2, 3].map((seed) => {
    manualSeed(seed);
    return { a: randn([size, size]), b: randn([size, size]) };
  });
  const boot = new URL('../data/loader-worker-boot.mjs', import.meta.url);
  const entry = new URL('./testdata/blas-worker.ts', import.meta.url).href;
  const results = await Promise.all(
    factors.map(
      ({ a, b }) =>
        new Promise<Float32Array>((resolve, reject) => {
          const workerData = { entry, size, repeats: 40, a: a.toTypedArray(), b: b.toTypedArray() };
          const worker = new Worker(boot, { workerData });
          worker.once('message', (product: Float32Array) => {
            resolve(product);
            void worker.terminate();
          });
          worker.once('error', reject);
        }),
    ),
  );
  // The same products computed on this thread alone. A thread count other than this thread's may block
  // the sums differently (a last-bit change); a BLAS buffer shared between threads garbles whole entries.
  results.forEach((product, i) => {
    const { a, b } = factors[i]!;
    const alone = noGrad(() => a.matmul(b).toTypedArray() as Float32Array);
    assert.equal(product.length, alone.length);
    const worst = product.reduce((max, value, j) => Math.max(max, Math.abs(value - alone[j]!)), 0);
    assert.ok(worst < 1e-3, `worker ${i + 1}: an entry differs by ${worst} from the product computed alone`);
  });
});

test('heap: a 40 MB block freed and allocated again faults in far fewer pages than with glibc defaults', (t) => {
  if (!mallocTuned) return t.skip('BIKE_MALLOC=system or not glibc');
  const script = fileURLToPath(new URL('./testdata/heap-faults.ts', import.meta.url));
  const run = (malloc: string) => {
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', script], {
      env: { ...process.env, BIKE_MALLOC: malloc },
      encoding: 'utf8',
    });
    return JSON.parse(out.trim().split('\n').pop()!) as { mallocTuned: boolean; faults: number };
  };
  const tuned = run('');
  const system = run('system');
  assert.equal(tuned.mallocTuned, true);
  assert.equal(system.mallocTuned, false);
  // glibc's defaults mmap each block over 32 MB afresh: every pass faults in all of its pages again
  // (51200 here); with the thresholds raised the heap keeps it (20480: two of the five passes).
  assert.ok(tuned.faults * 2 < system.faults, `page faults: ${tuned.faults} tuned vs ${system.faults} with defaults`);
});
