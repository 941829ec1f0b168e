/**
 * Inference benchmark: a ViT-B/32 BIKE video model (CLIP's image encoder, the temporal transformer
 * head "Transf", Video Concept Spotting against 400 fixed class text features) classifying 1 video
 * and 8 videos of 8 frames at 224 pixels, side by side:
 * - ours, in every precision this CPU supports (fp32, and bf16 autocast where the CPU has native
 *   bfloat16), and the default (`--precision auto`, src/engine/precision.ts);
 * - PyTorch (Debian's python3-torch, the same libtorch) on the same weights (bench/infer-pytorch.py),
 *   given our BLAS library and heap settings (pytorch-child.ts: sameRuntimeEnv) so that
 *   `ratio_vs_pytorch` compares code, and again as Debian ships it (printed, not the ratio);
 * - onnxruntime-node on an ONNX file that torch.onnx exports from that PyTorch model.
 * All with the same thread count (default: every core), random weights, the same inputs. The sides
 * take turns within each round, so load from other processes hits them alike; each figure is the
 * median over rounds, and the ratios are medians of the per-round ratios of the time for both
 * workloads (1 + 8 videos). The outputs are compared (fp32 must agree with PyTorch and ONNX Runtime).
 * Last lines: `ratio_vs_onnxruntime <ours default / onnxruntime fp32>` and
 * `ratio_vs_pytorch <ours fp32 / pytorch fp32>`.
 *
 * Settings (environment): BENCH_THREADS (default: all cores), BENCH_ROUNDS (3), BENCH_WARMUP (1).
 */
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { describeRuntime, sameRuntimeEnv, startPyTorchChild } from './pytorch-child.ts';
import { median } from './stats.ts';
import { Tensor, manualSeed, native, noGrad, randn, saveSafetensors, tidy } from '../src/torch/index.ts';
import { VisionTransformer } from '../src/clip/vision-transformer.ts';
import { VideoHead } from '../src/bike/video-head.ts';
import { CONCEPT_SPOTTING_TEMPERATURE, unitNormalise } from '../src/bike/interactions.ts';
import { cpuBf16Support, planInference, type InferencePlan } from '../src/engine/training/precision.ts';

const PYTHON = process.env.BENCH_PYTHON || '/usr/bin/python3';
const model = {
  resolution: 224,
  patch: 32,
  width: 768,
  layers: 12,
  heads: 12,
  embed: 512,
  context: 77,
  head_layers: 6,
  head_heads: 8,
  classes: 400,
  frames: 8,
  temperature: CONCEPT_SPOTTING_TEMPERATURE,
};
const BATCHES = [1, 8];
/** Idle time before each timed run (see the loop below). */
const SETTLE_MS = 300;
const threads = envInt('BENCH_THREADS', availableParallelism());
const rounds = envInt('BENCH_ROUNDS', 3);
const warmup = envInt('BENCH_WARMUP', 1, 0);

function envInt(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min) throw new Error(`${name}='${raw}' must be an integer >= ${min}`);
  return Number(raw);
}

/** Ours: the image encoder, the video head and the class features, with a precision plan. */
class OurVideoModel {
  constructor(
    readonly visual: VisionTransformer,
    readonly head: VideoHead,
    readonly tokens: Tensor,
    readonly cls: Tensor,
    readonly plan: InferencePlan,
  ) {
    visual.eval();
    head.eval();
    visual.requiresGrad_(false);
    head.requiresGrad_(false);
    plan.prepare(visual);
    plan.prepare(head);
  }
  static build(plan: InferencePlan, weights?: Map<string, Tensor>): OurVideoModel {
    const visual = new VisionTransformer({
      inputResolution: model.resolution,
      patchSize: model.patch,
      width: model.width,
      layers: model.layers,
      heads: model.heads,
      outputDim: model.embed,
    });
    const head = new VideoHead({
      simHeader: 'Transf',
      interaction: 'VCS',
      embedDim: model.embed,
      contextLength: model.context,
      layers: model.head_layers,
      heads: model.head_heads,
    });
    let tokens: Tensor;
    let cls: Tensor;
    if (weights) {
      visual.loadStateDict(
        new Map([...weights].filter(([k]) => k.startsWith('visual.')).map(([k, v]) => [k.slice(7), v])),
      );
      head.loadStateDict(new Map([...weights].filter(([k]) => k.startsWith('head.')).map(([k, v]) => [k.slice(5), v])));
      tokens = weights.get('class_tokens')!;
      cls = weights.get('class_cls')!;
    } else {
      tokens = noGrad(() => unitNormalise(randn([model.classes, model.context, model.embed]))).keep();
      cls = noGrad(() => unitNormalise(randn([model.classes, model.embed]))).keep();
    }
    return new OurVideoModel(visual, head, tokens, cls, plan);
  }
  stateDict(): Map<string, Tensor> {
    return new Map<string, Tensor>([
      ...[...this.visual.stateDict()].map(([k, v]) => [`visual.${k}`, v] as [string, Tensor]),
      ...[...this.head.stateDict()].map(([k, v]) => [`head.${k}`, v] as [string, Tensor]),
      ['class_tokens', this.tokens],
      ['class_cls', this.cls],
    ]);
  }
  /** Logits `[videos, classes]` (float32) and the milliseconds they took. */
  run(frames: Tensor): { ms: number; output: Float32Array } {
    return tidy(() =>
      noGrad(() => {
        const start = performance.now();
        const logits = this.plan.run(() => {
          const features = this.visual.forward(frames);
          return this.head.forward(features.view(-1, model.frames, model.embed), this.tokens, this.cls).to('float32');
        });
        const output = logits.toTypedArray() as Float32Array; // forces the computation
        return { ms: performance.now() - start, output };
      }),
    );
  }
}

