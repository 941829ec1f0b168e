/**
 * An ONNX graph under construction (nodes, initializers, inputs, outputs) and its encoding as a
 * `ModelProto` through onnx-proto (protobufjs code generated from onnx.proto).
 */
import onnxProto from 'onnx-proto';
import type { DType } from '../torch/dtype.ts';

const { onnx } = onnxProto;

/** The ONNX operator set the exporter writes (LayerNormalization needs 17). */
export const ONNX_OPSET = 17;

const ELEMENT_TYPES: Partial<Record<DType, number>> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float64: onnx.TensorProto.DataType.DOUBLE,
  float16: onnx.TensorProto.DataType.FLOAT16,
  bfloat16: onnx.TensorProto.DataType.BFLOAT16,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
  int16: onnx.TensorProto.DataType.INT16,
  int8: onnx.TensorProto.DataType.INT8,
  uint8: onnx.TensorProto.DataType.UINT8,
  bool: onnx.TensorProto.DataType.BOOL,
};

/** ONNX's element type code of a dtype. */
export function onnxElementType(dtype: DType): number {
  const code = ELEMENT_TYPES[dtype];
  if (code === undefined) throw new Error(`ONNX export: no ONNX element type for dtype ${dtype}`);
  return code;
}

export type AttributeValue = number | string | number[] | { float: number } | { floats: number[] };

function attribute(name: string, value: AttributeValue): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') {
    if (!Number.isInteger(value))
      throw new Error(`ONNX export: attribute ${name} = ${value} is not an integer (use { float })`);
    return { name, type: T.INT, i: value };
  }
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  if ('float' in value) return { name, type: T.FLOAT, f: value.float };
  return { name, type: T.FLOATS, floats: value.floats };
}

export interface GraphValue {
  name: string;
  dtype: DType;
  shape: number[];
}

export class OnnxGraph {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly inputs: GraphValue[] = [];
  private readonly outputs: GraphValue[] = [];
  private counter = 0;
  /** ONNX operator types used, with counts (for reports and tests). */
  readonly opCounts = new Map<string, number>();

  constructor(readonly name: string) {}

  /** A fresh value name with a readable stem. */
  fresh(stem: string): string {
    return `${stem.replace(/[^A-Za-z0-9_.]/g, '_')}_${this.counter++}`;
  }

  /** Adds a node; returns its output names (`outputs` names, or fresh ones). */
  node(
    opType: string,
    inputs: string[],
    outputs: number | string[] = 1,
    attributes: Record<string, AttributeValue | undefined> = {},
    docString?: string,
  ): string[] {
    const names = typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.fresh(opType)) : outputs;
    const attrs = Object.entries(attributes)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => attribute(k, v!));
    this.nodes.push({
      opType,
      input: inputs,
      output: names,
      attribute: attrs,
      name: this.fresh(`${opType}_node`),
      docString,
    });
    this.opCounts.set(opType, (this.opCounts.get(opType) ?? 0) + 1);
    return names;
  }

  /** One-output node. */
  op(
    opType: string,
    inputs: string[],
    attributes: Record<string, AttributeValue | undefined> = {},
    docString?: string,
  ): string {
    return this.node(opType, inputs, 1, attributes, docString)[0]!;
  }

  /** A constant tensor from raw little-endian bytes. */
  initializer(stem: string, dtype: DType, shape: number[], bytes: Uint8Array): string {
    const name = this.fresh(stem);
    this.initializers.push({ name, dataType: onnxElementType(dtype), dims: shape, rawData: bytes });
    return name;
  }

  int64s(stem: string, values: number[], shape: number[] = [values.length]): string {
    return this.initializer(
      stem,
      'int64',
      shape,
      new Uint8Array(BigInt64Array.from(values.map((v) => BigInt(v))).buffer),
    );
  }

  /** A scalar (rank 0) of `dtype`. */
  scalar(stem: string, dtype: DType, value: number): string {
    return this.initializer(stem, dtype, [], scalarBytes(dtype, value));
  }

  addInput(value: GraphValue): void {
    this.inputs.push(value);
  }
  addOutput(value: GraphValue): void {
    this.outputs.push(value);
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  /** The serialised `ModelProto`. */
  encode(docString = ''): Uint8Array {
    const valueInfo = (v: GraphValue): onnxProto.onnx.IValueInfoProto => ({
      name: v.name,
      type: {
        tensorType: { elemType: onnxElementType(v.dtype), shape: { dim: v.shape.map((d) => ({ dimValue: d })) } },
      },
    });
    const model = onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: ONNX_OPSET }],
      producerName: 'bike-ts',
      producerVersion: '0.1.0',
      docString,
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs.map(valueInfo),
        output: this.outputs.map(valueInfo),
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

/** Little-endian bytes of one value of `dtype`. */
export function scalarBytes(dtype: DType, value: number): Uint8Array {
  switch (dtype) {
    case 'float32':
      return new Uint8Array(Float32Array.of(value).buffer);
    case 'float64':
      return new Uint8Array(Float64Array.of(value).buffer);
    case 'int64':
      return new Uint8Array(BigInt64Array.of(BigInt(Math.trunc(value))).buffer);
    case 'int32':
      return new Uint8Array(Int32Array.of(value).buffer);
    case 'bool':
      return Uint8Array.of(value ? 1 : 0);
    case 'uint8':
      return Uint8Array.of(value);
    default:
      throw new Error(`ONNX export: a scalar constant of dtype ${dtype} is not supported`);
  }
}
