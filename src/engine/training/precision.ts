/**
 * Training: `--precision amp | fp16 | fp32`, as the original scripts use it:
 * - `amp` (the default): fp32 weights, the forward pass under CUDA float16 autocast, dynamic loss scaling
 *   (GradScaler: steps with inf/NaN gradients are skipped, the scale backs off and grows again);
 * - `fp16`: the CLIP weights stay float16 (the original keeps `clip.load`'s half model), no autocast, no
 *   scaler (as there: a loss scaler cannot unscale float16 gradients); CUDA only;
 * - `fp32`: plain float32.
 *
 * On the CPU, `amp` runs in float32, without autocast or scaler. libtorch 1.13's CPU autocast offers only
 * bfloat16, which is slower than float32 on CPUs without native bfloat16 arithmetic and changes the
 * numerics of the original's fp16 recipe; float32 also keeps resumed CPU runs bitwise identical to
 * uninterrupted ones. The run logs this choice.
 *
 * Inference (predict, test, zeroshot): `--precision auto | fp32 | bf16 | fp16`, see `planInference`.
 */
import { readFileSync } from 'node:fs';
import { GradScaler, autocast } from '../../torch/amp.ts';
import { nn } from '../../torch/index.ts';
import type { Module } from '../../torch/nn/module.ts';

export type Precision = 'amp' | 'fp16' | 'fp32';
export const PRECISIONS: readonly Precision[] = ['amp', 'fp16', 'fp32'];

export interface PrecisionPlan {
  precision: Precision;
  device: string;
  /** Runs the forward pass (and loss) in the plan's autocast region, if any. */
  forward<T>(fn: () => T): T;
  /** Loss scaler for `amp` on CUDA, else null. */
  scaler: GradScaler | null;
  /** dtype of CLIP's weights. */
  clipDtype: 'float32' | 'float16';
  /** What the plan means on this device (for the log). */
  description: string;
}

export function parsePrecision(value: string, flag = '--precision'): Precision {
  if ((PRECISIONS as readonly string[]).includes(value)) return value as Precision;
  throw new Error(`${flag} ${JSON.stringify(value)}: expected one of ${PRECISIONS.join(', ')}`);
}

export function planPrecision(precision: Precision, device: string): PrecisionPlan {
  const cuda = device.startsWith('cuda');
  const plain = <T>(fn: () => T): T => fn();
  if (precision === 'fp32') {
    return {
      precision,
      device,
      forward: plain,
      scaler: null,
      clipDtype: 'float32',
      description: 'fp32: float32 weights and arithmetic',
    };
  }
  if (precision === 'fp16') {
    if (!cuda)
      throw new Error(
        `--precision fp16 keeps CLIP in float16, which needs a CUDA device (this run uses ${device}); use amp or fp32`,
      );
    return {
      precision,
      device,
      forward: plain,
      scaler: null,
      clipDtype: 'float16',
      description: 'fp16: CLIP weights in float16 as the original, no loss scaling',
    };
  }
  if (!cuda) {
    return {
      precision,
      device,
      forward: plain,
      scaler: null,
      clipDtype: 'float32',
      description:
        'amp on the CPU: float32 (no autocast, no loss scaling); CUDA runs use float16 autocast with dynamic loss scaling',
    };
  }
  return {
    precision,
    device,
    forward: <T>(fn: () => T): T => autocast(fn, { device: 'cuda', dtype: 'float16' }),
    scaler: new GradScaler(),
    clipDtype: 'float32',
    description: 'amp: float32 weights, float16 autocast, dynamic loss scaling',
  };
}

// ---- inference: `--precision auto | fp32 | bf16 | fp16` (predict, test, zeroshot) ----

export type InferencePrecision = 'auto' | 'fp32' | 'bf16' | 'fp16';
export const INFERENCE_PRECISIONS: readonly InferencePrecision[] = ['auto', 'fp32', 'bf16', 'fp16'];

export function parseInferencePrecision(value: string, flag = '--precision'): InferencePrecision {
  if ((INFERENCE_PRECISIONS as readonly string[]).includes(value)) return value as InferencePrecision;
  throw new Error(`${flag} ${JSON.stringify(value)}: expected one of ${INFERENCE_PRECISIONS.join(', ')}`);
}

