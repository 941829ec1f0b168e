/**
 * Native memory must not wait for the JS garbage collector. A scope frees every tensor made while
 * it is open when it closes, except those it returns (and those kept). The addon keeps the scopes
 * (native/src/handles.cpp), so the raw handles of ops whose results were never wrapped are freed
 * too, and handles that a scope frees cost the collector nothing. Tensors no scope will free are
 * left to the collector, which counts their memory as V8 external memory: those made outside every
 * scope through their handle's finalizer, those that escaped a scope (kept, or returned from the
 * outermost) through their Tensor's entry in `tensorFinalizer`.
 */
import type { Tensor } from './tensor.ts';
import { native, type Handle } from './native.ts';

let depth = 0;
const NOTHING_KEPT: Handle[] = [];

/** Frees the tensors that escaped their scopes once their JS Tensor is collected. */
export const tensorFinalizer = new FinalizationRegistry<Handle>((handle) => native.dispose(handle));

function collectTensors(value: unknown, out: Tensor[], seen: Set<unknown>): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if ((value as { isTensor?: boolean }).isTensor === true) {
    out.push(value as Tensor);
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
 * its result (in arrays, Maps and plain objects), which move to the enclosing scope. Raw handles
 * (from `aten()`) are not looked for: wrap what must outlive the scope in a Tensor.
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
    return result;
  }
  const found: Tensor[] = [];
  collectTensors(result, found, new Set());
  const kept = found.filter((t) => t.handleOrNull !== null);
  const owned = native.closeScope(kept.map((t) => t.handleOrNull!));
  if (owned !== undefined) for (const i of owned) kept[i]!.ownNativeMemory();
  return result;
}

/** Number of open scopes (for tests and diagnostics). */
export function scopeDepth(): number {
  return depth;
}
