/**
 * `Tensor`: a handle to a libtorch tensor with its metadata, conversions, autograd accessors and its
 * operator methods (math, reductions, comparisons, shape changes, indexing), each declared once here
 * as a direct call of the ATen operator of the same name (PyTorch semantics: broadcasting, negative
 * dims). Creation functions live here too; `tensor-ops.ts` holds the free functions over several
 * tensors (`cat`, `stack`, `where`, `einsum`).
 */
import { native, type Handle } from './native.ts';
import { dtypeFromCode, scalarTypeCode, type Device, type DType } from './dtype.ts';
import { DTYPE_BYTES, numelOf, type RawTensor } from './serialization/raw-tensor.ts';
import { aten, callOp, callOpVoid } from './ops.ts';
import { tensorFinalizer } from './scope.ts';

const op = {
  to: aten('to.dtype_layout'),
  clone: aten('clone'),
  detach: aten('detach'),
  contiguous: aten('contiguous'),
  empty: aten('empty.memory_format'),
  zeros: aten('zeros'),
  ones: aten('ones'),
  full: aten('full'),
  arange: aten('arange.start_step'),
  linspace: aten('linspace'),
  rand: aten('rand'),
  randn: aten('randn'),
  randint: aten('randint.low'),
  eye: aten('eye'),
  randperm: aten('randperm'),
};

export type TypedArray = Float32Array | Float64Array | Int32Array | Int16Array | Int8Array | Uint8Array | BigInt64Array;

export interface CreateOptions {
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}

export class Tensor {
  /** Lets scopes recognise tensors without importing this module. */
  readonly isTensor = true;
  private _handle: Handle | null;
  /** Whether `tensorFinalizer` frees the native tensor (it escaped the scope that made it). */
  private _ownsNativeMemory = false;
  private _shape: number[] | undefined;
  private _dtype: DType | undefined;

  /** Wraps a handle; the scope open when the addon made it (if any) frees it, see scope.ts. */
  constructor(handle: Handle) {
    this._handle = handle;
  }

  /** The native handle; throws if the tensor was disposed. */
  get handle(): Handle {
    if (this._handle === null)
      throw new Error(
        'this tensor was disposed (by dispose() or by the tidy() scope that created it; return it from tidy() or call keep() to keep it)',
      );
    return this._handle;
  }

  /** The handle, null after dispose(); one a scope freed is still returned (the addon refuses it). */
  get handleOrNull(): Handle | null {
    return this._handle;
  }

  get isDisposed(): boolean {
    return this._handle === null || !native.isLive(this._handle);
  }

  /** Frees the native memory now (views and the autograd graph keep what they still need). */
  dispose(): void {
    if (this._handle !== null) {
      native.dispose(this._handle);
      this._handle = null;
    }
    if (this._ownsNativeMemory) {
      tensorFinalizer.unregister(this);
      this._ownsNativeMemory = false;
    }
  }

  /** Takes the tensor out of every open scope: it lives until disposed or garbage-collected. */
  keep(): this {
    if (this._handle !== null && native.escapeScopes(this._handle)) this.ownNativeMemory();
    return this;
  }

  /** Called once the addon no longer frees the tensor with a scope: collecting this Tensor frees it. */
  ownNativeMemory(): void {
    if (this._handle === null || this._ownsNativeMemory) return;
    tensorFinalizer.register(this, this._handle, this);
    this._ownsNativeMemory = true;
  }

  get shape(): number[] {
    return (this._shape ??= native.shape(this.handle));
  }
  get ndim(): number {
    return this.shape.length;
  }
  get numel(): number {
    return numelOf(this.shape);
  }
  size(dim: number): number {
    const shape = this.shape;
    const d = dim < 0 ? dim + shape.length : dim;
    if (d < 0 || d >= shape.length) throw new RangeError(`dimension ${dim} is out of range for shape [${shape}]`);
    return shape[d]!;
  }
  get dtype(): DType {
    return (this._dtype ??= dtypeFromCode(native.scalarType(this.handle)));
  }
  get device(): Device {
    return native.device(this.handle);
  }
  toString(): string {
    return `Tensor(${native.describe(this.handle)})`;
  }

