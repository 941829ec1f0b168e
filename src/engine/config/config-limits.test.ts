/**
 * Values that are valid YAML and of the right type but would fail late (inside an allocation, a
 * scheduler, the YAML reader) are refused at load time, naming the file, the line, the key and the
 * accepted range.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from './config.ts';
import { MAX_INPUT_SIZE, MAX_LOADER_WORKERS, MAX_NUM_SEGMENTS } from './config-schema.ts';

const BASE = `data:
    dataset: k400
    num_segments: 8
    batch_size: 4
    workers: 2
    input_size: 224
network:
    arch: ViT-B/32
solver:
    type: cosine
    epochs: 30
    lr_warmup_step: 5
`;

function refusal(text: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bike-config-limits-'));
  const file = path.join(dir, 'bad.yaml');
  try {
    writeFileSync(file, text);
    try {
      loadConfig(file);
    } catch (error) {
      assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
      return error.message;
    }
    assert.fail(`accepted:\n${text}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('sizes far beyond any setting are refused with the key, its line and the accepted range', () => {
  assert.match(
    refusal(BASE.replace('num_segments: 8', 'num_segments: 4000000')),
    new RegExp(`bad\\.yaml:3: data\\.num_segments: expected an integer in 1\\.\\.${MAX_NUM_SEGMENTS}, got 4000000`),
  );
  assert.match(
    refusal(BASE.replace('input_size: 224', 'input_size: 1000000')),
    new RegExp(`bad\\.yaml:6: data\\.input_size: expected an integer in 1\\.\\.${MAX_INPUT_SIZE}, got 1000000`),
  );
  assert.match(
    refusal(BASE.replace('workers: 2', 'workers: 100000')),
    new RegExp(`bad\\.yaml:5: data\\.workers: expected an integer in 0\\.\\.${MAX_LOADER_WORKERS}, got 100000`),
  );
  // Each within its range, together too large for one batch array: the batch size is named.
  const together = refusal(
    BASE.replace('num_segments: 8', 'num_segments: 1024')
      .replace('input_size: 224', 'input_size: 4096')
      .replace('batch_size: 4', 'batch_size: 64'),
  );
  assert.match(
    together,
    /bad\.yaml:4: data\.batch_size: a batch of 64 videos x 1024 frames \(data\.num_segments\) x 3 x 4096\^2 pixels \(data\.input_size\) is .* above the 2147483647 one array holds/,
  );
  assert.doesNotThrow(() => loadConfig('/dev/null'));
});

test('a warm-up as long as training is refused at solver.lr_warmup_step, with the epochs', () => {
  assert.match(
    refusal(BASE.replace('lr_warmup_step: 5', 'lr_warmup_step: 30')),
    /bad\.yaml:12: solver\.lr_warmup_step: expected 0 <= lr_warmup_step < solver\.epochs \(30\), got 30/,
  );
  assert.match(
    refusal(BASE.replace('lr_warmup_step: 5', 'lr_warmup_step: 45')),
    /solver\.lr_warmup_step: expected 0 <= lr_warmup_step < solver\.epochs \(30\), got 45/,
  );
  // The multistep schedule has no such limit (as in the original).
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bike-config-limits-'));
  try {
    const file = path.join(dir, 'ok.yaml');
    writeFileSync(
      file,
      BASE.replace('type: cosine', 'type: multistep').replace('lr_warmup_step: 5', 'lr_warmup_step: 30'),
    );
    assert.equal(loadConfig(file).solver.lr_warmup_step, 30);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a YAML alias bomb and unknown tags are refused, naming the file (and the line of a tag)', () => {
  const levels = ['a: &a [x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 9; i++)
    levels.push(
      `l${i}: &l${i} [${Array(9)
        .fill(i === 1 ? '*a' : `*l${i - 1}`)
        .join(', ')}]`,
    );
  const started = performance.now();
  assert.match(
    refusal(`${levels.join('\n')}\n`),
    /bad\.yaml: YAML syntax: aliases expand too far .*at most 100 alias uses/,
  );
  assert.ok(performance.now() - started < 2000, 'refused before expanding');
  assert.match(
    refusal(BASE.replace('dataset: k400', 'dataset: !!python/name:os.system')),
    /bad\.yaml:2: YAML syntax: unknown tag !!python\/name:os\.system: a config holds plain values only/,
  );
  assert.match(
    refusal(BASE.replace('arch: ViT-B/32', 'arch: !custom ViT-B/32')),
    /bad\.yaml:8: YAML syntax: unknown tag !custom/,
  );
});
