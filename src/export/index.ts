/** ONNX export of BIKE models (tracing ATen calls) and a Node-free runtime for the exported graphs. */
export { exportOnnx, type ExportOnnxOptions, type ExportOnnxResult } from './export-onnx.ts';
export {
  traceBikeOnnx,
  writeBikeOnnx,
  ONNX_META_FILE,
  ONNX_VOCABULARY_FILE,
  type BikeOnnxMeta,
  type BikeOnnxGraphs,
  type BikeOnnxExportOptions,
} from './bike-export.ts';
export { traceToOnnx, UnsupportedOpError, type TraceInput, type TraceResult } from './trace.ts';
export { ATEN_TO_ONNX } from './aten-onnx.ts';
export { ONNX_OPSET } from './onnx-graph.ts';
export { BikeOnnxModel, readExport, type OrtModule, type ExportedFiles, type ClassResult } from './onnx-runtime.ts';
