/** Optimizers, LR schedules and gradient clipping (layer 2 of DESIGN.md), numerically as PyTorch 1.13. */
export {
  Optimizer,
  loadOptimizerCheckpoint,
  type ParamGroup,
  type ParamGroupInput,
  type HyperParameters,
} from './optimizer.ts';
export type { OptimizerStateDict, ParamState, StateValue, SavedParamGroup } from './state-dict.ts';
export { Adam, AdamW, biasCorrections, type AdamGroup, type AdamOptions } from './adam.ts';
export { SGD, type SgdGroup, type SgdOptions } from './sgd.ts';
export {
  WarmupLR,
  WarmupCosineAnnealingLR,
  WarmupMultiStepLR,
  type LRScheduler,
  type SchedulableOptimizer,
  type WarmupOptions,
} from './lr-scheduler.ts';
export { clipGradNorm, type ClipGradNormOptions } from './clip-grad.ts';
export { pythonPow } from './python-math.ts';
