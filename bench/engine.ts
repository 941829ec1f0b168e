/**
 * Engine benchmark: one training step (forward, backward, AdamW) of a 12-layer, width-768, 12-head
 * pre-LayerNorm transformer built from CLIP's residual attention block, on a [50, 8, 768]
 * (sequence-first) batch, here and in PyTorch (Debian's python3-torch, the same libtorch) in the same
 * run with the same thread count. Also the cost of one tiny op call. The last line is
 * `ratio_vs_pytorch <median of the per-pair ratios our step time / PyTorch's>`.
 *
 * The two sides take turns step by step (who goes first alternates from pair to pair), so load from
 * other processes hits both alike; each pair's ratio compares steps taken under the same load, and the
 * median of those ratios (not a ratio of medians) is the figure, printed with its spread (quartiles).
 * After the warm-up steps (untimed: first allocations of activations, gradients and optimizer state),
 * timed pairs continue up to BENCH_STEPS while the time budget allows (at least one).
 * Matrix products go to whatever BLAS libtorch links (Debian: libblas.so.3, OpenBLAS after
 * `npm run setup`), with that library's own thread count, the same on both sides.
 *
 * Settings (environment): BENCH_THREADS (default: all cores), BENCH_WARMUP (2), BENCH_STEPS (at most
 * 20 pairs), BENCH_BUDGET_S (240: stop starting timed pairs past it), BENCH_OP_CALLS (20000 calls per
 * op sample), BENCH_OP_PAIRS (11 op samples per side, in turns; the per-pair ratios' quartiles).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describeRuntime, sameRuntimeEnv, startPyTorchChild } from './pytorch-child.ts';
import { median, quantile } from './stats.ts';
import { Tensor, randn, tensor, tidy, noGrad, manualSeed, native, nn, F, aten } from '../src/torch/index.ts';

// BENCH_PYTHON / BENCH_DEVICE let the same comparison run on a GPU machine against its PyTorch.
const PYTHON = process.env.BENCH_PYTHON || '/usr/bin/python3';
const DEVICE = process.env.BENCH_DEVICE || 'cpu';
const config = {
  layers: 12,
  width: 768,
  heads: 12,
  seq: 50,
  batch: 8,
  threads: envInt('BENCH_THREADS', availableParallelism()),
  warmup: envInt('BENCH_WARMUP', 2),
  steps: envInt('BENCH_STEPS', 20),
  budgetS: envInt('BENCH_BUDGET_S', 240),
  op_calls: envInt('BENCH_OP_CALLS', 20_000),
  op_pairs: envInt('BENCH_OP_PAIRS', 11),
  // PyTorch's AdamW default: one tensor at a time on the CPU (1.13), multi-tensor on CUDA.
  foreach: DEVICE !== 'cpu',
  device: DEVICE,
};

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new Error(`${name}='${raw}' must be a positive integer`);
  return Number(raw);
}

class QuickGELU extends nn.Module {
  forward(x: Tensor): Tensor {
    return F.quickGelu(x);
  }
}

// ---- the model: CLIP's ResidualAttentionBlock (ln_1 -> attn -> +x; ln_2 -> c_fc -> QuickGELU -> c_proj -> +x)
class ResidualAttentionBlock extends nn.Module {
  attn: nn.MultiheadAttention;
  ln_1: nn.LayerNorm;
  mlp: nn.NamedSequential;
  ln_2: nn.LayerNorm;
  constructor(width: number, heads: number) {
    super();
    this.attn = this.registerModule('attn', new nn.MultiheadAttention(width, heads));
    this.ln_1 = this.registerModule('ln_1', new nn.LayerNorm(width));
    this.mlp = this.registerModule(
      'mlp',
      new nn.NamedSequential([
        ['c_fc', new nn.Linear(width, width * 4)],
        ['gelu', new QuickGELU()],
        ['c_proj', new nn.Linear(width * 4, width)],
      ]),
    );
    this.ln_2 = this.registerModule('ln_2', new nn.LayerNorm(width));
  }
  forward(x: Tensor): Tensor {
    const y = this.ln_1.forward(x);
    x = x.add(this.attn.forward(y, y, y));
    return x.add(this.mlp.forward(this.ln_2.forward(x)));
  }
}

// ---- the optimizer: the project's AdamW when src/torch/optim exists, else the same math inline
interface Stepper {
  name: string;
  step(): void;
  zeroGrad(): void;
}

/** `_single_tensor_adamw` of PyTorch 1.13. */
function inlineAdamW(params: Tensor[], lr: number, weightDecay: number): Stepper {
  const [beta1, beta2, eps] = [0.9, 0.999, 1e-8];
  const zerosLike = aten('zeros_like');
  const state = params.map((p) => ({
    step: 0,
    expAvg: new Tensor(zerosLike(p.handle)).keep(),
    expAvgSq: new Tensor(zerosLike(p.handle)).keep(),
  }));
  return {
    name: 'inline AdamW (src/torch/optim not present)',
    step: () =>
      noGrad(() =>
        tidy(() => {
          params.forEach((p, i) => {
            const grad = p.grad;
            if (!grad) return;
            const s = state[i]!;
            s.step += 1;
            p.mul_(1 - lr * weightDecay);
            s.expAvg.mul_(beta1).add_(grad, 1 - beta1);
            s.expAvgSq.mul_(beta2).addcmul_(grad, grad, 1 - beta2);
            const stepSize = lr / (1 - beta1 ** s.step);
            const denom = s.expAvgSq
              .sqrt()
              .div(Math.sqrt(1 - beta2 ** s.step))
              .add_(eps);
            p.addcdiv_(s.expAvg, denom, -stepSize);
          });
        }),
      ),
    zeroGrad: () => params.forEach((p) => (p.grad = null)),
  };
}