  // ---- conversions ----
  to(target: DType | Device | { dtype?: DType; device?: Device }): Tensor {
    if (typeof target === 'string' && !isDType(target) && !isDevice(target)) {
      throw new TypeError(
        `to('${target}'): not a dtype (${Object.keys(DTYPE_BYTES).join(', ')}) nor a device (cpu, cuda, cuda:N)`,
      );
    }
    const spec = typeof target === 'string' ? (isDType(target) ? { dtype: target } : { device: target }) : target;
    if (spec.device !== undefined) checkDevice(spec.device, `to('${spec.device}')`);
    if (spec.dtype !== undefined) scalarTypeCode(spec.dtype);
    const dtype = spec.dtype ?? this.dtype;
    if (dtype === this.dtype && (spec.device === undefined || sameDevice(spec.device, this.device))) return this;
    return new Tensor(op.to(this.handle, scalarTypeCode(dtype), undefined, spec.device));
  }
  float(): Tensor {
    return this.to('float32');
  }
  long(): Tensor {
    return this.to('int64');
  }
  clone(): Tensor {
    return new Tensor(op.clone(this.handle));
  }
  detach(): Tensor {
    return new Tensor(op.detach(this.handle));
  }
  contiguous(): Tensor {
    return new Tensor(op.contiguous(this.handle));
  }

