/** Runs the `bike` command in a child process (as a user would) and captures its output. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIKE_BIN = path.join(REPO_ROOT, 'bin', 'bike.mjs');
/** The CLIP vocabulary in ../shared/clip (never copied into the repository). */
export const SHARED_VOCAB = path.resolve(REPO_ROOT, '..', 'shared', 'clip', 'bpe_simple_vocab_16e6.txt.gz');

export interface BikeRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function spawnBike(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, [BIKE_BIN, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, BIKE_CLIP_VOCAB: SHARED_VOCAB, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export function runBike(args: string[], env: NodeJS.ProcessEnv = {}): Promise<BikeRun> {
  const child = spawnBike(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

/** The JSON line `--json` prints last. */
export function lastJson<T = Record<string, unknown>>(run: BikeRun): T {
  const lines = run.stdout.trim().split('\n');
  const line = lines[lines.length - 1] ?? '';
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(
      `bike printed no JSON result (exit ${run.code}):\nstdout: ${run.stdout.slice(-2000)}\nstderr: ${run.stderr.slice(-2000)}`,
    );
  }
}
