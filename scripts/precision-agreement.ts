/**
 * `node --import tsx scripts/precision-agreement.ts <demo work dir>` (default runs/demo): bf16 autocast
 * against fp32 on the demo's test videos with its trained video branch: how many keep their top-1
 * class, and the largest probability difference (issue 14's agreement figure).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Predictor } from '../src/engine/inference/predict.ts';
const work = process.argv[2] ?? 'runs/demo';
const runDir = path.join(work, 'runs/bike-demo/demo-clip/video');
const list = readFileSync(path.join(work, 'data', 'val_frames.txt'), 'utf8')
  .trim()
  .split('\n');
const folders = list.map((line) => path.join(work, 'data', 'frames', line.split(' ')[0]!));
const run = async (precision: 'bf16' | 'fp32') => {
  const p = await Predictor.load({ model: runDir, precision });
  const out: number[][] = [];
  for (const f of folders) out.push((await p.predict(f)).probabilities);
  p.dispose();
  return out;
};
const [bf16, fp32] = [await run('bf16'), await run('fp32')];
const argmax = (p: number[]) => p.indexOf(Math.max(...p));
const same = folders.filter((_, v) => argmax(bf16[v]!) === argmax(fp32[v]!)).length;
const largest = Math.max(...fp32.flatMap((p, v) => p.map((x, c) => Math.abs(x - bf16[v]![c]!))));
console.log(
  `bf16 vs fp32 on ${folders.length} demo test videos (${work}): top-1 agrees on ${same}, largest probability difference ${largest.toFixed(4)}`,
);
