/**
 * A distributed-training probe for the tests, run as one process per rank (torchrun-style variables)
 * or alone. It builds the tiny network, takes its slice of a fixed combined batch, and runs three
 * training steps exactly as the trainer does (all-gathered features in the loss, bucketed gradient
 * all-reduce, AdamW); it writes the losses, the first averaged gradients of a head parameter and of an
 * image-encoder parameter, and a hash of every parameter to PROBE_OUT/rank<r>.json.
 *
 * PROBE_MODE=die: rank 1 kills itself after joining; rank 0 keeps calling collectives and records the
 * error it gets (and how long it took).
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseConfig } from '../engine/config/config.ts';
import { broadcastModule, allReduceGradients } from '../engine/distributed/collectives.ts';
import { openCollectives } from '../engine/distributed/distributed-env.ts';
import { buildNetwork } from '../engine/models/model-factory.ts';
import { buildOptimizer } from '../engine/training/optimizer-factory.ts';
import { videoLoss } from '../engine/training/video-training.ts';
import { manualSeed, noGrad, randn, tensor, tidy } from '../torch/index.ts';
import { tinyConfig } from './synthetic-frames.ts';
import type { CLIP } from '../clip/model.ts';

const T = 4;
const COMBINED_LABELS = [0, 1, 2, 0];

const out = process.env.PROBE_OUT!;
const mode = process.env.PROBE_MODE ?? 'train';
const collectives = openCollectives();
const { rank, worldSize } = collectives;

if (mode === 'die') {
  if (rank === 1) process.kill(process.pid, 'SIGKILL');
  const started = Date.now();
  let message = 'no error';
  try {
    for (let i = 0; i < 1000; i++) {
      const t = tensor([1, 2, 3]);
      collectives.allReduceSum_([t]);
      t.dispose();
    }
  } catch (error) {
    message = (error as Error).message;
  }
  writeFileSync(
    path.join(out, `rank${rank}.json`),
    JSON.stringify({ rank, message, seconds: (Date.now() - started) / 1000 }),
  );
  process.exit(1);
}

const dataset = {
  root: '/unused',
  trainList: '/unused',
  valList: '/unused',
  labelCsv: '/unused',
  classNames: ['a', 'b', 'c', 'd'],
};
const config = parseConfig(
  tinyConfig({ dataset, outputPath: '/unused', epochs: 1, batchSize: 2, numSegments: T }),
  'probe config',
);
// As the trainer: seed + rank, then rank 0's weights broadcast (DistributedDataParallel's start).
manualSeed(1024 + rank);
const { model } = buildNetwork(config);
broadcastModule(collectives, [...model.parameters(), ...[...model.namedBuffers()].map(([, b]) => b)]);
model.freeze({ fixText: true, fixVideo: false });
const optimizer = buildOptimizer(config, model, 'video');
const trainable = model.parameters().filter((p) => p.requiresGrad);

const classTokens = tensor(
  Array.from({ length: 4 }, (_, c) =>
    Array.from({ length: 77 }, (_, i) => (i === 0 ? 49406 : i === 1 ? 1000 + c : i === 2 ? 49407 : 0)),
  ),
  { dtype: 'int64' },
);
manualSeed(99);
const combined = noGrad(() => randn([COMBINED_LABELS.length * T, 3, 32, 32]));
const perRank = COMBINED_LABELS.length / worldSize;
const mine = combined.narrow(0, rank * perRank * T, perRank * T).contiguous();
const batch = {
  frames: mine.toTypedArray() as Float32Array,
  shape: mine.shape as [number, number, number, number],
  labels: COMBINED_LABELS.slice(rank * perRank, (rank + 1) * perRank),
  indices: Array.from({ length: perRank }, (_, i) => rank * perRank + i),
};

const losses: number[] = [];
let firstGrad: number[] = [];
let firstVisualGrad: number[] = [];
model.train();
for (let step = 0; step < 3; step++) {
  const loss = tidy(() => {
    const { loss } = videoLoss(
      { model, collectives, classTokens, cachedText: null, lossType: 'NCE', device: 'cpu' },
      batch,
    );
    loss.backward();
    return loss.item();
  });
  losses.push(loss);
  allReduceGradients(collectives, trainable, 4096);
  if (step === 0) {
    const g = model.video_head.frame_position_embeddings!.weight.grad!;
    firstGrad = g.narrow(0, 0, T).toArray();
    g.dispose();
    const v = (model.clip as CLIP).visual.conv1.weight.grad!;
    firstVisualGrad = v.reshape(-1).narrow(0, 0, 16).toArray();
    v.dispose();
  }
  optimizer.step();
  optimizer.zeroGrad();
}
const hash = createHash('sha256');
for (const [name, p] of model.namedParameters()) hash.update(name).update(Buffer.from(p.toRaw().data));
writeFileSync(
  path.join(out, `rank${rank}.json`),
  JSON.stringify({ rank, worldSize, losses, firstGrad, firstVisualGrad, paramsSha256: hash.digest('hex') }),
);
collectives.close();
process.exit(0);