  /** Element values as a typed array (a copy, on the CPU); float16/bfloat16 come back as float32. */
  toTypedArray(): TypedArray {
    const dtype = this.dtype;
    if (dtype === 'float16' || dtype === 'bfloat16') return this.to('float32').toTypedArray();
    const buffer = native.toBuffer(this.handle);
    switch (dtype) {
      case 'float32':
        return new Float32Array(buffer);
      case 'float64':
        return new Float64Array(buffer);
      case 'int64':
        return new BigInt64Array(buffer);
      case 'int32':
        return new Int32Array(buffer);
      case 'int16':
        return new Int16Array(buffer);
      case 'int8':
        return new Int8Array(buffer);
      default:
        return new Uint8Array(buffer);
    }
  }
  /** Values as plain numbers, flattened row-major. */
  toArray(): number[] {
    const data = this.toTypedArray();
    return data instanceof BigInt64Array ? Array.from(data, Number) : Array.from(data as ArrayLike<number>);
  }
  /** Values as nested arrays of numbers, shaped like the tensor. */
  toNested(): unknown {
    const flat = this.toArray();
    const build = (dim: number, offset: number): unknown => {
      if (dim === this.ndim) return flat[offset];
      const stride = numelOf(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim]! }, (_, i) => build(dim + 1, offset + i * stride));
    };
    return build(0, 0);
  }
  item(): number {
    return native.item(this.handle);
  }
  toRaw(): RawTensor {
    return { dtype: this.dtype, shape: [...this.shape], data: new Uint8Array(native.toBuffer(this.handle)) };
  }

  // ---- autograd ----
  get requiresGrad(): boolean {
    return native.requiresGrad(this.handle);
  }
  set requiresGrad(value: boolean) {
    native.setRequiresGrad(this.handle, value);
  }
  requiresGrad_(value = true): this {
    native.setRequiresGrad(this.handle, value);
    return this;
  }
  /** The accumulated gradient (a new handle each call), or null. */
  get grad(): Tensor | null {
    const g = native.getGrad(this.handle);
    return g === null ? null : new Tensor(g);
  }
  set grad(value: Tensor | null) {
    native.setGrad(this.handle, value === null ? null : value.handle);
  }
  get isLeaf(): boolean {
    return native.isLeaf(this.handle);
  }
  get gradFn(): string | null {
    return native.gradFnName(this.handle);
  }
  retainGrad(): this {
    native.retainGrad(this.handle);
    return this;
  }
  backward(gradient?: Tensor, options: { retainGraph?: boolean; createGraph?: boolean } = {}): void {
    native.backward(
      [this.handle],
      gradient ? [gradient.handle] : null,
      options.retainGraph ?? false,
      options.createGraph ?? false,
    );
  }

  // ---- operators ----
  add(other: Operand, alpha?: number): Tensor {
    if (alpha === undefined || typeof other === 'number')
      return binaryOp(
        'add.Tensor',
        'add.Scalar',
        this,
        typeof other === 'number' && alpha !== undefined ? other * alpha : other,
      );
    return wrap(callOp('add.Tensor', this.handle, handleOf(other, 'add', 'other'), alpha));
  }
  sub(other: Operand): Tensor {
    return binaryOp('sub.Tensor', 'sub.Scalar', this, other);
  }
  /** `value - this` */
  rsub(value: number): Tensor {
    return wrap(callOp('rsub.Scalar', this.handle, value));
  }
  mul(other: Operand): Tensor {
    return binaryOp('mul.Tensor', 'mul.Scalar', this, other);
  }
  div(other: Operand): Tensor {
    return binaryOp('div.Tensor', 'div.Scalar', this, other);
  }
  pow(exponent: Operand): Tensor {
    return binaryOp('pow.Tensor_Tensor', 'pow.Tensor_Scalar', this, exponent);
  }
  neg(): Tensor {
    return wrap(callOp('neg', this.handle));
  }
  exp(): Tensor {
    return wrap(callOp('exp', this.handle));
  }
  log(): Tensor {
    return wrap(callOp('log', this.handle));
  }
  sqrt(): Tensor {
    return wrap(callOp('sqrt', this.handle));
  }
  rsqrt(): Tensor {
    return wrap(callOp('rsqrt', this.handle));
  }
  abs(): Tensor {
    return wrap(callOp('abs', this.handle));
  }
  sign(): Tensor {
    return wrap(callOp('sign', this.handle));
  }
  sin(): Tensor {
    return wrap(callOp('sin', this.handle));
  }
  cos(): Tensor {
    return wrap(callOp('cos', this.handle));
  }
  tanh(): Tensor {
    return wrap(callOp('tanh', this.handle));
  }
  sigmoid(): Tensor {
    return wrap(callOp('sigmoid', this.handle));
  }
  relu(): Tensor {
    return wrap(callOp('relu', this.handle));
  }
  reciprocal(): Tensor {
    return wrap(callOp('reciprocal', this.handle));
  }
  floor(): Tensor {
    return wrap(callOp('floor', this.handle));
  }
  round(): Tensor {
    return wrap(callOp('round', this.handle));
  }
  clamp(min?: number | null, max?: number | null): Tensor {
    return wrap(callOp('clamp', this.handle, min ?? null, max ?? null));
  }
  maximum(other: Tensor): Tensor {
    return wrap(callOp('maximum', this.handle, handleOf(other, 'maximum', 'other')));
  }
  minimum(other: Tensor): Tensor {
    return wrap(callOp('minimum', this.handle, handleOf(other, 'minimum', 'other')));
  }
  eq(other: Operand): Tensor {
    return binaryOp('eq.Tensor', 'eq.Scalar', this, other);
  }
  ne(other: Operand): Tensor {
    return binaryOp('ne.Tensor', 'ne.Scalar', this, other);
  }
  gt(other: Operand): Tensor {
    return binaryOp('gt.Tensor', 'gt.Scalar', this, other);
  }
  ge(other: Operand): Tensor {
    return binaryOp('ge.Tensor', 'ge.Scalar', this, other);
  }
  lt(other: Operand): Tensor {
    return binaryOp('lt.Tensor', 'lt.Scalar', this, other);
  }
  le(other: Operand): Tensor {
    return binaryOp('le.Tensor', 'le.Scalar', this, other);
  }
  logicalNot(): Tensor {
    return wrap(callOp('logical_not', this.handle));
  }
  logicalAnd(other: Tensor): Tensor {
    return wrap(callOp('logical_and', this.handle, handleOf(other, 'logicalAnd', 'other')));
  }
  logicalOr(other: Tensor): Tensor {
    return wrap(callOp('logical_or', this.handle, handleOf(other, 'logicalOr', 'other')));
  }
  isfinite(): Tensor {
    return wrap(callOp('isfinite', this.handle));
  }
  all(): Tensor {
    return wrap(callOp('all', this.handle));
  }
  any(): Tensor {
    return wrap(callOp('any', this.handle));
  }
  matmul(other: Tensor): Tensor {
    return wrap(callOp('matmul', this.handle, handleOf(other, 'matmul', 'other')));
  }
  mm(other: Tensor): Tensor {
    return wrap(callOp('mm', this.handle, handleOf(other, 'mm', 'other')));
  }
  bmm(other: Tensor): Tensor {
    return wrap(callOp('bmm', this.handle, handleOf(other, 'bmm', 'other')));
  }
  /** Sum of all elements, or over `dim`. */
  sum(dim?: number | number[], keepdim = false, dtype?: DType): Tensor {
    const code = dtype === undefined ? undefined : scalarTypeCode(dtype);
    if (dim === undefined) return wrap(callOp('sum', this.handle, code));
    return wrap(callOp('sum.dim_IntList', this.handle, dims(dim), keepdim, code));
  }
  mean(dim?: number | number[], keepdim = false): Tensor {
    if (dim === undefined) return wrap(callOp('mean', this.handle));
    return wrap(callOp('mean.dim', this.handle, dims(dim), keepdim));
  }
  /** Variance over `dim` with Bessel's correction unless `unbiased` is false. */
  var(dim: number | number[], unbiased = true, keepdim = false): Tensor {
    return wrap(callOp('var.correction', this.handle, dims(dim), unbiased ? 1 : 0, keepdim));
  }
  std(dim?: number | number[], unbiased = true, keepdim = false): Tensor {
    return wrap(callOp('std.correction', this.handle, dim === undefined ? null : dims(dim), unbiased ? 1 : 0, keepdim));
  }
  /** The largest element; with `dim`, use `maxDim`. */
  max(): Tensor {
    return wrap(callOp('max', this.handle));
  }
  maxDim(dim: number, keepdim = false): { values: Tensor; indices: Tensor } {
    const [values, indices] = callOp('max.dim', this.handle, dim, keepdim);
    return { values: wrap(values), indices: wrap(indices) };
  }
  min(): Tensor {
    return wrap(callOp('min', this.handle));
  }
  minDim(dim: number, keepdim = false): { values: Tensor; indices: Tensor } {
    const [values, indices] = callOp('min.dim', this.handle, dim, keepdim);
    return { values: wrap(values), indices: wrap(indices) };
  }
  amax(dim: number | number[], keepdim = false): Tensor {
    return wrap(callOp('amax', this.handle, dims(dim), keepdim));
  }
  argmax(dim?: number, keepdim = false): Tensor {
    return wrap(callOp('argmax', this.handle, dim ?? null, keepdim));
  }
  argmin(dim?: number, keepdim = false): Tensor {
    return wrap(callOp('argmin', this.handle, dim ?? null, keepdim));
  }
  topk(k: number, dim = -1, largest = true, sorted = true): { values: Tensor; indices: Tensor } {
    const [values, indices] = callOp('topk', this.handle, k, dim, largest, sorted);
    return { values: wrap(values), indices: wrap(indices) };
  }
  sort(dim = -1, descending = false): { values: Tensor; indices: Tensor } {
    const [values, indices] = callOp('sort', this.handle, dim, descending);
    return { values: wrap(values), indices: wrap(indices) };
  }
  argsort(dim = -1, descending = false): Tensor {
    return wrap(callOp('argsort', this.handle, dim, descending));
  }
  cumsum(dim: number): Tensor {
    return wrap(callOp('cumsum', this.handle, dim));
  }
  norm(p = 2, dim?: number | number[], keepdim = false): Tensor {
    return wrap(callOp('norm.ScalarOpt_dim', this.handle, p, dim === undefined ? [] : dims(dim), keepdim));
  }
  where(condition: Tensor, other: Tensor): Tensor {
    return wrap(
      callOp('where.self', handleOf(condition, 'where', 'condition'), this.handle, handleOf(other, 'where', 'other')),
    );
  }
  view(...shape: number[] | [number[]]): Tensor {
    return wrap(callOp('view', this.handle, shapeArgs(shape)));
  }
  reshape(...shape: number[] | [number[]]): Tensor {
    return wrap(callOp('reshape', this.handle, shapeArgs(shape)));
  }
  permute(...order: number[] | [number[]]): Tensor {
    return wrap(callOp('permute', this.handle, shapeArgs(order)));
  }
  transpose(dim0: number, dim1: number): Tensor {
    return wrap(callOp('transpose.int', this.handle, dim0, dim1));
  }
  /** Transpose of a 2-D tensor. */
  t(): Tensor {
    return wrap(callOp('transpose.int', this.handle, 0, 1));
  }
  expand(...shape: number[] | [number[]]): Tensor {
    return wrap(callOp('expand', this.handle, shapeArgs(shape)));
  }
  expandAs(other: Tensor): Tensor {
    return wrap(callOp('expand_as', this.handle, handleOf(other, 'expandAs', 'other')));
  }
  repeat(...repeats: number[] | [number[]]): Tensor {
    return wrap(callOp('repeat', this.handle, shapeArgs(repeats)));
  }
  repeatInterleave(repeats: number, dim?: number): Tensor {
    return wrap(callOp('repeat_interleave.self_int', this.handle, repeats, dim ?? null));
  }
  squeeze(dim?: number): Tensor {
    return wrap(dim === undefined ? callOp('squeeze', this.handle) : callOp('squeeze.dim', this.handle, dim));
  }
  unsqueeze(dim: number): Tensor {
    return wrap(callOp('unsqueeze', this.handle, dim));
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return wrap(callOp('flatten.using_ints', this.handle, startDim, endDim));
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return wrap(callOp('narrow', this.handle, dim, start, length));
  }
  select(dim: number, index: number): Tensor {
    return wrap(callOp('select.int', this.handle, dim, index));
  }
  /** Python's `t[start:end:step]` along `dim`. */
  slice(dim: number, start?: number | null, end?: number | null, step = 1): Tensor {
    return wrap(callOp('slice.Tensor', this.handle, dim, start ?? null, end ?? null, step));
  }
  split(size: number | number[], dim = 0): Tensor[] {
    return wrapAll(
      typeof size === 'number'
        ? callOp('split.Tensor', this.handle, size, dim)
        : callOp('split_with_sizes', this.handle, size, dim),
    );
  }
  chunk(chunks: number, dim = 0): Tensor[] {
    return wrapAll(callOp('chunk', this.handle, chunks, dim));
  }
  unbind(dim = 0): Tensor[] {
    return wrapAll(callOp('unbind.int', this.handle, dim));
  }
  flip(...order: number[] | [number[]]): Tensor {
    return wrap(callOp('flip', this.handle, shapeArgs(order)));
  }
  roll(shifts: number | number[], rollDims: number | number[]): Tensor {
    return wrap(callOp('roll', this.handle, dims(shifts), dims(rollDims)));
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return wrap(callOp('index_select', this.handle, dim, handleOf(index, 'indexSelect', 'index')));
  }
  gather(dim: number, index: Tensor): Tensor {
    return wrap(callOp('gather', this.handle, dim, handleOf(index, 'gather', 'index')));
  }
  scatter(dim: number, index: Tensor, src: Tensor): Tensor {
    return wrap(
      callOp('scatter.src', this.handle, dim, handleOf(index, 'scatter', 'index'), handleOf(src, 'scatter', 'src')),
    );
  }
  /** Advanced indexing `t[i0, i1, ...]` with index tensors (int64 or bool), null for `:`. */
  index(indices: (Tensor | null)[]): Tensor {
    return wrap(
      callOp(
        'index.Tensor',
        this.handle,
        indices.map((i) => (i === null ? null : handleOf(i, 'index', 'indices[]'))),
      ),
    );
  }
  maskedSelect(mask: Tensor): Tensor {
    return wrap(callOp('masked_select', this.handle, handleOf(mask, 'maskedSelect', 'mask')));
  }
  maskedFill(mask: Tensor, value: Operand): Tensor {
    const maskHandle = handleOf(mask, 'maskedFill', 'mask');
    return wrap(
      typeof value === 'number'
        ? callOp('masked_fill.Scalar', this.handle, maskHandle, value)
        : callOp('masked_fill.Tensor', this.handle, maskHandle, handleOf(value, 'maskedFill', 'value')),
    );
  }
  tril(diagonal = 0): Tensor {
    return wrap(callOp('tril', this.handle, diagonal));
  }
  triu(diagonal = 0): Tensor {
    return wrap(callOp('triu', this.handle, diagonal));
  }
  // in place: return `this`
  add_(other: Operand, alpha?: number): this {
    if (alpha === undefined) return binaryOpInPlace('add_.Tensor', 'add_.Scalar', this, other);
    if (typeof other === 'number') return binaryOpInPlace('add_.Tensor', 'add_.Scalar', this, other * alpha);
    callOpVoid('add_.Tensor', this.handle, handleOf(other, 'add_', 'other'), alpha);
    return this;
  }
  sub_(other: Operand): this {
    return binaryOpInPlace('sub_.Tensor', 'sub_.Scalar', this, other);
  }
  mul_(other: Operand): this {
    return binaryOpInPlace('mul_.Tensor', 'mul_.Scalar', this, other);
  }
  div_(other: Operand): this {
    return binaryOpInPlace('div_.Tensor', 'div_.Scalar', this, other);
  }
  copy_(src: Tensor): this {
    callOpVoid('copy_', this.handle, handleOf(src, 'copy_', 'src'));
    return this;
  }
  zero_(): this {
    callOpVoid('zero_', this.handle);
    return this;
  }
  fill_(value: number): this {
    callOpVoid('fill_.Scalar', this.handle, value);
    return this;
  }
  clamp_(min?: number | null, max?: number | null): this {
    callOpVoid('clamp_', this.handle, min ?? null, max ?? null);
    return this;
  }
  addcmul_(a: Tensor, b: Tensor, value = 1): this {
    callOpVoid('addcmul_', this.handle, handleOf(a, 'addcmul_', 'a'), handleOf(b, 'addcmul_', 'b'), value);
    return this;
  }
  addcdiv_(a: Tensor, b: Tensor, value = 1): this {
    callOpVoid('addcdiv_', this.handle, handleOf(a, 'addcdiv_', 'a'), handleOf(b, 'addcdiv_', 'b'), value);
    return this;
  }
  lerp_(end: Tensor, weight: number): this {
    callOpVoid('lerp_.Scalar', this.handle, handleOf(end, 'lerp_', 'end'), weight);
    return this;
  }
  indexPut_(indices: (Tensor | null)[], values: Tensor, accumulate = false): this {
    callOpVoid(
      'index_put_',
      this.handle,
      indices.map((i) => (i === null ? null : handleOf(i, 'indexPut_', 'indices[]'))),
      handleOf(values, 'indexPut_', 'values'),
      accumulate,
    );
    return this;
  }
}

