/**
 * Checks that only a CUDA machine can run, for `../shared/gpu/` sessions: a BIKE training step on
 * CUDA against the CPU (same weights and inputs), mixed-precision steps (float16 with the loss
 * scaler, bfloat16), NCCL collectives, a custom backward on CUDA, and the throughput and memory of
 * a ViT-B/16 BIKE training step. Prints one line per check and `N passed, M failed` last.
 *
 *   node --import tsx scripts/gpu-check.ts
 */
import { createServer } from 'node:net';
import {
  Tensor,
  randn,
  randint,
  tidy,
  noGrad,
  manualSeed,
  native,
  applyCustom,
  optim,
  autocast,
  GradScaler,
  ProcessGroup,
} from '../src/torch/index.ts';
import { createClip, type ClipConfig } from '../src/clip/index.ts';
import { BikeModel } from '../src/bike/index.ts';

let passed = 0;
let failed = 0;
function check(name: string, fn: () => string): void {
  try {
    console.log(`PASS ${name}: ${fn()}`);
    passed++;
  } catch (error) {
    console.log(`FAIL ${name}: ${(error as Error).stack}`);
    failed++;
  }
}

function maxRelError(a: Tensor, b: Tensor): number {
  return tidy(() => {
    const cpuA = a.to('cpu').float();
    const cpuB = b.to('cpu').float();
    return cpuA.sub(cpuB).abs().max().item() / Math.max(1, cpuB.abs().max().item());
  });
}

const tinyConfig: ClipConfig = {
  embed_dim: 64,
  image_resolution: 32,
  vision_layers: 2,
  vision_width: 128,
  vision_patch_size: 8,
  context_length: 77,
  vocab_size: 49408,
  transformer_width: 128,
  transformer_heads: 2,
  transformer_layers: 2,
};

