/** CLIP (layer 3 of DESIGN.md): encoders, architectures, weight loading, tokenizer. */
export * from './config.ts';
export { CLIP, createClip, stochasticDepthRates, type ClipOptions, type TextFeatures } from './model.ts';
export { VisionTransformer } from './vision-transformer.ts';
export { ModifiedResNet, AttentionPool2d, Bottleneck } from './modified-resnet.ts';
export { LayerNorm, QuickGELU, DropPath, dropPath, ResidualAttentionBlock, Transformer } from './layers.ts';
export { checkpoint, checkpointFunction } from './checkpoint.ts';
export * from './load.ts';
export { huggingFaceToOpenAI, isHuggingFaceClipStateDict, readHuggingFaceClipConfig } from './hf-mapping.ts';
export { ClipTokenizer } from './tokenizer.ts';
