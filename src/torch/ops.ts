/**
 * ATen operators by their schema names. Each is looked up once, on first use, and then called
 * through the dispatcher with positional arguments in schema order (`undefined` = default).
 */
import { native } from './native.ts';

export type OpFn = (...args: unknown[]) => any;

const cache = new Map<string, number>();

function resolve(qualified: string): number {
  let id = cache.get(qualified);
  if (id !== undefined) return id;
  const dot = qualified.indexOf('.');
  const name = `aten::${dot < 0 ? qualified : qualified.slice(0, dot)}`;
  const overload = dot < 0 ? '' : qualified.slice(dot + 1);
  id = native.opHandle(name, overload);
  if (id < 0) throw new Error(`libtorch ${native.version().torch} has no operator ${name}${overload ? '.' + overload : ''}`);
  cache.set(qualified, id);
  return id;
}

/** `aten('add.Tensor')` -> a function calling `aten::add.Tensor` and returning its raw result. */
export function aten(qualified: string): OpFn {
  let id = -1;
  return (...args: unknown[]) => {
    if (id < 0) id = resolve(qualified);
    return native.call(id, ...args);
  };
}

/** Calls `aten::<qualified>` now (the operator is looked up once, then cached by name). */
export function callOp(qualified: string, ...args: unknown[]): any {
  return native.call(resolve(qualified), ...args);
}

/** `callOp` for in-place operators whose result is the input itself: returns nothing. */
export function callOpVoid(qualified: string, ...args: unknown[]): void {
  native.callVoid(resolve(qualified), ...args);
}

/** Like `aten`, for in-place operators whose result is the input itself: returns nothing. */
export function atenInPlace(qualified: string): OpFn {
  let id = -1;
  return (...args: unknown[]) => {
    if (id < 0) id = resolve(qualified);
    native.callVoid(id, ...args);
  };
}

/** Whether this libtorch has an operator (used to pick fallbacks across libtorch versions). */
export function hasOp(qualified: string): boolean {
  try {
    resolve(qualified);
    return true;
  } catch {
    return false;
  }
}

/** The schema text of an operator, for error messages and debugging. */
export function opSchema(qualified: string): string {
  return native.opSchema(resolve(qualified));
}
