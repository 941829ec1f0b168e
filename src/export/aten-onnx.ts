/**
 * ATen operators (by schema name, as src/torch calls them) -> ONNX nodes, opset 17. Each converter
 * gets the call's arguments in schema order and its result, and binds the result to the ONNX value
 * that computes it. Shapes are static: view-like ops reshape to the traced result's shape.
 * Arguments a converter cannot express (e.g. dropout in training) are refused by name.
 */
import type { Converter, ConvertContext } from './trace.ts';
import type { DType } from '../torch/dtype.ts';
import { onnxElementType } from './onnx-graph.ts';

const axis = (d: number, rank: number) => (d < 0 ? d + rank : d);
const list = (v: unknown, n: number): number[] =>
  Array.isArray(v) ? (v as number[]) : Array.from({ length: n }, () => v as number);
const isNone = (v: unknown) => v === null || v === undefined;

/** Reshape of `input` to the result's (static) shape. */
function reshapeTo(ctx: ConvertContext, args: unknown[], result: unknown): void {
  const shape = ctx.graph.int64s('shape', ctx.shape(result));
  ctx.bind(result, ctx.graph.op('Reshape', [ctx.value(args[0]), shape]));
}
function identity(ctx: ConvertContext, args: unknown[], result: unknown): void {
  ctx.bind(result, ctx.graph.op('Identity', [ctx.value(args[0])]));
}

/** The second operand of a binary op: a tensor, or a scalar as a constant of the first's dtype. */
function operand(ctx: ConvertContext, self: unknown, other: unknown): string {
  if (typeof other === 'number' || typeof other === 'boolean') return ctx.scalarLike(self, Number(other));
  return ctx.value(other);
}

/** Casts `name` (of dtype `from`) to `to` when they differ. */
function castTo(ctx: ConvertContext, name: string, from: DType, to: DType): string {
  return from === to ? name : ctx.graph.op('Cast', [name], { to: onnxElementType(to) });
}

function binary(opType: string, withAlpha = false): Converter {
  return (ctx, args, result) => {
    const [self, other, alpha] = args;
    const out = ctx.dtype(result);
    const a = castTo(ctx, ctx.value(self), ctx.dtype(self), out);
    let b = operand(ctx, self, other);
    if (ctx.isTensor(other)) b = castTo(ctx, b, ctx.dtype(other), out);
    else if (ctx.dtype(self) !== out) b = ctx.graph.scalar('scalar', out, Number(other));
    if (withAlpha && !isNone(alpha) && alpha !== 1)
      b = ctx.graph.op('Mul', [b, ctx.graph.scalar('alpha', out, alpha as number)]);
    ctx.bind(result, ctx.graph.op(opType, [a, b]));
  };
}

/** Comparisons: both operands in the first's dtype, a boolean result (`negate`: Not of it). */
function compare(opType: string, negate = false): Converter {
  return (ctx, args, result) => {
    const [self, other] = args;
    let b = operand(ctx, self, other);
    if (ctx.isTensor(other)) b = castTo(ctx, b, ctx.dtype(other), ctx.dtype(self));
    const out = ctx.graph.op(opType, [ctx.value(self), b]);
    ctx.bind(result, negate ? ctx.graph.op('Not', [out]) : out);
  };
}

function unary(opType: string): Converter {
  return (ctx, args, result) => ctx.bind(result, ctx.graph.op(opType, [ctx.value(args[0])]));
}

