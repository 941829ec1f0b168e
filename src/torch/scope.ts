/**
 * Native memory must not wait for the JS garbage collector. A scope frees every tensor made while
 * it is open when it closes, except those it returns (and those kept). The addon keeps the scopes
 * (native/src/handles.cpp), so the raw handles of ops whose results were never wrapped are freed
 * too, and handles that a scope frees need no finalizer. Tensors no scope will free (made outside
 * every scope, kept, or returned from the outermost one) are left to the collector, which counts
 * their memory as V8 external memory.
 */
import type { Tensor } from './tensor.ts';
import { native, type Handle } from './native.ts';

let depth = 0;
const NOTHING_KEPT: Handle[] = [];

function collectHandles(value: unknown, out: Handle[], seen: Set<unknown>): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if ((value as { isTensor?: boolean }).isTensor === true) {
    const handle = (value as Tensor).handleOrNull;
    if (handle !== null) out.push(handle);
    return;
  }
  // A raw handle (an external: no prototype), e.g. what a custom backward hands the addon.
  if (Object.getPrototypeOf(value) === null && native.isLive(value)) {
    out.push(value as Handle);
    return;
  }
  if (Array.isArray(value)) {
    for (const item of value) collectHandles(item, out, seen);
  } else if (value instanceof Map) {
    for (const item of value.values()) collectHandles(item, out, seen);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const item of Object.values(value)) collectHandles(item, out, seen);
  }
}

/**
 * Runs `fn` in a scope: tensors it creates are freed when it returns, except the tensors found in
 * its result (in arrays, Maps and plain objects; raw handles too), which move to the enclosing scope.
 */
export function tidy<T>(fn: () => T): T {
  native.openScope();
  depth++;
  let result: T;
  try {
    result = fn();
  } catch (error) {
    depth--;
    native.closeScope(NOTHING_KEPT);
    throw error;
  }
  depth--;
  if (result instanceof Promise) {
    native.closeScope(NOTHING_KEPT);
    throw new Error('tidy() takes a synchronous function; await outside it');
  }
  if (result === null || typeof result !== 'object') {
    native.closeScope(NOTHING_KEPT);
  } else {
    const kept: Handle[] = [];
    collectHandles(result, kept, new Set());
    native.closeScope(kept);
  }
  return result;
}

/** Number of open scopes (for tests and diagnostics). */
export function scopeDepth(): number {
  return depth;
}