function startPyTorch(weightsFile: string, env: Record<string, string>) {
  const probe = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' });
  if (probe.status !== 0)
    throw new Error(
      `the PyTorch baseline needs ${PYTHON} with torch and numpy (Debian: apt-get install python3-torch): ${probe.stderr.trim().split('\n').pop()}`,
    );
  const script = fileURLToPath(new URL('./infer-pytorch.py', import.meta.url));
  return startPyTorchChild(PYTHON, script, { threads, model, weights: weightsFile }, env);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`outputs differ in size: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function top1(logits: ArrayLike<number>, classes: number): number[] {
  const out: number[] = [];
  for (let v = 0; v * classes < logits.length; v++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[v * classes + c]! > logits[v * classes + best]!) best = c;
    out.push(best);
  }
  return out;
}

native.setNumThreads(threads);
const cpu = cpuBf16Support();
const auto = planInference('auto', 'cpu', cpu);
const precisions: InferencePlan[] = [planInference('fp32', 'cpu', cpu)];
if (cpu.native) precisions.push(planInference('bf16', 'cpu', cpu));
console.log(
  `infer bench: ViT-B/32 BIKE video model (image encoder, Transf head, VCS over ${model.classes} classes), ${BATCHES.join(' and ')} video(s) of ${model.frames} frames at ${model.resolution} px, ` +
    `${threads} threads, ${warmup} warm-up and ${rounds} timed round(s); libtorch ${native.version().torch}; CPU bf16: ${cpu.native ? cpu.flags.join(', ') : 'none'}`,
);
console.log(`default: ${auto.description}`);

const dir = mkdtempSync(path.join(tmpdir(), 'bike-infer-bench-'));
try {
  manualSeed(0);
  const reference = OurVideoModel.build(precisions[0]!);
  const inputs = new Map(
    BATCHES.map((b) => [b, randn([b * model.frames, 3, model.resolution, model.resolution]).keep()]),
  );
  const weightsFile = path.join(dir, 'model.safetensors');
  saveSafetensors(
    weightsFile,
    new Map([...reference.stateDict(), ...[...inputs].map(([b, t]) => [`input.${b}`, t] as [string, Tensor])]),
  );
  const ours = new Map<string, OurVideoModel>([['fp32', reference]]);
  for (const plan of precisions.slice(1)) {
    const weights = reference.stateDict();
    ours.set(plan.precision, OurVideoModel.build(plan, weights));
  }

  // PyTorch twice where our runtime differs from the system's defaults: with our BLAS and heap
  // settings (what ratio_vs_pytorch compares: the same runtime, so the code), and as Debian ships it.
  const runtimeEnv = sameRuntimeEnv();
  const pytorch = startPyTorch(weightsFile, runtimeEnv);
  const pytorchDefaults = Object.keys(runtimeEnv).length ? startPyTorch(weightsFile, {}) : null;
  await pytorch.ready();
  await pytorchDefaults?.ready();
  console.log(
    describeRuntime(runtimeEnv) + (pytorchDefaults ? ", and again as Debian ships it ('pytorch fp32 defaults')" : ''),
  );
  const info = await pytorch.ask('info');
  if (info.threads !== threads || native.getNumThreads() !== threads)
    throw new Error(`thread counts differ: ours ${native.getNumThreads()}, PyTorch ${info.threads}, wanted ${threads}`);
  const onnxFile = path.join(dir, 'model.onnx');
  const exportStart = performance.now();
  await pytorch.ask(`export ${onnxFile}`);
  console.log(
    `exported ${onnxFile} with torch.onnx (torch ${info.torch}) in ${((performance.now() - exportStart) / 1000).toFixed(1)} s`,
  );
  const session = await ort.InferenceSession.create(onnxFile, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  });
  const ortInputs = new Map(
    [...inputs].map(([b, t]) => [b, new ort.Tensor('float32', t.toTypedArray() as Float32Array, t.shape)]),
  );
  const runOrt = async (b: number) => {
    const start = performance.now();
    const result = await session.run({ frames: ortInputs.get(b)! });
    return { ms: performance.now() - start, output: result.logits!.data as Float32Array };
  };

  // Same numbers first: ours fp32 against PyTorch and ONNX Runtime, the lower precisions' top-1 against fp32.
  const check = inputs.get(8)!;
  const oursOut = reference.run(check).output;
  const torchOut = (await pytorch.ask('run 8 output')).output as number[];
  const ortOut = (await runOrt(8)).output;
  console.log(
    `outputs (8 videos x ${model.classes} logits): ours fp32 vs pytorch max |diff| ${maxAbsDiff(oursOut, torchOut).toExponential(2)}, vs onnxruntime ${maxAbsDiff(oursOut, ortOut).toExponential(2)}`,
  );
  if (maxAbsDiff(oursOut, torchOut) > 1e-3)
    throw new Error('ours and PyTorch compute different models: fix the twin before timing it');
  for (const [name, m] of ours) {
    if (name === 'fp32') continue;
    const out = m.run(check).output;
    const same = top1(out, model.classes).filter((c, i) => c === top1(oursOut, model.classes)[i]).length;
    console.log(
      `ours ${name} vs fp32: max |logit diff| ${maxAbsDiff(out, oursOut).toExponential(2)}, top-1 agrees on ${same}/8 videos`,
    );
  }

  type Side = { name: string; run: (b: number) => Promise<{ ms: number }> };
  const sides: Side[] = [
    ...[...ours].map(([name, m]) => ({ name: `ours ${name}`, run: async (b: number) => m.run(inputs.get(b)!) })),
    { name: 'pytorch fp32', run: async (b: number) => pytorch.ask(`run ${b}`) },
    ...(pytorchDefaults
      ? [{ name: 'pytorch fp32 defaults', run: async (b: number) => pytorchDefaults.ask(`run ${b}`) }]
      : []),
    { name: 'onnxruntime fp32', run: runOrt },
  ];
  const times = new Map<string, Map<number, number[]>>(
    sides.map((s) => [s.name, new Map(BATCHES.map((b) => [b, []]))]),
  );
  for (let r = 0; r < warmup + rounds; r++) {
    // The order of the sides rotates from round to round.
    for (let i = 0; i < sides.length; i++) {
      const side = sides[(i + r) % sides.length]!;
      for (const b of BATCHES) {
        // A pause first: the previous side's threads (ONNX Runtime's and OpenBLAS's spin after a run)
        // must not share the cores with this one.
        await sleep(SETTLE_MS);
        const { ms } = await side.run(b);
        if (r >= warmup) times.get(side.name)!.get(b)!.push(ms);
      }
    }
  }
  pytorch.close();
  pytorchDefaults?.close();
  await session.release();

  const total = (name: string) =>
    Array.from({ length: rounds }, (_, r) => BATCHES.reduce((s, b) => s + times.get(name)!.get(b)![r]!, 0));
  const fmt = (ms: number[]) => ms.map((m) => m.toFixed(0)).join(', ');
  for (const side of sides) {
    const perBatch = BATCHES.map(
      (b) =>
        `${b} video(s): median ${median(times.get(side.name)!.get(b)!).toFixed(0)} ms [${fmt(times.get(side.name)!.get(b)!)}]`,
    );
    console.log(`${side.name.padEnd(21)} ${perBatch.join('; ')}`);
  }
  const pairRatio = (a: string, b: string) => {
    const ta = total(a);
    const tb = total(b);
    const ratios = ta.map((t, i) => t / tb[i]!);
    return { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) };
  };
  const vsOrt = pairRatio(`ours ${auto.precision}`, 'onnxruntime fp32');
  const vsTorch = pairRatio('ours fp32', 'pytorch fp32');
  console.log(
    `per-round ratios (time for 1 + 8 videos): ours ${auto.precision} / onnxruntime fp32 in [${vsOrt.min.toFixed(3)}, ${vsOrt.max.toFixed(3)}], ours fp32 / pytorch fp32 in [${vsTorch.min.toFixed(3)}, ${vsTorch.max.toFixed(3)}]`,
  );
  if (pytorchDefaults)
    console.log(
      `ours fp32 / pytorch fp32 as Debian ships it (median per-round ratio): ${pairRatio('ours fp32', 'pytorch fp32 defaults').median.toFixed(3)}`,
    );
  console.log(`ratio_vs_onnxruntime ${vsOrt.median.toFixed(3)}`);
  console.log(`ratio_vs_pytorch ${vsTorch.median.toFixed(3)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
