/** BIKE's heads, interactions, losses and model (layer 4 of DESIGN.md). */
export {
  BikeModel,
  type BikeModelOptions,
  type ClipEncoder,
  type TextFeatures,
  type TrainingStep,
} from './bike-model.ts';
export {
  VideoHead,
  SIM_HEADERS,
  ORIGINAL_TEMPORAL_LAYERS,
  originalTemporalHeads,
  type SimHeader,
  type VideoHeadOptions,
} from './video-head.ts';
export {
  TemporalTransformer,
  ResidualAttentionBlock,
  TfLayerNorm,
  QuickGELU,
  ReLU,
  initialiseHeadWeights,
} from './temporal-transformer.ts';
export {
  INTERACTIONS,
  CONCEPT_SPOTTING_TEMPERATURE,
  conceptSpottingLogits,
  conceptSpottingFrameWeights,
  dotProductLogits,
  unitNormalise,
  type Interaction,
} from './interactions.ts';
export { SentenceHead } from './sentence-head.ts';
export {
  LOSS_TYPES,
  GROUND_TRUTH_SHARPNESS,
  DUAL_SOFTMAX_TEMPERATURE,
  groundTruthMatrix,
  nceLoss,
  dualSoftmaxLoss,
  lossFunction,
  symmetricLoss,
  type LossType,
} from './losses.ts';
export {
  applyFreezing,
  optimizerParamGroups,
  optimizerRecipe,
  type FreezeOptions,
  type ParamGroup,
  type ParamGroupOptions,
  type OptimizerKind,
  type OptimizerRecipe,
} from './param-groups.ts';
export { aggregateViews, validationScores, fuseScores, DEFAULT_VIDEO_BRANCH_WEIGHT } from './scores.ts';
export {
  attributeSentence,
  attributeSentenceTokens,
  ATTRIBUTE_SENTENCE_PREFIX,
  DEFAULT_TOPK_ATTRIBUTES,
} from './attribute-sentence.ts';
