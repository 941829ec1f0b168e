/** `nn.MultiheadAttention` with PyTorch's parameter names and sequence-first layout `[L, N, E]`. */
import { Tensor, empty, zeros } from '../tensor.ts';
import * as F from '../functional.ts';
import { Module } from './module.ts';
import { Linear } from './layers.ts';
import { initializationSkipped, xavierUniform } from './init.ts';
import { isGradEnabled, noGrad } from '../autograd.ts';
import { aten, hasOp, isRecordingOps } from '../ops.ts';

const haveNativeMha = hasOp('_native_multi_head_attention');
const nativeMha = aten('_native_multi_head_attention');

export class MultiheadAttention extends Module {
  in_proj_weight: Tensor;
  in_proj_bias: Tensor;
  out_proj: Linear;
  readonly headDim: number;

  constructor(
    readonly embedDim: number,
    readonly numHeads: number,
    readonly dropout = 0,
  ) {
    super();
    if (embedDim % numHeads !== 0)
      throw new Error(`MultiheadAttention: embed_dim ${embedDim} is not divisible by num_heads ${numHeads}`);
    this.headDim = embedDim / numHeads;
    // PyTorch's order: parameters registered first, out_proj built (drawing its default init), then
    // `_reset_parameters` fills in_proj_weight; so a seeded init draws the same numbers.
    this.in_proj_weight = this.registerParameter('in_proj_weight', empty([3 * embedDim, embedDim]));
    this.in_proj_bias = this.registerParameter('in_proj_bias', zeros([3 * embedDim]));
    this.out_proj = this.registerModule('out_proj', new Linear(embedDim, embedDim));
    noGrad(() => {
      this.out_proj.bias!.zero_();
      if (initializationSkipped()) return; // a state-dict load replaces the weights (nothing to copy)
      const init = xavierUniform([3 * embedDim, embedDim]);
      this.in_proj_weight.copy_(init);
      init.dispose();
    });
  }

  /**
   * Self- or cross-attention. `mask` is additive (float, `[L, S]` or `[N*heads, L, S]`) or boolean
   * (true = masked out, as PyTorch's `attn_mask`).
   */
  forward(query: Tensor, key: Tensor = query, value: Tensor = key, mask?: Tensor | null): Tensor {
    if (this.canFuse(query, key, value, mask)) return this.fused(query);
    const [L, N, E] = query.shape as [number, number, number];
    const H = this.numHeads;
    let q: Tensor, k: Tensor, v: Tensor;
    if (query === key && key === value) {
      [q, k, v] = F.linear(query, this.in_proj_weight, this.in_proj_bias).chunk(3, -1) as [Tensor, Tensor, Tensor];
    } else if (key === value) {
      // Queries from elsewhere, keys and values from one tensor: one product for both, as PyTorch's
      // `_in_projection_packed`.
      const [wq, wkv] = this.in_proj_weight.split([E, 2 * E]) as [Tensor, Tensor];
      const [bq, bkv] = this.in_proj_bias.split([E, 2 * E]) as [Tensor, Tensor];
      q = F.linear(query, wq, bq);
      [k, v] = F.linear(key, wkv, bkv).chunk(2, -1) as [Tensor, Tensor];
    } else {
      const [wq, wk, wv] = this.in_proj_weight.chunk(3) as [Tensor, Tensor, Tensor];
      const [bq, bk, bv] = this.in_proj_bias.chunk(3) as [Tensor, Tensor, Tensor];
      q = F.linear(query, wq, bq);
      k = F.linear(key, wk, bk);
      v = F.linear(value, wv, bv);
    }
    const S = k.size(0);
    // [L, N, E] -> [N*H, L, d], as PyTorch's multi_head_attention_forward.
    const heads = (t: Tensor, len: number) =>
      t
        .contiguous()
        .view(len, N * H, this.headDim)
        .transpose(0, 1);
    let attnMask = mask ?? null;
    if (attnMask && attnMask.dtype === 'bool') attnMask = attnMask.logicalNot();
    const out = F.scaledDotProductAttention(heads(q, L), heads(k, S), heads(v, S), {
      mask: attnMask,
      dropout: this.dropout,
      training: this.training,
    });
    return this.out_proj.forward(out.transpose(0, 1).contiguous().view(L, N, E));
  }

  /**
   * libtorch's fused attention (`_native_multi_head_attention`, what PyTorch's fast path calls) for
   * unmasked self-attention in eval mode with nothing to differentiate (inference): it writes q, k
   * and v straight into the head layout instead of three contiguous copies, and gives the same
   * values as the composition above (same products, bias, scaling and softmax, though not always
   * to the last bit). libtorch has no gradient for it, and it wants the input and weights in one
   * dtype, so everything else takes the composed path.
   */
  private canFuse(query: Tensor, key: Tensor, value: Tensor, mask: Tensor | null | undefined): boolean {
    // While ops are recorded (ONNX export) the composed path runs: the fused kernel has no ONNX mapping.
    if (!haveNativeMha || isRecordingOps() || query !== key || key !== value || mask || query.ndim !== 3) return false;
    // Eval mode only, as PyTorch's fast path: a training-mode forward without grad (a checkpointed
    // block's first pass) must compute exactly what its recomputation with grad will.
    if (this.training) return false;
    const weights = [this.in_proj_weight, this.in_proj_bias, this.out_proj.weight, this.out_proj.bias];
    if (weights.some((w) => !w || w.dtype !== query.dtype || w.device !== query.device)) return false;
    return !isGradEnabled() || ![query, ...weights].some((t) => t!.requiresGrad);
  }

  private fused(query: Tensor): Tensor {
    // The op is batch-first: [L, N, E] -> [N, L, E] (for CLIP's layout a free transpose).
    const batchFirst = query.transpose(0, 1).contiguous();
    const [out, weights] = nativeMha(
      batchFirst.handle,
      batchFirst.handle,
      batchFirst.handle,
      this.embedDim,
      this.numHeads,
      this.in_proj_weight.handle,
      this.in_proj_bias.handle,
      this.out_proj.weight.handle,
      this.out_proj.bias!.handle,
      null,
      false,
    ) as unknown[];
    if (weights) new Tensor(weights as never).dispose();
    return new Tensor(out as never).transpose(0, 1);
  }
}