function reduce(opType: 'ReduceMean' | 'ReduceSum' | 'ReduceMax'): Converter {
  return (ctx, args, result) => {
    const [self, dims, keepdim, dtype] = args;
    if (!isNone(dtype)) throw ctx.refuse('a dtype argument');
    const rank = ctx.shape(self).length;
    const given = isNone(dims) ? [] : list(dims, 1);
    // An empty dim list reduces over every dim, as PyTorch.
    const axes = given.length === 0 ? [...Array(rank).keys()] : given.map((d) => axis(d, rank));
    const keep = keepdim ? 1 : 0;
    // opset 17: ReduceSum takes the axes as an input, ReduceMean/ReduceMax as an attribute.
    const out =
      opType === 'ReduceSum'
        ? ctx.graph.op(opType, [ctx.value(self), ctx.graph.int64s('axes', axes)], { keepdims: keep })
        : ctx.graph.op(opType, [ctx.value(self)], { axes, keepdims: keep });
    ctx.bind(result, out);
  };
}

/** `split`/`chunk`/`unbind`: a Split with the results' sizes along `dim`. */
function splitLike(squeeze: boolean): Converter {
  return (ctx, args, result) => {
    const self = args[0];
    const rank = ctx.shape(self).length;
    const dim = axis((args[squeeze ? 1 : 2] as number | undefined) ?? 0, rank);
    const parts = result as unknown[];
    const sizes = parts.map((p) => (squeeze ? 1 : ctx.shape(p)[dim]!));
    const outs = ctx.graph.node('Split', [ctx.value(self), ctx.graph.int64s('split', sizes)], parts.length, {
      axis: dim,
    });
    parts.forEach((p, i) =>
      ctx.bind(p, squeeze ? ctx.graph.op('Squeeze', [outs[i]!, ctx.graph.int64s('axes', [dim])]) : outs[i]!),
    );
  };
}

function sliceNode(ctx: ConvertContext, input: string, dim: number, start: number, end: number, step = 1): string {
  return ctx.graph.op('Slice', [
    input,
    ctx.graph.int64s('starts', [start]),
    ctx.graph.int64s('ends', [end]),
    ctx.graph.int64s('axes', [dim]),
    ctx.graph.int64s('steps', [step]),
  ]);
}

/** softmax(q k^T * scale + mask) v, as PyTorch's `scaled_dot_product_attention`. */
function attention(
  ctx: ConvertContext,
  q: unknown,
  k: unknown,
  v: unknown,
  mask: unknown,
  causal: boolean,
  scale: number | null,
): string {
  const g = ctx.graph;
  const qShape = ctx.shape(q);
  const rank = qShape.length;
  const perm = [...Array(rank).keys()];
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1]!, perm[rank - 2]!];
  const s = scale ?? 1 / Math.sqrt(qShape[rank - 1]!);
  const scaled = g.op('Mul', [ctx.value(q), ctx.scalarLike(q, s)]);
  let scores = g.op('MatMul', [scaled, g.op('Transpose', [ctx.value(k)], { perm })]);
  const L = qShape[rank - 2]!;
  const S = ctx.shape(k)[rank - 2]!;
  if (causal) {
    const bytes = new Float32Array(L * S);
    for (let i = 0; i < L; i++) for (let j = i + 1; j < S; j++) bytes[i * S + j] = -Infinity;
    if (ctx.dtype(q) !== 'float32') throw ctx.refuse('a causal mask on a non-float32 query');
    scores = g.op('Add', [scores, g.initializer('causal_mask', 'float32', [L, S], new Uint8Array(bytes.buffer))]);
  }
  if (!isNone(mask)) {
    if (ctx.dtype(mask) === 'bool') scores = g.op('Where', [ctx.value(mask), scores, ctx.scalarLike(q, -Infinity)]);
    else scores = g.op('Add', [scores, ctx.value(mask)]);
  }
  return g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), ctx.value(v)]);
}

