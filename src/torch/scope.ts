/**
 * Native memory must not wait for the JS garbage collector. A scope records every tensor created
 * while it is open; when it closes it frees them all except those it returns (and those kept).
 * Tensors no scope will free (made outside every scope, kept, or returned from the outermost one)
 * are counted as V8 external memory, so that the collector weighs what their handles hold.
 */
import type { Tensor } from './tensor.ts';
import { native } from './native.ts';

interface Scope {
  tensors: Set<Tensor>;
}

const stack: Scope[] = [];

/** Called by the Tensor constructor. */
export function trackTensor(t: Tensor): void {
  const top = stack[stack.length - 1];
  if (top) top.tensors.add(t);
  else native.accountMemory(t.handle);
}

/** Removes a tensor from every open scope: it lives until disposed or collected. */
export function untrackTensor(t: Tensor): void {
  for (const scope of stack) scope.tensors.delete(t);
  if (!t.isDisposed) native.accountMemory(t.handle);
}

function collectTensors(value: unknown, out: Set<Tensor>, seen: Set<unknown>): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if ((value as { isTensor?: boolean }).isTensor === true) {
    out.add(value as Tensor);
    return;
  }
  if (Array.isArray(value)) {
    for (const item of value) collectTensors(item, out, seen);
  } else if (value instanceof Map) {
    for (const item of value.values()) collectTensors(item, out, seen);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const item of Object.values(value)) collectTensors(item, out, seen);
  }
}

/**
 * Runs `fn` in a scope: tensors it creates are freed when it returns, except the tensors found in
 * its result (in arrays, Maps and plain objects), which move to the enclosing scope.
 */
export function tidy<T>(fn: () => T): T {
  const scope: Scope = { tensors: new Set() };
  stack.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    stack.pop();
    for (const t of scope.tensors) t.dispose();
    throw error;
  }
  stack.pop();
  if (result instanceof Promise) {
    for (const t of scope.tensors) t.dispose();
    throw new Error('tidy() takes a synchronous function; await outside it');
  }
  const kept = new Set<Tensor>();
  collectTensors(result, kept, new Set());
  const parent = stack[stack.length - 1];
  for (const t of scope.tensors) {
    if (!kept.has(t)) t.dispose();
    else if (parent) parent.tensors.add(t);
    else native.accountMemory(t.handle);
  }
  return result;
}

/** Number of open scopes (for tests and diagnostics). */
export function scopeDepth(): number {
  return stack.length;
}
