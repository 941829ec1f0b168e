// A worker thread for runtime.test.ts: products of seeded matrices, computed while other threads do the same.
import { parentPort, workerData } from 'node:worker_threads';
import { manualSeed, noGrad, randn } from '../index.ts';

const { seed, size, repeats } = workerData as { seed: number; size: number; repeats: number };
manualSeed(seed);
const a = randn([size, size]);
const b = randn([size, size]);
let product: Float32Array = new Float32Array();
noGrad(() => {
  for (let i = 0; i < repeats; i++) product = a.matmul(b).toTypedArray() as Float32Array;
});
parentPort!.postMessage(product);
