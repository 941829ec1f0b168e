/**
 * libtorch's multi-tensor (`_foreach_*`) operators over lists of tensors. On CUDA they run as a few
 * fused kernels; on the CPU libtorch loops over the same per-tensor operators, so the numbers equal the
 * per-tensor path's there. Scalar-list overloads are not used: the addon passes no `Scalar[]`, so callers
 * bucket tensors that share a scalar (e.g. the same step count) and use the `.Scalar` overloads.
 */
import { Tensor } from '../tensor.ts';
import { aten, atenInPlace } from '../ops.ts';

const op = {
  mulScalar_: atenInPlace('_foreach_mul_.Scalar'),
  addScalar_: atenInPlace('_foreach_add_.Scalar'),
  divScalar_: atenInPlace('_foreach_div_.Scalar'),
  addList_: atenInPlace('_foreach_add_.List'),
  addList: aten('_foreach_add.List'),
  addcmulScalar_: atenInPlace('_foreach_addcmul_.Scalar'),
  addcdivScalar_: atenInPlace('_foreach_addcdiv_.Scalar'),
  maximumList_: atenInPlace('_foreach_maximum_.List'),
  sqrt: aten('_foreach_sqrt'),
  neg: aten('_foreach_neg'),
};

const handles = (tensors: Tensor[]) => tensors.map((t) => t.handle);
const wrapAll = (hs: unknown[]) => hs.map((h) => new Tensor(h as Tensor['handle']));

/** `t *= scalar` for each t. */
export function foreachMul_(tensors: Tensor[], scalar: number): void {
  op.mulScalar_(handles(tensors), scalar);
}
/** `t += scalar` for each t. */
export function foreachAddScalar_(tensors: Tensor[], scalar: number): void {
  op.addScalar_(handles(tensors), scalar);
}
/** `t /= scalar` for each t. */
export function foreachDiv_(tensors: Tensor[], scalar: number): void {
  op.divScalar_(handles(tensors), scalar);
}
/** `self[i] += alpha * other[i]`. */
export function foreachAdd_(self: Tensor[], other: Tensor[], alpha = 1): void {
  op.addList_(handles(self), handles(other), alpha);
}
/** `self[i] + alpha * other[i]`, as new tensors. */
export function foreachAdd(self: Tensor[], other: Tensor[], alpha = 1): Tensor[] {
  return wrapAll(op.addList(handles(self), handles(other), alpha));
}
/** `self[i] += value * a[i] * b[i]`. */
export function foreachAddcmul_(self: Tensor[], a: Tensor[], b: Tensor[], value: number): void {
  op.addcmulScalar_(handles(self), handles(a), handles(b), value);
}
/** `self[i] += value * a[i] / b[i]`. */
export function foreachAddcdiv_(self: Tensor[], a: Tensor[], b: Tensor[], value: number): void {
  op.addcdivScalar_(handles(self), handles(a), handles(b), value);
}
/** `self[i] = max(self[i], other[i])` elementwise. */
export function foreachMaximum_(self: Tensor[], other: Tensor[]): void {
  op.maximumList_(handles(self), handles(other));
}
export function foreachSqrt(tensors: Tensor[]): Tensor[] {
  return wrapAll(op.sqrt(handles(tensors)));
}
export function foreachNeg(tensors: Tensor[]): Tensor[] {
  return wrapAll(op.neg(handles(tensors)));
}

/** Splits items into buckets of equal key, keeping first-seen order (for `.Scalar` foreach calls). */
export function bucketBy<T>(items: T[], key: (item: T) => string): T[][] {
  const buckets = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const bucket = buckets.get(k);
    if (bucket) bucket.push(item);
    else buckets.set(k, [item]);
  }
  return [...buckets.values()];
}
