/**
 * Tracing a forward pass into an ONNX graph. Every tensor operator goes through one dispatcher
 * call (src/torch/ops.ts); while a trace runs, each call is seen with its arguments and result:
 *
 * - a result that depends on a graph input is "dynamic": the op is mapped to ONNX nodes
 *   (aten-onnx.ts) and the result is bound to their output;
 * - a result that depends on no graph input (weights, their views, class text features computed
 *   before the trace, `arange`, masks) is a constant: nothing is emitted, and when a dynamic op uses
 *   it, its value at trace time becomes an initializer.
 *
 * Shapes are those of the traced call (static graphs). An op without a mapping, or an in-place op
 * on a dynamic tensor, is refused with the op's name and the module (path and class) running it;
 * the module path comes from wrapping every module's `forward` for the duration of the trace.
 */
import { native, type Handle } from '../torch/native.ts';
import { setOpRecorder } from '../torch/ops.ts';
import { dtypeFromCode, type DType } from '../torch/dtype.ts';
import { Tensor } from '../torch/tensor.ts';
import type { Module } from '../torch/nn/module.ts';
import { noGrad } from '../torch/autograd.ts';
import { OnnxGraph } from './onnx-graph.ts';
import { ATEN_TO_ONNX } from './aten-onnx.ts';

export class UnsupportedOpError extends Error {
  constructor(
    readonly op: string,
    readonly module: string,
    detail = '',
    message?: string,
  ) {
    super(
      message ??
        `ONNX export: operator aten::${op} has no ONNX mapping${detail ? ` (${detail})` : ''}, called in module ${module}`,
    );
  }
}

const isHandle = (v: unknown): v is Handle =>
  (typeof v === 'bigint' || (typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v))) &&
  native.isLive(v);

/** What a converter sees of one traced call. */
export class ConvertContext {
  constructor(
    readonly graph: OnnxGraph,
    private readonly tracer: Tracer,
    readonly op: string,
    readonly module: string,
  ) {}

  isTensor(v: unknown): v is Handle {
    return isHandle(v);
  }
  isDynamic(v: unknown): boolean {
    return isHandle(v) && this.tracer.names.has(v);
  }
  /** The ONNX value of a tensor argument (a dynamic value or a constant initializer). */
  value(h: unknown): string {
    if (!isHandle(h)) throw this.refuse(`expected a tensor argument, got ${typeof h}`);
    return this.tracer.valueOf(h);
  }
  shape(h: unknown): number[] {
    return native.shape(h as Handle);
  }
  dtype(h: unknown): DType {
    return dtypeFromCode(native.scalarType(h as Handle));
  }
  /** Binds a result handle to an ONNX value. */
  bind(result: unknown, name: string): void {
    if (!isHandle(result)) throw this.refuse('the result is not a tensor');
    this.tracer.names.set(result, name);
  }
  /** A scalar constant of the dtype of `like`. */
  scalarLike(like: unknown, value: number): string {
    return this.graph.scalar('scalar', this.dtype(like), value);
  }
  refuse(detail: string): UnsupportedOpError {
    return new UnsupportedOpError(this.op, this.module, detail);
  }
}

export type Converter = (ctx: ConvertContext, args: unknown[], result: unknown) => void;

class Tracer {
  readonly names = new Map<Handle, string>();
  private readonly constants = new Map<Handle, string>();
  readonly moduleStack: string[] = [];
  error: Error | null = null;
  /** The addon's own buffer read (guardReads refuses reads of traced values). */
  readBuffer: (h: Handle) => ArrayBuffer = (h) => native.toBuffer(h);

  constructor(readonly graph: OnnxGraph) {}

  valueOf(h: Handle): string {
    const dynamic = this.names.get(h);
    if (dynamic !== undefined) return dynamic;
    let name = this.constants.get(h);
    if (name === undefined) {
      const shape = native.shape(h);
      const dtype = dtypeFromCode(native.scalarType(h));
      const bytes = new Uint8Array(this.readBuffer(h));
      name = this.graph.initializer('const', dtype, shape, bytes);
      this.constants.set(h, name);
    }
    return name;
  }

  currentModule(): string {
    return this.moduleStack.at(-1) ?? '(top level)';
  }

  record(op: string, args: unknown[], result: unknown, inPlace: boolean): void {
    if (this.error) return;
    const dynamic = (v: unknown): boolean => (Array.isArray(v) ? v.some(dynamic) : isHandle(v) && this.names.has(v));
    if (!args.some(dynamic)) {
      // A constant: read when a dynamic op uses it. One changed in place is read again.
      if (inPlace && isHandle(args[0])) this.constants.delete(args[0]);
      return;
    }
    const module = this.currentModule();
    if (inPlace) throw (this.error = new UnsupportedOpError(op, module, 'in-place on a traced tensor'));
    const convert = ATEN_TO_ONNX.get(op);
    if (!convert) throw (this.error = new UnsupportedOpError(op, module));
    try {
      convert(new ConvertContext(this.graph, this, op, module), args, result);
    } catch (error) {
      throw (this.error =
        error instanceof UnsupportedOpError ? error : new UnsupportedOpError(op, module, (error as Error).message));
    }
  }
}

