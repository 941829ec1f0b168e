/**
 * A PyTorch baseline running as a child process of a benchmark: it answers one command per line on
 * stdin with one JSON line on stdout (bench/engine-pytorch.py, bench/infer-pytorch.py).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { MALLOC_THRESHOLD_BYTES, mallocTuned, native } from '../src/torch/native.ts';

/**
 * The environment that gives a PyTorch process the runtime ours has: the same BLAS library (the
 * addon links Debian's OpenMP OpenBLAS where it is installed, native/build.mjs) and the same glibc
 * heap thresholds (src/torch/native.ts), so a comparison measures the code, not the configuration.
 * Empty where ours runs on the system's defaults too.
 */
export function sameRuntimeEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  const blas = native.version().blas;
  if (blas.includes('/openblas-openmp/')) env.LD_LIBRARY_PATH = path.dirname(blas);
  if (mallocTuned) {
    env.MALLOC_MMAP_THRESHOLD_ = String(MALLOC_THRESHOLD_BYTES);
    env.MALLOC_TRIM_THRESHOLD_ = String(MALLOC_THRESHOLD_BYTES);
  }
  return env;
}

/** One line naming our BLAS and what `env` (from sameRuntimeEnv) gives the PyTorch side. */
export function describeRuntime(env: Record<string, string>): string {
  const given = Object.entries(env)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return `runtime: BLAS ${native.version().blas || 'none loaded'}; PyTorch runs with ${given || "the system's defaults (as ours)"}`;
}

export interface PyTorchChild {
  /** The first line, sent once the script has built its model. */
  ready(): Promise<any>;
  ask(command: string): Promise<any>;
  close(): void;
}

/** `env`: variables added to this process's environment for the child. */
export function startPyTorchChild(
  python: string,
  script: string,
  settings: unknown,
  env: Record<string, string> = {},
): PyTorchChild {
  const child = spawn(python, [script, JSON.stringify(settings)], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const replies = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (what: string): Promise<any> => {
    const line = await replies.next();
    if (line.done)
      throw new Error(`PyTorch baseline exited during '${what}' (code ${child.exitCode}): ${stderr.slice(-2000)}`);
    const value = JSON.parse(line.value);
    if (value.error) throw new Error(`PyTorch baseline: ${value.error}`);
    return value;
  };
  return {
    ready: () => next('start'),
    ask: (command: string) => {
      child.stdin.write(`${command}\n`);
      return next(command);
    },
    close: () => {
      child.stdin.end('exit\n');
    },
  };
}
