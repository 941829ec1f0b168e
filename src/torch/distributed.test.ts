// Process groups with two real processes on 127.0.0.1 (Gloo), torchrun's environment parsing, and
// bounded failure when a peer is missing or leaves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ProcessGroup, readTorchrunEnv } from './distributed.ts';
import { tensor, tidy } from './index.ts';

const worker = fileURLToPath(new URL('./testdata/distributed-worker.ts', import.meta.url));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Why Gloo tests cannot run here (an addon built against a libtorch without Gloo headers), or undefined. */
const glooMissing = await (async (): Promise<string | undefined> => {
  try {
    ProcessGroup.init({
      backend: 'gloo',
      masterAddr: '127.0.0.1',
      masterPort: await freePort(),
      rank: 0,
      worldSize: 1,
      timeoutMs: 5_000,
    }).destroy();
    return undefined;
  } catch (error) {
    const message = (error as Error).message;
    if (/built without Gloo/.test(message)) return message;
    throw error;
  }
})();

interface RankResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  lines: Record<string, any>[];
  stderr: string;
}

/** Starts `worldSize` workers running `scenario`; kills them all after `limitMs`. */
async function runRanks(
  scenario: string,
  worldSize: number,
  timeoutMs: number,
  limitMs: number,
): Promise<RankResult[]> {
  const port = await freePort();
  const runs = Array.from(
    { length: worldSize },
    (_, rank) =>
      new Promise<RankResult>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', worker, scenario], {
          env: {
            ...process.env,
            MASTER_ADDR: '127.0.0.1',
            MASTER_PORT: String(port),
            WORLD_SIZE: String(worldSize),
            RANK: String(rank),
            LOCAL_RANK: String(rank),
            BIKE_TEST_TIMEOUT_MS: String(timeoutMs),
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk) => (stdout += chunk));
        child.stderr.on('data', (chunk) => (stderr += chunk));
        const killer = setTimeout(() => child.kill('SIGKILL'), limitMs);
        child.on('close', (code, signal) => {
          clearTimeout(killer);
          const lines = stdout
            .split('\n')
            .filter((l) => l.startsWith('{'))
            .map((l) => JSON.parse(l));
          resolve({ code, signal, lines, stderr });
        });
      }),
  );
  return Promise.all(runs);
}

test(
  'two ranks: all-reduce (sum, mean, max, min, strided), all-gather, broadcast, barrier, allGatherWithGrad',
  { skip: glooMissing },
  async () => {
    const results = await runRanks('collectives', 2, 20_000, 60_000);
    for (const [rank, r] of results.entries()) {
      assert.equal(r.signal, null, `rank ${rank} was killed (hung?): ${r.stderr.slice(-1500)}`);
      assert.equal(r.code, 0, `rank ${rank} exited ${r.code}: ${JSON.stringify(r.lines)} ${r.stderr.slice(-1500)}`);
      assert.equal(r.lines.length, 1, `rank ${rank} reports once`);
      const out = r.lines[0]!;
      assert.equal(out.rank, rank);
      assert.deepEqual(out.sum, [3, 30], 'sum of [1,10] and [2,20]');
      assert.deepEqual(out.mean, [1.5, 15], 'mean = sum / world size');
      assert.deepEqual(out.max, [1, 0]);
      assert.deepEqual(out.min, [0, -1]);
      assert.deepEqual(
        out.strided,
        [
          [1, 7],
          [3, 9],
          [5, 11],
        ],
        'transposed input reduced and written back',
      );
      assert.deepEqual(
        out.gathered,
        [
          [0, 0.5],
          [1, 1.5],
        ],
        'rank order',
      );
      assert.deepEqual(out.broadcast, [100, 101], 'root 1 wins');
      assert.deepEqual(
        out.gatheredWithGrad,
        [
          [1, 2],
          [3, 4],
          [2, 3],
          [4, 5],
        ],
        'both ranks concatenated along dim 0',
      );
      // Weights 1..8 over the [4, 2] gather; rank r's rows are 2r and 2r+1.
      assert.deepEqual(
        out.localGrad,
        rank === 0
          ? [
              [1, 2],
              [3, 4],
            ]
          : [
              [5, 6],
              [7, 8],
            ],
        'the local slice of the gradient',
      );
      assert.match(
        out.shapeError,
        /allGather: every rank must pass the same shape; rank \d has \[\d\], rank \d has \[\d\]/,
      );
    }
  },
);

test(
  'when one rank exits early, the other gets an error within the timeout instead of hanging',
  { skip: glooMissing },
  async () => {
    const timeoutMs = 5_000;
    const started = Date.now();
    const [rank0, rank1] = await runRanks('early-exit', 2, timeoutMs, 40_000);
    assert.equal(rank1!.code, 0, 'rank 1 left cleanly');
    assert.equal(rank0!.signal, null, `rank 0 hung until killed: ${rank0!.stderr.slice(-1500)}`);
    const out = rank0!.lines[0]!;
    assert.ok(out, `rank 0 reported: ${rank0!.stderr.slice(-1500)}`);
    assert.equal(typeof out.error, 'string', 'the collective failed');
    assert.match(out.error, /allReduce on rank 0/);
    assert.ok(out.elapsedMs <= timeoutMs + 3_000, `failed after ${out.elapsedMs} ms (timeout ${timeoutMs} ms)`);
    assert.ok(Date.now() - started < 35_000);
  },
);

