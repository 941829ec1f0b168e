/**
 * The element order that PyTorch's CPU `topk` and (non-stable) `sort` produce, ties included.
 *
 * Why: the original metrics read predictions from `output.topk(k, 1, True, True)` and torchnet's
 * APMeter ranks rows with `torch.sort(scores, 0, True)`. Saturated softmax scores (zero-shot scores are
 * `100 * feature @ class.T` on unnormalised frame features) tie exactly in float32, and then the
 * reported accuracy depends on which tied class the C++ standard library puts first. PyTorch 1.x/2.x
 * CPU kernels (`TopKImpl.h`, `SortingKernel.cpp`) call libstdc++'s `std::partial_sort` (when
 * `k * 64 <= n`), else `std::nth_element` followed by `std::sort` of the first `k - 1`, and `std::sort`
 * for `torch.sort`; all with the comparator "x > y, NaN above numbers". This file re-implements those
 * libstdc++ algorithms (introselect, introsort, heap select) step for step on (key, index) pairs.
 *
 * Keys are compared as given; callers pass float32 values (Math.fround) to match float tensors.
 */

/** A sequence of (key, index) pairs that the algorithms permute together. */
export interface KeyedSequence {
  keys: Float64Array;
  ids: Int32Array;
}

type Comp = (a: number, b: number) => boolean;

/** torch's "largest first" comparator: NaN ranks above every number. */
export const greaterNanFirst: Comp = (x, y) => (Number.isNaN(x) && !Number.isNaN(y)) || x > y;

const SORT_THRESHOLD = 16;

function lg(n: number): number {
  return 31 - Math.clz32(n);
}

function iterSwap(s: KeyedSequence, a: number, b: number): void {
  const k = s.keys[a]!;
  s.keys[a] = s.keys[b]!;
  s.keys[b] = k;
  const i = s.ids[a]!;
  s.ids[a] = s.ids[b]!;
  s.ids[b] = i;
}

function moveTo(s: KeyedSequence, to: number, from: number): void {
  s.keys[to] = s.keys[from]!;
  s.ids[to] = s.ids[from]!;
}

function moveMedianToFirst(s: KeyedSequence, result: number, a: number, b: number, c: number, comp: Comp): void {
  const k = s.keys;
  if (comp(k[a]!, k[b]!)) {
    if (comp(k[b]!, k[c]!)) iterSwap(s, result, b);
    else if (comp(k[a]!, k[c]!)) iterSwap(s, result, c);
    else iterSwap(s, result, a);
  } else if (comp(k[a]!, k[c]!)) iterSwap(s, result, a);
  else if (comp(k[b]!, k[c]!)) iterSwap(s, result, c);
  else iterSwap(s, result, b);
}

function unguardedPartition(s: KeyedSequence, first: number, last: number, pivot: number, comp: Comp): number {
  const k = s.keys;
  for (;;) {
    while (comp(k[first]!, k[pivot]!)) first++;
    last--;
    while (comp(k[pivot]!, k[last]!)) last--;
    if (!(first < last)) return first;
    iterSwap(s, first, last);
    first++;
  }
}

function unguardedPartitionPivot(s: KeyedSequence, first: number, last: number, comp: Comp): number {
  const mid = first + Math.floor((last - first) / 2);
  moveMedianToFirst(s, first, first + 1, mid, last - 1, comp);
  return unguardedPartition(s, first + 1, last, first, comp);
}

function unguardedLinearInsert(s: KeyedSequence, last: number, comp: Comp): void {
  const key = s.keys[last]!;
  const id = s.ids[last]!;
  let next = last - 1;
  while (comp(key, s.keys[next]!)) {
    moveTo(s, last, next);
    last = next;
    next--;
  }
  s.keys[last] = key;
  s.ids[last] = id;
}

function insertionSort(s: KeyedSequence, first: number, last: number, comp: Comp): void {
  if (first === last) return;
  for (let i = first + 1; i !== last; i++) {
    if (comp(s.keys[i]!, s.keys[first]!)) {
      const key = s.keys[i]!;
      const id = s.ids[i]!;
      s.keys.copyWithin(first + 1, first, i);
      s.ids.copyWithin(first + 1, first, i);
      s.keys[first] = key;
      s.ids[first] = id;
    } else {
      unguardedLinearInsert(s, i, comp);
    }
  }
}

function finalInsertionSort(s: KeyedSequence, first: number, last: number, comp: Comp): void {
  if (last - first > SORT_THRESHOLD) {
    insertionSort(s, first, first + SORT_THRESHOLD, comp);
    for (let i = first + SORT_THRESHOLD; i !== last; i++) unguardedLinearInsert(s, i, comp);
  } else {
    insertionSort(s, first, last, comp);
  }
}

function pushHeap(s: KeyedSequence, first: number, holeIndex: number, topIndex: number, key: number, id: number, comp: Comp): void {
  let parent = Math.floor((holeIndex - 1) / 2);
  while (holeIndex > topIndex && comp(s.keys[first + parent]!, key)) {
    moveTo(s, first + holeIndex, first + parent);
    holeIndex = parent;
    parent = Math.floor((holeIndex - 1) / 2);
  }
  s.keys[first + holeIndex] = key;
  s.ids[first + holeIndex] = id;
}

