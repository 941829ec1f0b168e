/**
 * Which parameters train, and at which learning rate (train.py's `fix_text` / `fix_video` loops and
 * utils/solver.py's `_optimizer`).
 */
import type { Tensor, nn } from '../torch/index.ts';

export interface FreezeOptions {
  /** Freeze the text encoder: every CLIP parameter whose name has neither "visual" nor "logit_scale". */
  fixText: boolean;
  /** Freeze the image encoder: every CLIP parameter whose name has "visual". */
  fixVideo: boolean;
}

/**
 * Applies `fix_text` / `fix_video` to CLIP's parameters by name, as train.py does (names as in
 * CLIP's own state dict: `visual.conv1.weight`, `transformer.resblocks.0...`, `logit_scale`).
 * Returns the names it froze.
 */
export function applyFreezing(clip: nn.Module, options: FreezeOptions): string[] {
  const frozen: string[] = [];
  for (const [name, p] of clip.namedParameters()) {
    const visual = name.includes('visual');
    const freeze = (options.fixText && !visual && !name.includes('logit_scale')) || (options.fixVideo && visual);
    if (freeze) {
      p.requiresGrad = false;
      frozen.push(name);
    }
  }
  return frozen;
}

/**
 * One optimizer parameter group, as PyTorch's `{'params': [...], 'lr': ...}` (a type alias, so it is
 * assignable to optimizers' groups with extra hyper-parameter keys).
 */
export type ParamGroup = {
  params: Tensor[];
  lr: number;
};

export interface ParamGroupOptions {
  /** `solver.lr`: the heads' learning rate. */
  lr: number;
  /** `solver.clip_ratio`: CLIP trains at `lr * clip_ratio`. */
  clipRatio: number;
}

/**
 * `_optimizer`'s two groups, in its order: [0] every CLIP parameter at `lr * clip_ratio`, [1] every
 * head parameter at `lr`. Frozen parameters stay in their group, as in the original (they never get a gradient, so
 * the optimizer skips them), which keeps the parameter order of an original optimizer state dict.
 */
export function optimizerParamGroups(clip: nn.Module, head: nn.Module, options: ParamGroupOptions): ParamGroup[] {
  for (const [key, value] of [
    ['lr', options.lr],
    ['clip_ratio', options.clipRatio],
  ] as const) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new Error(`optimizerParamGroups: solver.${key} must be a non-negative number, got ${value}`);
    }
  }
  return [
    { params: clip.parameters(), lr: options.lr * options.clipRatio },
    { params: head.parameters(), lr: options.lr },
  ];
}

export type OptimizerKind = 'adamw' | 'adam' | 'sgd';

/** The optimizer settings `_optimizer` uses for each `solver.optim`. */
export interface OptimizerRecipe {
  kind: OptimizerKind;
  weightDecay: number;
  betas: [number, number];
  eps: number;
  momentum: number;
}

/**
 * Settings per optimizer as the original hard-codes them: AdamW takes `solver.weight_decay` with
 * betas (0.9, 0.999) and eps 1e-8; Adam uses weight decay 0.2 whatever the config says; SGD takes
 * `solver.momentum` and `solver.weight_decay`.
 */
export function optimizerRecipe(solver: {
  optim: string;
  weight_decay?: number | null;
  momentum?: number | null;
}): OptimizerRecipe {
  const betas: [number, number] = [0.9, 0.999];
  const need = (key: 'weight_decay' | 'momentum'): number => {
    const value = solver[key];
    if (typeof value !== 'number') throw new Error(`solver.${key} is required for solver.optim "${solver.optim}"`);
    return value;
  };
  switch (solver.optim) {
    case 'adamw':
      return { kind: 'adamw', weightDecay: need('weight_decay'), betas, eps: 1e-8, momentum: 0 };
    case 'adam':
      return { kind: 'adam', weightDecay: 0.2, betas, eps: 1e-8, momentum: 0 };
    case 'sgd':
      return { kind: 'sgd', weightDecay: need('weight_decay'), betas, eps: 0, momentum: need('momentum') };
    default:
      throw new Error(`solver.optim must be one of adamw, adam, sgd, got ${JSON.stringify(solver.optim)}`);
  }
}
