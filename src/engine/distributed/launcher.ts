/**
 * `bike train --nproc N [--nnodes M --node-rank R --master-addr A --master-port P]`: starts N local
 * worker processes with the environment torchrun gives its workers (RANK, WORLD_SIZE, LOCAL_RANK,
 * LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR, MASTER_PORT), as the original's
 * `torch.distributed.launch --nproc_per_node --nnodes --node_rank --master_addr` does.
 *
 * If a worker exits with an error or is killed, the launcher stops the others (SIGTERM, then SIGKILL
 * after a grace period) and fails with an error naming the worker, its rank and how it ended. Workers
 * on other machines notice through their collectives, which fail on the broken connection or after
 * the collective timeout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export interface LaunchOptions {
  /** Worker processes on this machine. */
  nproc: number;
  nnodes?: number;
  nodeRank?: number;
  masterAddr?: string;
  /** Default: a free port when on one machine; 29500 (torchrun's default) across machines. */
  masterPort?: number;
  /** The worker's command line after the node executable (script and arguments). */
  workerArgs: string[];
  /** Node flags for the workers (default: this process's, e.g. `--import tsx`). */
  execArgv?: string[];
  /** Extra environment for every worker. */
  env?: NodeJS.ProcessEnv;
  /** Seconds between SIGTERM and SIGKILL when stopping the survivors. */
  graceSeconds?: number;
  /** Called with each worker's description when it starts (for logs). */
  onStart?: (worker: WorkerInfo) => void;
}

export interface WorkerInfo {
  rank: number;
  localRank: number;
  pid: number;
}

export class WorkerFailedError extends Error {
  constructor(
    message: string,
    readonly rank: number,
    readonly exitCode: number | null,
    readonly signal: NodeJS.Signals | null,
  ) {
    super(message);
    this.name = 'WorkerFailedError';
  }
}

function checkCount(value: number, name: string, min: number): void {
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} ${value}: expected an integer >= ${min}`);
}

/** A TCP port that is free right now on this machine. */
export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** The environment of local worker `localRank`. */
export function workerEnvironment(
  options: Required<Pick<LaunchOptions, 'nproc' | 'nnodes' | 'nodeRank' | 'masterAddr' | 'masterPort'>>,
  localRank: number,
): Record<string, string> {
  const rank = options.nodeRank * options.nproc + localRank;
  return {
    RANK: String(rank),
    WORLD_SIZE: String(options.nproc * options.nnodes),
    LOCAL_RANK: String(localRank),
    LOCAL_WORLD_SIZE: String(options.nproc),
    GROUP_RANK: String(options.nodeRank),
    NODE_RANK: String(options.nodeRank),
    MASTER_ADDR: options.masterAddr,
    MASTER_PORT: String(options.masterPort),
  };
}

/** Starts the workers and resolves when all of them exit successfully. */
export async function launchWorkers(options: LaunchOptions): Promise<void> {
  const nnodes = options.nnodes ?? 1;
  const nodeRank = options.nodeRank ?? 0;
  checkCount(options.nproc, '--nproc', 1);
  checkCount(nnodes, '--nnodes', 1);
  checkCount(nodeRank, '--node-rank', 0);
  if (nodeRank >= nnodes) throw new Error(`--node-rank ${nodeRank}: must be below --nnodes ${nnodes}`);
  if (nnodes > 1 && !options.masterAddr)
    throw new Error('--master-addr: required with --nnodes > 1 (the address of the machine with --node-rank 0)');
  const masterAddr = options.masterAddr ?? '127.0.0.1';
  const masterPort = options.masterPort ?? (nnodes > 1 ? 29500 : await findFreePort());
  checkCount(masterPort, '--master-port', 1);
  const resolved = { nproc: options.nproc, nnodes, nodeRank, masterAddr, masterPort };
  const graceMs = (options.graceSeconds ?? 5) * 1000;

  const children: { child: ChildProcess; info: WorkerInfo; done: boolean }[] = [];
  let failure: WorkerFailedError | null = null;
  let killTimer: NodeJS.Timeout | null = null;

  const stopOthers = () => {
    for (const c of children) if (!c.done) c.child.kill('SIGTERM');
    killTimer ??= setTimeout(() => {
      for (const c of children) if (!c.done) c.child.kill('SIGKILL');
    }, graceMs);
    killTimer.unref();
  };
  const forwardSignal = (signal: NodeJS.Signals) => {
    failure ??= new WorkerFailedError(`the launcher received ${signal}; workers stopped`, -1, null, signal);
    stopOthers();
  };
  process.on('SIGINT', forwardSignal);
  process.on('SIGTERM', forwardSignal);

  try {
    await new Promise<void>((resolve) => {
      let remaining = options.nproc;
      for (let localRank = 0; localRank < options.nproc; localRank++) {
        const env = { ...process.env, ...options.env, ...workerEnvironment(resolved, localRank) };
        const child = spawn(process.execPath, [...(options.execArgv ?? process.execArgv), ...options.workerArgs], {
          env,
          stdio: 'inherit',
        });
        const info: WorkerInfo = { rank: nodeRank * options.nproc + localRank, localRank, pid: child.pid ?? -1 };
        const entry = { child, info, done: false };
        children.push(entry);
        options.onStart?.(info);
        const finish = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
          if (entry.done) return;
          entry.done = true;
          remaining--;
          const failed = spawnError !== undefined || signal !== null || code !== 0;
          if (failed && failure === null) {
            const how = spawnError
              ? `could not start (${spawnError.message})`
              : signal
                ? `was killed by ${signal}`
                : `exited with code ${code}`;
            failure = new WorkerFailedError(
              `worker rank ${info.rank} (local rank ${localRank}, pid ${info.pid}) ${how}; the other workers were stopped`,
              info.rank,
              code,
              signal,
            );
            stopOthers();
          }
          if (remaining === 0) resolve();
        };
        child.once('exit', (code, signal) => finish(code, signal));
        child.once('error', (error) => finish(null, null, error));
      }
    });
  } finally {
    process.off('SIGINT', forwardSignal);
    process.off('SIGTERM', forwardSignal);
    if (killTimer) clearTimeout(killTimer);
  }
  if (failure) throw failure;
}
