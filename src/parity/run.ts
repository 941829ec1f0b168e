/**
 * Runs every parity check group against a reference fixture directory (default
 * `../shared/fixtures/bike-reference` beside the repository): one result line per check, then
 * `N passed, M failed` (`, K skipped` when some fixture files are absent). A group whose module
 * cannot be loaded, or that throws, reports one failed line naming the error instead of stopping the run.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatParityResult, type ParityResult } from './parity-result.ts';

export interface ParityGroup {
  /** Short name for the failure line of a group that cannot run. */
  name: string;
  /** Module path relative to this file (src/parity/). */
  module: string;
  /** The exported `(fixtureDir) => Promise<ParityResult[]>`. */
  exportName: string;
}

/** Every check group, in layer order. */
export const PARITY_GROUPS: readonly ParityGroup[] = [
  { name: 'pt reader', module: './pt-reader-parity.ts', exportName: 'ptReaderParityChecks' },
  { name: 'optim', module: './optim-parity.ts', exportName: 'optimParityChecks' },
  { name: 'tokenizer', module: './tokenizer-parity.ts', exportName: 'tokenizerParityChecks' },
  { name: 'clip', module: './clip-parity.ts', exportName: 'clipParityChecks' },
  { name: 'bike', module: './bike-parity.ts', exportName: 'bikeParityChecks' },
  { name: 'sampling', module: './sampling-parity.ts', exportName: 'samplingParityChecks' },
  { name: 'preprocess', module: './preprocess-parity.ts', exportName: 'preprocessParityChecks' },
  { name: 'eval', module: './eval-parity.ts', exportName: 'evalParityChecks' },
];

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DEFAULT_FIXTURE_DIR = path.resolve(REPO_ROOT, '..', 'shared', 'fixtures', 'bike-reference');

type CheckFunction = (fixtureDir: string) => Promise<ParityResult[]>;

/** One group's results; loading or running problems become a single failed result. */
export async function runParityGroup(group: ParityGroup, fixtureDir: string): Promise<ParityResult[]> {
  const where = `${group.name} (${path.join('src', path.relative(path.join(REPO_ROOT, 'src'), fileURLToPath(new URL(group.module, import.meta.url))))})`;
  let check: CheckFunction;
  try {
    const loaded = (await import(new URL(group.module, import.meta.url).href)) as Record<string, unknown>;
    const candidate = loaded[group.exportName];
    if (typeof candidate !== 'function') {
      return [{ name: where, ok: false, detail: `the module has no exported function ${group.exportName}` }];
    }
    check = candidate as CheckFunction;
  } catch (error) {
    return [
      { name: where, ok: false, detail: `could not load the module: ${(error as Error).message.split('\n')[0]}` },
    ];
  }
  try {
    const results = await check(fixtureDir);
    if (!Array.isArray(results))
      return [
        {
          name: where,
          ok: false,
          detail: `${group.exportName} returned ${typeof results}, expected a list of results`,
        },
      ];
    return results;
  } catch (error) {
    return [
      { name: where, ok: false, detail: `${group.exportName} threw: ${(error as Error).message.split('\n')[0]}` },
    ];
  }
}

export interface ParitySummary {
  passed: number;
  failed: number;
  skipped: number;
}

/** The last line of the report. */
export function summaryLine(s: ParitySummary): string {
  return `${s.passed} passed, ${s.failed} failed${s.skipped ? `, ${s.skipped} skipped` : ''}`;
}

/** Runs every group, writing each result line as it comes; returns the counts. */
export async function runParity(
  fixtureDir: string,
  write: (line: string) => void,
  groups: readonly ParityGroup[] = PARITY_GROUPS,
): Promise<ParitySummary> {
  const summary: ParitySummary = { passed: 0, failed: 0, skipped: 0 };
  for (const group of groups) {
    for (const result of await runParityGroup(group, fixtureDir)) {
      write(formatParityResult(result));
      if (result.skipped) summary.skipped += 1;
      else if (result.ok) summary.passed += 1;
      else summary.failed += 1;
    }
  }
  write(summaryLine(summary));
  return summary;
}

/** The `npm run parity -- [fixture-dir]` command: its exit status (1 when a check failed, 2 for a bad argument). */
export async function parityCommand(argv: string[]): Promise<number> {
  const args = argv.filter((a) => a !== '--');
  if (args.some((a) => a === '-h' || a === '--help')) {
    process.stdout.write(`usage: npm run parity -- [fixture-dir]\n  default fixture-dir: ${DEFAULT_FIXTURE_DIR}\n`);
    return 0;
  }
  if (args.length > 1) {
    process.stderr.write(
      `parity: expected at most one fixture directory, got ${args.length} arguments: ${args.join(' ')}\n`,
    );
    return 2;
  }
  const fixtureDir = path.resolve(args[0] ?? DEFAULT_FIXTURE_DIR);
  if (!existsSync(fixtureDir) || !statSync(fixtureDir).isDirectory()) {
    process.stderr.write(`parity: fixture directory ${fixtureDir} does not exist or is not a directory\n`);
    return 2;
  }
  const summary = await runParity(fixtureDir, (line) => process.stdout.write(`${line}\n`));
  return summary.failed > 0 ? 1 : 0;
}