/** A tensor or a number, for operators with Tensor and Scalar overloads. */
export type Operand = Tensor | number;

const wrap = (h: Handle): Tensor => new Tensor(h);
const wrapAll = (hs: Handle[]): Tensor[] => hs.map(wrap);
const dims = (d: number | number[]) => (typeof d === 'number' ? [d] : d);
/** `view(2, 3)` and `view([2, 3])` alike. */
const shapeArgs = (args: number[] | [number[]]): number[] =>
  args.length === 1 && Array.isArray(args[0]) ? args[0] : (args as number[]);

/** A number or boolean as is, else the tensor's handle; `tensorOp` (`add.Tensor`) names the op in errors. */
function scalarOrHandle(value: unknown, tensorOp: string): number | boolean | Handle {
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (value instanceof Tensor) return value.handle;
  return handleOf(value, tensorOp.slice(0, tensorOp.indexOf('.')), 'other');
}

/** Calls the Tensor or the Scalar overload of a binary operator. */
function binaryOp(tensorOp: string, scalarOp: string, self: Tensor, other: Operand): Tensor {
  const arg = scalarOrHandle(other, tensorOp);
  return wrap(
    typeof arg === 'number' || typeof arg === 'boolean'
      ? callOp(scalarOp, self.handle, arg)
      : callOp(tensorOp, self.handle, arg),
  );
}

