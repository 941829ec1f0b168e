import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync, copyFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { optimParityChecks } from './optim-parity.ts';
import { formatParityResult } from './parity-result.ts';

const fixtureDir = fileURLToPath(new URL('../../../shared/fixtures/bike-reference', import.meta.url));
const present = existsSync(join(fixtureDir, 'io.safetensors'));

test(
  'LR schedules and the checkpoint optimizer state match the reference fixture',
  { skip: !present && 'fixture missing' },
  async () => {
    const results = await optimParityChecks(fixtureDir);
    assert.equal(results.length, 3);
    for (const r of results) assert.ok(r.ok && !r.skipped, formatParityResult(r));
  },
);

test(
  'a changed solver setting makes the schedule check fail (settings come from meta.json)',
  { skip: !present && 'fixture missing' },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'optim-parity-'));
    try {
      copyFileSync(join(fixtureDir, 'io.safetensors'), join(dir, 'io.safetensors'));
      const meta = JSON.parse(readFileSync(join(fixtureDir, 'meta.json'), 'utf8'));
      meta.solver.lr_warmup_step += 1;
      writeFileSync(join(dir, 'meta.json'), JSON.stringify(meta));
      const results = await optimParityChecks(dir);
      assert.equal(
        results.filter((r) => r.name.startsWith('lr schedule') && !r.ok && !r.skipped).length,
        2,
        results.map(formatParityResult).join('\n'),
      );
      assert.ok(results.find((r) => r.name.startsWith('optimizer_state_dict'))!.skipped);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('missing fixture files give skipped results', async () => {
  const results = await optimParityChecks(join(tmpdir(), 'no-such-fixture-dir'));
  assert.equal(results.length, 3);
  for (const r of results) assert.equal(r.skipped, true);
});
