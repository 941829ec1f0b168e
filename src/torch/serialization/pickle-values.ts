/**
 * The values a restricted unpickler builds, and their conversion to plain JavaScript.
 * While unpickling, dicts are `PickleDict`s (any hashable key, insertion order, optional attributes set
 * by BUILD) so that memo references share one object; `toPlainValue` then turns them into plain objects
 * (all keys strings) or Maps, keeping shared and cyclic references shared.
 */

/** A Python dict (or OrderedDict) under construction. */
export class PickleDict {
  readonly entries = new Map<unknown, unknown>();
  /** Instance attributes set by BUILD, e.g. a state dict's `_metadata`. */
  attributes?: Map<string, unknown>;
}

/** A global that the unpickler's allowlist admitted; REDUCE (and NEWOBJ for classes) calls it. */
export interface PickleCallable {
  /** `module.name`, as it appears in error messages. */
  readonly qualifiedName: string;
  /** Whether NEWOBJ (`cls.__new__(cls, *args)`) may construct it. */
  readonly isClass: boolean;
  call(args: unknown[]): unknown;
}

export function isPickleCallable(value: unknown): value is PickleCallable {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as PickleCallable).call === 'function' &&
    typeof (value as PickleCallable).qualifiedName === 'string'
  );
}

/**
 * An object that a reader's class stand-in made (NEWOBJ) and that takes its BUILD state as data, e.g. a
 * TorchScript module taking its attribute dict. Nothing of the pickle's own code (`__setstate__`) runs.
 */
export interface PickleStateful {
  setPickleState(state: unknown): void;
}

export function isPickleStateful(value: unknown): value is PickleStateful {
  return typeof value === 'object' && value !== null && typeof (value as PickleStateful).setPickleState === 'function';
}

/** Where attributes set on a dict by BUILD end up on its plain counterpart (non-enumerable). */
export const PICKLE_ATTRIBUTES: unique symbol = Symbol('pickle attributes');

/** The BUILD attributes of a converted dict, e.g. `pickleAttributes(stateDict)?._metadata`. */
export function pickleAttributes(value: unknown): Record<string, unknown> | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  return (value as { [PICKLE_ATTRIBUTES]?: Record<string, unknown> })[PICKLE_ATTRIBUTES];
}

/** Converts an object that is neither a dict nor an array (e.g. a tensor record); `path` names it. */
export type LeafConverter = (value: object, path: string) => unknown;

/** Containers nested deeper than this are refused rather than risking the call stack. */
export const MAX_NESTING = 1000;

export function describePickleValue(value: unknown): string {
  if (value === null) return 'None';
  if (Array.isArray(value)) return `a list/tuple of ${value.length}`;
  if (value instanceof PickleDict) return 'a dict';
  if (value instanceof Uint8Array) return `bytes (${value.length})`;
  if (isPickleCallable(value)) return `the global ${value.qualifiedName}`;
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'unknown'})`;
  return `a ${typeof value} (${String(value).slice(0, 40)})`;
}

function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  // defineProperty, not assignment, so a key such as "__proto__" becomes data instead of a prototype change.
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function keyPath(path: string, key: unknown): string {
  return `${path}[${typeof key === 'string' ? JSON.stringify(key) : String(key)}]`;
}

/**
 * Converts an unpickled value to plain JavaScript: dicts with only string keys become plain objects in
 * insertion order (JavaScript itself lists integer-like keys such as "3" first), other dicts become Maps,
 * lists and tuples become arrays, and other objects go through `convertLeaf` with their path
 * (e.g. `["model_state_dict"]["visual.proj"]`).
 */
export function toPlainValue(root: unknown, convertLeaf: LeafConverter, source: string): unknown {
  const converted = new Map<object, unknown>();
  const visit = (value: unknown, path: string, depth: number): unknown => {
    if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return value;
    const done = converted.get(value);
    if (done !== undefined) return done;
    if (depth > MAX_NESTING)
      throw new Error(`pickle ${source}: value at ${path || 'the root'} is nested more than ${MAX_NESTING} deep`);
    if (Array.isArray(value)) {
      const out: unknown[] = [];
      converted.set(value, out);
      value.forEach((item, index) => out.push(visit(item, `${path}[${index}]`, depth + 1)));
      return out;
    }
    if (value instanceof PickleDict) {
      let out: Record<string, unknown> | Map<unknown, unknown>;
      if ([...value.entries.keys()].every((key) => typeof key === 'string')) {
        const object: Record<string, unknown> = {};
        converted.set(value, object);
        for (const [key, item] of value.entries)
          setOwn(object, key as string, visit(item, keyPath(path, key), depth + 1));
        out = object;
      } else {
        const map = new Map<unknown, unknown>();
        converted.set(value, map);
        for (const [key, item] of value.entries) {
          map.set(visit(key, `${path}{key ${String(key)}}`, depth + 1), visit(item, keyPath(path, key), depth + 1));
        }
        out = map;
      }
      if (value.attributes) {
        const attributes: Record<string, unknown> = {};
        for (const [name, item] of value.attributes)
          setOwn(attributes, name, visit(item, `${path}.${name}`, depth + 1));
        Object.defineProperty(out, PICKLE_ATTRIBUTES, { value: attributes, enumerable: false });
      }
      return out;
    }
    const leaf = convertLeaf(value, path);
    converted.set(value, leaf);
    return leaf;
  };
  return visit(root, '', 0);
}
