/**
 * Where a process runs its model: the device asked for (checked), else one GPU per local rank when
 * this libtorch has CUDA and a GPU is visible (torchrun's LOCAL_RANK), else the CPU. The CLI and the
 * library's workflows both resolve devices here.
 */
import { native } from '../../torch/index.ts';
import { readDistributedEnv } from './distributed-env.ts';

export class DeviceError extends Error {
  constructor(
    readonly device: string,
    message: string,
  ) {
    super(message);
    this.name = 'DeviceError';
  }
}

/** The device string for this rank (see the file comment); throws DeviceError for one that cannot be used. */
export function resolveDevice(given?: string, env: NodeJS.ProcessEnv = process.env): string {
  const cuda = native.version().cuda && native.cudaDeviceCount() > 0;
  if (given) {
    if (!/^(cpu|cuda(:\d+)?)$/.test(given))
      throw new DeviceError(given, `--device ${JSON.stringify(given)}: expected cpu, cuda or cuda:N`);
    if (given.startsWith('cuda') && !cuda)
      throw new DeviceError(
        given,
        `--device ${given}: this libtorch has no CUDA device (built for the CPU, or no GPU visible)`,
      );
    return given;
  }
  if (!cuda) return 'cpu';
  return `cuda:${readDistributedEnv(env).localRank}`;
}
