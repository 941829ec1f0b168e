import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LegacyRandomState } from './numpy-legacy-random.ts';

// Values printed by numpy 2.4 (legacy RandomState), e.g. `np.random.seed(0); np.random.permutation(12)[:6]`.
test('integer seeds follow init_genrand, as numpy seed(int) does', () => {
  assert.deepEqual(Array.from(new LegacyRandomState(0).permutation(12).subarray(0, 6)), [6, 11, 4, 10, 2, 8]);
  assert.deepEqual(
    Array.from(new LegacyRandomState(2 ** 32 - 1).permutation(20)),
    [11, 17, 19, 15, 1, 5, 8, 16, 13, 18, 14, 9, 10, 6, 0, 4, 7, 12, 2, 3],
  );
  const r = new LegacyRandomState(42);
  assert.deepEqual([r.nextUint32(), r.nextUint32()], [1608637542, 3421126067]);
});

test('array seeds follow init_by_array, so seed([s]) differs from seed(s)', () => {
  assert.deepEqual(
    Array.from(new LegacyRandomState([1, 2, 3]).permutation(20)),
    [9, 16, 2, 7, 15, 14, 0, 6, 10, 1, 13, 17, 4, 8, 18, 19, 11, 12, 5, 3],
  );
  assert.notDeepEqual(
    Array.from(new LegacyRandomState([5]).permutation(30)),
    Array.from(new LegacyRandomState(5).permutation(30)),
  );
});

test('permutation is a permutation; trivial sizes', () => {
  const p = Array.from(new LegacyRandomState(3).permutation(1000)).sort((a, b) => a - b);
  assert.deepEqual(
    p,
    Array.from({ length: 1000 }, (_, i) => i),
  );
  assert.deepEqual(Array.from(new LegacyRandomState(3).permutation(0)), []);
  assert.deepEqual(Array.from(new LegacyRandomState(3).permutation(1)), [0]);
});

test('randomInterval stays within [0, max] and bad seeds are refused', () => {
  const r = new LegacyRandomState(9);
  for (const max of [0, 1, 2, 5, 1000, 2 ** 31, 2 ** 32 - 1]) {
    for (let i = 0; i < 50; i++) {
      const v = r.randomInterval(max);
      assert.ok(v >= 0 && v <= max && Number.isInteger(v), `${v} in [0, ${max}]`);
    }
  }
  assert.throws(() => new LegacyRandomState(-1), /seed must be an integer between 0 and 2\*\*32 - 1, got -1/);
  assert.throws(() => new LegacyRandomState(2 ** 32), /got 4294967296/);
  assert.throws(() => new LegacyRandomState([]), /non-empty/);
  assert.throws(() => new LegacyRandomState([1, 1.5]), /seed\[1\]/);
});