function adjustHeap(s: KeyedSequence, first: number, holeIndex: number, len: number, key: number, id: number, comp: Comp): void {
  const topIndex = holeIndex;
  let secondChild = holeIndex;
  while (secondChild < Math.floor((len - 1) / 2)) {
    secondChild = 2 * (secondChild + 1);
    if (comp(s.keys[first + secondChild]!, s.keys[first + secondChild - 1]!)) secondChild--;
    moveTo(s, first + holeIndex, first + secondChild);
    holeIndex = secondChild;
  }
  if ((len & 1) === 0 && secondChild === Math.floor((len - 2) / 2)) {
    secondChild = 2 * (secondChild + 1);
    moveTo(s, first + holeIndex, first + secondChild - 1);
    holeIndex = secondChild - 1;
  }
  pushHeap(s, first, holeIndex, topIndex, key, id, comp);
}

function makeHeap(s: KeyedSequence, first: number, last: number, comp: Comp): void {
  const len = last - first;
  if (len < 2) return;
  for (let parent = Math.floor((len - 2) / 2); ; parent--) {
    adjustHeap(s, first, parent, len, s.keys[first + parent]!, s.ids[first + parent]!, comp);
    if (parent === 0) return;
  }
}

function popHeap(s: KeyedSequence, first: number, last: number, result: number, comp: Comp): void {
  const key = s.keys[result]!;
  const id = s.ids[result]!;
  moveTo(s, result, first);
  adjustHeap(s, first, 0, last - first, key, id, comp);
}

function heapSelect(s: KeyedSequence, first: number, middle: number, last: number, comp: Comp): void {
  makeHeap(s, first, middle, comp);
  for (let i = middle; i < last; i++) {
    if (comp(s.keys[i]!, s.keys[first]!)) popHeap(s, first, middle, i, comp);
  }
}

function sortHeap(s: KeyedSequence, first: number, last: number, comp: Comp): void {
  while (last - first > 1) {
    last--;
    popHeap(s, first, last, last, comp);
  }
}

/** libstdc++ `std::partial_sort(first, middle, last, comp)`. */
export function stdPartialSort(s: KeyedSequence, first: number, middle: number, last: number, comp: Comp): void {
  heapSelect(s, first, middle, last, comp);
  sortHeap(s, first, middle, comp);
}

function introsortLoop(s: KeyedSequence, first: number, last: number, depthLimit: number, comp: Comp): void {
  while (last - first > SORT_THRESHOLD) {
    if (depthLimit === 0) {
      stdPartialSort(s, first, last, last, comp);
      return;
    }
    depthLimit--;
    const cut = unguardedPartitionPivot(s, first, last, comp);
    introsortLoop(s, cut, last, depthLimit, comp);
    last = cut;
  }
}

/** libstdc++ `std::sort(first, last, comp)` (introsort + final insertion sort). */
export function stdSort(s: KeyedSequence, first: number, last: number, comp: Comp): void {
  if (first === last) return;
  introsortLoop(s, first, last, lg(last - first) * 2, comp);
  finalInsertionSort(s, first, last, comp);
}

/** libstdc++ `std::nth_element(first, nth, last, comp)` (introselect). */
export function stdNthElement(s: KeyedSequence, first: number, nth: number, last: number, comp: Comp): void {
  if (first === last || nth === last) return;
  let depthLimit = lg(last - first) * 2;
  while (last - first > 3) {
    if (depthLimit === 0) {
      heapSelect(s, first, nth + 1, last, comp);
      iterSwap(s, first, nth);
      return;
    }
    depthLimit--;
    const cut = unguardedPartitionPivot(s, first, last, comp);
    if (cut <= nth) first = cut;
    else last = cut;
  }
  insertionSort(s, first, last, comp);
}

function keyedFrom(values: ArrayLike<number>, start: number, length: number, stride: number): KeyedSequence {
  const keys = new Float64Array(length);
  const ids = new Int32Array(length);
  for (let j = 0; j < length; j++) {
    keys[j] = Math.fround(values[start + j * stride]!);
    ids[j] = j;
  }
  return { keys, ids };
}

/**
 * Indices of the `k` largest of `length` float32 values (`values[start + j * stride]`), in the order
 * `torch.topk(k, largest=True, sorted=True)` returns them on CPU.
 */
export function torchTopkIndices(values: ArrayLike<number>, k: number, start = 0, length = values.length - start, stride = 1): Int32Array {
  if (!Number.isInteger(k) || k < 1 || k > length) {
    throw new RangeError(`torchTopkIndices: k = ${k} must be an integer in [1, ${length}] (the number of values)`);
  }
  const s = keyedFrom(values, start, length, stride);
  if (k * 64 <= length) {
    stdPartialSort(s, 0, k, length, greaterNanFirst);
  } else {
    stdNthElement(s, 0, k - 1, length, greaterNanFirst);
    stdSort(s, 0, k - 1, greaterNanFirst);
  }
  return s.ids.slice(0, k);
}

/**
 * Positions of `length` float32 values (`values[start + j * stride]`) in the order
 * `torch.sort(values, descending=True)` (not stable) puts them on CPU.
 */
export function torchSortDescendingIndices(values: ArrayLike<number>, start = 0, length = values.length - start, stride = 1): Int32Array {
  const s = keyedFrom(values, start, length, stride);
  stdSort(s, 0, length, greaterNanFirst);
  return s.ids;
}
