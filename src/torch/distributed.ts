/**
 * Collective communication over libtorch's c10d process groups (Gloo on CPU, NCCL on CUDA), with
 * the rendezvous torchrun sets up: a TCPStore at MASTER_ADDR:MASTER_PORT, WORLD_SIZE processes,
 * each with its RANK (and LOCAL_RANK on its machine). Collectives are synchronous and update
 * tensors in place, as `torch.distributed`'s default (non-async) calls do; every wait is bounded
 * by the group's timeout, so a vanished peer gives an error instead of a hang.
 */
import { native, type GroupHandle } from './native.ts';
import { Tensor, tensor } from './tensor.ts';
import { cat } from './tensor-ops.ts';
import { applyCustom, noGrad } from './autograd.ts';
import { isFloatingDType } from './dtype.ts';
import { tidy } from './scope.ts';

export type Backend = 'gloo' | 'nccl';
export type ReduceOp = 'sum' | 'mean' | 'max' | 'min';

export interface ProcessGroupOptions {
  /** `gloo` (CPU tensors) or `nccl` (CUDA tensors; needs a CUDA libtorch). Default: nccl when CUDA is present, else gloo. */
  backend?: Backend;
  masterAddr: string;
  masterPort: number;
  rank: number;
  worldSize: number;
  /** The process's index on its machine (torchrun's LOCAL_RANK); defaults to `rank`. */
  localRank?: number;
  /** Bound on the rendezvous and on every collective, in milliseconds (default 30 minutes, as PyTorch). */
  timeoutMs?: number;
}

/** torchrun's environment, parsed. */
export interface TorchrunEnv {
  masterAddr: string;
  masterPort: number;
  worldSize: number;
  rank: number;
  localRank: number;
}

const DEFAULT_TIMEOUT_MS = 30 * 60 * 1000;
const REDUCE_OPS: readonly ReduceOp[] = ['sum', 'mean', 'max', 'min'];

/**
 * c10d works on dense, contiguous memory in place: a strided tensor is staged in a contiguous copy
 * (to be copied back); `contiguous()` of a contiguous tensor is the tensor itself (same storage).
 */
function contiguousStage(t: Tensor): { tensor: Tensor; copied: boolean } {
  const staged = t.contiguous();
  return { tensor: staged, copied: !native.sameStorage(staged.handle, t.handle) };
}

function defaultBackend(): Backend {
  return native.version().cuda && native.cudaDeviceCount() > 0 ? 'nccl' : 'gloo';
}

function checkInteger(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`process group: ${name} must be an integer in [${min}, ${max}], got ${String(value)}`);
  }
  return value;
}

/**
 * Reads MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK and LOCAL_RANK (as torchrun sets them). Each
 * missing or malformed variable is named in the error, with what was expected.
 */
export function readTorchrunEnv(env: NodeJS.ProcessEnv = process.env): TorchrunEnv {
  const problems: string[] = [];
  const text = (name: string): string | undefined => {
    const value = env[name];
    if (value === undefined || value.trim() === '') {
      problems.push(`${name} is not set`);
      return undefined;
    }
    return value.trim();
  };
  const integer = (name: string, min: number, max: number): number => {
    const value = text(name);
    if (value === undefined) return NaN;
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      problems.push(`${name}='${value}' is not an integer in [${min}, ${max}]`);
      return NaN;
    }
    return Number(value);
  };
  const masterAddr = text('MASTER_ADDR') ?? '';
  const masterPort = integer('MASTER_PORT', 1, 65535);
  const worldSize = integer('WORLD_SIZE', 1, 1 << 20);
  const rank = integer('RANK', 0, 1 << 20);
  const localRank = integer('LOCAL_RANK', 0, 1 << 20);
  if (Number.isInteger(rank) && Number.isInteger(worldSize) && rank >= worldSize)
    problems.push(`RANK=${rank} is not below WORLD_SIZE=${worldSize}`);
  if (Number.isInteger(localRank) && Number.isInteger(worldSize) && localRank >= worldSize)
    problems.push(`LOCAL_RANK=${localRank} is not below WORLD_SIZE=${worldSize}`);
  if (problems.length) {
    throw new Error(`distributed environment (as torchrun sets it): ${problems.join('; ')}`);
  }
  return { masterAddr, masterPort, worldSize, rank, localRank };
}

export class ProcessGroup {
  private handle: GroupHandle | null;

  private constructor(
    handle: GroupHandle,
    readonly backend: Backend,
    readonly rank: number,
    readonly worldSize: number,
    readonly localRank: number,
    readonly timeoutMs: number,
  ) {
    this.handle = handle;
  }

  /**
   * Joins (rank 0: hosts) the rendezvous at `masterAddr:masterPort` and connects all ranks. Blocks
   * until every rank has joined or `timeoutMs` passes.
   */
  static init(options: ProcessGroupOptions): ProcessGroup {
    const backend = options.backend ?? defaultBackend();
    if (backend !== 'gloo' && backend !== 'nccl')
      throw new TypeError(`process group: backend must be 'gloo' or 'nccl', got '${String(backend)}'`);
    if (typeof options.masterAddr !== 'string' || options.masterAddr === '')
      throw new TypeError('process group: masterAddr must be a host name or address');
    const worldSize = checkInteger(options.worldSize, 'worldSize', 1, 1 << 20);
    const rank = checkInteger(options.rank, 'rank', 0, worldSize - 1);
    const port = checkInteger(options.masterPort, 'masterPort', 1, 65535);
    const localRank = checkInteger(options.localRank ?? rank, 'localRank', 0, worldSize - 1);
    const timeoutMs = checkInteger(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, 'timeoutMs', 1, 2 ** 31 - 1);
    const handle = native.createProcessGroup(backend, options.masterAddr, port, rank, worldSize, timeoutMs);
    return new ProcessGroup(handle, backend, rank, worldSize, localRank, timeoutMs);
  }

