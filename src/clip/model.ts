/**
 * The CLIP model as BIKE's modified `clip/model.py`: an image encoder (ViT or modified ResNet), a
 * causal text transformer with per-token projected features (for Video Concept Spotting), the
 * learned logit scale, OpenAI's random initialisation, and BIKE's training options (stochastic
 * depth, embedding dropout, joint space-time attention, gradient checkpointing).
 */
import { Tensor, arange, full, linspace, noGrad, ones, empty, nn, type DType } from '../torch/index.ts';
import {
  type ClipArchitectureName,
  type ClipConfig,
  clipArchitecture,
  isResNetConfig,
  parseClipConfig,
  visionHeads,
} from './config.ts';
import { LayerNorm, Transformer } from './layers.ts';
import { ModifiedResNet } from './modified-resnet.ts';
import { VisionTransformer } from './vision-transformer.ts';

/** BIKE's options of `clip.load` (the `network` section of its configs). */
export interface ClipOptions {
  /** `network.drop_out`: the largest stochastic-depth rate, reached linearly at the last layer. */
  dropout?: number;
  /** `network.emb_dropout`: dropout on the token embeddings (image and text). */
  embDropout?: number;
  /** `network.joint_st`: joint space-time attention in the ViT, with time embeddings. */
  joint?: boolean;
  /** Frames per video (`data.num_segments`), for the time embeddings. */
  T?: number;
  /** Recompute transformer blocks in backward instead of storing activations. */
  gradCheckpointing?: boolean;
}

/** `encodeText` results: the EOT feature and every token's projected feature. */
export interface TextFeatures {
  /** `[n, embed_dim]`: the feature at the end-of-text token (the argmax of the token ids). */
  cls: Tensor;
  /** `[n, context_length, embed_dim]`: `ln_final(x) @ text_projection` for every position. */
  tokens: Tensor;
}

/** BIKE's stochastic depth decay rule: `torch.linspace(0, drop_out, vision_layers)`, as float32 values. */
export function stochasticDepthRates(dropout: number, layers: number): number[] {
  return noGrad(() => {
    const t = linspace(0, dropout, layers);
    const values = t.toArray();
    t.dispose();
    return values;
  });
}

export class CLIP extends nn.Module {
  readonly config: ClipConfig;
  readonly options: Required<ClipOptions>;
  readonly contextLength: number;
  readonly vocabSize: number;
  visual: VisionTransformer | ModifiedResNet;
  transformer: Transformer;
  token_embedding: nn.Embedding;
  positional_embedding: Tensor;
  ln_final: LayerNorm;
  dropout: nn.Dropout;
  text_projection: Tensor;
  logit_scale: Tensor;
  /** The causal mask `[context_length, context_length]` (-inf above the diagonal); not a state-dict entry. */
  readonly attnMask: Tensor;

  constructor(config: ClipConfig, options: ClipOptions = {}) {
    super();
    this.config = parseClipConfig(config, 'CLIP config');
    const c = this.config;
    this.options = {
      dropout: options.dropout ?? 0,
      embDropout: options.embDropout ?? 0,
      joint: options.joint ?? false,
      T: options.T ?? 8,
      gradCheckpointing: options.gradCheckpointing ?? false,
    };
    const o = this.options;
    this.contextLength = c.context_length;
    this.vocabSize = c.vocab_size;
    let dpr: number[] | null = null;
    if (o.dropout > 0) {
      // The original builds the rates from vision_layers and gives the same list to the text encoder.
      if (isResNetConfig(c))
        throw new Error(
          `CLIP: drop_out ${o.dropout} (stochastic depth) needs a ViT image encoder; the original fails for ResNet '${JSON.stringify(c.vision_layers)}'`,
        );
      if (c.transformer_layers > (c.vision_layers as number))
        throw new Error(
          `CLIP: drop_out needs transformer_layers (${c.transformer_layers}) <= vision_layers (${c.vision_layers}): the original indexes the vision rates for the text layers`,
        );
      dpr = stochasticDepthRates(o.dropout, c.vision_layers as number);
    }
    if (o.joint && isResNetConfig(c))
      throw new Error('CLIP: joint_st (joint space-time attention) needs a ViT image encoder');

    if (isResNetConfig(c)) {
      this.visual = new ModifiedResNet({
        layers: c.vision_layers,
        outputDim: c.embed_dim,
        heads: visionHeads(c),
        inputResolution: c.image_resolution,
        width: c.vision_width,
      });
    } else {
      this.visual = new VisionTransformer({
        inputResolution: c.image_resolution,
        patchSize: c.vision_patch_size!,
        width: c.vision_width,
        layers: c.vision_layers as number,
        heads: visionHeads(c),
        outputDim: c.embed_dim,
        joint: o.joint,
        dropout: dpr,
        embDropout: o.embDropout,
        T: o.T,
      });
    }
    this.registerModule('visual', this.visual);
    this.attnMask = this.buildAttentionMask();
    this.transformer = this.registerModule(
      'transformer',
      new Transformer(c.transformer_width, c.transformer_layers, c.transformer_heads, this.attnMask, dpr),
    );
    this.token_embedding = this.registerModule('token_embedding', new nn.Embedding(c.vocab_size, c.transformer_width));
    this.positional_embedding = this.registerParameter(
      'positional_embedding',
      empty([c.context_length, c.transformer_width]),
    );
    this.ln_final = this.registerModule('ln_final', new LayerNorm(c.transformer_width));
    this.dropout = this.registerModule('dropout', new nn.Dropout(o.embDropout));
    this.text_projection = this.registerParameter('text_projection', empty([c.transformer_width, c.embed_dim]));
    this.logit_scale = this.registerParameter('logit_scale', ones([]).mul(Math.log(1 / 0.07)));
    this.initializeParameters();
    this.setGradCheckpointing(o.gradCheckpointing);
  }

