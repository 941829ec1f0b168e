/**
 * Gradient checkpointing (PyTorch's `torch.utils.checkpoint`): run a block without recording its
 * graph, and in backward run it again with recording on to get the gradients. libtorch's C++ API
 * has no checkpoint helper, so this is a custom autograd function (`applyCustom`) whose backward
 * recomputes the block. The random-number state is saved before the forward and restored for the
 * recomputation (and put back after), so dropout and stochastic depth draw the same masks twice and
 * the rest of the program sees the same random stream as without checkpointing.
 *
 * One deliberate difference from the original's re-entrant checkpoint: there, a block whose input
 * does not require grad yields no parameter gradients at all (PyTorch warns about it); here the
 * block's trainable parameters are inputs of the custom function, so they get their gradients.
 */
import { Tensor, applyCustom, enableGrad, grad, isGradEnabled, native, tidy, type nn } from '../torch/index.ts';

/** Something whose forward maps one tensor to one tensor. */
export interface CheckpointedLayer extends nn.Module {
  forward(x: Tensor): Tensor;
}

function rngState(device: string): Tensor {
  return new Tensor(native.getRngState(device.startsWith('cuda') ? device : undefined)).keep();
}

/** `layer.forward(x)`, keeping only `x` for backward and recomputing the rest there. */
export function checkpoint(layer: CheckpointedLayer, x: Tensor): Tensor {
  const trainable = layer.parameters().filter((p) => p.requiresGrad);
  if (!isGradEnabled() || (!x.requiresGrad && trainable.length === 0)) return layer.forward(x);
  const device = x.device;
  const cudaDevice = device.startsWith('cuda') ? device : null;
  const cpuState = rngState('cpu');
  const cudaState = cudaDevice ? rngState(cudaDevice) : null;
  const [output] = applyCustom({
    forward: () => [layer.forward(x)],
    backward: (gradOutputs, saved) => {
      const gradOutput = gradOutputs[0];
      if (!gradOutput) return saved.map(() => null);
      const currentCpu = rngState('cpu');
      const currentCuda = cudaDevice ? rngState(cudaDevice) : null;
      native.setRngState(cpuState.handle);
      if (cudaDevice && cudaState) native.setRngState(cudaState.handle, cudaDevice);
      try {
        return tidy(() => {
          const input = saved[0]!.detach().requiresGrad_(x.requiresGrad);
          const recomputed = enableGrad(() => layer.forward(input));
          const wrt = x.requiresGrad ? [input, ...trainable] : trainable;
          const grads = grad([recomputed], wrt, { gradOutputs: [gradOutput] });
          return x.requiresGrad ? grads : [null, ...grads];
        });
      } finally {
        native.setRngState(currentCpu.handle);
        if (cudaDevice && currentCuda) native.setRngState(currentCuda.handle, cudaDevice);
        currentCpu.dispose();
        currentCuda?.dispose();
      }
    },
  }, [x, ...trainable]);
  return output!;
}