  /** `init` from torchrun's environment variables (see `readTorchrunEnv`). */
  static fromEnv(options: { backend?: Backend; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): ProcessGroup {
    const env = readTorchrunEnv(options.env);
    return ProcessGroup.init({ ...env, backend: options.backend, timeoutMs: options.timeoutMs });
  }

  private group(what: string): GroupHandle {
    if (this.handle === null)
      throw new Error(`${what}: the process group (rank ${this.rank} of ${this.worldSize}) was destroyed`);
    return this.handle;
  }

  /**
   * Reduces each tensor across ranks, in place. `mean` is the sum divided by the world size (float
   * tensors only), as DDP averages gradients.
   */
  allReduce(tensors: Tensor | Tensor[], op: ReduceOp = 'sum'): void {
    const list = Array.isArray(tensors) ? tensors : [tensors];
    if (!REDUCE_OPS.includes(op))
      throw new TypeError(`allReduce: op must be one of ${REDUCE_OPS.join(', ')}, got '${String(op)}'`);
    list.forEach((t, i) => {
      if (!(t instanceof Tensor)) throw new TypeError(`allReduce: tensors[${i}] is not a Tensor`);
      if (op === 'mean' && !isFloatingDType(t.dtype))
        throw new TypeError(`allReduce: 'mean' needs floating-point tensors; tensors[${i}] is ${t.dtype}`);
    });
    const group = this.group('allReduce');
    noGrad(() =>
      tidy(() => {
        const staged = list.map(contiguousStage);
        native.allReduce(
          group,
          staged.map((s) => s.tensor.handle),
          op === 'mean' ? 'sum' : op,
        );
        staged.forEach((s, i) => {
          if (op === 'mean') s.tensor.div_(this.worldSize);
          if (s.copied) list[i]!.copy_(s.tensor);
        });
      }),
    );
  }

  /** Every rank's `t` (the same shape on all ranks), in rank order. */
  allGather(t: Tensor): Tensor[] {
    if (!(t instanceof Tensor)) throw new TypeError('allGather: expected a Tensor');
    const group = this.group('allGather');
    this.checkSameShape(t, 'allGather');
    return native.allGather(group, t.handle).map((h) => new Tensor(h));
  }

  /** Copies `root`'s tensors into every rank's tensors of the same shapes, in place. */
  broadcast(tensors: Tensor | Tensor[], root = 0): void {
    const list = Array.isArray(tensors) ? tensors : [tensors];
    checkInteger(root, 'broadcast root', 0, this.worldSize - 1);
    list.forEach((t, i) => {
      if (!(t instanceof Tensor)) throw new TypeError(`broadcast: tensors[${i}] is not a Tensor`);
    });
    const group = this.group('broadcast');
    noGrad(() =>
      tidy(() => {
        const staged = list.map(contiguousStage);
        native.broadcast(
          group,
          staged.map((s) => s.tensor.handle),
          root,
        );
        staged.forEach((s, i) => {
          if (s.copied) list[i]!.copy_(s.tensor);
        });
      }),
    );
  }

  /** Waits until every rank reaches this call. */
  barrier(): void {
    native.barrier(this.group('barrier'));
  }

  /**
   * The original BIKE's `AllGather`: concatenates every rank's `t` along dim 0 (forward), and
   * back-propagates only the local slice of the gradient (no reduction across ranks).
   */
  allGatherWithGrad(t: Tensor): Tensor {
    const rows = t.size(0);
    const rank = this.rank;
    const [gathered] = applyCustom(
      {
        forward: ([input]) => [tidy(() => cat(this.allGather(input!), 0))],
        backward: ([grad]) => [grad === null ? null : grad.narrow(0, rank * rows, rows).contiguous()],
      },
      [t],
    );
    return gathered!;
  }

  /** Leaves the group; later calls on it fail. */
  destroy(): void {
    if (this.handle !== null) {
      native.destroyProcessGroup(this.handle);
      this.handle = null;
    }
  }

  /** Every rank must gather the same shape: compare descriptors first so a mismatch is named, not hung on. */
  private checkSameShape(t: Tensor, what: string): void {
    if (this.worldSize === 1) return;
    const MAX_DIMS = 8;
    if (t.ndim > MAX_DIMS) throw new RangeError(`${what}: at most ${MAX_DIMS} dimensions, got [${t.shape}]`);
    tidy(() => {
      const descriptor = tensor([t.ndim, ...t.shape, ...new Array<number>(MAX_DIMS - t.ndim).fill(0)], {
        dtype: 'int64',
      });
      const all = native.allGather(this.group(what), descriptor.handle).map((h) => new Tensor(h).toArray());
      const shapes = all.map((d) => d.slice(1, 1 + d[0]!));
      const mismatched = shapes.map((s, r) => [s, r] as const).filter(([s]) => s.join() !== t.shape.join());
      if (mismatched.length) {
        throw new Error(
          `${what}: every rank must pass the same shape; rank ${this.rank} has [${t.shape}], ${mismatched.map(([s, r]) => `rank ${r} has [${s}]`).join(', ')}`,
        );
      }
    });
  }
}
