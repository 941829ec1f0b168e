/**
 * A tensor as plain bytes, before it reaches libtorch: what file readers (safetensors, PyTorch `.pt`)
 * produce and writers consume. `Tensor.fromRaw` / `tensor.toRaw()` convert to and from live tensors.
 */
export type DType =
  'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

export const DTYPE_BYTES: Record<DType, number> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

export interface RawTensor {
  dtype: DType;
  shape: number[];
  /** Row-major (C-contiguous) little-endian element bytes; length = product(shape) * DTYPE_BYTES[dtype]. */
  data: Uint8Array;
}

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
