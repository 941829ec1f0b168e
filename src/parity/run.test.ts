import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_FIXTURE_DIR, REPO_ROOT, runParity, runParityGroup, summaryLine } from './run.ts';

const SCRIPT = path.join(REPO_ROOT, 'src', 'cli', 'parity.ts');

function runCli(...args: string[]): { status: number | null; lines: string[]; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', SCRIPT, ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  });
  return { status: result.status, lines: result.stdout.trimEnd().split('\n'), stderr: result.stderr };
}

test('the default fixture directory is ../shared/fixtures/bike-reference beside the repository', () => {
  assert.equal(DEFAULT_FIXTURE_DIR, path.resolve(REPO_ROOT, '..', 'shared', 'fixtures', 'bike-reference'));
});

test('every group passes on the shared reference fixtures', () => {
  const { status, lines, stderr } = runCli(DEFAULT_FIXTURE_DIR);
  const last = lines.at(-1)!;
  assert.match(
    last,
    /^\d+ passed, 0 failed$/,
    `last line: ${last}\n${lines.filter((l) => l.startsWith('FAIL')).join('\n')}\n${stderr}`,
  );
  assert.equal(status, 0);
  const checks = lines.slice(0, -1);
  assert.ok(checks.every((l) => /^(PASS|FAIL|SKIP) /.test(l)));
  assert.equal(Number(last.split(' ')[0]), checks.length);
  // One line at least from each group.
  for (const marker of [
    'pt reader',
    'lr schedule',
    'tokenizer',
    'clip expect.encode_image',
    'expect.train.nce_loss',
    'expect.after_adamw.',
    'sampling',
    'preprocess',
    'zero-shot',
  ]) {
    assert.ok(
      checks.some((l) => l.includes(marker)),
      `no check line mentions "${marker}"`,
    );
  }
});

test('a directory without fixture files gives skips, not failures', () => {
  const empty = mkdtempSync(path.join(tmpdir(), 'parity-cli-'));
  try {
    const { status, lines } = runCli(empty);
    assert.match(lines.at(-1)!, /^0 passed, 0 failed, [1-9]\d* skipped$/);
    assert.equal(status, 0);
    assert.ok(lines.slice(0, -1).every((l) => l.startsWith('SKIP ')));
  } finally {
    rmSync(empty, { recursive: true });
  }
});

test('a failing check makes the exit status 1', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'parity-cli-'));
  try {
    const sampling = JSON.parse(readFileSync(path.join(DEFAULT_FIXTURE_DIR, 'sampling.json'), 'utf8'));
    // Shift the first case's expected validation indices by one: the sampler must now disagree.
    const first = sampling.cases[0] as { val: number[] };
    first.val = first.val.map((i) => i + 1);
    writeFileSync(path.join(dir, 'sampling.json'), JSON.stringify(sampling));
    const { status, lines } = runCli(dir);
    assert.match(lines.at(-1)!, /^\d+ passed, [1-9]\d* failed, \d+ skipped$/);
    assert.equal(status, 1);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('a bad argument or a missing directory is an error, not a report', () => {
  assert.equal(runCli('/no/such/fixture/dir').status, 2);
  assert.equal(runCli('a', 'b').status, 2);
});

test('a group that cannot load, lacks its export, returns nonsense or throws gives one failed line naming why', async () => {
  const missing = await runParityGroup(
    { name: 'ghost', module: '../ghost/none-parity.ts', exportName: 'ghostParityChecks' },
    DEFAULT_FIXTURE_DIR,
  );
  assert.equal(missing.length, 1);
  assert.equal(missing[0]!.ok, false);
  assert.match(missing[0]!.name, /^ghost \(src\/ghost\/none-parity\.ts\)$/);
  assert.match(missing[0]!.detail, /could not load the module/);
  const noExport = await runParityGroup(
    { name: 'x', module: './parity-result.ts', exportName: 'nothingHere' },
    DEFAULT_FIXTURE_DIR,
  );
  assert.match(noExport[0]!.detail, /no exported function nothingHere/);
  const nonsense = await runParityGroup(
    { name: 'x', module: './parity-result.ts', exportName: 'formatParityResult' },
    DEFAULT_FIXTURE_DIR,
  );
  assert.match(nonsense[0]!.detail, /returned string, expected a list of results/);
  const throws = await runParityGroup(
    { name: 'x', module: './bike-fixture.ts', exportName: 'readFixtureMeta' },
    DEFAULT_FIXTURE_DIR,
  );
  assert.match(throws[0]!.detail, /readFixtureMeta threw: .*not valid JSON/);
  const lines: string[] = [];
  const summary = await runParity(DEFAULT_FIXTURE_DIR, (l) => lines.push(l), [
    { name: 'ghost', module: '../ghost/none-parity.ts', exportName: 'g' },
  ]);
  assert.deepEqual(summary, { passed: 0, failed: 1, skipped: 0 });
  assert.equal(lines.at(-1), '0 passed, 1 failed');
  assert.match(lines[0]!, /^FAIL ghost/);
});

test('the summary line counts skips only when there are some', () => {
  assert.equal(summaryLine({ passed: 3, failed: 0, skipped: 0 }), '3 passed, 0 failed');
  assert.equal(summaryLine({ passed: 3, failed: 1, skipped: 2 }), '3 passed, 1 failed, 2 skipped');
});
