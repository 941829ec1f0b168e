/**
 * Tensors as a `torch.save` pickle describes them (a typed storage plus offset, shape and strides in
 * elements) and their materialisation into C-contiguous `RawTensor`s. The strided extent is checked
 * against the storage before any byte is read, so a hostile shape or stride cannot read out of bounds.
 */
import { constants as bufferConstants } from 'node:buffer';
import { DTYPE_BYTES, numelOf, type DType, type RawTensor } from './raw-tensor.ts';

/** One `data/<key>` record of the archive, viewed as `numel` elements of `dtype`. */
export interface PtStorage {
  key: string;
  dtype: DType;
  numel: number;
  bytes: Uint8Array;
}

/** What `torch._utils._rebuild_tensor_v2` receives; materialised later, when its key path is known. */
export class StridedTensorRecord {
  constructor(
    readonly storage: PtStorage,
    readonly storageOffset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

/** A tensor read from a checkpoint: a RawTensor that owns its bytes. `instanceof` tells it from a dict. */
export class LoadedTensor implements RawTensor {
  constructor(
    readonly dtype: DType,
    readonly shape: number[],
    readonly data: Uint8Array,
  ) {}
}

export function isLoadedTensor(value: unknown): value is LoadedTensor {
  return value instanceof LoadedTensor;
}

function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let step = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = step;
    step *= shape[d];
  }
  return strides;
}

function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  const expected = contiguousStrides(shape);
  // A dimension of size 1 is never stepped over, so its stride does not matter.
  return shape.every((size, d) => size === 1 || stride[d] === expected[d]);
}

/** Copies the strided elements into row-major order, one innermost row at a time. */
function gatherStrided(
  source: Uint8Array,
  elementBytes: number,
  offset: number,
  shape: number[],
  stride: number[],
  out: Uint8Array,
): void {
  const ndim = shape.length;
  const rowLength = shape[ndim - 1];
  const rowStride = stride[ndim - 1];
  const rowCount = out.length / elementBytes / rowLength;
  const counter = new Array<number>(ndim).fill(0);
  let sourceElement = offset;
  let target = 0;
  for (let row = 0; row < rowCount; row++) {
    if (rowStride === 1) {
      out.set(source.subarray(sourceElement * elementBytes, (sourceElement + rowLength) * elementBytes), target);
      target += rowLength * elementBytes;
    } else {
      for (let i = 0; i < rowLength; i++) {
        const from = (sourceElement + i * rowStride) * elementBytes;
        for (let b = 0; b < elementBytes; b++) out[target++] = source[from + b];
      }
    }
    for (let d = ndim - 2; d >= 0; d--) {
      sourceElement += stride[d];
      if (++counter[d] < shape[d]) break;
      sourceElement -= stride[d] * shape[d];
      counter[d] = 0;
    }
  }
}

/**
 * A view that repeats storage elements (a stride-0 `expand`, overlapping strides) may materialise to at
 * most this many bytes: a few bytes of storage can otherwise ask for gigabytes.
 */
export const MAX_REPEATED_VIEW_BYTES = 64 * 1024 * 1024;

/**
 * Materialises a tensor record as a contiguous LoadedTensor; `where` names it (file and key path).
 * With `views`, a contiguous tensor's data is a view of the storage (no copy), for callers that copy
 * it into libtorch right away; otherwise every tensor owns its bytes.
 */
export function materializeTensor(
  record: StridedTensorRecord,
  where: string,
  options: { views?: boolean } = {},
): LoadedTensor {
  const { storage, storageOffset, shape, stride } = record;
  const fail = (what: string): never => {
    throw new Error(
      `${where}: tensor (storage '${storage.key}', ${storage.dtype}, shape [${shape}], stride [${stride}], offset ${storageOffset}) ${what}`,
    );
  };
  const elementBytes = DTYPE_BYTES[storage.dtype];
  const numel = numelOf(shape);
  if (numel === 0) return new LoadedTensor(storage.dtype, [...shape], new Uint8Array(0));
  let lastElement = storageOffset;
  for (let d = 0; d < shape.length; d++) lastElement += (shape[d] - 1) * stride[d];
  if (lastElement >= storage.numel) {
    fail(`reaches element ${lastElement}, past the ${storage.numel} elements of its storage`);
  }
  const outputBytes = numel * elementBytes;
  if (numel > storage.numel && outputBytes > MAX_REPEATED_VIEW_BYTES) {
    fail(
      `has ${numel} elements viewing a storage of ${storage.numel} (a stride-0 or overlapping view) and would expand to ${outputBytes} bytes, past the ${MAX_REPEATED_VIEW_BYTES}-byte limit for such views`,
    );
  }
  if (outputBytes > bufferConstants.MAX_LENGTH) fail(`needs ${outputBytes} bytes, more than one buffer can hold`);
  const begin = storageOffset * elementBytes;
  if (isContiguous(shape, stride)) {
    // By default a copy (not a view), so tensors sharing a storage never alias one another or the file buffer.
    const bytes = storage.bytes.subarray(begin, begin + outputBytes);
    return new LoadedTensor(storage.dtype, [...shape], options.views ? bytes : new Uint8Array(bytes));
  }
  const out = new Uint8Array(outputBytes);
  gatherStrided(storage.bytes, elementBytes, storageOffset, shape, stride, out);
  return new LoadedTensor(storage.dtype, [...shape], out);
}
