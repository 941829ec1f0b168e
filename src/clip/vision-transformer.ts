/**
 * CLIP's ViT image encoder as BIKE modifies it (`VisualTransformer` there): patch embedding by a
 * strided convolution, a class token, positional embeddings, optional joint space-time attention
 * (time embeddings, one class token per video), optional embedding dropout, pre/post LayerNorm and
 * the projection of the class token.
 */
import { Tensor, cat, randn, zeros, nn } from '../torch/index.ts';
import { LayerNorm, Transformer } from './layers.ts';

export interface VisionTransformerOptions {
  inputResolution: number;
  patchSize: number;
  width: number;
  layers: number;
  heads: number;
  outputDim: number;
  /** Per-layer stochastic depth rates (BIKE's `dropout`), or null for none. */
  dropout?: readonly number[] | null;
  /** Joint space-time attention over all frames of a video (BIKE's `joint_st`). */
  joint?: boolean;
  embDropout?: number;
  /** Frames per video (`num_segments`), for the time embeddings of joint attention. */
  T?: number;
}

export class VisionTransformer extends nn.Module {
  readonly inputResolution: number;
  readonly outputDim: number;
  readonly joint: boolean;
  readonly embDropout: number;
  readonly T: number;
  conv1: nn.Conv2d;
  class_embedding: Tensor;
  positional_embedding: Tensor;
  dropout: nn.Dropout;
  ln_pre: LayerNorm;
  time_embedding: Tensor | null = null;
  transformer: Transformer;
  ln_post: LayerNorm;
  proj: Tensor;

  constructor(o: VisionTransformerOptions) {
    super();
    this.inputResolution = o.inputResolution;
    this.outputDim = o.outputDim;
    this.joint = o.joint ?? false;
    this.embDropout = o.embDropout ?? 0;
    this.T = o.T ?? 8;
    // Creation order follows the original so a seeded init draws in the same sequence.
    this.conv1 = this.registerModule(
      'conv1',
      new nn.Conv2d(3, o.width, o.patchSize, { stride: o.patchSize, bias: false }),
    );
    const scale = o.width ** -0.5;
    const grid = Math.floor(o.inputResolution / o.patchSize);
    this.class_embedding = this.registerParameter('class_embedding', randn([o.width]).mul(scale));
    this.positional_embedding = this.registerParameter(
      'positional_embedding',
      randn([grid * grid + 1, o.width]).mul(scale),
    );
    this.dropout = this.registerModule('dropout', new nn.Dropout(this.embDropout));
    this.ln_pre = this.registerModule('ln_pre', new LayerNorm(o.width));
    if (this.joint) this.time_embedding = this.registerParameter('time_embedding', randn([this.T, o.width]).mul(scale));
    this.transformer = this.registerModule(
      'transformer',
      new Transformer(o.width, o.layers, o.heads, null, o.dropout ?? null),
    );
    this.ln_post = this.registerModule('ln_post', new LayerNorm(o.width));
    this.proj = this.registerParameter('proj', randn([o.width, o.outputDim]).mul(scale));
  }

  /** `x`: `[N, 3, R, R]` frames -> `[N, output_dim]` (with joint attention: `[N / T, output_dim]`). */
  forward(x: Tensor): Tensor {
    if (x.ndim !== 4 || x.size(1) !== 3 || x.size(2) !== this.inputResolution || x.size(3) !== this.inputResolution) {
      throw new Error(
        `VisionTransformer: expected frames [N, 3, ${this.inputResolution}, ${this.inputResolution}], got [${x.shape}]`,
      );
    }
    x = this.conv1.forward(x); // [N, width, grid, grid]
    x = x.reshape(x.size(0), x.size(1), -1).permute(0, 2, 1); // [N, grid^2, width]
    const classTokens = this.class_embedding
      .to(x.dtype)
      .add(zeros([x.size(0), 1, x.size(-1)], { dtype: x.dtype, device: x.device }));
    x = cat([classTokens, x], 1); // [N, grid^2 + 1, width]
    x = x.add(this.positional_embedding.to(x.dtype));
    if (this.joint) x = this.addTimeEmbedding(x);
    if (this.embDropout > 0) x = this.dropout.forward(x);
    x = this.ln_pre.forward(x);
    x = x.permute(1, 0, 2); // NLD -> LND
    x = this.transformer.forward(x, { outputRows: 1 }); // only the class token is read
    x = this.ln_post.forward(x.select(0, 0));
    return x.matmul(this.proj);
  }

  /**
   * Joint space-time tokens: each patch gets its frame's time embedding and a video's frames form
   * one sequence `[B, 1 + n*T, width]` behind a single class token, as the original rearranges
   * `(b t) n c -> (b n) t c -> b (n t) c`.
   */
  private addTimeEmbedding(x: Tensor): Tensor {
    const [N, L, C] = x.shape as [number, number, number];
    if (N % this.T !== 0)
      throw new Error(
        `VisionTransformer (joint space-time): ${N} frames are not a whole number of videos of T=${this.T} frames`,
      );
    const B = N / this.T;
    const n = L - 1;
    const clsTokens = x.slice(0, 0, B).select(1, 0).unsqueeze(1); // the original takes the first B rows
    let patches = x.slice(1, 1); // [(b t), n, c]
    patches = patches
      .reshape(B, this.T, n, C)
      .permute(0, 2, 1, 3)
      .reshape(B * n, this.T, C);
    patches = patches.add(this.time_embedding!.to(x.dtype));
    patches = patches.reshape(B, n * this.T, C);
    return cat([clsTokens, patches], 1);
  }
}
