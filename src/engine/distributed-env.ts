/**
 * Where this process stands in a distributed run: torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK,
 * MASTER_ADDR, MASTER_PORT; read by src/torch/distributed.ts) when RANK or WORLD_SIZE is set, else a
 * world of one. The original refuses to start without them; a single process works the same here.
 */
import { ProcessGroup, readTorchrunEnv } from '../torch/distributed.ts';
import { LocalCollectives, type Collectives } from './collectives.ts';
import { cat, noGrad, tidy, type Tensor } from '../torch/index.ts';

export interface DistributedEnv {
  rank: number;
  worldSize: number;
  localRank: number;
  masterAddr: string;
  masterPort: number;
  /** Launched with torchrun-style variables (even with a world of one). */
  launched: boolean;
}

/** How long a collective may wait for its peers before the run stops with an error. */
export const DEFAULT_COLLECTIVE_TIMEOUT_S = 300;

export function readDistributedEnv(env: NodeJS.ProcessEnv = process.env): DistributedEnv {
  if (env.RANK === undefined && env.WORLD_SIZE === undefined) {
    return { rank: 0, worldSize: 1, localRank: 0, masterAddr: '127.0.0.1', masterPort: 0, launched: false };
  }
  return { ...readTorchrunEnv(env), launched: true };
}

/** Collective timeout: BIKE_COLLECTIVE_TIMEOUT_S seconds, else the default. */
export function collectiveTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.BIKE_COLLECTIVE_TIMEOUT_S;
  if (text === undefined || text === '') return DEFAULT_COLLECTIVE_TIMEOUT_S * 1000;
  if (!/^\d+$/.test(text.trim()) || Number(text) < 1) throw new Error(`environment variable BIKE_COLLECTIVE_TIMEOUT_S=${JSON.stringify(text)}: expected a whole number of seconds >= 1`);
  return Number(text) * 1000;
}

/** Collectives over a c10d process group. */
export class ProcessGroupCollectives implements Collectives {
  constructor(readonly group: ProcessGroup) {}
  get rank(): number {
    return this.group.rank;
  }
  get worldSize(): number {
    return this.group.worldSize;
  }
  allGatherWithGrad(t: Tensor): Tensor {
    return this.group.allGatherWithGrad(t);
  }
  allGather(t: Tensor): Tensor {
    return tidy(() => noGrad(() => cat(this.group.allGather(t), 0)));
  }
  allReduceSum_(tensors: Tensor[]): void {
    this.group.allReduce(tensors, 'sum');
  }
  broadcast_(tensors: Tensor[], root: number): void {
    this.group.broadcast(tensors, root);
  }
  barrier(): void {
    this.group.barrier();
  }
  close(): void {
    this.group.destroy();
  }
}

/**
 * The collectives of this process: a Gloo (CPU) or NCCL (CUDA) process group when launched with a
 * world of more than one, else the local identity. Errors name the rank and what failed.
 */
export function openCollectives(env: NodeJS.ProcessEnv = process.env): Collectives {
  const d = readDistributedEnv(env);
  if (d.worldSize === 1) return new LocalCollectives();
  try {
    return new ProcessGroupCollectives(ProcessGroup.init({
      masterAddr: d.masterAddr, masterPort: d.masterPort, rank: d.rank, worldSize: d.worldSize, localRank: d.localRank,
      timeoutMs: collectiveTimeoutMs(env),
    }));
  } catch (error) {
    throw new Error(`rank ${d.rank} of ${d.worldSize}: could not join the process group at ${d.masterAddr}:${d.masterPort}: ${(error as Error).message}`);
  }
}
