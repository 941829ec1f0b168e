/**
 * ATen operators by their schema names. Each is looked up once, on first use, and then called
 * through the dispatcher with positional arguments in schema order (`undefined` = default).
 */
import { native } from './native.ts';

export type OpFn = (...args: unknown[]) => any;

const cache = new Map<string, number>();

/**
 * Sees every operator call while set (the ONNX exporter's tracer, src/export/trace.ts): the
 * schema name, the arguments as passed and the raw result (`inPlace`: the result is `args[0]`).
 */
export type OpRecorder = (qualified: string, args: unknown[], result: unknown, inPlace: boolean) => void;
let recorder: OpRecorder | null = null;
/** Whether an op recorder is installed (fused kernels that have no ONNX mapping step aside then). */
export function isRecordingOps(): boolean {
  return recorder !== null;
}
/** Installs `r` (null: none) and returns the one it replaces. */
export function setOpRecorder(r: OpRecorder | null): OpRecorder | null {
  const previous = recorder;
  recorder = r;
  return previous;
}

function resolve(qualified: string): number {
  let id = cache.get(qualified);
  if (id !== undefined) return id;
  const dot = qualified.indexOf('.');
  const name = `aten::${dot < 0 ? qualified : qualified.slice(0, dot)}`;
  const overload = dot < 0 ? '' : qualified.slice(dot + 1);
  id = native.opHandle(name, overload);
  if (id < 0)
    throw new Error(`libtorch ${native.version().torch} has no operator ${name}${overload ? '.' + overload : ''}`);
  cache.set(qualified, id);
  return id;
}

/** `aten('add.Tensor')` -> a function calling `aten::add.Tensor` and returning its raw result. */
export function aten(qualified: string): OpFn {
  let id = -1;
  return (...args: unknown[]) => {
    if (id < 0) id = resolve(qualified);
    if (recorder === null) return native.call(id, ...args);
    const result = native.call(id, ...args);
    recorder(qualified, args, result, false);
    return result;
  };
}

/** Calls `aten::<qualified>` now (the operator is looked up once, then cached by name). */
export function callOp(qualified: string, ...args: unknown[]): any {
  const result = native.call(resolve(qualified), ...args);
  if (recorder !== null) recorder(qualified, args, result, false);
  return result;
}

/** `callOp` for in-place operators whose result is the input itself: returns nothing. */
export function callOpVoid(qualified: string, ...args: unknown[]): void {
  native.callVoid(resolve(qualified), ...args);
  if (recorder !== null) recorder(qualified, args, args[0], true);
}

/** Like `aten`, for in-place operators whose result is the input itself: returns nothing. */
export function atenInPlace(qualified: string): OpFn {
  let id = -1;
  return (...args: unknown[]) => {
    if (id < 0) id = resolve(qualified);
    native.callVoid(id, ...args);
    if (recorder !== null) recorder(qualified, args, args[0], true);
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
