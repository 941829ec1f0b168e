import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, zeros, nn } from '../torch/index.ts';
import { applyFreezing, optimizerParamGroups, optimizerRecipe } from './param-groups.ts';

/** A module tree with CLIP-like names: visual.*, transformer.*, logit_scale, text_projection. */
class ToyClip extends nn.Module {
  visual: nn.Linear;
  transformer: nn.Linear;
  logit_scale: Tensor;
  text_projection: Tensor;
  constructor() {
    super();
    this.visual = this.registerModule('visual', new nn.Linear(2, 2));
    this.transformer = this.registerModule('transformer', new nn.Linear(2, 2));
    this.logit_scale = this.registerParameter('logit_scale', zeros([]));
    this.text_projection = this.registerParameter('text_projection', zeros([2, 2]));
  }
}

const trainable = (m: nn.Module) =>
  [...m.namedParameters()]
    .filter(([, p]) => p.requiresGrad)
    .map(([n]) => n)
    .sort();

test('fix_text freezes everything but the image encoder and the logit scale', () => {
  const clip = new ToyClip();
  const frozen = applyFreezing(clip, { fixText: true, fixVideo: false });
  assert.deepEqual(frozen.sort(), ['text_projection', 'transformer.bias', 'transformer.weight']);
  assert.deepEqual(trainable(clip), ['logit_scale', 'visual.bias', 'visual.weight']);
});

test('fix_video freezes the image encoder; both flags leave only the logit scale', () => {
  const clip = new ToyClip();
  applyFreezing(clip, { fixText: false, fixVideo: true });
  assert.deepEqual(trainable(clip), ['logit_scale', 'text_projection', 'transformer.bias', 'transformer.weight']);
  const both = new ToyClip();
  applyFreezing(both, { fixText: true, fixVideo: true });
  assert.deepEqual(trainable(both), ['logit_scale']);
});

test('parameter groups: all of CLIP (frozen included) at lr * clip_ratio, the head at lr', () => {
  const clip = new ToyClip();
  applyFreezing(clip, { fixText: true, fixVideo: false });
  const head = new nn.Linear(2, 3);
  const groups = optimizerParamGroups(clip, head, { lr: 5e-5, clipRatio: 0.1 });
  assert.equal(groups.length, 2);
  assert.deepEqual(groups[0]!.params, clip.parameters());
  assert.equal(groups[0]!.lr, 5e-5 * 0.1);
  assert.deepEqual(groups[1]!.params, head.parameters());
  assert.equal(groups[1]!.lr, 5e-5);
  assert.deepEqual(Object.keys(groups[0]!).sort(), ['lr', 'params']);
  assert.throws(
    () => optimizerParamGroups(clip, head, { lr: 5e-5, clipRatio: Number.NaN }),
    /solver.clip_ratio must be a non-negative number, got NaN/,
  );
});

test('optimizer settings as the original _optimizer hard-codes them', () => {
  assert.deepEqual(optimizerRecipe({ optim: 'adamw', weight_decay: 0.2 }), {
    kind: 'adamw',
    weightDecay: 0.2,
    betas: [0.9, 0.999],
    eps: 1e-8,
    momentum: 0,
  });
  assert.equal(optimizerRecipe({ optim: 'adam', weight_decay: 0.001 }).weightDecay, 0.2);
  assert.deepEqual(optimizerRecipe({ optim: 'sgd', weight_decay: 1e-4, momentum: 0.9 }), {
    kind: 'sgd',
    weightDecay: 1e-4,
    betas: [0.9, 0.999],
    eps: 0,
    momentum: 0.9,
  });
  assert.throws(
    () => optimizerRecipe({ optim: 'sgd', weight_decay: 1e-4 }),
    /solver.momentum is required for solver.optim "sgd"/,
  );
  assert.throws(() => optimizerRecipe({ optim: 'lamb' }), /solver.optim must be one of adamw, adam, sgd, got "lamb"/);
});