const entries: [string, Converter][] = [
  // layout and copies
  ['view', reshapeTo],
  ['reshape', reshapeTo],
  ['flatten.using_ints', reshapeTo],
  ['_unsafe_view', reshapeTo],
  ['squeeze', reshapeTo],
  ['squeeze.dim', reshapeTo],
  ['unsqueeze', reshapeTo],
  ['contiguous', identity],
  ['clone', identity],
  ['detach', identity],
  ['alias', identity],
  [
    'to.dtype_layout',
    (ctx, args, result) => ctx.bind(result, castTo(ctx, ctx.value(args[0]), ctx.dtype(args[0]), ctx.dtype(result))),
  ],
  [
    'to.dtype',
    (ctx, args, result) => ctx.bind(result, castTo(ctx, ctx.value(args[0]), ctx.dtype(args[0]), ctx.dtype(result))),
  ],
  [
    'dropout',
    (ctx, args, result) => {
      if (args[2] && (args[1] as number) > 0) throw ctx.refuse('dropout in training mode (call model.eval() first)');
      identity(ctx, args, result);
    },
  ],
  [
    'permute',
    (ctx, args, result) => {
      const rank = ctx.shape(args[0]).length;
      ctx.bind(
        result,
        ctx.graph.op('Transpose', [ctx.value(args[0])], { perm: (args[1] as number[]).map((d) => axis(d, rank)) }),
      );
    },
  ],
  [
    'transpose.int',
    (ctx, args, result) => {
      const rank = ctx.shape(args[0]).length;
      const perm = [...Array(rank).keys()];
      const a = axis(args[1] as number, rank);
      const b = axis(args[2] as number, rank);
      [perm[a], perm[b]] = [perm[b]!, perm[a]!];
      ctx.bind(result, ctx.graph.op('Transpose', [ctx.value(args[0])], { perm }));
    },
  ],
  [
    'expand',
    (ctx, args, result) =>
      ctx.bind(result, ctx.graph.op('Expand', [ctx.value(args[0]), ctx.graph.int64s('shape', ctx.shape(result))])),
  ],
  [
    'expand_as',
    (ctx, args, result) =>
      ctx.bind(result, ctx.graph.op('Expand', [ctx.value(args[0]), ctx.graph.int64s('shape', ctx.shape(result))])),
  ],
  [
    'repeat',
    (ctx, args, result) => {
      const repeats = args[1] as number[];
      const shape = ctx.shape(args[0]);
      let input = ctx.value(args[0]);
      if (repeats.length > shape.length)
        input = ctx.graph.op('Reshape', [
          input,
          ctx.graph.int64s('shape', [...Array(repeats.length - shape.length).fill(1), ...shape]),
        ]);
      ctx.bind(result, ctx.graph.op('Tile', [input, ctx.graph.int64s('repeats', repeats)]));
    },
  ],
  [
    'cat',
    (ctx, args, result) => {
      const tensors = args[0] as unknown[];
      const rank = ctx.shape(result).length;
      ctx.bind(
        result,
        ctx.graph.op(
          'Concat',
          tensors.map((t) => ctx.value(t)),
          { axis: axis((args[1] as number | undefined) ?? 0, rank) },
        ),
      );
    },
  ],
  [
    'stack',
    (ctx, args, result) => {
      const tensors = args[0] as unknown[];
      const rank = ctx.shape(result).length;
      const dim = axis((args[1] as number | undefined) ?? 0, rank);
      const expanded = tensors.map((t) => ctx.graph.op('Unsqueeze', [ctx.value(t), ctx.graph.int64s('axes', [dim])]));
      ctx.bind(result, ctx.graph.op('Concat', expanded, { axis: dim }));
    },
  ],
  ['split.Tensor', splitLike(false)],
  ['split_with_sizes', splitLike(false)],
  ['chunk', splitLike(false)],
  ['unbind.int', splitLike(true)],
  [
    'select.int',
    (ctx, args, result) => {
      const shape = ctx.shape(args[0]);
      const dim = axis(args[1] as number, shape.length);
      const index = axis(args[2] as number, shape[dim]!);
      ctx.bind(
        result,
        ctx.graph.op('Gather', [ctx.value(args[0]), ctx.graph.int64s('index', [index], [])], { axis: dim }),
      );
    },
  ],
  [
    'slice.Tensor',
    (ctx, args, result) => {
      const shape = ctx.shape(args[0]);
      const dim = axis((args[1] as number | undefined) ?? 0, shape.length);
      const size = shape[dim]!;
      const clampIndex = (v: unknown, fallback: number) =>
        isNone(v) ? fallback : Math.max(0, Math.min(size, axis(v as number, size)));
      ctx.bind(
        result,
        sliceNode(
          ctx,
          ctx.value(args[0]),
          dim,
          clampIndex(args[2], 0),
          clampIndex(args[3], size),
          (args[4] as number | undefined) ?? 1,
        ),
      );
    },
  ],
  [
    'narrow',
    (ctx, args, result) => {
      const shape = ctx.shape(args[0]);
      const dim = axis(args[1] as number, shape.length);
      const start = axis(args[2] as number, shape[dim]!);
      ctx.bind(result, sliceNode(ctx, ctx.value(args[0]), dim, start, start + (args[3] as number)));
    },
  ],
  [
    'index_select',
    (ctx, args, result) => {
      const rank = ctx.shape(args[0]).length;
      ctx.bind(
        result,
        ctx.graph.op('Gather', [ctx.value(args[0]), ctx.value(args[2])], { axis: axis(args[1] as number, rank) }),
      );
    },
  ],
  [
    'index.Tensor',
    (ctx, args, result) => {
      // t[i0, i1, ...] with leading int64 index tensors of one shape: GatherND over stacked indices.
      const indices = args[1] as unknown[];
      if (indices.some(isNone)) throw ctx.refuse('indexing with ":" (null) entries');
      if (indices.some((i) => ctx.dtype(i) !== 'int64')) throw ctx.refuse('non-int64 (e.g. boolean) index tensors');
      const shape0 = JSON.stringify(ctx.shape(indices[0]));
      if (indices.some((i) => JSON.stringify(ctx.shape(i)) !== shape0))
        throw ctx.refuse('index tensors of different shapes');
      const g = ctx.graph;
      const stacked = g.op(
        'Concat',
        indices.map((i) => g.op('Unsqueeze', [ctx.value(i), g.int64s('axes', [-1])])),
        { axis: -1 },
      );
      ctx.bind(result, g.op('GatherND', [ctx.value(args[0]), stacked]));
    },
  ],
  [
    'embedding',
    (ctx, args, result) =>
      ctx.bind(result, ctx.graph.op('Gather', [ctx.value(args[0]), ctx.value(args[1])], { axis: 0 })),
  ],
  // arithmetic
  ['add.Tensor', binary('Add', true)],
  ['add.Scalar', binary('Add', true)],
  ['sub.Tensor', binary('Sub', true)],
  ['sub.Scalar', binary('Sub', true)],
  ['mul.Tensor', binary('Mul')],
  ['mul.Scalar', binary('Mul')],
  ['div.Tensor', binary('Div')],
  ['div.Scalar', binary('Div')],
  ['pow.Tensor_Scalar', binary('Pow')],
  ['pow.Tensor_Tensor', binary('Pow')],
  ['maximum', binary('Max')],
  ['minimum', binary('Min')],
  ['eq.Tensor', compare('Equal')],
  ['eq.Scalar', compare('Equal')],
  ['ne.Tensor', compare('Equal', true)],
  ['ne.Scalar', compare('Equal', true)],
  ['gt.Tensor', compare('Greater')],
  ['gt.Scalar', compare('Greater')],
  ['ge.Tensor', compare('GreaterOrEqual')],
  ['ge.Scalar', compare('GreaterOrEqual')],
  ['lt.Tensor', compare('Less')],
  ['lt.Scalar', compare('Less')],
  ['le.Tensor', compare('LessOrEqual')],
  ['le.Scalar', compare('LessOrEqual')],
  ['logical_not', unary('Not')],
  [
    'logical_and',
    (ctx, args, result) => ctx.bind(result, ctx.graph.op('And', [ctx.value(args[0]), ctx.value(args[1])])),
  ],
  ['logical_or', (ctx, args, result) => ctx.bind(result, ctx.graph.op('Or', [ctx.value(args[0]), ctx.value(args[1])]))],
  [
    'rsub.Scalar',
    (ctx, args, result) => {
      const [self, other, alpha] = args;
      let x = ctx.value(self);
      if (!isNone(alpha) && alpha !== 1) x = ctx.graph.op('Mul', [x, ctx.scalarLike(self, alpha as number)]);
      ctx.bind(result, ctx.graph.op('Sub', [ctx.scalarLike(self, other as number), x]));
    },
  ],
  ['neg', unary('Neg')],
  ['exp', unary('Exp')],
  ['log', unary('Log')],
  ['sqrt', unary('Sqrt')],
  ['abs', unary('Abs')],
  ['sigmoid', unary('Sigmoid')],
  ['tanh', unary('Tanh')],
  ['relu', unary('Relu')],
  ['reciprocal', unary('Reciprocal')],
  ['sin', unary('Sin')],
  ['cos', unary('Cos')],
  ['floor', unary('Floor')],
  ['sign', unary('Sign')],
  ['erf', unary('Erf')],
  [
    'rsqrt',
    (ctx, args, result) => ctx.bind(result, ctx.graph.op('Reciprocal', [ctx.graph.op('Sqrt', [ctx.value(args[0])])])),
  ],
  [
    'clamp',
    (ctx, args, result) => {
      const [self, min, max] = args;
      if (ctx.isTensor(min) || ctx.isTensor(max)) throw ctx.refuse('tensor bounds');
      const bound = (v: unknown) => (isNone(v) ? '' : ctx.scalarLike(self, v as number));
      ctx.bind(result, ctx.graph.op('Clip', [ctx.value(self), bound(min), bound(max)]));
    },
  ],
  [
    'where.self',
    (ctx, args, result) =>
      ctx.bind(result, ctx.graph.op('Where', [ctx.value(args[0]), ctx.value(args[1]), ctx.value(args[2])])),
  ],
  [
    'masked_fill.Scalar',
    (ctx, args, result) =>
      ctx.bind(
        result,
        ctx.graph.op('Where', [ctx.value(args[1]), ctx.scalarLike(args[0], args[2] as number), ctx.value(args[0])]),
      ),
  ],
  [
    'masked_fill.Tensor',
    (ctx, args, result) => {
      const value = castTo(ctx, ctx.value(args[2]), ctx.dtype(args[2]), ctx.dtype(args[0]));
      ctx.bind(result, ctx.graph.op('Where', [ctx.value(args[1]), value, ctx.value(args[0])]));
    },
  ],
  // linear algebra
  ['matmul', (ctx, args, result) => ctx.bind(result, ctx.graph.op('MatMul', [ctx.value(args[0]), ctx.value(args[1])]))],
  ['mm', (ctx, args, result) => ctx.bind(result, ctx.graph.op('MatMul', [ctx.value(args[0]), ctx.value(args[1])]))],
  ['bmm', (ctx, args, result) => ctx.bind(result, ctx.graph.op('MatMul', [ctx.value(args[0]), ctx.value(args[1])]))],
  [
    'linear',
    (ctx, args, result) => {
      const [input, weight, bias] = args;
      const g = ctx.graph;
      const w = g.op('Transpose', [ctx.value(weight)], { perm: [1, 0] });
      let out = g.op('MatMul', [ctx.value(input), w]);
      if (!isNone(bias)) out = g.op('Add', [out, ctx.value(bias)]);
      ctx.bind(result, out);
    },
  ],
  [
    'baddbmm',
    (ctx, args, result) => {
      const [self, b1, b2, beta, alpha] = args;
      const g = ctx.graph;
      let product = g.op('MatMul', [ctx.value(b1), ctx.value(b2)]);
      if (!isNone(alpha) && alpha !== 1) product = g.op('Mul', [product, ctx.scalarLike(b1, alpha as number)]);
      let base = ctx.value(self);
      if (!isNone(beta) && beta !== 1) base = g.op('Mul', [base, ctx.scalarLike(self, beta as number)]);
      ctx.bind(result, g.op('Add', [base, product]));
    },
  ],
  [
    'einsum',
    (ctx, args, result) => {
      const equation = (args[0] as string).replace(/\s+/g, '');
      ctx.bind(
        result,
        ctx.graph.op(
          'Einsum',
          (args[1] as unknown[]).map((t) => ctx.value(t)),
          { equation },
        ),
      );
    },
  ],
  [
    'conv2d',
    (ctx, args, result) => {
      const [input, weight, bias, stride, padding, dilation, groups] = args;
      if (typeof padding === 'string') throw ctx.refuse(`padding "${padding}"`);
      const pad = list(padding ?? 0, 2);
      const inputs = [ctx.value(input), ctx.value(weight)];
      if (!isNone(bias)) inputs.push(ctx.value(bias));
      ctx.bind(
        result,
        ctx.graph.op('Conv', inputs, {
          kernel_shape: ctx.shape(weight).slice(2),
          strides: list(stride ?? 1, 2),
          pads: [...pad, ...pad],
          dilations: list(dilation ?? 1, 2),
          group: (groups as number | undefined) ?? 1,
        }),
      );
    },
  ],
  // normalisation and activations
  [
    'layer_norm',
    (ctx, args, result) => {
      const [input, normalizedShape, weight, bias, eps] = args;
      const n = (normalizedShape as number[]).length;
      const g = ctx.graph;
      const shape = normalizedShape as number[];
      const count = shape.reduce((a, b) => a * b, 1);
      const filled = (value: number) => {
        const dtype = ctx.dtype(input);
        if (dtype !== 'float32') throw ctx.refuse('layer_norm without weight or bias on a non-float32 input');
        return g.initializer(
          'layer_norm_default',
          'float32',
          shape,
          new Uint8Array(new Float32Array(count).fill(value).buffer),
        );
      };
      const w = isNone(weight) ? filled(1) : ctx.value(weight);
      const b = isNone(bias) ? filled(0) : ctx.value(bias);
      ctx.bind(
        result,
        g.op('LayerNormalization', [ctx.value(input), w, b], {
          axis: -n,
          epsilon: { float: (eps as number | undefined) ?? 1e-5 },
        }),
      );
    },
  ],
  [
    'batch_norm',
    (ctx, args, result) => {
      const [input, weight, bias, mean, variance, training, , eps] = args;
      if (training) throw ctx.refuse('batch statistics (training mode; call model.eval() first)');
      if ([weight, bias, mean, variance].some(isNone))
        throw ctx.refuse('batch norm without weight, bias or running statistics');
      ctx.bind(
        result,
        ctx.graph.op(
          'BatchNormalization',
          [ctx.value(input), ctx.value(weight), ctx.value(bias), ctx.value(mean), ctx.value(variance)],
          { epsilon: { float: (eps as number | undefined) ?? 1e-5 } },
        ),
      );
    },
  ],
  [
    'avg_pool2d',
    (ctx, args, result) => {
      const [input, kernel, stride, padding, ceilMode, countIncludePad, divisorOverride] = args;
      if (!isNone(divisorOverride)) throw ctx.refuse('divisor_override');
      const k = list(kernel, 2);
      const s = isNone(stride) || (Array.isArray(stride) && stride.length === 0) ? k : list(stride, 2);
      const pad = list(padding ?? 0, 2);
      ctx.bind(
        result,
        ctx.graph.op('AveragePool', [ctx.value(input)], {
          kernel_shape: k,
          strides: s,
          pads: [...pad, ...pad],
          ceil_mode: ceilMode ? 1 : 0,
          count_include_pad: countIncludePad === false ? 0 : 1,
        }),
      );
    },
  ],
  [
    'softmax.int',
    (ctx, args, result) => {
      if (!isNone(args[2])) throw ctx.refuse('a dtype argument');
      ctx.bind(result, ctx.graph.op('Softmax', [ctx.value(args[0])], { axis: args[1] as number }));
    },
  ],
  [
    'log_softmax.int',
    (ctx, args, result) => {
      if (!isNone(args[2])) throw ctx.refuse('a dtype argument');
      ctx.bind(result, ctx.graph.op('LogSoftmax', [ctx.value(args[0])], { axis: args[1] as number }));
    },
  ],
  [
    'gelu',
    (ctx, args, result) => {
      const [x, approximate] = args;
      if (approximate !== undefined && approximate !== 'none') throw ctx.refuse(`approximate "${approximate}"`);
      // 0.5 x (1 + erf(x / sqrt 2)): Gelu itself is opset 20.
      const g = ctx.graph;
      const v = ctx.value(x);
      const erf = g.op('Erf', [g.op('Mul', [v, ctx.scalarLike(x, Math.SQRT1_2)])]);
      ctx.bind(
        result,
        g.op('Mul', [g.op('Mul', [v, ctx.scalarLike(x, 0.5)]), g.op('Add', [erf, ctx.scalarLike(x, 1)])]),
      );
    },
  ],
  [
    'scaled_dot_product_attention',
    (ctx, args, result) => {
      const [q, k, v, mask, dropout, causal, scale] = args;
      if (!isNone(dropout) && (dropout as number) > 0) throw ctx.refuse('attention dropout (call model.eval() first)');
      ctx.bind(result, attention(ctx, q, k, v, mask, Boolean(causal), isNone(scale) ? null : (scale as number)));
    },
  ],
  // reductions
  ['mean.dim', reduce('ReduceMean')],
  ['sum.dim_IntList', reduce('ReduceSum')],
  ['amax', reduce('ReduceMax')],
  [
    'mean',
    (ctx, args, result) => {
      const rank = ctx.shape(args[0]).length;
      ctx.bind(
        result,
        ctx.graph.op('ReduceMean', [ctx.value(args[0])], { axes: [...Array(rank).keys()], keepdims: 0 }),
      );
    },
  ],
  [
    'sum',
    (ctx, args, result) => {
      if (!isNone(args[1])) throw ctx.refuse('a dtype argument');
      const rank = ctx.shape(args[0]).length;
      ctx.bind(
        result,
        ctx.graph.op('ReduceSum', [ctx.value(args[0]), ctx.graph.int64s('axes', [...Array(rank).keys()])], {
          keepdims: 0,
        }),
      );
    },
  ],
  [
    'norm.ScalarOpt_dim',
    (ctx, args, result) => {
      const [self, p, dims, keepdim] = args;
      if (p !== 2 && !isNone(p)) throw ctx.refuse(`p = ${String(p)} (only the 2-norm is mapped)`);
      const rank = ctx.shape(self).length;
      const d = list(dims, 1);
      const axes = d.length === 0 ? [...Array(rank).keys()] : d.map((x) => axis(x, rank));
      ctx.bind(result, ctx.graph.op('ReduceL2', [ctx.value(self)], { axes, keepdims: keepdim ? 1 : 0 }));
    },
  ],
  [
    'argmax',
    (ctx, args, result) => {
      const [self, dim, keepdim] = args;
      let input = ctx.value(self);
      let d = dim as number | null | undefined;
      if (isNone(d)) {
        input = ctx.graph.op('Reshape', [input, ctx.graph.int64s('shape', [-1])]);
        d = 0;
      }
      // PyTorch returns the first maximum, as ONNX's default select_last_index = 0.
      ctx.bind(result, ctx.graph.op('ArgMax', [input], { axis: d, keepdims: keepdim ? 1 : 0 }));
    },
  ],
];

export const ATEN_TO_ONNX: ReadonlyMap<string, Converter> = new Map(entries);
