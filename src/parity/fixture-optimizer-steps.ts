/**
 * The optimizer steps of a fixture's `adamw_steps` ("3 steps; before step s (0,1,2) the scheduler is
 * stepped to epoch 1+s; step 0 uses the grads of input.frames, step s>0 recomputes the loss on
 * input.step_frames.s"): the original's parameter groups (CLIP at lr * clip_ratio, head at lr), its
 * AdamW settings and its warm-up cosine schedule, compared with `expect.adamw.lrs` and
 * `expect.after_adamw.*`. The gradients of step 0 must already be in the parameters.
 */
import { Tensor, cat, noGrad, tensor, tidy } from '../torch/index.ts';
import type { ParityResult } from './parity-result.ts';
import type { BikeModel } from '../bike/bike-model.ts';
import type { BikeFixture } from './bike-fixture.ts';
import { AdamW } from '../torch/optim/index.ts';
import { createLrScheduler } from '../engine/training/lr-schedule.ts';
import { compareTensor, guarded, PARAMETER_TOLERANCE, PARAMETERS } from './compare.ts';

export interface StepPlan {
  steps: number;
  /** The scheduler is stepped to epoch `firstEpoch + s` before step s. */
  firstEpoch: number;
}

/** Reads the step count and the epochs out of meta.json's `adamw_steps` text. */
export function parseStepPlan(text: string): StepPlan {
  const steps = /^\s*(\d+)\s+steps?\b/.exec(text);
  const epoch = /stepped to epoch\s+(\d+)\s*\+\s*s\b/.exec(text);
  if (!steps || !epoch) {
    throw new Error(
      `meta.json adamw_steps: expected "<N> steps; ... the scheduler is stepped to epoch <E>+s; ...", got ${JSON.stringify(text)}`,
    );
  }
  return { steps: Number(steps[1]), firstEpoch: Number(epoch[1]) };
}

export function runFixtureOptimizerSteps(fixture: BikeFixture, model: BikeModel): ParityResult[] {
  const { solver } = fixture.meta;
  const name = 'expect.adamw.* / expect.after_adamw.*';
  if (solver.optim !== 'adamw')
    return [
      {
        name,
        ok: false,
        detail: `meta.json solver.optim is "${solver.optim}"; these checks follow the AdamW steps the fixture describes`,
      },
    ];
  const before = noGrad(
    () => new Map([...model.namedParameters()].map(([n, p]) => [n, p.detach().clone().keep()] as [string, Tensor])),
  );
  try {
    return guarded(name, () => {
      const plan = parseStepPlan(fixture.meta.adamw_steps);
      const expectedLrs = fixture.get('expect.adamw.lrs');
      if (expectedLrs.size(0) !== plan.steps)
        throw new Error(`expect.adamw.lrs has ${expectedLrs.size(0)} rows; adamw_steps says ${plan.steps} steps`);
      const groups = model.paramGroups({ lr: solver.lr, clipRatio: solver.clip_ratio });
      // PyTorch 1.13's AdamW runs one tensor at a time unless told otherwise.
      const optimizer = new AdamW(groups, {
        betas: solver.betas,
        eps: solver.eps,
        weight_decay: solver.weight_decay,
        foreach: false,
      });
      const scheduler = createLrScheduler(solver, optimizer);
      const lrs: number[][] = [];
      for (let s = 0; s < plan.steps; s++) {
        scheduler.step(plan.firstEpoch + s);
        lrs.push(optimizer.paramGroups.map((g) => g.lr));
        if (s > 0) {
          optimizer.zeroGrad();
          backwardOnFrames(fixture, model, fixture.get(`input.step_frames.${s}`));
        }
        optimizer.step();
      }
      optimizer.zeroGrad();
      for (const state of optimizer.state.values())
        for (const value of Object.values(state)) if (value instanceof Tensor) value.dispose();
      const lrResult = compareLrs(tensor(lrs, { dtype: 'float64' }), expectedLrs);
      const lrSum = new Map<Tensor, number>();
      groups.forEach((group, g) => {
        const total = lrs.reduce((sum, row) => sum + row[g]!, 0);
        for (const p of group.params) lrSum.set(p, total);
      });
      return [lrResult, ...parameterResults(fixture, model, before, lrSum)];
    });
  } finally {
    for (const t of before.values()) t.dispose();
  }
}

