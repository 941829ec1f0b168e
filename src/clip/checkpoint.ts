/**
 * Gradient checkpointing of a residual attention block (the original wraps every CLIP transformer
 * block in `torch.utils.checkpoint`): the forward keeps only the block's input; backward recomputes
 * the block's intermediates and applies the block's gradient formulas.
 *
 * Why hand-written gradients: libtorch's C++ API has no checkpoint helper, and this addon refuses
 * to start an autograd pass from inside a JS backward function (one engine pump at a time), so the
 * recomputed block cannot be differentiated by autograd there. Instead the backward composes
 * ATen's own backward kernels (`native_layer_norm_backward`, `_softmax_backward_data`) with the
 * matrix products of the linear layers, attention, QuickGELU and the dropout masks.
 *
 * The random-number state is saved before the forward and restored for the recomputation (and put
 * back after), so attention dropout and stochastic depth replay the same masks, and the rest of the
 * program sees the same random stream as without checkpointing. Attention is the explicit
 * composition (softmax of scaled scores plus the causal mask) in both passes, so masks agree on
 * every libtorch version. The recomputation runs under the autocast state of the backward call.
 *
 * One difference from the original's re-entrant checkpoint: there, a block whose input does not
 * require grad gives its parameters no gradients (PyTorch warns); here they get them.
 */
import {
  Tensor,
  aten,
  applyCustom,
  cat,
  isGradEnabled,
  native,
  noGrad,
  ones,
  rand,
  scalarTypeCode,
  tidy,
  F,
  nn,
} from '../torch/index.ts';
import type { ResidualAttentionBlock } from './layers.ts';

const nativeLayerNorm = aten('native_layer_norm');
const nativeLayerNormBackward = aten('native_layer_norm_backward');
const softmaxBackward = aten('_softmax_backward_data');
const baddbmm = aten('baddbmm');
const wrap = (h: unknown) => new Tensor(h as never);

interface LayerNormTape {
  input: Tensor;
  mean: Tensor;
  rstd: Tensor;
  weight: Tensor;
  bias: Tensor;
  outDtype: Tensor['dtype'];
}

/** LayerNorm as the model's `LayerNorm` (half inputs computed in float32), keeping what backward needs. */
function layerNormForward(ln: ResidualAttentionBlock['ln_1'], x: Tensor): { out: Tensor; tape: LayerNormTape } {
  const half = x.dtype === 'float16' || x.dtype === 'bfloat16';
  const computeType = half ? 'float32' : x.dtype;
  const input = x.to(computeType);
  const weight = ln.weight.to(computeType);
  const bias = ln.bias.to(computeType);
  const [out, mean, rstd] = (
    nativeLayerNorm(input.handle, [ln.normalizedShape], weight.handle, bias.handle, ln.eps) as unknown[]
  ).map(wrap) as [Tensor, Tensor, Tensor];
  return { out: out.to(x.dtype), tape: { input, mean, rstd, weight, bias, outDtype: x.dtype } };
}

function layerNormBackward(
  ln: ResidualAttentionBlock['ln_1'],
  tape: LayerNormTape,
  gradOut: Tensor,
): { dx: Tensor; dWeight: Tensor; dBias: Tensor } {
  const [dx, dWeight, dBias] = (
    nativeLayerNormBackward(
      gradOut.to(tape.input.dtype).handle,
      tape.input.handle,
      [ln.normalizedShape],
      tape.mean.handle,
      tape.rstd.handle,
      tape.weight.handle,
      tape.bias.handle,
      [true, true, true],
    ) as unknown[]
  ).map(wrap) as [Tensor, Tensor, Tensor];
  return { dx: dx.to(tape.outDtype), dWeight: dWeight.to(ln.weight.dtype), dBias: dBias.to(ln.bias.dtype) };
}

/** Gradients of `y = x W^T + b` for x of any rank. */
function linearBackward(x: Tensor, weight: Tensor, dy: Tensor): { dx: Tensor; dWeight: Tensor; dBias: Tensor } {
  const rows = dy.reshape(-1, dy.size(-1));
  return { dx: dy.matmul(weight), dWeight: rows.t().mm(x.reshape(-1, x.size(-1))), dBias: rows.sum(0) };
}