/** `binaryOp` in place: returns `self`. */
function binaryOpInPlace<T extends Tensor>(tensorOp: string, scalarOp: string, self: T, other: Operand): T {
  const arg = scalarOrHandle(other, tensorOp);
  if (typeof arg === 'number' || typeof arg === 'boolean') callOpVoid(scalarOp, self.handle, arg);
  else callOpVoid(tensorOp, self.handle, arg);
  return self;
}

export function isDType(value: string): value is DType {
  return Object.hasOwn(DTYPE_BYTES, value);
}

/** Device strings libtorch accepts here: `cpu`, `cuda`, `cuda:N`, `meta`. */
export function isDevice(value: string): value is Device {
  return /^(cpu|meta|cuda(:\d+)?)$/.test(value);
}

function sameDevice(a: Device, b: Device): boolean {
  const norm = (d: Device) => (d === 'cuda' ? 'cuda:0' : d);
  return norm(a) === norm(b);
}

export function isTensor(value: unknown): value is Tensor {
  return value instanceof Tensor;
}

/** A short description of a JS value for error messages. */
export function describeArgument(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object'
    ? `an object (${value.constructor?.name ?? 'no prototype'})`
    : `${typeof value} ${String(value).slice(0, 20)}`;
}

/** The handle of a tensor argument, or a TypeError naming the operation and the argument. */
export function handleOf(value: unknown, op: string, arg: string): Handle {
  if (!(value instanceof Tensor)) throw new TypeError(`${op}: ${arg} must be a Tensor, got ${describeArgument(value)}`);
  return value.handle;
}

