/**
 * The optimizer and learning-rate schedule of a config (utils/solver.py `_optimizer`, `_lr_scheduler`):
 * two parameter groups, CLIP at `lr * clip_ratio` and the trained head at `lr`; AdamW with the config's
 * weight decay, Adam with weight decay 0.2, or SGD with momentum; a warm-up cosine or multistep schedule.
 */
import type { BikeModel } from '../../bike/bike-model.ts';
import { optimizerRecipe } from '../../bike/param-groups.ts';
import { Adam, AdamW } from '../../torch/optim/adam.ts';
import type { LRScheduler } from '../../torch/optim/lr-scheduler.ts';
import { createLrScheduler } from './lr-schedule.ts';
import type { Optimizer } from '../../torch/optim/optimizer.ts';
import { SGD } from '../../torch/optim/sgd.ts';
import { requireSetting, type BikeConfig } from '../config/config.ts';

export function buildOptimizer(config: BikeConfig, model: BikeModel, branch: 'video' | 'attributes'): Optimizer {
  const solver = config.solver;
  const recipe = optimizerRecipe({
    optim: requireSetting(solver.optim, 'solver.optim', 'training'),
    weight_decay: solver.weight_decay,
    momentum: solver.momentum,
  });
  const groups = model
    .paramGroups({
      lr: requireSetting(solver.lr, 'solver.lr', 'training'),
      clipRatio: requireSetting(solver.clip_ratio, 'solver.clip_ratio', 'training'),
      branch,
    })
    .map((g) => ({ params: g.params, lr: g.lr }));
  switch (recipe.kind) {
    case 'adamw':
      return new AdamW(groups, { betas: recipe.betas, eps: recipe.eps, weight_decay: recipe.weightDecay });
    case 'adam':
      return new Adam(groups, { betas: recipe.betas, eps: recipe.eps, weight_decay: recipe.weightDecay });
    case 'sgd':
      return new SGD(groups, { momentum: recipe.momentum, weight_decay: recipe.weightDecay });
  }
}

export function buildSchedule(config: BikeConfig, optimizer: Optimizer): LRScheduler {
  const solver = config.solver;
  return createLrScheduler(
    {
      type: requireSetting(solver.type, 'solver.type', 'training'),
      epochs: requireSetting(solver.epochs, 'solver.epochs', 'training'),
      lr_warmup_step: requireSetting(solver.lr_warmup_step, 'solver.lr_warmup_step', 'training'),
      lr_decay_step: solver.lr_decay_step ?? undefined,
    },
    optimizer,
  );
}