async function makeOptimizer(params: Tensor[], lr: number, weightDecay: number): Promise<Stepper> {
  const path = new URL('../src/torch/optim/adam.ts', import.meta.url);
  if (!existsSync(fileURLToPath(path))) return inlineAdamW(params, lr, weightDecay);
  const { AdamW } = await import(path.href);
  const optimizer = new AdamW(params, { lr, weight_decay: weightDecay, foreach: config.foreach });
  return { name: 'src/torch/optim AdamW', step: () => optimizer.step(), zeroGrad: () => optimizer.zeroGrad() };
}

/** Our side: the model, one training step, and the tiny-op timing. */
async function buildOurs() {
  native.setNumThreads(config.threads);
  manualSeed(0);
  const blocks = Array.from({ length: config.layers }, () =>
    new ResidualAttentionBlock(config.width, config.heads).to(config.device),
  );
  const params = blocks.flatMap((b) => b.parameters());
  const optimizer = await makeOptimizer(params, 1e-4, 0.2);
  const input = randn([config.seq, config.batch, config.width], { device: config.device }).keep();
  const step = () => {
    if (config.device !== 'cpu') native.cudaSynchronize();
    const start = performance.now();
    tidy(() => {
      let x = input;
      for (const block of blocks) x = block.forward(x);
      const loss = x.pow(2).mean();
      loss.backward();
      optimizer.step();
      optimizer.zeroGrad();
      return loss.item();
    });
    if (config.device !== 'cpu') native.cudaSynchronize();
    return performance.now() - start;
  };
  // One tiny op: add of two 1-element tensors, the result wrapped and freed (as Python frees it).
  const opUs = () => {
    const a = tensor([1]).keep();
    const b = tensor([1]).keep();
    const perScope = 1000;
    const run = () =>
      tidy(() => {
        for (let i = 0; i < perScope; i++) a.add(b);
      });
    run();
    const rounds = Math.ceil(config.op_calls / perScope);
    const start = performance.now();
    for (let r = 0; r < rounds; r++) run();
    return ((performance.now() - start) * 1000) / (rounds * perScope);
  };
  return {
    parameters: params.reduce((n, p) => n + p.numel, 0),
    optimizer: optimizer.name,
    threads: native.getNumThreads(),
    step,
    opUs,
  };
}

function ensurePythonTorch(): void {
  const probe = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status === 0) return;
  if (process.getuid?.() === 0) {
    console.log('installing python3-torch (Debian) for the PyTorch baseline ...');
    const install = spawnSync('apt-get', ['install', '-y', '-qq', 'python3-torch'], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (install.status === 0 && spawnSync(PYTHON, ['-c', 'import torch']).status === 0) return;
  }
  throw new Error(
    `the PyTorch baseline needs ${PYTHON} with torch (Debian: apt-get install python3-torch): ${probe.stderr.trim().split('\n').pop()}`,
  );
}

