/**
 * `node --import tsx scripts/precision-agreement.ts <demo work dir>` (default runs/demo): bf16 autocast
 * against fp32 on the demo's test videos with its trained video branch: how many keep their top-1
 * class, and the largest probability difference (issue 14's agreement figure).
 */
import path from 'node:path';
import { comparePrecisions } from '../src/demo/precision-agreement.ts';

const work = process.argv[2] ?? 'runs/demo';
const c = await comparePrecisions(work, path.join(work, 'runs/bike-demo/demo-clip/video'));
console.log(
  `bf16 vs fp32 on ${c.videos.length} demo test videos (${work}): top-1 agrees on ${c.sameTop1}, largest probability difference ${c.largestDifference.toFixed(4)}`,
);
