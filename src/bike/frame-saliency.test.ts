import { test } from 'node:test';
import assert from 'node:assert/strict';
import { einsum, manualSeed, noGrad, randn, tidy } from '../torch/index.ts';
import { assertClose } from '../testing/assert-close.ts';
import { VideoHead } from './video-head.ts';
import { conceptSpottingFrameWeights, conceptSpottingLogits, unitNormalise } from './interactions.ts';

test('concept spotting frame weights are the ones its logits use', () => {
  manualSeed(3);
  tidy(() =>
    noGrad(() => {
      const video = randn([2, 5, 8]);
      const tokens = randn([3, 7, 8]);
      const cls = randn([3, 8]);
      const weights = conceptSpottingFrameWeights(video, tokens); // [b, classes, T]
      assert.deepEqual(weights.shape, [2, 3, 5]);
      assertClose(weights.sum(-1), randn([2, 3]).mul(0).add(1), { atol: 1e-5 });
      // Recompute the logits from the weights: weighted unit frames against unit class embeddings.
      const spotted = einsum('bat,btd->bad', weights, unitNormalise(video));
      const fromWeights = einsum('bad,ad->ba', spotted, unitNormalise(cls));
      assertClose(fromWeights, conceptSpottingLogits(video, tokens, cls), { atol: 1e-5 });
      // One word at a sharp temperature: the frame most similar to it takes (almost) all the weight.
      const peaked = conceptSpottingFrameWeights(video, tokens.narrow(1, 0, 1), 1e-4);
      assertClose(peaked.amax(-1), randn([2, 3]).mul(0).add(1), { atol: 1e-3 });
    }),
  );
});

test('the video head reports VCS saliency after temporal aggregation, uniform weights for DP', () => {
  manualSeed(4);
  const options = { embedDim: 64, contextLength: 16, layers: 1, heads: 1 };
  const vcs = new VideoHead({ simHeader: 'Transf', interaction: 'VCS', ...options });
  const dp = new VideoHead({ simHeader: 'None', interaction: 'DP', ...options });
  tidy(() =>
    noGrad(() => {
      const video = randn([2, 6, 64]);
      const tokens = randn([4, 16, 64]);
      const weights = vcs.frameWeights(video, tokens, 4);
      assertClose(weights, conceptSpottingFrameWeights(vcs.aggregate(video), tokens), { atol: 1e-6 });
      const uniform = dp.frameWeights(video, null, 4);
      assert.deepEqual(uniform.shape, [2, 4, 6]);
      assertClose(uniform, uniform.mul(0).add(1 / 6), { atol: 1e-7 });
      assert.throws(() => vcs.frameWeights(video, null, 4), /token features/);
    }),
  );
});