  /** OpenAI's `initialize_parameters`: normal draws with CLIP's standard deviations. */
  initializeParameters(): void {
    if (nn.init.initializationSkipped()) return; // the weights a load brings replace these draws
    noGrad(() => {
      const normal = (t: Tensor, std: number) => nn.init.normal(t.shape, std).to(t.dtype);
      const set = (t: Tensor, std: number) => {
        const value = normal(t, std);
        t.copy_(value);
        value.dispose();
      };
      set(this.token_embedding.weight, 0.02);
      set(this.positional_embedding, 0.01);
      if (this.visual instanceof ModifiedResNet) {
        const pool = this.visual.attnpool;
        const std = pool.c_proj.inFeatures ** -0.5;
        for (const proj of [pool.q_proj, pool.k_proj, pool.v_proj, pool.c_proj]) set(proj.weight, std);
        for (const stage of this.visual.stages) {
          for (const [name, param] of stage.namedParameters()) if (name.endsWith('bn3.weight')) param.zero_();
        }
      }
      const width = this.transformer.width;
      const projStd = width ** -0.5 * (2 * this.transformer.layers) ** -0.5;
      const attnStd = width ** -0.5;
      const fcStd = (2 * width) ** -0.5;
      for (const block of this.transformer.blocks) {
        set(block.attn.in_proj_weight, attnStd);
        set(block.attn.out_proj.weight, projStd);
        set((block.mlp.layers[0] as nn.Linear).weight, fcStd);
        set((block.mlp.layers[2] as nn.Linear).weight, projStd);
      }
      set(this.text_projection, width ** -0.5);
    });
  }

  /** The additive causal mask: -inf above the diagonal, 0 elsewhere. */
  buildAttentionMask(): Tensor {
    return noGrad(() => full([this.contextLength, this.contextLength], -Infinity).triu(1)).keep();
  }

  /** Turns recomputation in backward on or off for both transformers. */
  setGradCheckpointing(enabled: boolean): void {
    this.options.gradCheckpointing = enabled;
    this.transformer.gradCheckpointing = enabled;
    if (this.visual instanceof VisionTransformer) this.visual.transformer.gradCheckpointing = enabled;
  }

  /** The type of the weights (inputs are cast to it, as the original's `self.dtype`). */
  get dtype(): DType {
    return this.visual.conv1.weight.dtype;
  }

  /** `images`: `[N, 3, R, R]` normalised frames -> `[N, embed_dim]` (joint attention: one row per video). */
  encodeImage(images: Tensor): Tensor {
    return this.visual.forward(images.to(this.dtype));
  }

  /** `text`: int64 token ids `[n, context_length]` -> the EOT features and every token's features. */
  encodeText(text: Tensor): TextFeatures {
    if (text.ndim !== 2 || text.size(1) !== this.contextLength) {
      throw new Error(`CLIP.encodeText: expected token ids [n, ${this.contextLength}], got [${text.shape}]`);
    }
    if (text.dtype !== 'int64' && text.dtype !== 'int32')
      throw new Error(`CLIP.encodeText: token ids must be int64, got ${text.dtype}`);
    let x = this.token_embedding.forward(text).to(this.dtype); // [n, L, width]
    x = x.add(this.positional_embedding.to(this.dtype));
    if (this.options.embDropout > 0) x = this.dropout.forward(x);
    x = x.permute(1, 0, 2); // NLD -> LND
    x = this.transformer.forward(x);
    x = x.permute(1, 0, 2); // LND -> NLD
    x = this.ln_final.forward(x).to(this.dtype);
    const tokens = x.matmul(this.text_projection);
    // The EOT token has the largest id in each sequence.
    const eot = text.argmax(-1);
    const rows = arange(0, x.size(0), 1, { device: x.device });
    const cls = x.index([rows, eot]).matmul(this.text_projection);
    return { cls, tokens };
  }

  /** Image features, text EOT and token features, and `exp(logit_scale)`, as the original `forward`. */
  forward(image: Tensor, text: Tensor): { image: Tensor; cls: Tensor; tokens: Tensor; logitScale: Tensor } {
    const imageFeatures = this.encodeImage(image);
    const { cls, tokens } = this.encodeText(text);
    return { image: imageFeatures, cls, tokens, logitScale: this.logit_scale.exp() };
  }
}

/**
 * A randomly initialised CLIP (OpenAI's initialisation, seeded by `manualSeed`) of a released
 * architecture by name, or of any size from a hyper-parameter mapping.
 */
export function createClip(architecture: ClipArchitectureName | ClipConfig, options: ClipOptions = {}): CLIP {
  return noGrad(
    () => new CLIP(typeof architecture === 'string' ? clipArchitecture(architecture) : architecture, options),
  );
}
