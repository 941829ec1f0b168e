/** Element types and devices, and their codes in libtorch (c10::ScalarType). */
import type { DType } from './serialization/raw-tensor.ts';
export type { DType } from './serialization/raw-tensor.ts';

const SCALAR_TYPE_CODES: Record<DType, number> = {
  uint8: 0,
  int8: 1,
  int16: 2,
  int32: 3,
  int64: 4,
  float16: 5,
  float32: 6,
  float64: 7,
  bool: 11,
  bfloat16: 15,
};
const DTYPE_BY_CODE = new Map<number, DType>(Object.entries(SCALAR_TYPE_CODES).map(([k, v]) => [v, k as DType]));

export function scalarTypeCode(dtype: DType): number {
  const code = SCALAR_TYPE_CODES[dtype];
  if (code === undefined)
    throw new TypeError(`unknown dtype '${dtype}' (expected one of ${Object.keys(SCALAR_TYPE_CODES).join(', ')})`);
  return code;
}

export function dtypeFromCode(code: number): DType {
  const dtype = DTYPE_BY_CODE.get(code);
  if (!dtype) throw new TypeError(`libtorch scalar type ${code} has no dtype here`);
  return dtype;
}

export function isFloatingDType(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64' || dtype === 'float16' || dtype === 'bfloat16';
}

/** `cpu`, `cuda` (the current CUDA device) or `cuda:N`. */
export type Device = string;

/** Reduction codes of `at::Reduction` used by loss ops. */
export const Reduction = { none: 0, mean: 1, sum: 2 } as const;
export type ReductionName = keyof typeof Reduction;
