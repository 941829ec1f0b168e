/**
 * Training parity: gradients of the fixture's loss with its freezing (`expect.grad.*`), and the
 * optimizer steps the fixture's `adamw_steps` describes (`expect.adamw.lrs`, `expect.after_adamw.*`),
 * with the optimizer and LR schedule of src/torch/optim.
 */
import { noGrad, tidy } from '../torch/index.ts';
import type { ParityResult } from './parity-result.ts';
import type { BikeModel } from '../bike/bike-model.ts';
import type { BikeFixture } from './bike-fixture.ts';
import { aggregateViews } from '../bike/scores.ts';
import { compareTensor, guarded } from './compare.ts';
import { backwardOnFrames, parametersByName, runFixtureOptimizerSteps } from './fixture-optimizer-steps.ts';

/** Compares each `expect.grad.<name>` with the gradient of that parameter, and checks frozen ones got none. */
function gradientResults(fixture: BikeFixture, model: BikeModel): ParityResult[] {
  const params = parametersByName(model);
  const expectedNames = fixture.expectedNames('grad.');
  const results: ParityResult[] = [];
  const covered = new Set<string>();
  for (const key of expectedNames) {
    const name = key.slice('expect.grad.'.length);
    covered.add(name);
    const param = params.get(name);
    if (!param) {
      results.push({ name: key, ok: false, detail: `the model has no parameter "${name}"` });
      continue;
    }
    const grad = param.grad;
    if (!grad) {
      results.push({ name: key, ok: false, detail: `"${name}" got no gradient (requires_grad ${param.requiresGrad})` });
      continue;
    }
    results.push(compareTensor(key, grad, fixture.get(key)));
    grad.dispose();
  }
  // The parameters the fixture gives no gradient for must be frozen and untouched by backward.
  const stray = [...params].filter(
    ([name, p]) =>
      !covered.has(name) &&
      (name.startsWith('clip.') || name.startsWith('video_head.')) &&
      (p.requiresGrad || p.grad !== null),
  );
  results.push(
    stray.length
      ? {
          name: 'grad: parameters without expect.grad',
          ok: false,
          detail: `${stray.length} got a gradient or require one, e.g. ${stray
            .slice(0, 3)
            .map(([n]) => n)
            .join(', ')}`,
        }
      : {
          name: 'grad: parameters without expect.grad',
          ok: true,
          detail: `every other CLIP and head parameter is frozen and got no gradient (fix_text ${fixture.meta.solver.fix_text}, fix_video ${fixture.meta.solver.fix_video})`,
        },
  );
  return results;
}

export function trainingParityChecks(fixture: BikeFixture, model: BikeModel): ParityResult[] {
  const results: ParityResult[] = [];
  let gradientsReady = false;
  results.push(
    ...guarded('expect.grad.*', () => {
      model.train();
      model.freeze({ fixText: fixture.meta.solver.fix_text, fixVideo: fixture.meta.solver.fix_video });
      model.zeroGrad();
      backwardOnFrames(fixture, model, fixture.get('input.frames'));
      gradientsReady = true;
      return gradientResults(fixture, model);
    }),
  );
  if (!gradientsReady) return results;
  const steps = runFixtureOptimizerSteps(fixture, model);
  results.push(...steps);
  if (steps.some((r) => r.name === 'expect.adamw.* / expect.after_adamw.*' && !r.ok)) {
    results.push({
      name: 'expect.multiview.*',
      ok: false,
      detail: 'needs the parameters after the AdamW steps, which failed',
    });
  } else {
    results.push(...multiviewChecks(fixture, model));
  }
  return results;
}

/**
 * test.py's multi-view protocol. The fixture computed it with the parameters after its AdamW
 * steps (its numbers match those weights, not the initial ones), so it runs after them.
 */
function multiviewChecks(fixture: BikeFixture, model: BikeModel): ParityResult[] {
  model.eval();
  return guarded('expect.multiview.*', () =>
    noGrad(() =>
      tidy(() => {
        const { test_crops, test_clips, videos } = fixture.meta.multiview;
        const views = test_crops * test_clips;
        const frames = fixture.get('input.multiview_frames');
        const expectedRows = videos * views * fixture.meta.num_segments;
        if (frames.size(0) !== expectedRows) {
          throw new Error(
            `input.multiview_frames has ${frames.size(0)} frames, meta.json multiview says ${videos} videos x ${views} views x ${fixture.meta.num_segments} frames = ${expectedRows}`,
          );
        }
        const similarity = model.predict(frames, model.classFeatures(fixture.get('input.text_tokens')));
        return [
          compareTensor(
            'expect.multiview.raw_similarity (after the AdamW steps)',
            similarity,
            fixture.get('expect.multiview.raw_similarity'),
          ),
          compareTensor(
            `expect.multiview.final_scores (${test_crops} crops x ${test_clips} clips)`,
            aggregateViews(similarity, views),
            fixture.get('expect.multiview.final_scores'),
          ),
        ];
      }),
    ),
  );
}
