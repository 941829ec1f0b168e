/**
 * BIKE: CLIP's encoders, the video head and (for the attribute branch) the sentence head in one
 * module tree. State-dict names are `clip.*`, `video_head.*`, `sentence_head.*`; the original
 * checkpoint's `model_state_dict` is `clip`, its `fusion_model_state_dict` the head it trained.
 */
import { Tensor, noGrad, nn } from '../torch/index.ts';
import { VideoHead, type SimHeader } from './video-head.ts';
import { SentenceHead } from './sentence-head.ts';
import { unitNormalise, type Interaction } from './interactions.ts';
import { groundTruthMatrix, symmetricLoss, type LossType } from './losses.ts';
import { applyFreezing, optimizerParamGroups, type ParamGroup } from './param-groups.ts';

/** Text features of prompts: the end-of-text feature and every token's projected feature. */
export interface TextFeatures {
  /** `[n, D]` */
  cls: Tensor;
  /** `[n, context_length, D]` */
  tokens: Tensor;
}

/** What BIKE needs of a CLIP model (src/clip's `CLIP` is one). */
export interface ClipEncoder extends nn.Module {
  encodeImage(frames: Tensor): Tensor;
  encodeText(tokens: Tensor): TextFeatures;
  /** The learned log of the logit scale (a scalar parameter). */
  logit_scale: Tensor;
}

export interface BikeModelOptions {
  /** `data.num_segments`: frames per video view. */
  numSegments: number;
  /** `network.sim_header` and `network.interaction`. */
  simHeader: SimHeader;
  interaction: Interaction;
  /** CLIP's joint embedding width and context length (the frame position table has that many rows). */
  embedDim: number;
  contextLength: number;
  /** Temporal transformer depth and heads (6 and text width // 64 in the original). */
  temporalLayers: number;
  temporalHeads: number;
  /** Build the attribute branch's sentence head too. */
  attributeBranch?: boolean;
}

export interface TrainingStep {
  /** `logit_scale.exp() * head(...)`, `[B, B]`: video i against the prompt of sample j's label. */
  logits: Tensor;
  groundTruth: Tensor;
  loss: Tensor;
}

export class BikeModel extends nn.Module {
  clip: ClipEncoder;
  video_head: VideoHead;
  sentence_head: SentenceHead | null = null;

  constructor(
    clip: ClipEncoder,
    readonly options: BikeModelOptions,
  ) {
    super();
    if (!Number.isInteger(options.numSegments) || options.numSegments < 1) {
      throw new Error(`BikeModel: num_segments must be a positive integer, got ${options.numSegments}`);
    }
    this.clip = this.registerModule('clip', clip);
    this.video_head = this.registerModule(
      'video_head',
      new VideoHead({
        simHeader: options.simHeader,
        interaction: options.interaction,
        embedDim: options.embedDim,
        contextLength: options.contextLength,
        layers: options.temporalLayers,
        heads: options.temporalHeads,
      }),
    );
    if (options.attributeBranch)
      this.sentence_head = this.registerModule('sentence_head', new SentenceHead(options.embedDim));
  }

  get numSegments(): number {
    return this.options.numSegments;
  }

  /** `exp(logit_scale)`. */
  logitScale(): Tensor {
    return this.clip.logit_scale.exp();
  }

  /** Frames `[B*T, 3, R, R]` (T consecutive frames per video view) -> frame features `[B, T, D]`. */
  encodeVideos(frames: Tensor): Tensor {
    const t = this.options.numSegments;
    if (frames.ndim !== 4 || frames.size(0) % t !== 0) {
      throw new Error(
        `BikeModel: expected frames [videos * ${t}, 3, H, W] (num_segments ${t}), got shape [${frames.shape}]`,
      );
    }
    const features = this.clip.encodeImage(frames);
    return features.view(frames.size(0) / t, t, -1);
  }

  encodeText(tokens: Tensor): TextFeatures {
    return this.clip.encodeText(tokens);
  }

  /** Class text features once per run, without recording a graph (the text encoder frozen or at test). */
  classFeatures(classTokens: Tensor): TextFeatures {
    return noGrad(() => this.clip.encodeText(classTokens));
  }

  /** The video head's similarities `[videos, classes]` of frame features `[videos, T, D]` (no logit scale). */
  similarity(videoFeatures: Tensor, classes: TextFeatures): Tensor {
    return this.video_head.forward(videoFeatures, classes.tokens, classes.cls);
  }

