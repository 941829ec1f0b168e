/** Operators over several tensors as free functions; the `Tensor` methods are declared in tensor.ts. */
import { Tensor, handleOf, describeArgument } from './tensor.ts';
import { aten } from './ops.ts';
import type { Handle } from './native.ts';

const wrap = (h: Handle): Tensor => new Tensor(h);

function tensorList(values: unknown, op: string): Handle[] {
  if (!Array.isArray(values))
    throw new TypeError(`${op}: expected an array of tensors, got ${describeArgument(values)}`);
  return values.map((t, i) => handleOf(t, op, `tensors[${i}]`));
}

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
