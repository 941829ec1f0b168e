/** The TypeScript tensor library over libtorch (layer 2 of DESIGN.md). */
export * from './tensor.ts';
export * from './tensor-ops.ts';
export * from './autograd.ts';
export * from './scope.ts';
export * from './dtype.ts';
export { aten, atenInPlace, hasOp } from './ops.ts';
export { native } from './native.ts';
export * as F from './functional.ts';
export * as nn from './nn/index.ts';
export * as optim from './optim/index.ts';
export * from './amp.ts';
export * from './serialization/serialization.ts';
export {
  ProcessGroup,
  readTorchrunEnv,
  type Backend,
  type ReduceOp,
  type ProcessGroupOptions,
  type TorchrunEnv,
} from './distributed.ts';
export { gradcheck, type GradcheckOptions, type GradcheckReport } from './gradcheck.ts';