// ---- creation ----
function finish(t: Tensor, options: CreateOptions): Tensor {
  if (options.requiresGrad) t.requiresGrad = true;
  return t;
}

/** The dtype code for a creation call, after checking its device. */
function dtypeCode(options: CreateOptions, fallback: DType = 'float32'): number {
  if (options.device !== undefined) checkDevice(options.device, 'device');
  return scalarTypeCode(options.dtype ?? fallback);
}

/** Throws a TypeError naming `what` unless `device` is a device string this libtorch can use. */
export function checkDevice(device: string, what: string): void {
  if (typeof device !== 'string' || !isDevice(device))
    throw new TypeError(`${what}: '${device}' is not a device (cpu, cuda, cuda:N)`);
  if (!device.startsWith('cuda')) return;
  const count = native.cudaDeviceCount();
  const index = device === 'cuda' ? 0 : Number(device.slice(5));
  if (index >= count) {
    throw new Error(
      `${what}: '${device}' is not available (${count === 0 ? `libtorch ${native.version().torch} here has no CUDA device` : `${count} CUDA device(s)`})`,
    );
  }
}

const TYPED_ARRAY_DTYPES: [new (...args: any[]) => TypedArray, DType][] = [
  [Float32Array, 'float32'],
  [Float64Array, 'float64'],
  [Int32Array, 'int32'],
  [Int16Array, 'int16'],
  [Int8Array, 'int8'],
  [Uint8Array, 'uint8'],
  [BigInt64Array, 'int64'],
];