/** The PyTorch side, a child process answering one command at a time (see engine-pytorch.py). */
function startPyTorch() {
  ensurePythonTorch();
  const script = fileURLToPath(new URL('./engine-pytorch.py', import.meta.url));
  // Our BLAS library and heap settings, so the ratio compares the code rather than the configuration.
  return startPyTorchChild(PYTHON, script, config, runtimeEnv);
}
const runtimeEnv = sameRuntimeEnv();

const fmt = (ms: number[]) => ms.map((m) => m.toFixed(0)).join(', ');
const version = native.version();
console.log(
  `engine bench: ${config.layers} layers, width ${config.width}, ${config.heads} heads, input [${config.seq}, ${config.batch}, ${config.width}], ` +
    `${config.threads} threads, ${config.warmup} warm-up step(s), up to ${config.steps} timed pairs (budget ${config.budgetS} s); libtorch ${version.torch}`,
);
console.log(describeRuntime(runtimeEnv));
const pytorch = startPyTorch();
await pytorch.ready();
const ours = await buildOurs();
const info = await pytorch.ask('info');
if (info.parameters !== ours.parameters)
  throw new Error(`the models differ: ${ours.parameters} vs ${info.parameters} parameters`);
if (info.threads !== config.threads || ours.threads !== config.threads)
  throw new Error(`thread counts differ: ours ${ours.threads}, PyTorch ${info.threads}, wanted ${config.threads}`);
for (let i = 0; i < config.warmup; i++) {
  ours.step();
  await pytorch.ask('step');
}
// Take turns, step for step, so that a change in the machine's load hits both sides alike.
const oursMs: number[] = [];
const theirsMs: number[] = [];
const started = performance.now();
while (oursMs.length < config.steps) {
  if (oursMs.length % 2 === 0) {
    oursMs.push(ours.step());
    theirsMs.push((await pytorch.ask('step')).ms);
  } else {
    theirsMs.push((await pytorch.ask('step')).ms);
    oursMs.push(ours.step());
  }
  const perRound = (performance.now() - started) / oursMs.length;
  if (performance.now() - started + perRound > config.budgetS * 1000) break;
}
// The tiny op in turns too (who goes first alternates): one sample lasts ~0.1 s, so the machine's
// bursts move single samples; the figure is the median of per-pair ratios.
const oursOps: number[] = [];
const theirsOps: number[] = [];
for (let i = 0; i < config.op_pairs; i++) {
  if (i % 2 === 0) {
    oursOps.push(ours.opUs());
    theirsOps.push((await pytorch.ask('op')).us);
  } else {
    theirsOps.push((await pytorch.ask('op')).us);
    oursOps.push(ours.opUs());
  }
}
const oursOp = median(oursOps);
const theirsOp = median(theirsOps);
const opRatios = oursOps.map((us, i) => us / theirsOps[i]!);
pytorch.close();
const ratios = oursMs.map((m, i) => m / theirsMs[i]!);
console.log(
  `ours:    ${ours.parameters} parameters, ${ours.optimizer}; step ms [${fmt(oursMs)}], median ${median(oursMs).toFixed(1)} ms`,
);
console.log(
  `pytorch: torch ${info.torch}, ${info.parameters} parameters, AdamW(foreach=${config.foreach}); step ms [${fmt(theirsMs)}], median ${median(theirsMs).toFixed(1)} ms`,
);
console.log(
  `small op (add of two 1-element tensors, ${opRatios.length} pairs): ours median ${oursOp.toFixed(2)} us/call, pytorch ${theirsOp.toFixed(2)} us/call; ` +
    `per-pair ratio quartiles ${quantile(opRatios, 0.25).toFixed(2)} / ${median(opRatios).toFixed(2)} / ${quantile(opRatios, 0.75).toFixed(2)}`,
);
console.log(
  `per-pair ratios (${ratios.length} pairs): quartiles ${quantile(ratios, 0.25).toFixed(3)} / ${median(ratios).toFixed(3)} / ${quantile(ratios, 0.75).toFixed(3)}, ` +
    `min ${Math.min(...ratios).toFixed(3)}, max ${Math.max(...ratios).toFixed(3)}; spread (IQR / median) ${((100 * (quantile(ratios, 0.75) - quantile(ratios, 0.25))) / median(ratios)).toFixed(1)}%`,
);
console.log(`ratio_vs_pytorch ${median(ratios).toFixed(3)}`);
