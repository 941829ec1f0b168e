// One rank of distributed.test.ts, started with torchrun's environment variables. Runs the scenario
// named by argv[2] and prints one JSON line of results (or of the error) to stdout.
import { ProcessGroup } from '../distributed.ts';
import { tensor, arange, tidy } from '../index.ts';

const scenario = process.argv[2];
const timeoutMs = Number(process.env.BIKE_TEST_TIMEOUT_MS ?? 20_000);
const report = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

function collectives(group: ProcessGroup): Record<string, unknown> {
  const r = group.rank;
  return tidy(() => {
    const sum = tensor([r + 1, 10 * (r + 1)]);
    group.allReduce(sum, 'sum');
    const mean = tensor([r + 1, 10 * (r + 1)], { dtype: 'float64' });
    const max = tensor([r, -r]);
    const min = tensor([r, -r]);
    group.allReduce([mean], 'mean');
    group.allReduce(max, 'max');
    group.allReduce(min, 'min');
    // A strided (transposed) tensor is reduced through a contiguous copy and written back.
    const strided = arange(0, 6, 1, { dtype: 'float32' }).view(2, 3).add(r).t();
    group.allReduce(strided, 'sum');
    const gathered = group.allGather(tensor([[r, r + 0.5]]));
    const broadcast = tensor([r * 100, r * 100 + 1]);
    group.broadcast(broadcast, 1);
    group.barrier();
    // allGatherWithGrad: loss = sum(w * gathered) with w = 1..rows; the local gradient is w's slice.
    const local = tensor(
      [
        [r + 1, r + 2],
        [r + 3, r + 4],
      ],
      { requiresGrad: true },
    );
    const all = group.allGatherWithGrad(local);
    const weights = arange(1, 1 + all.numel, 1, { dtype: 'float32' }).view(all.shape);
    all.mul(weights).sum().backward();
    let shapeError = '';
    try {
      group.allGather(r === 0 ? tensor([1, 2]) : tensor([1, 2, 3]));
    } catch (error) {
      shapeError = (error as Error).message;
    }
    return {
      rank: r,
      sum: sum.toArray(),
      mean: mean.toArray(),
      max: max.toArray(),
      min: min.toArray(),
      strided: strided.toNested(),
      gathered: gathered.map((t) => t.toArray()),
      broadcast: broadcast.toArray(),
      gatheredWithGrad: all.toNested(),
      localGrad: local.grad!.toNested(),
      shapeError,
    };
  });
}

try {
  const group = ProcessGroup.fromEnv({ backend: 'gloo', timeoutMs });
  if (scenario === 'collectives') {
    report(collectives(group));
  } else if (scenario === 'early-exit') {
    if (group.rank === 1) process.exit(0); // leaves without a word
    const started = Date.now();
    try {
      group.allReduce(tensor([1]), 'sum');
      report({ rank: group.rank, error: null, elapsedMs: Date.now() - started });
    } catch (error) {
      report({ rank: group.rank, error: (error as Error).message, elapsedMs: Date.now() - started });
    }
  } else if (scenario === 'stall') {
    // Rank 1 stays connected but never joins the collective (a stuck peer), for longer than the timeout.
    if (group.rank === 1) {
      const until = Date.now() + timeoutMs + 4_000;
      while (Date.now() < until) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
      process.exit(0);
    }
    const started = Date.now();
    try {
      group.allReduce(tensor([1]), 'sum');
      report({ rank: group.rank, error: null, elapsedMs: Date.now() - started });
    } catch (error) {
      report({ rank: group.rank, error: (error as Error).message, elapsedMs: Date.now() - started });
    }
  } else {
    throw new Error(`unknown scenario '${scenario}'`);
  }
  group.destroy();
} catch (error) {
  report({ fatal: (error as Error).message });
  process.exitCode = 1;
}
