/**
 * The transformer pieces of CLIP as BIKE's modified `clip/model.py` defines them: fp32 LayerNorm,
 * QuickGELU, DropPath (stochastic depth), the residual attention block and the block stack with
 * optional gradient checkpointing. Parameter names match the original state dicts.
 */
import { Tensor, rand, nn, F, tidy } from '../torch/index.ts';
import { checkpointFunction } from './checkpoint.ts';

/** `nn.LayerNorm` that computes half-precision inputs in float32 (the original's fp16 guard). */
export class LayerNorm extends nn.LayerNorm {
  override forward(x: Tensor): Tensor {
    const type = x.dtype === 'float16' || x.dtype === 'bfloat16' ? 'float32' : x.dtype;
    return F.layerNorm(x.to(type), [this.normalizedShape], this.weight.to(type), this.bias.to(type), this.eps).to(
      x.dtype,
    );
  }
}

export class QuickGELU extends nn.Module {
  forward(x: Tensor): Tensor {
    return F.quickGelu(x);
  }
}

/**
 * Stochastic depth per sample: in training, zeroes a sample's residual branch with probability
 * `dropProb` and scales survivors by 1/(1-p), drawing `rand` exactly as the original `drop_path`.
 */
export function dropPath(x: Tensor, dropProb: number, training: boolean): Tensor {
  if (dropProb === 0 || !training) return x;
  const keepProb = 1 - dropProb;
  const shape = [x.size(0), ...new Array<number>(x.ndim - 1).fill(1)];
  const randomTensor = rand(shape, { dtype: x.dtype, device: x.device }).add(keepProb).floor();
  return x.div(keepProb).mul(randomTensor);
}

export class DropPath extends nn.Module {
  constructor(readonly dropProb: number) {
    super();
  }
  forward(x: Tensor): Tensor {
    return dropPath(x, this.dropProb, this.training);
  }
}

export class ResidualAttentionBlock extends nn.Module {
  attn: nn.MultiheadAttention;
  ln_1: LayerNorm;
  drop_path: nn.Layer;
  mlp: nn.NamedSequential;
  ln_2: LayerNorm;
  private mask: Tensor | null;

  /**
   * `dropout` is BIKE's per-layer rate: it sets both the attention-weight dropout and the
   * stochastic depth of the block, as the original passes it to both.
   */
  constructor(
    readonly dModel: number,
    readonly nHead: number,
    attnMask: Tensor | null = null,
    readonly dropout = 0,
  ) {
    super();
    this.attn = this.registerModule('attn', new nn.MultiheadAttention(dModel, nHead, dropout));
    this.ln_1 = this.registerModule('ln_1', new LayerNorm(dModel));
    this.drop_path = this.registerModule('drop_path', dropout > 0 ? new DropPath(dropout) : new nn.Identity());
    this.mlp = this.registerModule(
      'mlp',
      new nn.NamedSequential([
        ['c_fc', new nn.Linear(dModel, dModel * 4)],
        ['gelu', new QuickGELU()],
        ['c_proj', new nn.Linear(dModel * 4, dModel)],
      ]),
    );
    this.ln_2 = this.registerModule('ln_2', new LayerNorm(dModel));
    // A plain attribute in the original (not in the state dict); follows the input's dtype/device.
    this.mask = attnMask;
  }

  get attnMask(): Tensor | null {
    return this.mask;
  }

  /** The attention mask in the input's dtype and device (converted once and kept, as the original). */
  maskFor(x: Tensor): Tensor | null {
    const mask = this.mask;
    if (mask && (mask.dtype !== x.dtype || mask.device !== x.device))
      this.mask = mask.to({ dtype: x.dtype, device: x.device }).keep();
    return this.mask;
  }

  attention(x: Tensor): Tensor {
    return this.attn.forward(x, x, x, this.maskFor(x));
  }

  /** `x`: `[L, N, D]` (sequence first). */
  forward(x: Tensor): Tensor {
    x = x.add(this.drop_path.forward(this.attention(this.ln_1.forward(x))));
    return x.add(this.drop_path.forward(this.mlp.forward(this.ln_2.forward(x))));
  }

  /**
   * Rows `[0, n)` of `forward(x)`: those positions attend to every position, but the attention
   * output, the residuals and the MLP are computed for them alone.
   */
  forwardFirst(x: Tensor, n: number): Tensor {
    const normed = this.ln_1.forward(x);
    const mask = this.maskFor(x);
    const queryMask = mask ? mask.slice(mask.ndim - 2, 0, n) : null;
    const attended = this.attn.forward(normed.slice(0, 0, n), normed, normed, queryMask);
    const first = x.slice(0, 0, n).add(this.drop_path.forward(attended));
    return first.add(this.drop_path.forward(this.mlp.forward(this.ln_2.forward(first))));
  }

  /**
   * Whether `forwardFirst` draws the same random numbers as `forward` (stochastic depth and
   * attention dropout draw one number per position, so only when neither is active).
   */
  get canComputeFirstRowsAlone(): boolean {
    return !this.training || this.dropout === 0;
  }
}

/** A stack of residual attention blocks over `[L, N, D]`. */
export class Transformer extends nn.Module {
  resblocks: nn.Sequential;
  /**
   * Recompute each block in backward instead of keeping its activations (memory for compute; the
   * same values and gradients). The original turns this on for every CLIP transformer.
   */
  gradCheckpointing = false;

  constructor(
    readonly width: number,
    readonly layers: number,
    readonly heads: number,
    attnMask: Tensor | null = null,
    dropout: readonly number[] | null = null,
  ) {
    super();
    const rates = dropout ?? new Array<number>(layers).fill(0);
    if (rates.length < layers)
      throw new Error(`Transformer: ${layers} layers need ${layers} drop rates, got ${rates.length}`);
    const blocks: ResidualAttentionBlock[] = [];
    for (let i = 0; i < layers; i++) blocks.push(new ResidualAttentionBlock(width, heads, attnMask, rates[i]));
    this.resblocks = this.registerModule('resblocks', new nn.Sequential(blocks));
  }

  get blocks(): ResidualAttentionBlock[] {
    return this.resblocks.items as ResidualAttentionBlock[];
  }

  /**
   * Each block runs in its own scope, so its intermediates are freed as soon as it returns (the graph
   * keeps what backward needs) and the next block reuses their memory, as PyTorch's reference counting
   * does; holding a whole forward pass's activations until the caller's scope closes made every
   * allocation fresh memory (page faults) and the batch-64 forward about a third slower.
   * `outputRows`: return rows `[0, outputRows)` of the output only.
   */
  forward(x: Tensor, options: { outputRows?: number } = {}): Tensor {
    const blocks = this.blocks;
    const rows = options.outputRows;
    if (rows !== undefined && !(Number.isInteger(rows) && rows > 0))
      throw new Error(`Transformer: outputRows must be a positive integer, got ${String(rows)}`);
    for (const [i, block] of blocks.entries()) {
      const input = x;
      // When the caller reads only the first rows (CLIP's image encoder: the class token), the last
      // block computes only those: the same numbers, for most of that block's work saved.
      const firstRowsOnly =
        i === blocks.length - 1 && rows !== undefined && rows < input.size(0) && block.canComputeFirstRowsAlone;
      const run = firstRowsOnly ? (t: Tensor) => block.forwardFirst(t, rows) : (t: Tensor) => block.forward(t);
      x = tidy(() => (this.gradCheckpointing ? checkpointFunction(run, [input], block.parameters()) : run(input)));
    }
    return rows !== undefined && rows < x.size(0) ? x.slice(0, 0, rows) : x;
  }
}
