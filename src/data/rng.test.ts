import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from './rng.ts';

test('xoshiro128** core matches the reference algorithm for state (1, 2, 3, 4)', () => {
  // Values from the reference C algorithm (computed independently with Python big integers).
  const rng = Rng.fromState([1, 2, 3, 4]);
  const got = Array.from({ length: 6 }, () => rng.nextUint32());
  assert.deepEqual(got, [11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
});

test('same seed gives the same stream, nearby seeds differ', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const c = new Rng(43);
  const sa = Array.from({ length: 20 }, () => a.nextUint32());
  const sb = Array.from({ length: 20 }, () => b.nextUint32());
  const sc = Array.from({ length: 20 }, () => c.nextUint32());
  assert.deepEqual(sa, sb);
  assert.notDeepEqual(sa, sc);
  // Seeds differing only above 32 bits still differ.
  assert.notEqual(new Rng(1).nextUint32(), new Rng(1 + 2 ** 32).nextUint32());
});

test('state() round-trips through fromState', () => {
  const a = new Rng(7);
  a.nextUint32();
  const b = Rng.fromState(a.state());
  assert.deepEqual(
    Array.from({ length: 5 }, () => a.nextUint32()),
    Array.from({ length: 5 }, () => b.nextUint32()),
  );
});

test('nextFloat lies in [0, 1) and nextInt is roughly uniform', () => {
  const rng = new Rng(1);
  const counts = new Array(7).fill(0);
  const draws = 70000;
  for (let i = 0; i < draws; i++) {
    const f = rng.nextFloat();
    assert.ok(f >= 0 && f < 1);
    counts[rng.nextInt(7)]++;
  }
  for (const c of counts) assert.ok(Math.abs(c - draws / 7) < 0.05 * (draws / 7), `count ${c} far from ${draws / 7}`);
});

test('intInclusive covers both ends; bad arguments are errors', () => {
  const rng = new Rng(3);
  const seen = new Set<number>();
  for (let i = 0; i < 500; i++) seen.add(rng.intInclusive(2, 5));
  assert.deepEqual([...seen].sort(), [2, 3, 4, 5]);
  assert.throws(() => rng.nextInt(0), /integer n in \[1, 2\^32\]/);
  assert.throws(() => rng.intInclusive(3, 2), /low <= high/);
  assert.throws(() => new Rng(0.5), /safe integer/);
});

test('shuffle is a permutation and depends on the seed', () => {
  const base = Array.from({ length: 50 }, (_, i) => i);
  const s1 = new Rng(5).shuffle(base.slice());
  const s2 = new Rng(6).shuffle(base.slice());
  assert.deepEqual(
    s1.slice().sort((a, b) => a - b),
    base,
  );
  assert.notDeepEqual(s1, base);
  assert.notDeepEqual(s1, s2);
});