/** The CPU's native bfloat16 arithmetic, as the kernel reports it (`flags` of /proc/cpuinfo). */
export interface CpuBf16Support {
  native: boolean;
  /** The flags that say so (`amx_bf16`, `avx512_bf16`), empty when none. */
  flags: string[];
}

const BF16_FLAGS = ['amx_bf16', 'avx512_bf16'];

/** Reads the bfloat16 flags from `/proc/cpuinfo` text (Linux; other systems report none). */
export function cpuBf16Support(cpuinfo?: string): CpuBf16Support {
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return { native: false, flags: [] };
    }
  }
  const line = text.split('\n').find((l) => /^(flags|Features)\s*:/.test(l)) ?? '';
  const present = new Set(
    line
      .slice(line.indexOf(':') + 1)
      .trim()
      .split(/\s+/),
  );
  const flags = BF16_FLAGS.filter((f) => present.has(f));
  return { native: flags.length > 0, flags };
}

export interface InferencePlan {
  requested: InferencePrecision;
  /** What runs: float32, or autocast to bfloat16/float16. */
  precision: 'fp32' | 'bf16' | 'fp16';
  device: string;
  /** Runs a forward pass (synchronous) under the plan's autocast, if any. */
  run<T>(fn: () => T): T;
  /**
   * Stores the weights of the matrix-product layers (Linear, Conv2d, MultiheadAttention) in the
   * autocast dtype: the cast autocast would make of them on every call, made once (the same values,
   * since autocast rounds float32 to the lower type the same way). No-op for fp32.
   */
  prepare(model: Module): void;
  /** What was chosen and why (printed by the commands). */
  description: string;
}

/**
 * `auto`: bfloat16 autocast on CPUs with native bfloat16 arithmetic (AMX or AVX512-BF16), float16
 * autocast on CUDA, float32 elsewhere. `bf16` forces bfloat16 autocast (CPU or CUDA; slow on CPUs
 * without native support), `fp16` float16 autocast (CUDA only: libtorch 1.13's CPU autocast has
 * only bfloat16), `fp32` plain float32.
 */
export function planInference(
  requested: InferencePrecision,
  device: string,
  cpu: CpuBf16Support = cpuBf16Support(),
): InferencePlan {
  const cuda = device.startsWith('cuda');
  let precision: InferencePlan['precision'];
  let why: string;
  if (requested === 'auto') {
    if (cuda) [precision, why] = ['fp16', 'a CUDA device'];
    else if (cpu.native) [precision, why] = ['bf16', `this CPU has native bfloat16 (${cpu.flags.join(', ')})`];
    else [precision, why] = ['fp32', 'this CPU has no native bfloat16 (no amx_bf16 / avx512_bf16 flag)'];
  } else {
    precision = requested;
    why = 'as asked';
    if (precision === 'fp16' && !cuda)
      throw new Error(
        `--precision fp16 needs a CUDA device (this run uses ${device}); CPU autocast supports bf16 only: use bf16, fp32 or auto`,
      );
    if (precision === 'bf16' && !cuda && !cpu.native)
      why = 'as asked; this CPU has no native bfloat16, so it is emulated and slower than fp32';
  }
  const autocastDevice = cuda ? 'cuda' : 'cpu';
  const dtype = precision === 'bf16' ? 'bfloat16' : 'float16';
  const what = precision === 'fp32' ? 'float32' : `${dtype} autocast (${autocastDevice}), LayerNorm in float32`;
  return {
    requested,
    precision,
    device,
    run:
      precision === 'fp32'
        ? <T>(fn: () => T): T => fn()
        : <T>(fn: () => T): T => autocast(fn, { device: autocastDevice, dtype }),
    prepare(model: Module): void {
      if (precision === 'fp32') return;
      for (const [, m] of model.namedModules()) {
        if (m instanceof nn.Linear || m instanceof nn.Conv2d || m instanceof nn.MultiheadAttention) m.to(dtype);
      }
    },
    description: `precision ${requested}${requested === 'auto' ? ` -> ${precision}` : ''}: ${what} (${why})`,
  };
}
