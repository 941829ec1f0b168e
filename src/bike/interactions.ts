/**
 * Video-text interactions of the original `video_header.get_logits`: how per-frame video features
 * `[b, T, D]` meet class text features. Both return cosine-similarity logits `[b, classes]`
 * (no logit scale).
 */
import { Tensor, einsum, F } from '../torch/index.ts';

export type Interaction = 'DP' | 'VCS';
export const INTERACTIONS: readonly Interaction[] = ['DP', 'VCS'];

/** The original's temperature of the frame softmax in Video Concept Spotting. */
export const CONCEPT_SPOTTING_TEMPERATURE = 0.01;

/** `x / ||x||` over the last dim, exactly as the original writes it (no epsilon). */
export function unitNormalise(x: Tensor): Tensor {
  return x.div(x.norm(2, -1, true));
}

function requireShape(what: string, t: Tensor, ndim: number, layout: string): void {
  if (t.ndim !== ndim) throw new Error(`${what}: expected ${layout}, got shape [${t.shape}]`);
}

/** "DP": mean over time, then cosine similarity with each class embedding. */
export function dotProductLogits(video: Tensor, classEmbeddings: Tensor): Tensor {
  requireShape('dotProductLogits video', video, 3, '[batch, T, D]');
  requireShape('dotProductLogits class embeddings', classEmbeddings, 2, '[classes, D]');
  const pooled = unitNormalise(video.mean(1));
  return pooled.matmul(unitNormalise(classEmbeddings).t());
}

/**
 * "VCS", Video Concept Spotting: every word of a class prompt (all context positions, padding
 * included, as the original) scores every frame; a softmax over time at `temperature` turns those
 * scores into frame weights, averaged over the words; the weighted frame feature is compared with
 * the class embedding. `textTokens` is `[classes, words, D]`, `classEmbeddings` `[classes, D]`.
 */
export function conceptSpottingLogits(
  video: Tensor,
  textTokens: Tensor,
  classEmbeddings: Tensor,
  temperature = CONCEPT_SPOTTING_TEMPERATURE,
): Tensor {
  requireShape('conceptSpottingLogits video', video, 3, '[batch, T, D]');
  requireShape('conceptSpottingLogits text tokens', textTokens, 3, '[classes, words, D]');
  requireShape('conceptSpottingLogits class embeddings', classEmbeddings, 2, '[classes, D]');
  if (textTokens.size(0) !== classEmbeddings.size(0)) {
    throw new Error(
      `conceptSpottingLogits: ${textTokens.size(0)} token rows but ${classEmbeddings.size(0)} class embeddings; expected one per class`,
    );
  }
  const classes = unitNormalise(classEmbeddings);
  const frames = unitNormalise(video);
  const frameWeights = spottingWeights(frames, textTokens, temperature); // [a, b, t]
  const spotted = einsum('abt,btd->abd', frameWeights, frames);
  return einsum('abd,ad->ab', spotted, classes).transpose(1, 0);
}

/** The frame weights of concept spotting `[classes, batch, T]` from unit-normalised frames. */
function spottingWeights(frames: Tensor, textTokens: Tensor, temperature: number, float32 = false): Tensor {
  const words = unitNormalise(textTokens);
  const wordFrameSimilarity = einsum('awd,btd->abwt', words, frames);
  const logits = float32 ? wordFrameSimilarity.to('float32') : wordFrameSimilarity;
  return F.softmax(logits.div(temperature), -1).mean(-2);
}

/**
 * The temporal saliency that Video Concept Spotting computes inside `conceptSpottingLogits`: for each
 * class and video, how much each frame counts (sums to 1 over the frames), `[batch, classes, T]`.
 */
export function conceptSpottingFrameWeights(
  video: Tensor,
  textTokens: Tensor,
  temperature = CONCEPT_SPOTTING_TEMPERATURE,
): Tensor {
  requireShape('conceptSpottingFrameWeights video', video, 3, '[batch, T, D]');
  requireShape('conceptSpottingFrameWeights text tokens', textTokens, 3, '[classes, words, D]');
  // In float32 even under bf16/fp16 autocast, so that the reported weights sum to 1 over the frames.
  return spottingWeights(unitNormalise(video), textTokens, temperature, true).transpose(0, 1);
}