/** Learning rates are ~1e-5: held to 1e-6 of the largest expected one (float32 rounding is ~6e-8 of it). */
function compareLrs(actual: Tensor, expected: Tensor): ParityResult {
  const scale = noGrad(() => expected.abs().max().item());
  return compareTensor('expect.adamw.lrs', actual, expected, { kind: 'absolute', atol: 1e-6 * scale });
}

/** Every model parameter by its state-dict name (`clip.visual.proj`, `video_head.transformer...`). */
export function parametersByName(model: BikeModel): Map<string, Tensor> {
  return new Map(model.namedParameters());
}

/** The fixture's training loss on `frames`, back-propagated into the parameters' `.grad`. */
export function backwardOnFrames(fixture: BikeFixture, model: BikeModel, frames: Tensor): number {
  return tidy(() => {
    const step = model.trainingStep(
      frames,
      fixture.get('input.train_labels'),
      fixture.get('input.text_tokens'),
      fixture.meta.solver.loss_type,
    );
    step.loss.backward();
    return step.loss.item();
  });
}

/**
 * The key slice `[E, 2E)` of an attention's packed `in_proj_bias` has a gradient that is zero in
 * exact arithmetic (a key bias adds the same `q . b_k` to every score of a query, which the softmax
 * over keys ignores), so what backward leaves there is rounding noise (~1e-10) that differs between
 * BLAS builds, and AdamW, which divides by the gradient's own scale, turns that noise into steps of
 * up to about lr. Those entries are held to the sum of the lrs applied; every other entry to 1e-6.
 */
function keyBiasSlice(name: string, param: Tensor): { start: number; length: number } | null {
  if (!name.endsWith('.attn.in_proj_bias') || param.ndim !== 1 || param.size(0) % 3 !== 0) return null;
  const width = param.size(0) / 3;
  return { start: width, length: width };
}

function compareParameter(key: string, name: string, param: Tensor, expected: Tensor, lrSum: number): ParityResult {
  const slice = keyBiasSlice(name, param);
  if (!slice) return compareTensor(key, param, expected, PARAMETERS);
  return noGrad(() =>
    tidy(() => {
      const { start, length } = slice;
      const outside = [param.narrow(0, 0, start), param.narrow(0, start + length, param.size(0) - start - length)];
      const outsideExpected = [
        expected.narrow(0, 0, start),
        expected.narrow(0, start + length, expected.size(0) - start - length),
      ];
      const rest = compareTensor(key, cat(outside), cat(outsideExpected), PARAMETERS);
      const bound = lrSum + PARAMETER_TOLERANCE;
      const keys = compareTensor(key, param.narrow(0, start, length), expected.narrow(0, start, length), {
        kind: 'absolute',
        atol: bound,
      });
      return {
        name: key,
        ok: rest.ok && keys.ok,
        detail: `query/value biases: ${rest.detail}; key bias [${start}, ${start + length}) (zero gradient in exact arithmetic, AdamW steps on rounding noise): ${keys.detail.replace(' absolute', ` absolute (sum of the lrs applied + ${PARAMETER_TOLERANCE.toExponential(0)})`)}`,
      };
    }),
  );
}

/** Compares every `expect.after_adamw.<name>` with the parameter, and that the others did not move. */
export function parameterResults(
  fixture: BikeFixture,
  model: BikeModel,
  before: Map<string, Tensor>,
  lrSum: Map<Tensor, number>,
): ParityResult[] {
  const params = parametersByName(model);
  const results: ParityResult[] = [];
  const covered = new Set<string>();
  for (const key of fixture.expectedNames('after_adamw.')) {
    const name = key.slice('expect.after_adamw.'.length);
    covered.add(name);
    const param = params.get(name);
    results.push(
      param
        ? compareParameter(key, name, param, fixture.get(key), lrSum.get(param) ?? 0)
        : { name: key, ok: false, detail: `the model has no parameter "${name}"` },
    );
  }
  const moved = noGrad(() =>
    [...params].filter(([name, p]) => {
      if (covered.has(name) || !before.has(name)) return false;
      return tidy(() => p.sub(before.get(name)!).abs().max().item()) !== 0;
    }),
  );
  results.push(
    moved.length
      ? {
          name: 'after_adamw: frozen parameters',
          ok: false,
          detail: `${moved.length} parameters without expect.after_adamw changed, e.g. ${moved
            .slice(0, 3)
            .map(([n]) => n)
            .join(', ')}`,
        }
      : {
          name: 'after_adamw: frozen parameters',
          ok: true,
          detail: `the ${before.size - covered.size} parameters without expect.after_adamw are unchanged (exact)`,
        },
  );
  return results;
}
