import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pythonPow } from './python-math.ts';

test("integer powers equal CPython's (glibc pow), where V8's ** can be one ulp off", () => {
  // Values printed by CPython 3.11 on glibc: repr(0.9 ** 4), repr(1 - 0.999 ** s), ...
  assert.equal(pythonPow(0.9, 4), 0.6561);
  assert.equal(pythonPow(0.9, 3), 0.7290000000000001);
  assert.equal(pythonPow(0.9, 10), 0.3486784401000001);
  assert.equal(1 - pythonPow(0.999, 2), 0.001998999999999973);
  assert.equal(1 - pythonPow(0.999, 3), 0.002997000999999999);
  assert.equal(1 - pythonPow(0.999, 100), 0.09520785288629108);
  assert.equal(pythonPow(0.999, 1234), 0.29094605365002846);
  assert.equal(pythonPow(0.9, 100), 2.6561398887587544e-5);
  assert.equal(pythonPow(0.1, 2), 0.010000000000000002);
});

test('edge cases fall back to the plain power', () => {
  assert.equal(pythonPow(0.5, 0), 1);
  assert.equal(pythonPow(2, 0.5), Math.SQRT2);
  assert.equal(pythonPow(0.9, 1e6), 0.9 ** 1e6);
  assert.equal(pythonPow(-2, 3), -8);
  assert.ok(Number.isNaN(pythonPow(NaN, 2)));
});