/** A tensor from a typed array (copied), shaped `shape` (default: 1-D). */
export function fromTypedArray(data: TypedArray, shape?: number[], options: CreateOptions = {}): Tensor {
  const native_dtype = TYPED_ARRAY_DTYPES.find(([ctor]) => data instanceof ctor)?.[1];
  if (!native_dtype) throw new TypeError('fromTypedArray: unsupported array type');
  const dims = shape ?? [data.length];
  if (numelOf(dims) !== data.length)
    throw new RangeError(`fromTypedArray: shape [${dims}] needs ${numelOf(dims)} elements, got ${data.length}`);
  if (options.device !== undefined) checkDevice(options.device, 'fromTypedArray device');
  let t = new Tensor(native.fromBuffer(data, scalarTypeCode(native_dtype), dims, options.device));
  if (options.dtype && options.dtype !== native_dtype) {
    const cast = t.to(options.dtype);
    t.dispose();
    t = cast;
  }
  return finish(t, options);
}

/** A tensor from a RawTensor record (bytes copied). */
export function fromRaw(raw: RawTensor, options: { device?: Device } = {}): Tensor {
  if (options.device !== undefined) checkDevice(options.device, 'fromRaw device');
  return new Tensor(native.fromBuffer(raw.data, scalarTypeCode(raw.dtype), raw.shape, options.device));
}

