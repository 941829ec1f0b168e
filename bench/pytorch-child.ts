/**
 * A PyTorch baseline running as a child process of a benchmark: it answers one command per line on
 * stdin with one JSON line on stdout (bench/engine-pytorch.py, bench/infer-pytorch.py).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface PyTorchChild {
  /** The first line, sent once the script has built its model. */
  ready(): Promise<any>;
  ask(command: string): Promise<any>;
  close(): void;
}

export function startPyTorchChild(python: string, script: string, settings: unknown): PyTorchChild {
  const child = spawn(python, [script, JSON.stringify(settings)], { stdio: ['pipe', 'pipe', 'pipe'] });
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
