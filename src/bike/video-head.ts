/**
 * The video head (the original `video_header`, saved as `fusion_model_state_dict`): temporal
 * aggregation of per-frame CLIP features ("None" or "Transf") followed by an interaction with the
 * class text features ("DP" or "VCS").
 */
import { Tensor, arange, nn, ones } from '../torch/index.ts';
import { TemporalTransformer, initialiseHeadWeights } from './temporal-transformer.ts';
import {
  conceptSpottingFrameWeights,
  conceptSpottingLogits,
  dotProductLogits,
  INTERACTIONS,
  type Interaction,
} from './interactions.ts';

export type SimHeader = 'None' | 'Transf';
export const SIM_HEADERS: readonly SimHeader[] = ['None', 'Transf'];

/** The original hard-codes a 6-layer temporal transformer. */
export const ORIGINAL_TEMPORAL_LAYERS = 6;
/** The original gives the temporal transformer `transformer_width // 64` heads (CLIP's text width). */
export function originalTemporalHeads(textTransformerWidth: number): number {
  return Math.floor(textTransformerWidth / 64);
}

export interface VideoHeadOptions {
  simHeader: SimHeader;
  interaction: Interaction;
  /** CLIP's joint embedding width D. */
  embedDim: number;
  /** Rows of the frame position table (CLIP's context length, 77, in the original). */
  contextLength: number;
  /** Temporal transformer depth and heads ("Transf" only). */
  layers: number;
  heads: number;
}

export class VideoHead extends nn.Module {
  readonly simHeader: SimHeader;
  readonly interaction: Interaction;
  frame_position_embeddings: nn.Embedding | null = null;
  transformer: TemporalTransformer | null = null;

  constructor(readonly options: VideoHeadOptions) {
    super();
    if (!SIM_HEADERS.includes(options.simHeader)) {
      throw new Error(
        `VideoHead: sim_header must be one of ${SIM_HEADERS.join(', ')}, got ${JSON.stringify(options.simHeader)}`,
      );
    }
    if (!INTERACTIONS.includes(options.interaction)) {
      throw new Error(
        `VideoHead: interaction must be one of ${INTERACTIONS.join(', ')}, got ${JSON.stringify(options.interaction)}`,
      );
    }
    this.simHeader = options.simHeader;
    this.interaction = options.interaction;
    if (options.simHeader === 'Transf') {
      this.frame_position_embeddings = this.registerModule(
        'frame_position_embeddings',
        new nn.Embedding(options.contextLength, options.embedDim),
      );
      this.transformer = this.registerModule(
        'transformer',
        new TemporalTransformer(options.embedDim, options.layers, options.heads),
      );
    }
    initialiseHeadWeights(this);
  }

  /** `agg_video_feat`: `[b, T, D]` frame features to `[b, T, D]` (with the residual for "Transf"). */
  aggregate(video: Tensor): Tensor {
    if (video.ndim !== 3)
      throw new Error(`VideoHead.aggregate: expected video features [batch, T, D], got shape [${video.shape}]`);
    const [, t, d] = video.shape as [number, number, number];
    if (d !== this.options.embedDim)
      throw new Error(
        `VideoHead.aggregate: feature width ${d} differs from the head's embed_dim ${this.options.embedDim}`,
      );
    if (this.simHeader === 'None') return video;
    if (t > this.options.contextLength) {
      throw new Error(
        `VideoHead.aggregate: ${t} frames exceed the ${this.options.contextLength} frame position embeddings`,
      );
    }
    const original = video.contiguous();
    const positions = this.frame_position_embeddings!.forward(arange(0, t, 1, { device: video.device }));
    const encoded = this.transformer!.forward(original.add(positions).permute(1, 0, 2)).permute(1, 0, 2);
    return encoded.to(original.dtype).add(original);
  }

  /**
   * Logits `[b, classes]` of videos `[b, T, D]` against class prompts: `textTokens` `[classes, 77, D]`
   * (every token projected; VCS only) and `classEmbeddings` `[classes, D]`.
   */
  forward(video: Tensor, textTokens: Tensor | null, classEmbeddings: Tensor): Tensor {
    const aggregated = this.aggregate(video);
    if (this.interaction === 'DP') return dotProductLogits(aggregated, classEmbeddings);
    if (!textTokens)
      throw new Error('VideoHead: the VCS interaction needs the token features of the class prompts (got null)');
    return conceptSpottingLogits(aggregated, textTokens, classEmbeddings);
  }

  /**
   * How much each frame counts for each class, `[b, classes, T]` (rows sum to 1): concept spotting's
   * frame weights for VCS, the uniform mean over time for DP.
   */
  frameWeights(video: Tensor, textTokens: Tensor | null, classes: number): Tensor {
    const aggregated = this.aggregate(video);
    const [b, t] = aggregated.shape as [number, number, number];
    if (this.interaction === 'DP')
      return ones([b, classes, t], { dtype: aggregated.dtype, device: aggregated.device }).div(t);
    if (!textTokens)
      throw new Error('VideoHead: the VCS interaction needs the token features of the class prompts (got null)');
    return conceptSpottingFrameWeights(aggregated, textTokens);
  }
}
