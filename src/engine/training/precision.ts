/**
 * `--precision amp | fp16 | fp32`, as the original scripts use it:
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
 */
import { GradScaler, autocast } from '../../torch/amp.ts';

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
    return { precision, device, forward: plain, scaler: null, clipDtype: 'float32', description: 'fp32: float32 weights and arithmetic' };
  }
  if (precision === 'fp16') {
    if (!cuda) throw new Error(`--precision fp16 keeps CLIP in float16, which needs a CUDA device (this run uses ${device}); use amp or fp32`);
    return { precision, device, forward: plain, scaler: null, clipDtype: 'float16', description: 'fp16: CLIP weights in float16 as the original, no loss scaling' };
  }
  if (!cuda) {
    return {
      precision, device, forward: plain, scaler: null, clipDtype: 'float32',
      description: 'amp on the CPU: float32 (no autocast, no loss scaling); CUDA runs use float16 autocast with dynamic loss scaling',
    };
  }
  return {
    precision, device,
    forward: <T>(fn: () => T): T => autocast(fn, { device: 'cuda', dtype: 'float16' }),
    scaler: new GradScaler(),
    clipDtype: 'float32',
    description: 'amp: float32 weights, float16 autocast, dynamic loss scaling',
  };
}
