#!/usr/bin/env node
// Runs every `*.test.ts` under src/ (or those under the paths given) with node's test runner.
// Node 20's runner does not expand globs itself, so the files are listed here.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

function collect(target, out) {
  if (statSync(target).isFile()) {
    if (target.endsWith('.test.ts')) out.push(target);
    return out;
  }
  for (const entry of readdirSync(target).sort()) {
    if (entry === 'node_modules' || entry.startsWith('.')) continue;
    collect(path.join(target, entry), out);
  }
  return out;
}

const targets = process.argv.slice(2);
const files = (targets.length ? targets : ['src']).flatMap((t) => collect(t, []));
if (files.length === 0) {
  console.error('run-tests: no test files found');
  process.exit(1);
}
// The tests that need the demo's trained model share one `bike demo --fast` run (src/testing/demo-run.ts).
const shared = mkdtempSync(path.join(os.tmpdir(), 'bike-tests-'));
const env = { ...process.env, BIKE_TEST_DEMO_DIR: process.env.BIKE_TEST_DEMO_DIR ?? path.join(shared, 'demo-fast') };
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], {
  stdio: 'inherit',
  env,
});
rmSync(shared, { recursive: true, force: true });
process.exit(result.status ?? 1);
