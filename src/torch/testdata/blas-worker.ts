// A worker thread for runtime.test.ts: the product of two given matrices, computed repeatedly while other
// threads do the same.
import { parentPort, workerData } from 'node:worker_threads';
import { fromTypedArray, noGrad } from '../index.ts';

const {
  size,
  repeats,
  a: aValues,
  b: bValues,
} = workerData as {
  size: number;
  repeats: number;
  a: Float32Array;
  b: Float32Array;
};
const a = fromTypedArray(aValues, [size, size]);
const b = fromTypedArray(bValues, [size, size]);
let product: Float32Array = new Float32Array();
noGrad(() => {
  for (let i = 0; i < repeats; i++) product = a.matmul(b).toTypedArray() as Float32Array;
});
parentPort!.postMessage(product);