/** The per-position keep factor of stochastic depth (`floor(keep + rand)`), or null when inactive. */
function dropPathFactor(block: ResidualAttentionBlock, x: Tensor): Tensor | null {
  if (!block.training || block.dropout === 0) return null;
  const keep = 1 - block.dropout;
  return rand([x.size(0), ...new Array<number>(x.ndim - 1).fill(1)], { dtype: x.dtype, device: x.device })
    .add(keep)
    .floor();
}

interface BlockTape {
  x: Tensor;
  ln1: LayerNormTape;
  h1: Tensor;
  q: Tensor;
  k: Tensor;
  v: Tensor;
  probs: Tensor;
  dropMask: Tensor | null;
  dropped: Tensor;
  attended: Tensor;
  path1: Tensor | null;
  ln2: LayerNormTape;
  h2: Tensor;
  fc: Tensor;
  sig: Tensor;
  gelu: Tensor;
  path2: Tensor | null;
}

/** The block's forward as one explicit composition, in the random-draw order of `block.forward`. */
function blockForward(block: ResidualAttentionBlock, x: Tensor): { out: Tensor; tape: BlockTape } {
  const [L, N, D] = x.shape as [number, number, number];
  const H = block.attn.numHeads;
  const d = D / H;
  const ln1 = layerNormForward(block.ln_1, x);
  const h1 = ln1.out;
  const [q, k, v] = F.linear(h1, block.attn.in_proj_weight, block.attn.in_proj_bias)
    .chunk(3, -1)
    .map((t) =>
      t
        .contiguous()
        .view(L, N * H, d)
        .transpose(0, 1),
    ) as [Tensor, Tensor, Tensor];
  const scaled = q.mul(1 / Math.sqrt(d));
  const kT = k.transpose(-2, -1);
  const mask = block.maskFor(x);
  const scores = mask ? wrap(baddbmm(mask.handle, scaled.handle, kT.handle, 1, 1)) : scaled.matmul(kT);
  const probs = F.softmax(scores, -1);
  const p = block.attn.dropout;
  const dropMask =
    block.training && p > 0
      ? F.dropout(ones(probs.shape, { dtype: probs.dtype, device: probs.device }), p, true)
      : null;
  const dropped = dropMask ? probs.mul(dropMask) : probs;
  const attended = dropped.matmul(v).transpose(0, 1).contiguous().view(L, N, D);
  const attnOut = F.linear(attended, block.attn.out_proj.weight, block.attn.out_proj.bias);
  const keep = 1 - block.dropout;
  const path1 = dropPathFactor(block, attnOut);
  const x1 = x.add(path1 ? attnOut.div(keep).mul(path1) : attnOut);
  const ln2 = layerNormForward(block.ln_2, x1);
  const h2 = ln2.out;
  const [cFc, , cProj] = block.mlp.layers as [nn.Linear, unknown, nn.Linear];
  const fc = F.linear(h2, cFc.weight, cFc.bias);
  const sig = fc.mul(1.702).sigmoid();
  const gelu = fc.mul(sig);
  const mlpOut = F.linear(gelu, cProj.weight, cProj.bias);
  const path2 = dropPathFactor(block, mlpOut);
  const out = x1.add(path2 ? mlpOut.div(keep).mul(path2) : mlpOut);
  return {
    out,
    tape: {
      x,
      ln1: ln1.tape,
      h1,
      q: scaled,
      k,
      v,
      probs,
      dropMask,
      dropped,
      attended,
      path1,
      ln2: ln2.tape,
      h2,
      fc,
      sig,
      gelu,
      path2,
    },
  };
}