export interface TraceInput {
  name: string;
  tensor: Tensor;
}

export interface TraceResult {
  /** The encoded `ModelProto`. */
  model: Uint8Array;
  inputs: { name: string; dtype: DType; shape: number[] }[];
  outputs: { name: string; dtype: DType; shape: number[] }[];
  /** ONNX operator types used, with counts. */
  opCounts: Map<string, number>;
  nodeCount: number;
}

/**
 * A traced value read into JavaScript (`item()`, `toTypedArray()`) would be baked into the graph as
 * the number it had at trace time: refused while tracing. The tracer reads constants itself.
 */
function guardReads(tracer: Tracer): () => void {
  const addon = native as unknown as Record<'item' | 'toBuffer', (h: Handle) => unknown>;
  const saved = { item: addon.item, toBuffer: addon.toBuffer };
  for (const key of ['item', 'toBuffer'] as const) {
    addon[key] = (h: Handle) => {
      if (tracer.names.has(h)) {
        const module = tracer.currentModule();
        throw (tracer.error = new UnsupportedOpError(
          key,
          module,
          '',
          `ONNX export: module ${module} reads a traced tensor into JavaScript (${key === 'item' ? 'item()' : 'toTypedArray()'}); the graph would keep its trace-time value`,
        ));
      }
      return saved[key](h);
    };
  }
  tracer.readBuffer = saved.toBuffer as (h: Handle) => ArrayBuffer;
  return () => {
    addon.item = saved.item;
    addon.toBuffer = saved.toBuffer;
  };
}

/** Wraps `methods` (default `forward`) of every module so the tracer knows which module runs; returns the undo. */
function trackModules(root: Module, rootName: string, stack: string[], methods: readonly string[]): () => void {
  const undo: (() => void)[] = [];
  for (const [path, m] of root.namedModules()) {
    const label = `${path || rootName} (${m.constructor.name})`;
    const target = m as unknown as Record<string, unknown>;
    for (const method of methods) {
      const original = target[method];
      if (typeof original !== 'function') continue;
      const own = Object.prototype.hasOwnProperty.call(m, method);
      Object.defineProperty(m, method, {
        configurable: true,
        writable: true,
        value: function (this: unknown, ...a: unknown[]) {
          stack.push(label);
          try {
            return original.apply(this, a);
          } finally {
            stack.pop();
          }
        },
      });
      undo.push(() => {
        if (own) Object.defineProperty(m, method, { configurable: true, writable: true, value: original });
        else delete target[method];
      });
    }
  }
  return () => undo.reverse().forEach((f) => f());
}

/**
 * Runs `fn` on `inputs` (without autograd) and records it as an ONNX graph named `name`; `fn`
 * returns its outputs by name. `modules` (with the name of its root, and the methods that count as
 * a module running: `forward` unless given) gives refusals a module path.
 */
export function traceToOnnx(
  name: string,
  inputs: TraceInput[],
  fn: (...inputs: Tensor[]) => Record<string, Tensor>,
  modules?: { root: Module; rootName: string; methods?: readonly string[] },
): TraceResult {
  const graph = new OnnxGraph(name);
  const tracer = new Tracer(graph);
  const inputInfo = inputs.map(({ name: n, tensor }) => {
    const alias = tensor.detach(); // a handle of its own, so a constant elsewhere cannot alias the input
    tracer.names.set(alias.handle, n);
    const info = { name: n, dtype: tensor.dtype, shape: tensor.shape };
    graph.addInput(info);
    return { alias, info };
  });
  const untrack = modules
    ? trackModules(modules.root, modules.rootName, tracer.moduleStack, modules.methods ?? ['forward'])
    : () => {};
  const unguard = guardReads(tracer);
  const previous = setOpRecorder((op, args, result, inPlace) => tracer.record(op, args, result, inPlace));
  let outputs: Record<string, Tensor>;
  try {
    outputs = noGrad(() => fn(...inputInfo.map((i) => i.alias)));
  } finally {
    setOpRecorder(previous);
    unguard();
    untrack();
  }
  if (tracer.error) throw tracer.error;
  const outputInfo = Object.entries(outputs).map(([outName, t]) => {
    const source = tracer.valueOf(t.handle);
    graph.node('Identity', [source], [outName]);
    const info = { name: outName, dtype: t.dtype, shape: t.shape };
    graph.addOutput(info);
    return info;
  });
  for (const i of inputInfo) i.alias.dispose();
  return {
    model: graph.encode(),
    inputs: inputInfo.map((i) => i.info),
    outputs: outputInfo,
    opCounts: graph.opCounts,
    nodeCount: graph.nodeCount,
  };
}