  /**
   * Training forward of train.py: frames `[B*T, 3, R, R]` and the prompt tokens of each sample's
   * label `[B, 77]` -> `logit_scale * head(video, text)` `[B, B]`. `text` may be given instead of
   * tokens (e.g. cached features of a frozen text encoder, indexed by label).
   */
  forward(frames: Tensor, batchText: Tensor | TextFeatures): Tensor {
    const video = this.encodeVideos(frames);
    const text = batchText instanceof Tensor ? this.clip.encodeText(batchText) : batchText;
    if (text.cls.size(0) !== video.size(0)) {
      throw new Error(
        `BikeModel.forward: ${video.size(0)} videos but ${text.cls.size(0)} prompts; expected one prompt per video (its label's)`,
      );
    }
    return this.logitScale().mul(this.similarity(video, text));
  }

  /** One training step's loss: labels `[B]` (int64) pick the prompts from `classTokens` `[classes, 77]`. */
  trainingStep(frames: Tensor, labels: Tensor, classTokens: Tensor, lossType: LossType): TrainingStep {
    const logits = this.forward(frames, classTokens.indexSelect(0, labels));
    const groundTruth = groundTruthMatrix(labels, logits.dtype === 'float64' ? 'float64' : 'float32');
    return { logits, groundTruth, loss: symmetricLoss(logits, groundTruth, lossType) };
  }

  /** Per-frame weights `[videos, classes, T]` of frame features `[videos, T, D]` (see VideoHead.frameWeights). */
  frameSaliency(videoFeatures: Tensor, classes: TextFeatures): Tensor {
    return this.video_head.frameWeights(videoFeatures, classes.tokens, classes.cls.size(0));
  }

  /** Inference: frames of `views` views per video -> similarities `[videos * views, classes]`. */
  predict(frames: Tensor, classes: TextFeatures): Tensor {
    return this.similarity(this.encodeVideos(frames), classes);
  }

  private requireSentenceHead(): SentenceHead {
    if (!this.sentence_head)
      throw new Error('BikeModel: the attribute branch is off (build it with attributeBranch: true)');
    return this.sentence_head;
  }

  /**
   * Attribute branch similarities (validate_text): unit-normalised sentence features `[videos, D]`
   * against unit-normalised class features `[classes, D]` -> `[videos, classes]`, no logit scale.
   */
  attributeSimilarity(sentenceTokens: Tensor, classes: TextFeatures): Tensor {
    const sentences = unitNormalise(this.clip.encodeText(sentenceTokens).cls);
    return this.requireSentenceHead().forward(unitNormalise(classes.cls), sentences);
  }

  /** Attribute branch training step (train_attributes.py): sentences against their own labels' prompts. */
  attributeTrainingStep(sentenceTokens: Tensor, labels: Tensor, classTokens: Tensor, lossType: LossType): TrainingStep {
    const sentences = unitNormalise(this.clip.encodeText(sentenceTokens).cls);
    const prompts = unitNormalise(this.clip.encodeText(classTokens.indexSelect(0, labels)).cls);
    const logits = this.logitScale().mul(this.requireSentenceHead().forward(prompts, sentences));
    const groundTruth = groundTruthMatrix(labels, logits.dtype === 'float64' ? 'float64' : 'float32');
    return { logits, groundTruth, loss: symmetricLoss(logits, groundTruth, lossType) };
  }

  /** train.py's `fix_text` / `fix_video` on the CLIP parameters; returns the frozen names. */
  freeze(options: { fixText: boolean; fixVideo: boolean }): string[] {
    return applyFreezing(this.clip, options);
  }

  /** `_optimizer`'s groups: CLIP at `lr * clip_ratio`, the trained head (video or sentence) at `lr`. */
  paramGroups(options: { lr: number; clipRatio: number; branch?: 'video' | 'attributes' }): ParamGroup[] {
    const head = options.branch === 'attributes' ? this.requireSentenceHead() : this.video_head;
    return optimizerParamGroups(this.clip, head, options);
  }

  /**
   * The original checkpoint's state dicts: `model_state_dict` into CLIP and
   * `fusion_model_state_dict` into the head it belongs to (the sentence head's names start with
   * `query_fc.` / `sentence_fc.`). `module.` prefixes (DistributedDataParallel) are dropped, as
   * the original's `update_dict`. Strict: missing or unexpected names are an error.
   */
  loadOriginalStateDicts(
    modelStateDict: Map<string, Tensor>,
    fusionModelStateDict: Map<string, Tensor> | null,
  ): 'video_head' | 'sentence_head' | null {
    const strip = (m: Map<string, Tensor>) => new Map([...m].map(([k, v]) => [k.replaceAll('module.', ''), v]));
    this.clip.loadStateDict(strip(modelStateDict));
    if (!fusionModelStateDict) return null;
    const fusion = strip(fusionModelStateDict);
    const isSentenceHead = [...fusion.keys()].some((k) => k.startsWith('query_fc.') || k.startsWith('sentence_fc.'));
    if (isSentenceHead) {
      this.requireSentenceHead().loadStateDict(fusion);
      return 'sentence_head';
    }
    this.video_head.loadStateDict(fusion);
    return 'video_head';
  }
}
