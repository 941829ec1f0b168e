import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REQUIRED_KEYS, type ConfigFor } from './config.ts';

test('REQUIRED_KEYS is read from the schema: what each original script fails without', () => {
  assert.deepEqual(REQUIRED_KEYS.train.top, ['seed']);
  assert.deepEqual(REQUIRED_KEYS.test.top, []);
  assert.deepEqual(REQUIRED_KEYS.test.solver, [], 'testing reads no solver key');
  assert.deepEqual(REQUIRED_KEYS.test.logging, ['print_freq']);
  assert.deepEqual(REQUIRED_KEYS.train.logging, ['print_freq', 'eval_freq']);
  assert.deepEqual(REQUIRED_KEYS['train-attributes'].network, ['arch', 'drop_out', 'emb_dropout']);
  assert.deepEqual(REQUIRED_KEYS.train.network, ['arch', 'drop_out', 'emb_dropout', 'sim_header', 'interaction']);
  assert.ok(REQUIRED_KEYS['train-attributes'].data.includes('attributes_train_path'));
  assert.ok(!(REQUIRED_KEYS.train.data as readonly string[]).includes('attributes_train_path'));
  assert.ok(REQUIRED_KEYS.train.solver.includes('lr') && REQUIRED_KEYS.train.data.includes('train_list'));
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
  type Attributes = ConfigFor<'train-attributes'>;
  const topk: (c: Attributes) => number = (c) => c.data.select_topk_attributes;
  // @ts-expect-error network.sim_header is required for training and testing, not for train-attributes
  const header: (c: Attributes) => string = (c) => c.network.sim_header;
  assert.equal([lr, seed, segments, testLr, shot, topk, header].length, 7);
});
