/**
 * From similarities to class scores: test.py's multi-view aggregation and the fusion of the video
 * branch with the attribute branch.
 */
import { Tensor, F } from '../torch/index.ts';

/**
 * test.py: similarities `[videos * views, classes]` (the views of a video consecutive, views =
 * test_crops x test_clips) -> softmax per view, mean over the views, softmax again -> `[videos, classes]`.
 * The second softmax is applied even for a single view, as in the original.
 */
export function aggregateViews(similarity: Tensor, views: number): Tensor {
  if (!Number.isInteger(views) || views < 1)
    throw new Error(`aggregateViews: views must be a positive integer, got ${views}`);
  if (similarity.ndim !== 2 || similarity.size(0) % views !== 0) {
    throw new Error(
      `aggregateViews: expected similarities [videos * ${views} views, classes], got shape [${similarity.shape}]`,
    );
  }
  const classes = similarity.size(1);
  const perView = F.softmax(similarity, -1)
    .reshape(similarity.size(0) / views, views, classes)
    .mean(1);
  return F.softmax(perView, -1);
}

/**
 * train.py's validation scores: similarities `[videos * n, classes]` -> softmax, mean over the `n`
 * rows of each video (one row per video there).
 */
export function validationScores(similarity: Tensor, videos: number): Tensor {
  if (similarity.ndim !== 2 || similarity.size(0) % videos !== 0) {
    throw new Error(
      `validationScores: expected similarities [${videos} videos * n, classes], got shape [${similarity.shape}]`,
    );
  }
  return F.softmax(similarity.view(videos, -1, similarity.size(1)), -1).mean(1);
}

/** Weight of the video branch when its scores are fused with the attribute branch's. */
export const DEFAULT_VIDEO_BRANCH_WEIGHT = 0.7;

/**
 * Score fusion of the two branches: `w * video + (1 - w) * attributes`, both `[videos, classes]`
 * class probabilities (0.7 / 0.3 by default).
 */
export function fuseScores(
  videoScores: Tensor,
  attributeScores: Tensor,
  videoWeight = DEFAULT_VIDEO_BRANCH_WEIGHT,
): Tensor {
  if (!(videoWeight >= 0 && videoWeight <= 1))
    throw new Error(`fuseScores: the video branch weight must be in [0, 1], got ${videoWeight}`);
  if (videoScores.shape.join() !== attributeScores.shape.join()) {
    throw new Error(
      `fuseScores: video scores [${videoScores.shape}] and attribute scores [${attributeScores.shape}] must have the same shape`,
    );
  }
  return videoScores.mul(videoWeight).add(attributeScores.mul(1 - videoWeight));
}
