/**
 * Math, reductions, comparisons, shape changes and indexing as `Tensor` methods, each a direct
 * call of the ATen operator of the same name (PyTorch semantics: broadcasting, negative dims).
 */
import { Tensor, handleOf, describeArgument } from './tensor.ts';
import { aten, atenInPlace } from './ops.ts';
import { scalarTypeCode, type DType } from './dtype.ts';
import type { Handle } from './native.ts';

type Operand = Tensor | number;
const wrap = (h: any): Tensor => new Tensor(h);

function tensorList(values: unknown, op: string): Handle[] {
  if (!Array.isArray(values)) throw new TypeError(`${op}: expected an array of tensors, got ${describeArgument(values)}`);
  return values.map((t, i) => handleOf(t, op, `tensors[${i}]`));
}
function scalarOrHandle(value: unknown, op: string, arg: string): number | boolean | Handle {
  return typeof value === 'number' || typeof value === 'boolean' ? value : handleOf(value, op, arg);
}
const wrapAll = (hs: any[]): Tensor[] => hs.map(wrap);

/** Picks the Tensor or Scalar overload of a binary operator. */
function binary(tensorOp: string, scalarOp: string) {
  const t = aten(tensorOp);
  const s = aten(scalarOp);
  const name = tensorOp.slice(0, tensorOp.indexOf('.'));
  return (self: Tensor, other: Operand) => {
    const arg = scalarOrHandle(other, name, 'other');
    return wrap(typeof arg === 'number' || typeof arg === 'boolean' ? s(self.handle, arg) : t(self.handle, arg));
  };
}
function binaryInPlace(tensorOp: string, scalarOp: string) {
  const t = atenInPlace(tensorOp);
  const s = atenInPlace(scalarOp);
  const name = tensorOp.slice(0, tensorOp.indexOf('.'));
  return (self: Tensor, other: Operand) => {
    const arg = scalarOrHandle(other, name, 'other');
    if (typeof arg === 'number' || typeof arg === 'boolean') s(self.handle, arg);
    else t(self.handle, arg);
    return self;
  };
}
function unary(name: string) {
  const f = aten(name);
  return (self: Tensor) => wrap(f(self.handle));
}

const ops = {
  add: binary('add.Tensor', 'add.Scalar'),
  sub: binary('sub.Tensor', 'sub.Scalar'),
  mul: binary('mul.Tensor', 'mul.Scalar'),
  div: binary('div.Tensor', 'div.Scalar'),
  pow: binary('pow.Tensor_Tensor', 'pow.Tensor_Scalar'),
  eq: binary('eq.Tensor', 'eq.Scalar'),
  ne: binary('ne.Tensor', 'ne.Scalar'),
  gt: binary('gt.Tensor', 'gt.Scalar'),
  ge: binary('ge.Tensor', 'ge.Scalar'),
  lt: binary('lt.Tensor', 'lt.Scalar'),
  le: binary('le.Tensor', 'le.Scalar'),
  maximum: aten('maximum'),
  minimum: aten('minimum'),
  add_: binaryInPlace('add_.Tensor', 'add_.Scalar'),
  sub_: binaryInPlace('sub_.Tensor', 'sub_.Scalar'),
  mul_: binaryInPlace('mul_.Tensor', 'mul_.Scalar'),
  div_: binaryInPlace('div_.Tensor', 'div_.Scalar'),
  addScaled_: atenInPlace('add_.Tensor'),
  rsub: aten('rsub.Scalar'),
  copy_: atenInPlace('copy_'),
  zero_: atenInPlace('zero_'),
  fill_: atenInPlace('fill_.Scalar'),
  clampInPlace: atenInPlace('clamp_'),
  addcmul_: atenInPlace('addcmul_'),
  addcdiv_: atenInPlace('addcdiv_'),
  lerp_: atenInPlace('lerp_.Scalar'),
  clamp: aten('clamp'),
  matmul: aten('matmul'),
  mm: aten('mm'),
  bmm: aten('bmm'),
  sum: aten('sum'),
  sumDim: aten('sum.dim_IntList'),
  mean: aten('mean'),
  meanDim: aten('mean.dim'),
  varDim: aten('var.correction'),
  std: aten('std.correction'),
  max: aten('max'),
  maxDim: aten('max.dim'),
  min: aten('min'),
  minDim: aten('min.dim'),
  amax: aten('amax'),
  argmax: aten('argmax'),
  argmin: aten('argmin'),
  topk: aten('topk'),
  sort: aten('sort'),
  argsort: aten('argsort'),
  cumsum: aten('cumsum'),
  norm: aten('norm.ScalarOpt_dim'),
  all: aten('all'),
  any: aten('any'),
  isfinite: aten('isfinite'),
  logicalNot: aten('logical_not'),
  logicalAnd: aten('logical_and'),
  logicalOr: aten('logical_or'),
  where: aten('where.self'),
  view: aten('view'),
  reshape: aten('reshape'),
  permute: aten('permute'),
  transpose: aten('transpose.int'),
  expand: aten('expand'),
  expandAs: aten('expand_as'),
  repeat: aten('repeat'),
  repeatInterleave: aten('repeat_interleave.self_int'),
  squeeze: aten('squeeze'),
  squeezeDim: aten('squeeze.dim'),
  unsqueeze: aten('unsqueeze'),
  flatten: aten('flatten.using_ints'),
  narrow: aten('narrow'),
  select: aten('select.int'),
  slice: aten('slice.Tensor'),
  split: aten('split.Tensor'),
  splitSizes: aten('split_with_sizes'),
  chunk: aten('chunk'),
  unbind: aten('unbind.int'),
  flip: aten('flip'),
  roll: aten('roll'),
  indexSelect: aten('index_select'),
  gather: aten('gather'),
  scatter: aten('scatter.src'),
  index: aten('index.Tensor'),
  indexPut_: atenInPlace('index_put_'),
  maskedSelect: aten('masked_select'),
  maskedFill: aten('masked_fill.Scalar'),
  maskedFillTensor: aten('masked_fill.Tensor'),
  tril: aten('tril'),
  triu: aten('triu'),
};