function bike(config: ClipConfig, T: number): BikeModel {
  return new BikeModel(createClip(config), {
    numSegments: T,
    simHeader: 'Transf',
    interaction: 'VCS',
    embedDim: config.embed_dim,
    contextLength: config.context_length,
    temporalLayers: 6,
    temporalHeads: Math.max(1, config.transformer_width / 64),
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

console.log(`libtorch ${native.version().torch}, CUDA devices: ${native.cudaDeviceCount()}`);
if (native.cudaDeviceCount() === 0)
  throw new Error('no CUDA device: build the addon against a CUDA libtorch (TORCH_DIR)');

const T = 8;
const B = 4;
manualSeed(0);
const cpuModel = bike(tinyConfig, T);
const cudaModel = bike(tinyConfig, T);
cudaModel.loadStateDict(cpuModel.stateDict());
cudaModel.to('cuda');
const frames = randn([B * T, 3, 32, 32]).keep();
const classTokens = randint(1, 1000, [6, 77]).keep();
const labels = randint(0, 6, [B]).keep();

check('BIKE NCE training step: CUDA loss and gradients match the CPU', () => {
  const cpu = cpuModel.trainingStep(frames, labels, classTokens, 'NCE');
  cpu.loss.backward();
  const gpu = cudaModel.trainingStep(frames.to('cuda'), labels.to('cuda'), classTokens.to('cuda'), 'NCE');
  gpu.loss.backward();
  const lossError = maxRelError(gpu.loss, cpu.loss);
  let gradError = 0;
  const cpuParams = new Map(cpuModel.namedParameters());
  for (const [name, p] of cudaModel.namedParameters()) {
    const g = p.grad;
    const h = cpuParams.get(name)!.grad;
    if (!g || !h) continue;
    gradError = Math.max(gradError, maxRelError(g, h));
  }
  // cuDNN convolutions may use TF32 on Hopper: 1e-2 relative, not float32's 1e-4.
  if (!(lossError < 1e-3 && gradError < 1e-2)) throw new Error(`loss error ${lossError}, gradient error ${gradError}`);
  cpuModel.zeroGrad();
  cudaModel.zeroGrad();
  return `loss ${cpu.loss.item().toFixed(6)} vs ${gpu.loss.item().toFixed(6)}; max relative gradient error ${gradError.toExponential(2)} (bound 1e-2)`;
});

for (const dtype of ['float16', 'bfloat16'] as const) {
  check(
    `mixed precision (${dtype} autocast${dtype === 'float16' ? ' + GradScaler' : ''}) AdamW steps lower the loss`,
    () => {
      const model = bike(tinyConfig, T);
      model.loadStateDict(cpuModel.stateDict());
      model.to('cuda');
      const optimizer = new optim.AdamW(model.parameters(), { lr: 1e-4, weight_decay: 0.2 });
      const scaler = new GradScaler({ enabled: dtype === 'float16' });
      const x = frames.to('cuda').keep();
      const y = labels.to('cuda').keep();
      const c = classTokens.to('cuda').keep();
      const losses: number[] = [];
      for (let step = 0; step < 8; step++) {
        tidy(() => {
          const loss = autocast(() => model.trainingStep(x, y, c, 'NCE').loss, { device: 'cuda', dtype });
          scaler.scale(loss).backward();
          scaler.step(optimizer);
          scaler.update();
          optimizer.zeroGrad();
          losses.push(loss.item());
        });
      }
      if (!losses.every(Number.isFinite) || !(losses.at(-1)! < losses[0]!))
        throw new Error(`losses ${losses.map((l) => l.toFixed(4)).join(' ')}`);
      return `loss ${losses[0]!.toFixed(4)} -> ${losses.at(-1)!.toFixed(4)}`;
    },
  );
}

check('custom autograd function with a JS backward on CUDA tensors', () =>
  tidy(() => {
    const a = randn([5], { device: 'cuda' }).requiresGrad_();
    const [out] = applyCustom({ forward: ([t]) => [t!.mul(2)], backward: ([g]) => [g!.mul(3)] }, [a]);
    out!.sum().backward();
    const grad = a.grad!.toArray();
    if (!grad.every((v) => v === 3)) throw new Error(`grad ${grad}`);
    return 'gradient 3 everywhere, as the JS backward said';
  }),
);

const port = await freePort();
check('NCCL process group (world size 1): all-reduce, all-gather, broadcast', () => {
  const group = ProcessGroup.init({
    backend: 'nccl',
    masterAddr: '127.0.0.1',
    masterPort: port,
    rank: 0,
    worldSize: 1,
    timeoutMs: 60_000,
  });
  try {
    return tidy(() => {
      const t = randn([16], { device: 'cuda' });
      const before = t.clone();
      group.allReduce([t], 'sum');
      const gathered = group.allGather(t);
      group.broadcast([t], 0);
      if (maxRelError(t, before) > 0 || gathered.length !== 1) throw new Error('values changed');
      return 'ok';
    });
  } finally {
    group.destroy();
  }
});

check('ViT-B/16 BIKE (T=8, 8 videos), float16 autocast: training step time and peak memory', () => {
  noGrad(() => manualSeed(0));
  const model = bike(
    {
      embed_dim: 512,
      image_resolution: 224,
      vision_layers: 12,
      vision_width: 768,
      vision_patch_size: 16,
      context_length: 77,
      vocab_size: 49408,
      transformer_width: 512,
      transformer_heads: 8,
      transformer_layers: 12,
    },
    T,
  ).to('cuda');
  const optimizer = new optim.AdamW(model.parameters(), { lr: 1e-5, weight_decay: 0.2 });
  const scaler = new GradScaler();
  const videos = 8;
  const x = randn([videos * T, 3, 224, 224], { device: 'cuda' }).keep();
  const y = randint(0, 400, [videos], { device: 'cuda' }).keep();
  const c = randint(1, 49000, [400, 77], { device: 'cuda' }).keep();
  const times: number[] = [];
  native.cudaMemory(0);
  for (let step = 0; step < 6; step++) {
    native.cudaSynchronize();
    const start = performance.now();
    tidy(() => {
      const loss = autocast(() => model.trainingStep(x, y, c, 'NCE').loss, { device: 'cuda', dtype: 'float16' });
      scaler.scale(loss).backward();
      scaler.step(optimizer);
      scaler.update();
      optimizer.zeroGrad();
    });
    native.cudaSynchronize();
    times.push(performance.now() - start);
  }
  const [, peak] = native.cudaMemory(0);
  const steady = times.slice(2).sort((a, b) => a - b);
  const median = steady[steady.length >> 1]!;
  return `${median.toFixed(1)} ms/step median (${(videos / (median / 1000)).toFixed(1)} videos/s, ${((videos * T) / (median / 1000)).toFixed(0)} frames/s), peak ${(peak / 2 ** 30).toFixed(2)} GiB`;
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