test(
  'a peer that stays connected but never joins the collective: the wait ends at the timeout',
  { skip: glooMissing },
  async () => {
    const timeoutMs = 3_000;
    const [rank0] = await runRanks('stall', 2, timeoutMs, 40_000);
    assert.equal(rank0!.signal, null, `rank 0 hung until killed: ${rank0!.stderr.slice(-1500)}`);
    const out = rank0!.lines[0]!;
    assert.match(String(out.error), /allReduce on rank 0: .*timed out/i);
    assert.ok(
      out.elapsedMs >= timeoutMs - 100 && out.elapsedMs <= timeoutMs + 3_000,
      `failed after ${out.elapsedMs} ms (timeout ${timeoutMs} ms)`,
    );
  },
);

test('a missing peer fails the rendezvous within the timeout, naming the group', async () => {
  const port = await freePort();
  const started = Date.now();
  assert.throws(
    () =>
      ProcessGroup.init({
        backend: 'gloo',
        masterAddr: '127.0.0.1',
        masterPort: port,
        rank: 0,
        worldSize: 2,
        timeoutMs: 1_500,
      }),
    new RegExp(`init process group \\(gloo, rank 0 of 2, 127\\.0\\.0\\.1:${port}\\)`),
  );
  assert.ok(Date.now() - started < 10_000, `gave up after ${Date.now() - started} ms`);
});

test('a group of one: collectives are identities; destroy ends the group', { skip: glooMissing }, async () => {
  const group = ProcessGroup.init({
    backend: 'gloo',
    masterAddr: '127.0.0.1',
    masterPort: await freePort(),
    rank: 0,
    worldSize: 1,
    timeoutMs: 5_000,
  });
  tidy(() => {
    const t = tensor([1, 2]);
    group.allReduce(t, 'mean');
    assert.deepEqual(t.toArray(), [1, 2]);
    assert.deepEqual(
      group.allGather(t).map((x) => x.toArray()),
      [[1, 2]],
    );
    const x = tensor([[1, 2]], { requiresGrad: true });
    const y = group.allGatherWithGrad(x);
    y.mul(3).sum().backward();
    assert.deepEqual(x.grad!.toNested(), [[3, 3]]);
    assert.throws(
      () => group.allReduce(tensor([1], { dtype: 'int64' }), 'mean'),
      /'mean' needs floating-point tensors; tensors\[0\] is int64/,
    );
    assert.throws(() => group.allReduce(t, 'avg' as never), /op must be one of sum, mean, max, min/);
    assert.throws(() => group.broadcast(t, 1), /broadcast root must be an integer in \[0, 0\]/);
  });
  group.barrier();
  group.destroy();
  assert.throws(() => group.barrier(), /barrier: the process group \(rank 0 of 1\) was destroyed/);
  group.destroy();
});

test('readTorchrunEnv parses torchrun variables and names every missing or malformed one', () => {
  assert.deepEqual(
    readTorchrunEnv({ MASTER_ADDR: 'node1', MASTER_PORT: '29500', WORLD_SIZE: '4', RANK: '3', LOCAL_RANK: '1' }),
    {
      masterAddr: 'node1',
      masterPort: 29500,
      worldSize: 4,
      rank: 3,
      localRank: 1,
    },
  );
  assert.throws(
    () => readTorchrunEnv({}),
    (e: Error) =>
      [
        'MASTER_ADDR is not set',
        'MASTER_PORT is not set',
        'WORLD_SIZE is not set',
        'RANK is not set',
        'LOCAL_RANK is not set',
      ].every((m) => e.message.includes(m)),
  );
  assert.throws(
    () => readTorchrunEnv({ MASTER_ADDR: 'h', MASTER_PORT: '70000', WORLD_SIZE: 'two', RANK: '-1', LOCAL_RANK: '0' }),
    (e: Error) =>
      /MASTER_PORT='70000' is not an integer in \[1, 65535\]/.test(e.message) &&
      /WORLD_SIZE='two'/.test(e.message) &&
      /RANK='-1'/.test(e.message),
  );
  assert.throws(
    () => readTorchrunEnv({ MASTER_ADDR: 'h', MASTER_PORT: '1234', WORLD_SIZE: '2', RANK: '2', LOCAL_RANK: '0' }),
    /RANK=2 is not below WORLD_SIZE=2/,
  );
  assert.throws(
    () => ProcessGroup.fromEnv({ env: { MASTER_ADDR: 'h' } }),
    /distributed environment \(as torchrun sets it\): MASTER_PORT is not set/,
  );
});

test('init validates its options before touching the network', () => {
  const base = { masterAddr: '127.0.0.1', masterPort: 29500, rank: 0, worldSize: 2 };
  assert.throws(
    () => ProcessGroup.init({ ...base, backend: 'mpi' as never }),
    /backend must be 'gloo' or 'nccl', got 'mpi'/,
  );
  assert.throws(() => ProcessGroup.init({ ...base, rank: 2 }), /rank must be an integer in \[0, 1\], got 2/);
  assert.throws(
    () => ProcessGroup.init({ ...base, masterPort: 0 }),
    /masterPort must be an integer in \[1, 65535\], got 0/,
  );
  assert.throws(() => ProcessGroup.init({ ...base, worldSize: 1.5 }), /worldSize must be an integer/);
  assert.throws(() => ProcessGroup.init({ ...base, timeoutMs: -5 }), /timeoutMs must be an integer/);
  assert.throws(() => ProcessGroup.init({ ...base, masterAddr: '' }), /masterAddr must be a host name/);
});
