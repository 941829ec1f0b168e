import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError, parseArgs, type FlagSpec } from './args.ts';

const specs = {
  model: { kind: 'string', help: 'weights' },
  top: { kind: 'int', min: 1, help: 'classes' },
  weight: { kind: 'number', help: 'w' },
  json: { kind: 'boolean', help: 'json' },
  set: { kind: 'string', repeat: true, help: 'overrides' },
} satisfies Record<string, FlagSpec>;

test('flags come back typed by their spec: string, number, true, arrays for repeated flags', () => {
  const { positionals, flags } = parseArgs(
    ['video.mp4', '--model', 'run', '--top=3', '--weight', '0.5', '--json', '--set', 'a=1', '--set=b=2'],
    specs,
    'predict',
  );
  assert.deepEqual(positionals, ['video.mp4']);
  const model: string | undefined = flags.model;
  const top: number | undefined = flags.top;
  const weight: number | undefined = flags.weight;
  const json: true | undefined = flags.json;
  const set: string[] | undefined = flags.set;
  assert.deepEqual(
    { model, top, weight, json, set },
    { model: 'run', top: 3, weight: 0.5, json: true, set: ['a=1', 'b=2'] },
  );
  // @ts-expect-error --top is an int flag: its value is a number, not a string
  const wrong: string | undefined = flags.top;
  // @ts-expect-error no such flag
  assert.equal(flags.modle, undefined);
  assert.equal(wrong, 3);
});

test('usage mistakes name the flag', () => {
  assert.throws(
    () => parseArgs(['--top', 'x'], specs, 'predict'),
    (e: unknown) => e instanceof UsageError && /--top "x": expected an integer/.test(e.message),
  );
  assert.throws(() => parseArgs(['--top', '0'], specs, 'predict'), /--top 0: expected a value >= 1/);
  assert.throws(() => parseArgs(['--modle', 'run'], specs, 'predict'), /unknown option --modle for "bike predict"/);
  assert.throws(() => parseArgs(['--json=1'], specs, 'predict'), /--json takes no value/);
  assert.throws(() => parseArgs(['--model', 'a', '--model', 'b'], specs, 'predict'), /--model was given twice/);
});
