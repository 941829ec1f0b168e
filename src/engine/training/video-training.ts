/**
 * The video branch's training loss (train.py `train`): frames -> CLIP image features `[B, T, D]`,
 * each sample's class prompt -> text features (from the cache when the text encoder is frozen), both
 * gathered across ranks with the gradient flowing back to the local slice, then
 * `logit_scale * video_head(video, text)` `[N, N]` against the label-equality matrix of the gathered
 * labels, NCE or DS in both directions.
 */
import type { BikeModel, TextFeatures } from '../../bike/bike-model.ts';
import { groundTruthMatrix, symmetricLoss, type LossType } from '../../bike/losses.ts';
import { fromTypedArray, type Tensor } from '../../torch/index.ts';
import type { VideoBatch } from '../datasets/batch-source.ts';
import type { Collectives } from '../distributed/collectives.ts';

export interface VideoLossContext {
  model: BikeModel;
  collectives: Collectives;
  /** Prompt token ids of every class `[classes, 77]`. */
  classTokens: Tensor;
  /** Text features of every class, when the text encoder is frozen and deterministic. */
  cachedText: TextFeatures | null;
  lossType: LossType;
  /** Where the model lives (`cpu`, `cuda:0`, ...). */
  device: string;
}

/** Whether class text features may be computed once: frozen text encoder and no dropout in it. */
export function canCacheText(fixText: boolean, dropout: number, embDropout: number): boolean {
  return fixText && dropout === 0 && embDropout === 0;
}

export function videoLoss(ctx: VideoLossContext, batch: VideoBatch): { loss: Tensor; rows: number } {
  const { model, collectives } = ctx;
  const frames = fromTypedArray(batch.frames, batch.shape, { device: ctx.device });
  const labels = fromTypedArray(Int32Array.from(batch.labels), undefined, { device: ctx.device }).to('int64');
  const video = model.encodeVideos(frames);
  if (video.size(0) !== labels.size(0)) {
    throw new Error(
      `training batch: ${video.size(0)} clips of ${model.numSegments} frames but ${labels.size(0)} labels (frames shape [${batch.shape}])`,
    );
  }
  const text: TextFeatures = ctx.cachedText
    ? { cls: ctx.cachedText.cls.indexSelect(0, labels), tokens: ctx.cachedText.tokens.indexSelect(0, labels) }
    : model.encodeText(ctx.classTokens.indexSelect(0, labels));
  const concepts = model.video_head.interaction === 'VCS';
  const gathered: TextFeatures = {
    cls: collectives.allGatherWithGrad(text.cls),
    // Only concept spotting reads the per-token features; dot product needs no copy of them.
    tokens: concepts ? collectives.allGatherWithGrad(text.tokens) : text.tokens,
  };
  const videos = collectives.allGatherWithGrad(video);
  const logits = model.logitScale().mul(model.similarity(videos, gathered));
  const allLabels = collectives.allGather(labels);
  const groundTruth = groundTruthMatrix(allLabels, logits.dtype === 'float64' ? 'float64' : 'float32');
  return { loss: symmetricLoss(logits.to(groundTruth.dtype), groundTruth, ctx.lossType), rows: logits.size(0) };
}
