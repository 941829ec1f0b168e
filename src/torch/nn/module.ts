/**
 * `Module`: a tree of layers whose parameter and buffer names match PyTorch state dicts
 * (`visual.transformer.resblocks.0.attn.in_proj_weight`), so weights map by name alone.
 */
import { Tensor } from '../tensor.ts';
import { noGrad } from '../autograd.ts';
import type { Device, DType } from '../dtype.ts';

export type StateDict = Map<string, Tensor>;

/** Marks a tensor as a trainable leaf that outlives every scope. */
export function parameter(t: Tensor, requiresGrad = true): Tensor {
  const leaf = t.isLeaf && !t.requiresGrad ? t : t.detach();
  leaf.keep();
  if (leaf !== t) t.dispose();
  leaf.requiresGrad = requiresGrad;
  return leaf;
}

export class StateDictError extends Error {
  constructor(
    message: string,
    readonly missing: string[],
    readonly unexpected: string[],
    readonly mismatched: string[],
  ) {
    super(message);
  }
}

export abstract class Module {
  training = true;
  private readonly _parameters = new Map<string, Tensor | null>();
  private readonly _buffers = new Map<string, Tensor | null>();
  private readonly _modules = new Map<string, Module>();

  /** Registers a parameter under `name`; the field of the same name should hold the returned tensor. */
  protected registerParameter(name: string, t: Tensor | null): Tensor {
    const p = t === null ? null : parameter(t);
    this._parameters.set(name, p);
    return p as Tensor;
  }
  protected registerBuffer(name: string, t: Tensor | null): Tensor {
    t?.keep();
    this._buffers.set(name, t);
    return t as Tensor;
  }
  protected registerModule<M extends Module>(name: string, m: M): M {
    this._modules.set(name, m);
    return m;
  }

  *namedChildren(): IterableIterator<[string, Module]> {
    yield* this._modules.entries();
  }
  *namedModules(prefix = ''): IterableIterator<[string, Module]> {
    yield [prefix, this];
    for (const [name, m] of this._modules) yield* m.namedModules(prefix ? `${prefix}.${name}` : name);
  }
  *namedParameters(prefix = ''): IterableIterator<[string, Tensor]> {
    for (const [name, p] of this._parameters) if (p) yield [prefix ? `${prefix}.${name}` : name, p];
    for (const [name, m] of this._modules) yield* m.namedParameters(prefix ? `${prefix}.${name}` : name);
  }
  parameters(): Tensor[] {
    return [...this.namedParameters()].map(([, p]) => p);
  }
  *namedBuffers(prefix = ''): IterableIterator<[string, Tensor]> {
    for (const [name, b] of this._buffers) if (b) yield [prefix ? `${prefix}.${name}` : name, b];
    for (const [name, m] of this._modules) yield* m.namedBuffers(prefix ? `${prefix}.${name}` : name);
  }
  /** Number of parameter elements (all, or only trainable ones). */
  parameterCount(trainableOnly = false): number {
    return this.parameters()
      .filter((p) => !trainableOnly || p.requiresGrad)
      .reduce((n, p) => n + p.numel, 0);
  }

  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /** Freezes (false) or unfreezes (true) every parameter below this module. */
  requiresGrad_(value: boolean): this {
    for (const p of this.parameters()) p.requiresGrad = value;
    return this;
  }

  /** Parameters and buffers by their full names (the live tensors, not copies). */
  stateDict(): StateDict {
    return new Map([...this.namedParameters(), ...this.namedBuffers()]);
  }

  /**
   * Copies values into this module's parameters and buffers. Strict by default: missing and
   * unexpected keys and shape mismatches are all listed by name in one error. With `assign`, the given
   * tensors become the parameters and buffers themselves (cast first where dtype or device differ), no
   * copy made: the module owns them afterwards and disposes the tensors they replace.
   */
  loadStateDict(
    source: StateDict | Record<string, Tensor>,
    options: { strict?: boolean; assign?: boolean } = {},
  ): { missing: string[]; unexpected: string[] } {
    const strict = options.strict ?? true;
    const entries = source instanceof Map ? source : new Map(Object.entries(source));
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !entries.has(k));
    const unexpected = [...entries.keys()].filter((k) => !own.has(k));
    const mismatched: string[] = [];
    for (const [name, target] of own) {
      const value = entries.get(name);
      if (value && value.shape.join(',') !== target.shape.join(','))
        mismatched.push(`${name}: checkpoint [${value.shape}] vs model [${target.shape}]`);
    }
    if (mismatched.length || (strict && (missing.length || unexpected.length))) {
      const parts = [];
      if (missing.length) parts.push(`missing keys: ${missing.join(', ')}`);
      if (unexpected.length) parts.push(`unexpected keys: ${unexpected.join(', ')}`);
      if (mismatched.length) parts.push(`shape mismatches: ${mismatched.join('; ')}`);
      throw new StateDictError(
        `loadStateDict (${this.constructor.name}): ${parts.join('; ')}`,
        missing,
        unexpected,
        mismatched,
      );
    }
    if (options.assign) {
      for (const [prefix, m] of this.namedModules()) m.assignOwn(prefix, entries);
      return { missing, unexpected };
    }
    noGrad(() => {
      for (const [name, target] of own) {
        const value = entries.get(name);
        if (value) target.copy_(value);
      }
    });
    return { missing, unexpected };
  }

  private assignOwn(prefix: string, entries: Map<string, Tensor>): void {
    const self = this as unknown as Record<string, unknown>;
    const assign = (store: Map<string, Tensor | null>, isParam: boolean) => {
      for (const [name, old] of store) {
        const value = old ? entries.get(prefix ? `${prefix}.${name}` : name) : undefined;
        if (!old || !value || value === old) continue;
        const cast =
          value.dtype === old.dtype && value.device === old.device
            ? value
            : noGrad(() => value.to(old.device).to(old.dtype));
        const kept = isParam ? parameter(cast, old.requiresGrad) : cast.keep();
        store.set(name, kept);
        if (self[name] === old) self[name] = kept;
        old.dispose();
      }
    };
    assign(this._parameters, true);
    assign(this._buffers, false);
  }

  /** Moves (or casts) every parameter and buffer, keeping requires-grad flags; fields are updated too. */
  to(target: Device | DType): this {
    for (const [, m] of this.namedModules()) m.moveOwn(target);
    return this;
  }

  private moveOwn(target: Device | DType): void {
    const self = this as unknown as Record<string, unknown>;
    const move = (store: Map<string, Tensor | null>, isParam: boolean) => {
      for (const [name, t] of store) {
        if (!t) continue;
        const moved = noGrad(() => t.to(target));
        if (moved === t) continue;
        const kept = isParam ? parameter(moved, t.requiresGrad) : moved.keep();
        store.set(name, kept);
        if (self[name] === t) self[name] = kept;
        t.dispose();
      }
    };
    move(this._parameters, true);
    move(this._buffers, false);
  }

  /** Zeroes gradients by dropping them (PyTorch's `set_to_none=True`). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }
}
