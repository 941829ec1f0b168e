/**
 * Where this process stands in a distributed run, from the environment variables torchrun (and our
 * `--nproc` launcher) set: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT.
 * Without RANK and WORLD_SIZE the process runs alone (rank 0 of 1), where the original would refuse
 * to start; everything else works the same with a world of one.
 */

export interface DistributedEnv {
  rank: number;
  worldSize: number;
  localRank: number;
  localWorldSize: number;
  masterAddr: string;
  masterPort: number;
  /** True when WORLD_SIZE > 1. */
  distributed: boolean;
}

/** How long a collective may wait for its peers before the run stops with an error (seconds). */
export const DEFAULT_COLLECTIVE_TIMEOUT_S = 300;

function integerVariable(env: NodeJS.ProcessEnv, name: string, min: number): number | undefined {
  const text = env[name];
  if (text === undefined || text === '') return undefined;
  if (!/^\d+$/.test(text.trim())) throw new Error(`environment variable ${name}=${JSON.stringify(text)}: expected an integer >= ${min}`);
  const value = Number(text.trim());
  if (value < min) throw new Error(`environment variable ${name}=${value}: expected an integer >= ${min}`);
  return value;
}

/** Reads the torchrun variables; throws naming the variable that is missing or malformed. */
export function readDistributedEnv(env: NodeJS.ProcessEnv = process.env): DistributedEnv {
  const rank = integerVariable(env, 'RANK', 0);
  const worldSize = integerVariable(env, 'WORLD_SIZE', 1);
  if (rank === undefined && worldSize === undefined) {
    return { rank: 0, worldSize: 1, localRank: 0, localWorldSize: 1, masterAddr: '127.0.0.1', masterPort: 0, distributed: false };
  }
  if (rank === undefined) throw new Error('environment variable RANK is missing while WORLD_SIZE is set; torchrun-style launches set both');
  if (worldSize === undefined) throw new Error('environment variable WORLD_SIZE is missing while RANK is set; torchrun-style launches set both');
  if (rank >= worldSize) throw new Error(`environment variable RANK=${rank}: must be below WORLD_SIZE=${worldSize}`);
  const localRank = integerVariable(env, 'LOCAL_RANK', 0) ?? rank;
  const localWorldSize = integerVariable(env, 'LOCAL_WORLD_SIZE', 1) ?? worldSize;
  const distributed = worldSize > 1;
  const masterAddr = env.MASTER_ADDR ?? '';
  const masterPort = integerVariable(env, 'MASTER_PORT', 1);
  if (distributed && !masterAddr) throw new Error('environment variable MASTER_ADDR is missing: the address of rank 0 for the rendezvous');
  if (distributed && masterPort === undefined) throw new Error('environment variable MASTER_PORT is missing: the rendezvous port on MASTER_ADDR');
  if (masterPort !== undefined && masterPort > 65535) throw new Error(`environment variable MASTER_PORT=${masterPort}: expected a port in 1..65535`);
  return { rank, worldSize, localRank, localWorldSize, masterAddr: masterAddr || '127.0.0.1', masterPort: masterPort ?? 0, distributed };
}

/** Collective timeout from BIKE_COLLECTIVE_TIMEOUT_S (seconds), else the default. */
export function collectiveTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const seconds = integerVariable(env, 'BIKE_COLLECTIVE_TIMEOUT_S', 1) ?? DEFAULT_COLLECTIVE_TIMEOUT_S;
  return seconds * 1000;
}
