import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SECTION_FIELDS, TOP_LEVEL_FIELDS, type FieldSpec } from '../engine/config/config-schema.ts';
import { REQUIRED_KEYS, type ConfigFor } from './config.ts';

test("REQUIRED_KEYS (the typed loadConfig's list) is the schema's requiredFor, purpose by purpose", () => {
  for (const purpose of ['train', 'test', 'train-attributes'] as const) {
    const required = (fields: Record<string, FieldSpec>) =>
      Object.entries(fields)
        .filter(([, s]) => s.requiredFor?.includes(purpose))
        .map(([k]) => k)
        .sort();
    assert.deepEqual([...REQUIRED_KEYS[purpose].top].sort(), required(TOP_LEVEL_FIELDS), `${purpose}: top level`);
    for (const section of ['data', 'network', 'solver', 'logging'] as const) {
      assert.deepEqual(
        [...REQUIRED_KEYS[purpose][section]].sort(),
        required(SECTION_FIELDS[section] as Record<string, FieldSpec>),
        `${purpose}: ${section}`,
      );
    }
  }
});

test('ConfigFor makes the required keys non-optional, and only those (checked by the type checker)', () => {
  type Train = ConfigFor<'train'>;
  type Test = ConfigFor<'test'>;
  const lr: (c: Train) => number = (c) => c.solver.lr;
  const seed: (c: Train) => number = (c) => c.seed;
  const segments: (c: Test) => number = (c) => c.data.num_segments;
  // @ts-expect-error solver.lr is not required for testing, so it may be null there
  const testLr: (c: Test) => number = (c) => c.solver.lr;
  // @ts-expect-error data.shot is required by no purpose
  const shot: (c: Train) => number = (c) => c.data.shot;
  assert.equal([lr, seed, segments, testLr, shot].length, 5);
});
