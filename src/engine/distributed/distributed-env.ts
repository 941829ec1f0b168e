/**
 * Where this process stands in a distributed run: torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK,
 * MASTER_ADDR, MASTER_PORT; read by src/torch/distributed.ts) when RANK or WORLD_SIZE is set (not empty), else a
 * world of one. The original refuses to start without them; a single process works the same here.
 */
import { ProcessGroup, readTorchrunEnv } from '../../torch/distributed.ts';
import { LocalCollectives, type Collectives } from './collectives.ts';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { cat, noGrad, tensor, tidy, type Tensor } from '../../torch/index.ts';

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
  if (!env.RANK && !env.WORLD_SIZE) {
    return { rank: 0, worldSize: 1, localRank: 0, masterAddr: '127.0.0.1', masterPort: 0, launched: false };
  }
  return { ...readTorchrunEnv(env), launched: true };
}

/** Collective timeout: BIKE_COLLECTIVE_TIMEOUT_S seconds, else the default. */
export function collectiveTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.BIKE_COLLECTIVE_TIMEOUT_S;
  if (text === undefined || text === '') return DEFAULT_COLLECTIVE_TIMEOUT_S * 1000;
  if (!/^\d+$/.test(text.trim()) || Number(text) < 1)
    throw new Error(
      `environment variable BIKE_COLLECTIVE_TIMEOUT_S=${JSON.stringify(text)}: expected a whole number of seconds >= 1`,
    );
  return Number(text) * 1000;
}

/** A 31-bit hash of this machine's host name, to tell which ranks share it. */
function hostHash(): number {
  let h = 0;
  for (const ch of os.hostname()) h = (Math.imul(h, 31) + ch.charCodeAt(0)) | 0;
  return h & 0x7fffffff;
}

/** How long a failed collective waits for a peer on this machine to finish exiting before blaming the network. */
const PEER_EXIT_GRACE_MS = 2000;
const sleepCell = new Int32Array(new SharedArrayBuffer(4));

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A process that exited but was not yet reaped by its parent still answers signal 0 (a zombie).
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/**
 * Collectives over a c10d process group. At start every rank learns every other rank's process id and
 * machine, so a collective that fails because a peer died can name it (peers on this machine are
 * checked directly; a failure with all local peers alive points at another machine or the network).
 */
export class ProcessGroupCollectives implements Collectives {
  private readonly peers: { pid: number; host: number }[];

  constructor(readonly group: ProcessGroup) {
    const mine = tensor([process.pid, hostHash()], { dtype: 'int64' });
    try {
      this.peers = group.allGather(mine).map((t) => {
        const [pid, host] = t.toArray() as [number, number];
        t.dispose();
        return { pid, host };
      });
    } finally {
      mine.dispose();
    }
  }
  get rank(): number {
    return this.group.rank;
  }
  get worldSize(): number {
    return this.group.worldSize;
  }
  allGatherWithGrad(t: Tensor): Tensor {
    return this.guard('all_gather', () => this.group.allGatherWithGrad(t));
  }
  allGather(t: Tensor): Tensor {
    return this.guard('all_gather', () => tidy(() => noGrad(() => cat(this.group.allGather(t), 0))));
  }
  allReduceSum_(tensors: Tensor[]): void {
    this.guard('all_reduce', () => this.group.allReduce(tensors, 'sum'));
  }
  broadcast_(tensors: Tensor[], root: number): void {
    this.guard('broadcast', () => this.group.broadcast(tensors, root));
  }
  barrier(): void {
    this.guard('barrier', () => this.group.barrier());
  }
  close(): void {
    this.group.destroy();
  }

  /** Runs a collective; on failure, says which peers are gone. */
  private guard<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      const here = hostHash();
      const findDead = () =>
        this.peers
          .map((peer, rank) => ({ ...peer, rank }))
          .filter((peer) => peer.rank !== this.rank && peer.host === here && !isRunning(peer.pid));
      // A dying worker's sockets close before the process is gone: give it a moment to exit.
      let dead = findDead();
      const deadline = Date.now() + PEER_EXIT_GRACE_MS;
      while (dead.length === 0 && Date.now() < deadline) {
        Atomics.wait(sleepCell, 0, 0, 50);
        dead = findDead();
      }
      const who =
        dead.length > 0
          ? `worker ${dead.map((d) => `rank ${d.rank} (pid ${d.pid})`).join(', ')} is no longer running`
          : 'a worker on another machine stopped, or the network failed (every worker on this machine is running)';
      throw new Error(
        `${what} failed on rank ${this.rank} of ${this.worldSize}: ${who}; stopping (${(error as Error).message})`,
      );
    }
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
    return new ProcessGroupCollectives(
      ProcessGroup.init({
        masterAddr: d.masterAddr,
        masterPort: d.masterPort,
        rank: d.rank,
        worldSize: d.worldSize,
        localRank: d.localRank,
        timeoutMs: collectiveTimeoutMs(env),
      }),
    );
  } catch (error) {
    throw new Error(
      `rank ${d.rank} of ${d.worldSize}: could not join the process group at ${d.masterAddr}:${d.masterPort}: ${(error as Error).message}`,
    );
  }
}
