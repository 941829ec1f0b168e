import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from './rng.ts';
import { DistributedSampler, batchIndices, numBatches, selectFewShot } from './samplers.ts';

test('distributed sampler: ranks cover every index exactly once before padding, equal lengths', () => {
  for (const [size, world] of [
    [10, 4],
    [12, 4],
    [7, 3],
    [3, 8],
    [1000, 7],
  ] as const) {
    const samplers = Array.from(
      { length: world },
      (_, rank) => new DistributedSampler({ datasetSize: size, worldSize: world, rank, seed: 1024 }),
    );
    const perRank = samplers.map((s) => s.indices(3));
    const numSamples = Math.ceil(size / world);
    for (const idx of perRank) assert.equal(idx.length, numSamples, `size ${size} world ${world}`);
    // The epoch order interleaves ranks: position i goes to rank i % world.
    const interleaved: number[] = [];
    for (let i = 0; i < numSamples * world; i++) interleaved.push(perRank[i % world]![Math.floor(i / world)]!);
    const unpadded = interleaved.slice(0, size);
    assert.deepEqual(
      unpadded.slice().sort((a, b) => a - b),
      Array.from({ length: size }, (_, i) => i),
      'each index once',
    );
    // Padding repeats the start of the same order, as torch does.
    for (let i = size; i < interleaved.length; i++) assert.equal(interleaved[i], interleaved[(i - size) % size]);
  }
});

test('distributed sampler reshuffles per epoch from seed + epoch and agrees across instances', () => {
  const make = (seed: number) => new DistributedSampler({ datasetSize: 100, worldSize: 2, rank: 1, seed });
  const s = make(0);
  assert.deepEqual(s.indices(0), make(0).indices(0), 'deterministic');
  assert.notDeepEqual(s.indices(0), s.indices(1), 'differs per epoch');
  assert.deepEqual(make(5).indices(0), make(3).indices(2), 'seed + epoch, like torch');
  const ordered = new DistributedSampler({ datasetSize: 10, worldSize: 4, rank: 2, shuffle: false });
  assert.deepEqual(ordered.indices(0), [2, 6, 0]);
  assert.deepEqual(
    new DistributedSampler({ datasetSize: 10, worldSize: 4, rank: 3, shuffle: false }).indices(7),
    [3, 7, 1],
  );
});

test('distributed sampler with dropLast trims instead of padding', () => {
  const ranks = [0, 1, 2, 3].map(
    (rank) => new DistributedSampler({ datasetSize: 10, worldSize: 4, rank, dropLast: true, shuffle: false }),
  );
  assert.equal(ranks[0]!.numSamples, 2);
  assert.deepEqual(
    ranks.map((r) => r.indices(0)),
    [
      [0, 4],
      [1, 5],
      [2, 6],
      [3, 7],
    ],
  );
  assert.throws(
    () => new DistributedSampler({ datasetSize: 3, worldSize: 4, rank: 0, dropLast: true }),
    /cannot give every one of 4 ranks/,
  );
  assert.throws(
    () => new DistributedSampler({ datasetSize: 3, worldSize: 2, rank: 2 }),
    /rank must be an integer in \[0, 1\], got 2/,
  );
});

test('batching keeps or drops the short last batch', () => {
  const idx = [5, 3, 1, 0, 2, 4, 6];
  assert.deepEqual(batchIndices(idx, 3, false), [[5, 3, 1], [0, 2, 4], [6]]);
  assert.deepEqual(batchIndices(idx, 3, true), [
    [5, 3, 1],
    [0, 2, 4],
  ]);
  assert.equal(numBatches(7, 3, false), 3);
  assert.equal(numBatches(7, 3, true), 2);
  assert.throws(() => batchIndices(idx, 0, false), /batch_size must be an integer >= 1, got 0/);
});

interface Item {
  id: string;
  label: number;
}

function makeList(): Item[] {
  // Class 2 appears first; per-class sizes 5, 3, 4 (12 videos).
  const labels = [2, 2, 0, 1, 2, 0, 1, 2, 0, 2, 1, 1];
  return labels.map((label, i) => ({ id: `v${i}`, label }));
}

test('few-shot: K per class, classes in order of first appearance, deterministic per seed', () => {
  const list = makeList();
  const a = selectFewShot(list, 2, new Rng(1024));
  assert.deepEqual(
    a.selected.map((r) => r.label),
    [2, 2, 0, 0, 1, 1],
  );
  assert.equal(new Set(a.selected.map((r) => r.id)).size, 6, 'no video twice');
  assert.deepEqual(selectFewShot(list, 2, new Rng(1024)).selected, a.selected, 'same seed, same picks');
  const picksBySeed = new Set(
    Array.from({ length: 20 }, (_, s) =>
      selectFewShot(list, 2, new Rng(s))
        .selected.map((r) => r.id)
        .join(),
    ),
  );
  assert.ok(picksBySeed.size > 1, 'different seeds pick differently');
  // select_vids * (12 // 6): the whole selection repeated twice.
  assert.equal(a.repeats, 2);
  assert.deepEqual(a.epochList, [...a.selected, ...a.selected]);
  const one = selectFewShot(list, 1, new Rng(0));
  assert.equal(one.repeats, 4);
  assert.equal(one.epochList.length, 12);
});

test('few-shot: every video of a class can be picked, and too-small classes are errors', () => {
  const list = makeList();
  const seen = new Set<string>();
  const rng = new Rng(9);
  for (let k = 0; k < 200; k++) for (const r of selectFewShot(list, 1, rng).selected) seen.add(r.id);
  assert.equal(seen.size, list.length);
  assert.throws(
    () => selectFewShot(list, 4, new Rng(0), 'train.txt'),
    /train\.txt: class 0 has 3 video\(s\); data\.shot = 4 needs at least 4 per class/,
  );
  assert.throws(() => selectFewShot(list, 0, new Rng(0)), /data\.shot must be an integer >= 1/);
  assert.throws(() => selectFewShot([], 2, new Rng(0)), /no videos/);
});