/** Gradients of the block's input and parameters (by parameter tensor) from the output gradient. */
function blockBackward(
  block: ResidualAttentionBlock,
  t: BlockTape,
  dOut: Tensor,
): { dx: Tensor; grads: Map<Tensor, Tensor> } {
  const [L, N, D] = t.x.shape as [number, number, number];
  const H = block.attn.numHeads;
  const d = D / H;
  const keep = 1 - block.dropout;
  const grads = new Map<Tensor, Tensor>();
  const [cFc, , cProj] = block.mlp.layers as [nn.Linear, unknown, nn.Linear];
  // MLP branch: out = x1 + dropPath(c_proj(quickGelu(c_fc(ln_2(x1)))))
  const dMlp = t.path2 ? dOut.mul(t.path2).div(keep) : dOut;
  const proj = linearBackward(t.gelu, cProj.weight, dMlp);
  grads.set(cProj.weight, proj.dWeight).set(cProj.bias!, proj.dBias);
  const dFc = proj.dx.mul(t.sig.add(t.fc.mul(1.702).mul(t.sig).mul(t.sig.rsub(1))));
  const fc = linearBackward(t.h2, cFc.weight, dFc);
  grads.set(cFc.weight, fc.dWeight).set(cFc.bias!, fc.dBias);
  const ln2 = layerNormBackward(block.ln_2, t.ln2, fc.dx);
  grads.set(block.ln_2.weight, ln2.dWeight).set(block.ln_2.bias, ln2.dBias);
  const dX1 = dOut.add(ln2.dx);
  // Attention branch: x1 = x + dropPath(out_proj(attention(ln_1(x))))
  const dAttn = t.path1 ? dX1.mul(t.path1).div(keep) : dX1;
  const outProj = linearBackward(t.attended, block.attn.out_proj.weight, dAttn);
  grads.set(block.attn.out_proj.weight, outProj.dWeight).set(block.attn.out_proj.bias!, outProj.dBias);
  const dAttended = outProj.dx.view(L, N * H, d).transpose(0, 1); // [N*H, L, d]
  const dDropped = dAttended.matmul(t.v.transpose(-2, -1));
  const dV = t.dropped.transpose(-2, -1).matmul(dAttended);
  const dProbs = t.dropMask ? dDropped.mul(t.dropMask) : dDropped;
  const dScores = wrap(softmaxBackward(dProbs.contiguous().handle, t.probs.handle, -1, scalarTypeCode(t.probs.dtype)));
  const dQ = dScores.matmul(t.k).mul(1 / Math.sqrt(d));
  const dK = dScores.transpose(-2, -1).matmul(t.q);
  const merge = (g: Tensor) => g.transpose(0, 1).contiguous().view(L, N, D);
  const dIn = cat([merge(dQ), merge(dK), merge(dV)], -1); // in_proj's output is [q | k | v]
  const inProj = linearBackward(t.h1, block.attn.in_proj_weight, dIn);
  grads.set(block.attn.in_proj_weight, inProj.dWeight).set(block.attn.in_proj_bias, inProj.dBias);
  const ln1 = layerNormBackward(block.ln_1, t.ln1, inProj.dx);
  grads.set(block.ln_1.weight, ln1.dWeight).set(block.ln_1.bias, ln1.dBias);
  return { dx: dX1.add(ln1.dx), grads };
}

function rngState(device: string | undefined): Tensor {
  return new Tensor(native.getRngState(device)).keep();
}

/** `block.forward(x)`, keeping only `x` (and the random state) for backward. */
export function checkpoint(block: ResidualAttentionBlock, x: Tensor): Tensor {
  const trainable = block.parameters().filter((p) => p.requiresGrad);
  if (!isGradEnabled() || (!x.requiresGrad && trainable.length === 0)) return block.forward(x);
  const cudaDevice = x.device.startsWith('cuda') ? x.device : undefined;
  const saveStates = () => ({ cpu: rngState(undefined), cuda: cudaDevice ? rngState(cudaDevice) : null });
  const restoreStates = (s: { cpu: Tensor; cuda: Tensor | null }) => {
    native.setRngState(s.cpu.handle);
    if (s.cuda) native.setRngState(s.cuda.handle, cudaDevice);
  };
  const forwardStates = saveStates();
  const inputRequiresGrad = x.requiresGrad;
  const [output] = applyCustom(
    {
      forward: () => [noGrad(() => tidy(() => blockForward(block, x).out))],
      backward: (gradOutputs, saved) => {
        const dOut = gradOutputs[0];
        if (!dOut) return saved.map(() => null);
        const current = saveStates();
        restoreStates(forwardStates);
        try {
          return noGrad(() =>
            tidy(() => {
              const { tape } = blockForward(block, saved[0]!);
              const { dx, grads } = blockBackward(block, tape, dOut);
              return [inputRequiresGrad ? dx : null, ...trainable.map((p) => grads.get(p) ?? null)];
            }),
          );
        } finally {
          restoreStates(current);
          current.cpu.dispose();
          current.cuda?.dispose();
        }
      },
    },
    [x, ...trainable],
  );
  return output!;
}
