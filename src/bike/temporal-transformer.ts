/**
 * The temporal transformer of the "Transf" video head (modules/video_clip.py: TemporalTransformer,
 * ResidualAttentionBlock and its TF-style LayerNorm). Parameter names match the original state dict
 * (`resblocks.0.attn.in_proj_weight`, `resblocks.0.ln_1.weight`, `resblocks.0.mlp.c_fc.weight`, ...).
 */
import { Tensor, ones, zeros, noGrad, nn, F } from '../torch/index.ts';

/**
 * LayerNorm "in the TF style" as the original head defines it: mean and biased variance over the
 * last dim, epsilon inside the square root (1e-12 by default), then scale and shift. Written out
 * op by op as the original is, rather than libtorch's fused layer_norm, so the numbers agree.
 */
export class TfLayerNorm extends nn.Module {
  weight: Tensor;
  bias: Tensor;
  constructor(
    readonly hiddenSize: number,
    readonly eps = 1e-12,
  ) {
    super();
    this.weight = this.registerParameter('weight', ones([hiddenSize]));
    this.bias = this.registerParameter('bias', zeros([hiddenSize]));
  }
  forward(x: Tensor): Tensor {
    const mean = x.mean(-1, true);
    const centred = x.sub(mean);
    const variance = centred.pow(2).mean(-1, true);
    return this.weight.mul(centred.div(variance.add(this.eps).sqrt())).add(this.bias);
  }
}

/** CLIP's `x * sigmoid(1.702 x)`. */
export class QuickGELU extends nn.Module {
  forward(x: Tensor): Tensor {
    return F.quickGelu(x);
  }
}

export class ReLU extends nn.Module {
  forward(x: Tensor): Tensor {
    return x.relu();
  }
}

/** Pre-norm block: `x + attn(ln_1(x))`, then `x + mlp(ln_2(x))`; sequence-first `[L, N, D]`. */
export class ResidualAttentionBlock extends nn.Module {
  attn: nn.MultiheadAttention;
  ln_1: TfLayerNorm;
  mlp: nn.NamedSequential;
  ln_2: TfLayerNorm;
  constructor(
    readonly width: number,
    readonly heads: number,
  ) {
    super();
    this.attn = this.registerModule('attn', new nn.MultiheadAttention(width, heads));
    this.ln_1 = this.registerModule('ln_1', new TfLayerNorm(width));
    this.mlp = this.registerModule(
      'mlp',
      new nn.NamedSequential([
        ['c_fc', new nn.Linear(width, width * 4)],
        ['gelu', new QuickGELU()],
        ['c_proj', new nn.Linear(width * 4, width)],
      ]),
    );
    this.ln_2 = this.registerModule('ln_2', new TfLayerNorm(width));
  }
  forward(x: Tensor): Tensor {
    const normed = this.ln_1.forward(x);
    x = x.add(this.attn.forward(normed, normed, normed));
    return x.add(this.mlp.forward(this.ln_2.forward(x)));
  }
}

export class TemporalTransformer extends nn.Module {
  resblocks: nn.Sequential;
  constructor(
    readonly width: number,
    readonly layers: number,
    readonly heads: number,
  ) {
    super();
    if (!Number.isInteger(layers) || layers < 1)
      throw new Error(`TemporalTransformer: layers must be a positive integer, got ${layers}`);
    if (!Number.isInteger(heads) || heads < 1 || width % heads !== 0) {
      throw new Error(
        `TemporalTransformer: heads must be a positive integer dividing the width ${width}, got ${heads}`,
      );
    }
    this.resblocks = this.registerModule(
      'resblocks',
      new nn.Sequential(Array.from({ length: layers }, () => new ResidualAttentionBlock(width, heads))),
    );
  }
  /** `[L, N, D]` in, `[L, N, D]` out. */
  forward(x: Tensor): Tensor {
    return this.resblocks.forward(x);
  }
}

/**
 * The original head's `init_weights`: Linear and Embedding weights ~ N(0, 0.02), Linear biases 0,
 * LayerNorm weights 1 and biases 0. The attention's packed in-projection is not a Linear there and
 * keeps PyTorch's default (Xavier uniform weight, zero bias); its out-projection is a Linear.
 */
export function initialiseHeadWeights(module: nn.Module): void {
  noGrad(() => {
    for (const [, m] of module.namedModules()) {
      if (m instanceof nn.Linear || m instanceof nn.Embedding) {
        const drawn = nn.init.normal(m.weight.shape, 0.02);
        m.weight.copy_(drawn);
        drawn.dispose();
        if (m instanceof nn.Linear && m.bias) m.bias.zero_();
      } else if (m instanceof TfLayerNorm) {
        m.weight.fill_(1);
        m.bias.zero_();
      }
    }
  });
}