declare module './tensor.ts' {
  interface Tensor {
    add(other: Operand, alpha?: number): Tensor;
    sub(other: Operand): Tensor;
    /** `value - this` */
    rsub(value: number): Tensor;
    mul(other: Operand): Tensor;
    div(other: Operand): Tensor;
    pow(exponent: Operand): Tensor;
    neg(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    sqrt(): Tensor;
    rsqrt(): Tensor;
    abs(): Tensor;
    sign(): Tensor;
    sin(): Tensor;
    cos(): Tensor;
    tanh(): Tensor;
    sigmoid(): Tensor;
    relu(): Tensor;
    reciprocal(): Tensor;
    floor(): Tensor;
    round(): Tensor;
    clamp(min?: number | null, max?: number | null): Tensor;
    maximum(other: Tensor): Tensor;
    minimum(other: Tensor): Tensor;
    eq(other: Operand): Tensor;
    ne(other: Operand): Tensor;
    gt(other: Operand): Tensor;
    ge(other: Operand): Tensor;
    lt(other: Operand): Tensor;
    le(other: Operand): Tensor;
    logicalNot(): Tensor;
    logicalAnd(other: Tensor): Tensor;
    logicalOr(other: Tensor): Tensor;
    isfinite(): Tensor;
    all(): Tensor;
    any(): Tensor;
    matmul(other: Tensor): Tensor;
    mm(other: Tensor): Tensor;
    bmm(other: Tensor): Tensor;
    /** Sum of all elements, or over `dim`. */
    sum(dim?: number | number[], keepdim?: boolean, dtype?: DType): Tensor;
    mean(dim?: number | number[], keepdim?: boolean): Tensor;
    /** Variance over `dim` with Bessel's correction unless `unbiased` is false. */
    var(dim: number | number[], unbiased?: boolean, keepdim?: boolean): Tensor;
    std(dim?: number | number[], unbiased?: boolean, keepdim?: boolean): Tensor;
    /** The largest element; with `dim`, use `maxDim`. */
    max(): Tensor;
    maxDim(dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
    min(): Tensor;
    minDim(dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
    amax(dim: number | number[], keepdim?: boolean): Tensor;
    argmax(dim?: number, keepdim?: boolean): Tensor;
    argmin(dim?: number, keepdim?: boolean): Tensor;
    topk(k: number, dim?: number, largest?: boolean, sorted?: boolean): { values: Tensor; indices: Tensor };
    sort(dim?: number, descending?: boolean): { values: Tensor; indices: Tensor };
    argsort(dim?: number, descending?: boolean): Tensor;
    cumsum(dim: number): Tensor;
    norm(p?: number, dim?: number | number[], keepdim?: boolean): Tensor;
    where(condition: Tensor, other: Tensor): Tensor;
    view(...shape: number[] | [number[]]): Tensor;
    reshape(...shape: number[] | [number[]]): Tensor;
    permute(...dims: number[] | [number[]]): Tensor;
    transpose(dim0: number, dim1: number): Tensor;
    /** Transpose of a 2-D tensor. */
    t(): Tensor;
    expand(...shape: number[] | [number[]]): Tensor;
    expandAs(other: Tensor): Tensor;
    repeat(...repeats: number[] | [number[]]): Tensor;
    repeatInterleave(repeats: number, dim?: number): Tensor;
    squeeze(dim?: number): Tensor;
    unsqueeze(dim: number): Tensor;
    flatten(startDim?: number, endDim?: number): Tensor;
    narrow(dim: number, start: number, length: number): Tensor;
    select(dim: number, index: number): Tensor;
    /** Python's `t[start:end:step]` along `dim`. */
    slice(dim: number, start?: number | null, end?: number | null, step?: number): Tensor;
    split(size: number | number[], dim?: number): Tensor[];
    chunk(chunks: number, dim?: number): Tensor[];
    unbind(dim?: number): Tensor[];
    flip(...dims: number[] | [number[]]): Tensor;
    roll(shifts: number | number[], dims: number | number[]): Tensor;
    indexSelect(dim: number, index: Tensor): Tensor;
    gather(dim: number, index: Tensor): Tensor;
    scatter(dim: number, index: Tensor, src: Tensor): Tensor;
    /** Advanced indexing `t[i0, i1, ...]` with index tensors (int64 or bool), null for `:`. */
    index(indices: (Tensor | null)[]): Tensor;
    maskedSelect(mask: Tensor): Tensor;
    maskedFill(mask: Tensor, value: Operand): Tensor;
    tril(diagonal?: number): Tensor;
    triu(diagonal?: number): Tensor;
    // in place: return `this`
    add_(other: Operand, alpha?: number): this;
    sub_(other: Operand): this;
    mul_(other: Operand): this;
    div_(other: Operand): this;
    copy_(src: Tensor): this;
    zero_(): this;
    fill_(value: number): this;
    clamp_(min?: number | null, max?: number | null): this;
    addcmul_(a: Tensor, b: Tensor, value?: number): this;
    addcdiv_(a: Tensor, b: Tensor, value?: number): this;
    lerp_(end: Tensor, weight: number): this;
    indexPut_(indices: (Tensor | null)[], values: Tensor, accumulate?: boolean): this;
  }
}

const P = Tensor.prototype;
const dims = (d: number | number[]) => (typeof d === 'number' ? [d] : d);
/** `view(2, 3)` and `view([2, 3])` alike. */
const shapeArgs = (args: number[] | [number[]]): number[] => (args.length === 1 && Array.isArray(args[0]) ? args[0] : (args as number[]));
const unaryNames = ['neg', 'exp', 'log', 'sqrt', 'rsqrt', 'abs', 'sign', 'sin', 'cos', 'tanh', 'sigmoid', 'relu', 'reciprocal', 'floor', 'round'] as const;
for (const name of unaryNames) {
  const f = unary(name);
  (P as any)[name] = function (this: Tensor) {
    return f(this);
  };
}

P.add = function (other, alpha) {
  if (alpha === undefined || typeof other === 'number') return ops.add(this, typeof other === 'number' && alpha !== undefined ? other * alpha : other);
  return wrap(aten('add.Tensor')(this.handle, handleOf(other, 'add', 'other'), alpha));
};
P.sub = function (other) { return ops.sub(this, other); };
P.rsub = function (value) { return wrap(ops.rsub(this.handle, value)); };
P.mul = function (other) { return ops.mul(this, other); };
P.div = function (other) { return ops.div(this, other); };
P.pow = function (exponent) { return ops.pow(this, exponent); };
P.clamp = function (min, max) { return wrap(ops.clamp(this.handle, min ?? null, max ?? null)); };
P.maximum = function (other) { return wrap(ops.maximum(this.handle, handleOf(other, 'maximum', 'other'))); };
P.minimum = function (other) { return wrap(ops.minimum(this.handle, handleOf(other, 'minimum', 'other'))); };
P.eq = function (other) { return ops.eq(this, other); };
P.ne = function (other) { return ops.ne(this, other); };
P.gt = function (other) { return ops.gt(this, other); };
P.ge = function (other) { return ops.ge(this, other); };
P.lt = function (other) { return ops.lt(this, other); };
P.le = function (other) { return ops.le(this, other); };
P.logicalNot = function () { return wrap(ops.logicalNot(this.handle)); };
P.logicalAnd = function (other) { return wrap(ops.logicalAnd(this.handle, handleOf(other, 'logicalAnd', 'other'))); };
P.logicalOr = function (other) { return wrap(ops.logicalOr(this.handle, handleOf(other, 'logicalOr', 'other'))); };
P.isfinite = function () { return wrap(ops.isfinite(this.handle)); };
P.all = function () { return wrap(ops.all(this.handle)); };
P.any = function () { return wrap(ops.any(this.handle)); };
P.matmul = function (other) { return wrap(ops.matmul(this.handle, handleOf(other, 'matmul', 'other'))); };
P.mm = function (other) { return wrap(ops.mm(this.handle, handleOf(other, 'mm', 'other'))); };
P.bmm = function (other) { return wrap(ops.bmm(this.handle, handleOf(other, 'bmm', 'other'))); };
P.sum = function (dim, keepdim = false, dtype) {
  const code = dtype === undefined ? undefined : scalarTypeCode(dtype);
  if (dim === undefined) return wrap(ops.sum(this.handle, code));
  return wrap(ops.sumDim(this.handle, dims(dim), keepdim, code));
};
P.mean = function (dim, keepdim = false) {
  if (dim === undefined) return wrap(ops.mean(this.handle));
  return wrap(ops.meanDim(this.handle, dims(dim), keepdim));
};
P.var = function (dim, unbiased = true, keepdim = false) { return wrap(ops.varDim(this.handle, dims(dim), unbiased ? 1 : 0, keepdim)); };
P.std = function (dim, unbiased = true, keepdim = false) {
  return wrap(ops.std(this.handle, dim === undefined ? null : dims(dim), unbiased ? 1 : 0, keepdim));
};
P.max = function () { return wrap(ops.max(this.handle)); };
P.maxDim = function (dim, keepdim = false) {
  const [values, indices] = ops.maxDim(this.handle, dim, keepdim);
  return { values: wrap(values), indices: wrap(indices) };
};
P.min = function () { return wrap(ops.min(this.handle)); };
P.minDim = function (dim, keepdim = false) {
  const [values, indices] = ops.minDim(this.handle, dim, keepdim);
  return { values: wrap(values), indices: wrap(indices) };
};
P.amax = function (dim, keepdim = false) { return wrap(ops.amax(this.handle, dims(dim), keepdim)); };
P.argmax = function (dim, keepdim = false) { return wrap(ops.argmax(this.handle, dim ?? null, keepdim)); };
P.argmin = function (dim, keepdim = false) { return wrap(ops.argmin(this.handle, dim ?? null, keepdim)); };
P.topk = function (k, dim = -1, largest = true, sorted = true) {
  const [values, indices] = ops.topk(this.handle, k, dim, largest, sorted);
  return { values: wrap(values), indices: wrap(indices) };
};
P.sort = function (dim = -1, descending = false) {
  const [values, indices] = ops.sort(this.handle, dim, descending);
  return { values: wrap(values), indices: wrap(indices) };
};
P.argsort = function (dim = -1, descending = false) { return wrap(ops.argsort(this.handle, dim, descending)); };
P.cumsum = function (dim) { return wrap(ops.cumsum(this.handle, dim)); };
P.norm = function (p = 2, dim, keepdim = false) { return wrap(ops.norm(this.handle, p, dim === undefined ? [] : dims(dim), keepdim)); };
P.where = function (condition, other) { return wrap(ops.where(handleOf(condition, 'where', 'condition'), this.handle, handleOf(other, 'where', 'other'))); };
P.view = function (...shape) { return wrap(ops.view(this.handle, shapeArgs(shape))); };
P.reshape = function (...shape) { return wrap(ops.reshape(this.handle, shapeArgs(shape))); };
P.permute = function (...order) { return wrap(ops.permute(this.handle, shapeArgs(order))); };
P.transpose = function (dim0, dim1) { return wrap(ops.transpose(this.handle, dim0, dim1)); };
P.t = function () { return wrap(ops.transpose(this.handle, 0, 1)); };
P.expand = function (...shape) { return wrap(ops.expand(this.handle, shapeArgs(shape))); };
P.expandAs = function (other) { return wrap(ops.expandAs(this.handle, handleOf(other, 'expandAs', 'other'))); };
P.repeat = function (...repeats) { return wrap(ops.repeat(this.handle, shapeArgs(repeats))); };
P.repeatInterleave = function (repeats, dim) { return wrap(ops.repeatInterleave(this.handle, repeats, dim ?? null)); };
P.squeeze = function (dim) { return wrap(dim === undefined ? ops.squeeze(this.handle) : ops.squeezeDim(this.handle, dim)); };
P.unsqueeze = function (dim) { return wrap(ops.unsqueeze(this.handle, dim)); };
P.flatten = function (startDim = 0, endDim = -1) { return wrap(ops.flatten(this.handle, startDim, endDim)); };
P.narrow = function (dim, start, length) { return wrap(ops.narrow(this.handle, dim, start, length)); };
P.select = function (dim, index) { return wrap(ops.select(this.handle, dim, index)); };
P.slice = function (dim, start, end, step = 1) { return wrap(ops.slice(this.handle, dim, start ?? null, end ?? null, step)); };
P.split = function (size, dim = 0) {
  return wrapAll(typeof size === 'number' ? ops.split(this.handle, size, dim) : ops.splitSizes(this.handle, size, dim));
};
P.chunk = function (chunks, dim = 0) { return wrapAll(ops.chunk(this.handle, chunks, dim)); };
P.unbind = function (dim = 0) { return wrapAll(ops.unbind(this.handle, dim)); };
P.flip = function (...order) { return wrap(ops.flip(this.handle, shapeArgs(order))); };
P.roll = function (shifts, rollDims) { return wrap(ops.roll(this.handle, dims(shifts), dims(rollDims))); };
P.indexSelect = function (dim, index) { return wrap(ops.indexSelect(this.handle, dim, handleOf(index, 'indexSelect', 'index'))); };
P.gather = function (dim, index) { return wrap(ops.gather(this.handle, dim, handleOf(index, 'gather', 'index'))); };
P.scatter = function (dim, index, src) { return wrap(ops.scatter(this.handle, dim, handleOf(index, 'scatter', 'index'), handleOf(src, 'scatter', 'src'))); };
P.index = function (indices) { return wrap(ops.index(this.handle, indices.map((i) => (i === null ? null : handleOf(i, 'index', 'indices[]'))))); };
P.maskedSelect = function (mask) { return wrap(ops.maskedSelect(this.handle, handleOf(mask, 'maskedSelect', 'mask'))); };
P.maskedFill = function (mask, value) {
  const maskHandle = handleOf(mask, 'maskedFill', 'mask');
  return wrap(typeof value === 'number' ? ops.maskedFill(this.handle, maskHandle, value) : ops.maskedFillTensor(this.handle, maskHandle, handleOf(value, 'maskedFill', 'value')));
};
P.tril = function (diagonal = 0) { return wrap(ops.tril(this.handle, diagonal)); };
P.triu = function (diagonal = 0) { return wrap(ops.triu(this.handle, diagonal)); };

P.add_ = function (other, alpha) {
  if (alpha === undefined) return ops.add_(this, other);
  if (typeof other === 'number') return ops.add_(this, other * alpha);
  ops.addScaled_(this.handle, handleOf(other, 'add_', 'other'), alpha);
  return this;
};
P.sub_ = function (other) { return ops.sub_(this, other); };
P.mul_ = function (other) { return ops.mul_(this, other); };
P.div_ = function (other) { return ops.div_(this, other); };
P.copy_ = function (src) { ops.copy_(this.handle, handleOf(src, 'copy_', 'src')); return this; };
P.zero_ = function () { ops.zero_(this.handle); return this; };
P.fill_ = function (value) { ops.fill_(this.handle, value); return this; };
P.clamp_ = function (min, max) { ops.clampInPlace(this.handle, min ?? null, max ?? null); return this; };
P.addcmul_ = function (a, b, value = 1) { ops.addcmul_(this.handle, handleOf(a, 'addcmul_', 'a'), handleOf(b, 'addcmul_', 'b'), value); return this; };
P.addcdiv_ = function (a, b, value = 1) { ops.addcdiv_(this.handle, handleOf(a, 'addcdiv_', 'a'), handleOf(b, 'addcdiv_', 'b'), value); return this; };
P.lerp_ = function (end, weight) { ops.lerp_(this.handle, handleOf(end, 'lerp_', 'end'), weight); return this; };
P.indexPut_ = function (indices, values, accumulate = false) {
  ops.indexPut_(this.handle, indices.map((i) => (i === null ? null : handleOf(i, 'indexPut_', 'indices[]'))), handleOf(values, 'indexPut_', 'values'), accumulate);
  return this;
};

/** Concatenates along an existing dimension. */
export function cat(tensors: Tensor[], dim = 0): Tensor {
  return wrap(aten('cat')(tensorList(tensors, 'cat'), dim));
}
/** Stacks along a new dimension. */
export function stack(tensors: Tensor[], dim = 0): Tensor {
  return wrap(aten('stack')(tensorList(tensors, 'stack'), dim));
}
export function where(condition: Tensor, a: Tensor, b: Tensor): Tensor {
  return a.where(condition, b);
}
export function einsum(equation: string, ...tensors: Tensor[]): Tensor {
  return wrap(aten('einsum')(equation, tensorList(tensors, 'einsum')));
}