/** A tensor from nested JS arrays of numbers or booleans; floats become float32 unless `dtype` says otherwise. */
export function tensor(values: unknown, options: CreateOptions = {}): Tensor {
  const shape: number[] = [];
  let probe: unknown = values;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    probe = probe[0];
  }
  const flat = (Array.isArray(values) ? (values as unknown[]).flat(Infinity) : [values]) as (number | boolean)[];
  if (flat.length !== numelOf(shape))
    throw new RangeError(`tensor(): ragged nested array (shape [${shape}] vs ${flat.length} values)`);
  flat.forEach((v, i) => {
    if (typeof v !== 'number' && typeof v !== 'boolean')
      throw new TypeError(
        `tensor(): element ${i} is ${typeof v} (${String(v).slice(0, 20)}), expected a number or boolean`,
      );
  });
  const dtype = options.dtype ?? (typeof flat[0] === 'boolean' ? 'bool' : 'float32');
  dtypeCode({ dtype, device: options.device }); // rejects an unknown dtype or device before any allocation
  // float16/bfloat16/bool have no JS typed array: build float32/uint8 and let libtorch cast.
  const carrier: DType = dtype === 'bool' ? 'uint8' : dtype === 'float16' || dtype === 'bfloat16' ? 'float32' : dtype;
  let data: TypedArray;
  switch (carrier) {
    case 'int64':
      data = BigInt64Array.from(flat, (v) => BigInt(Math.trunc(Number(v))));
      break;
    case 'int32':
      data = Int32Array.from(flat, Number);
      break;
    case 'int16':
      data = Int16Array.from(flat, Number);
      break;
    case 'int8':
      data = Int8Array.from(flat, Number);
      break;
    case 'uint8':
      data = Uint8Array.from(flat, Number);
      break;
    case 'float64':
      data = Float64Array.from(flat, Number);
      break;
    default:
      data = Float32Array.from(flat, Number);
  }
  const base = new Tensor(native.fromBuffer(data, scalarTypeCode(carrier), shape, options.device));
  let t = base;
  if (carrier !== dtype) {
    t = base.to(dtype);
    base.dispose();
  }
  return finish(t, options);
}

export function empty(shape: number[], options: CreateOptions = {}): Tensor {
  return finish(new Tensor(op.empty(shape, dtypeCode(options), undefined, options.device)), options);
}
export function zeros(shape: number[], options: CreateOptions = {}): Tensor {
  return finish(new Tensor(op.zeros(shape, dtypeCode(options), undefined, options.device)), options);
}
export function ones(shape: number[], options: CreateOptions = {}): Tensor {
  return finish(new Tensor(op.ones(shape, dtypeCode(options), undefined, options.device)), options);
}
export function full(shape: number[], value: number, options: CreateOptions = {}): Tensor {
  return finish(new Tensor(op.full(shape, value, dtypeCode(options), undefined, options.device)), options);
}
export function eye(n: number, options: CreateOptions = {}): Tensor {
  return finish(new Tensor(op.eye(n, dtypeCode(options), undefined, options.device)), options);
}
/** Values from `start` (inclusive) to `end` (exclusive); integer arguments give int64 unless `dtype` says otherwise. */
export function arange(start: number, end?: number, step = 1, options: CreateOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  const integral = Number.isInteger(start) && Number.isInteger(end) && Number.isInteger(step);
  return finish(
    new Tensor(
      op.arange(start, end, step, dtypeCode(options, integral ? 'int64' : 'float32'), undefined, options.device),
    ),
    options,
  );
}
export function linspace(start: number, end: number, steps: number, options: CreateOptions = {}): Tensor {
  return finish(new Tensor(op.linspace(start, end, steps, dtypeCode(options), undefined, options.device)), options);
}
export function rand(shape: number[], options: CreateOptions = {}): Tensor {
  return finish(new Tensor(op.rand(shape, dtypeCode(options), undefined, options.device)), options);
}
export function randn(shape: number[], options: CreateOptions = {}): Tensor {
  return finish(new Tensor(op.randn(shape, dtypeCode(options), undefined, options.device)), options);
}
/** Integers in [low, high). */
export function randint(low: number, high: number, shape: number[], options: CreateOptions = {}): Tensor {
  return finish(
    new Tensor(op.randint(low, high, shape, dtypeCode(options, 'int64'), undefined, options.device)),
    options,
  );
}
export function randperm(n: number, options: CreateOptions = {}): Tensor {
  return finish(new Tensor(op.randperm(n, dtypeCode(options, 'int64'), undefined, options.device)), options);
}

/** Seeds libtorch's default generators (CPU and CUDA). */
export function manualSeed(seed: number): void {
  native.manualSeed(seed);
}
