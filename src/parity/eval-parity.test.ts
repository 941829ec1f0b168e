import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { evalParityChecks } from './eval-parity.ts';

const fixtureDir = fileURLToPath(new URL('../../../shared/fixtures/bike-reference/', import.meta.url));
const haveFixture = ['zeroshot.json', 'zeroshot.safetensors', 'map.json', 'map.safetensors'].every((f) =>
  existsSync(join(fixtureDir, f)),
);

test(
  'every evaluation parity check passes on the reference fixture',
  { skip: !haveFixture && 'fixture absent' },
  async () => {
    const results = await evalParityChecks(fixtureDir);
    assert.ok(results.length >= 8, `${results.length} results`);
    for (const r of results) {
      assert.equal(r.skipped, undefined, `${r.name} skipped: ${r.detail}`);
      assert.ok(r.ok, `${r.name}: ${r.detail}`);
      assert.match(r.detail, /tolerance|exact match/);
    }
  },
);

test('absent fixture files give skipped results', async () => {
  const results = await evalParityChecks(join(tmpdir(), 'no-such-fixture-dir'));
  assert.deepEqual(
    results.map((r) => [r.name, r.skipped, r.ok]),
    [
      ['eval zero-shot', true, false],
      ['eval mAP', true, false],
    ],
  );
});

test(
  'a wrong expected value or a malformed fixture fails, naming what differs',
  { skip: !haveFixture && 'fixture absent' },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bike-eval-parity-'));
    try {
      copyFileSync(join(fixtureDir, 'map.safetensors'), join(dir, 'map.safetensors'));
      const map = JSON.parse(readFileSync(join(fixtureDir, 'map.json'), 'utf8'));
      map.official_running_mAP_batch8 += 1e-4;
      map.single_label.top1 += 100 / 64; // one more video right
      writeFileSync(join(dir, 'map.json'), JSON.stringify(map));
      copyFileSync(join(fixtureDir, 'zeroshot.safetensors'), join(dir, 'zeroshot.safetensors'));
      writeFileSync(join(dir, 'zeroshot.json'), JSON.stringify({ splits_by_num_classes: { 10: [[0, 1, 2, 3, 4]] } }));

      const results = await evalParityChecks(dir);
      const byName = (part: string) =>
        results.find((r) => r.name.includes(part)) ?? assert.fail(`no result named *${part}*`);
      assert.equal(byName('running mAP').ok, false);
      assert.match(byName('running mAP').detail, /running mAP: got .* expected/);
      assert.equal(byName('single-label top1').ok, false);
      assert.equal(byName('AP per class').ok, true);
      assert.equal(byName('splits C=10').ok, false);
      assert.match(byName('splits C=10').detail, /split 0: position \d+: got \d+, expected \d+/);
      const malformed =
        results.find((r) => r.name === 'eval zero-shot') ?? assert.fail('no result for the malformed zeroshot.json');
      assert.equal(malformed.ok, false);
      assert.match(malformed.detail, /zeroshot\.json: "full\.top1" must be a number/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
