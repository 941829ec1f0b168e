import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { samplingParityChecks } from './sampling-parity.ts';
import { DEFAULT_FIXTURE_DIR as fixtureDir } from './run.ts';

test('every sampling.json case matches the original (val and test samplers)', async () => {
  const fixture = JSON.parse(readFileSync(join(fixtureDir, 'sampling.json'), 'utf8')) as { cases: unknown[] };
  const results = await samplingParityChecks(fixtureDir);
  assert.equal(results.length, 2 * fixture.cases.length, 'one result per (sampler, case)');
  const failed = results.filter((r) => !r.ok || r.skipped);
  assert.deepEqual(failed, [], failed.map((r) => `${r.name}: ${r.detail}`).join('\n'));
});

test('the parity check fails on a wrong expectation and skips a missing fixture', async () => {
  const fixture = JSON.parse(readFileSync(join(fixtureDir, 'sampling.json'), 'utf8'));
  const dir = await mkdtemp(join(tmpdir(), 'bike-sampling-'));
  try {
    const uniform = fixture.cases.find(
      (c: any) => !c.dense && Array.isArray(c.test) && c.test_clips > 1 && c.num_frames > 8,
    );
    uniform.test[uniform.test.length - 1] += 1;
    uniform.val[0] += 1;
    const denseLong = fixture.cases.find((c: any) => c.dense && c.num_frames > fixture.sample_range + 1);
    denseLong.val[2] += 1; // breaks the stride
    await writeFile(join(dir, 'sampling.json'), JSON.stringify(fixture));
    const failed = (await samplingParityChecks(dir)).filter((r) => !r.ok).map((r) => r.name);
    assert.equal(failed.length, 3, failed.join(', '));
    assert.ok(failed.some((n) => n.startsWith('sampling test') && n.includes(`frames=${uniform.num_frames} `)));
    const missing = await samplingParityChecks(join(dir, 'nowhere'));
    assert.equal(missing.length, 1);
    assert.equal(missing[0]!.skipped, true);
  } finally {
    await rm(dir, { recursive: true });
  }
});
