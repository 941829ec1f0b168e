/**
 * Parity of the deterministic frame samplers with the original, against `sampling.json` of a
 * reference fixture directory: one result per (sampler, case).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ParityResult } from './parity-result.ts';
import { Rng } from '../data/rng.ts';
import { firstDifference } from './compare.ts';
import { pythonMod, testIndices, valIndices, type SamplingOptions } from '../data/sampling.ts';

type Expected = number[] | string;

interface SamplingCase {
  num_frames: number;
  num_segments: number;
  test_clips: number;
  dense: boolean;
  val: Expected;
  test: Expected;
}

interface SamplingFixture {
  index_bias: number;
  sample_range: number;
  cases: SamplingCase[];
}

function caseName(sampler: string, c: SamplingCase): string {
  return `sampling ${sampler} frames=${c.num_frames} segments=${c.num_segments} clips=${c.test_clips} ${c.dense ? 'dense' : 'uniform'}`;
}

function exactResult(name: string, run: () => number[], expected: number[]): ParityResult {
  let got: number[];
  try {
    got = run();
  } catch (e) {
    return { name, ok: false, detail: `threw "${(e as Error).message}", expected ${expected.length} indices` };
  }
  const mismatch = firstDifference(got, expected);
  return mismatch
    ? { name, ok: false, detail: `${mismatch} (tolerance: exact)` }
    : { name, ok: true, detail: `all ${expected.length} indices equal (tolerance: exact)` };
}

/** The original fails on this input; we must fail too, with a clear message. */
function errorResult(name: string, run: () => number[], expected: string): ParityResult {
  try {
    const got = run();
    return {
      name,
      ok: false,
      detail: `original fails (${expected}) but we returned ${got.length} indices without a documented fallback`,
    };
  } catch (e) {
    return { name, ok: true, detail: `original fails (${expected}); we throw "${(e as Error).message}"` };
  }
}

/**
 * Dense validation of a video longer than sample_range + 1 starts at a random frame (numpy's
 * global RNG in the original): compare the spacing of the indices, and that both starts lie in
 * the range the original draws from.
 */
function strideResult(
  name: string,
  c: SamplingCase,
  options: SamplingOptions,
  bias: number,
  sampleRange: number,
): ParityResult {
  const expected = c.val as number[];
  let got: number[];
  try {
    got = valIndices(c.num_frames, options, new Rng(0));
  } catch (e) {
    return { name, ok: false, detail: `threw "${(e as Error).message}"` };
  }
  if (got.length !== expected.length)
    return { name, ok: false, detail: `got ${got.length} indices, expected ${expected.length}` };
  const n = c.num_frames;
  const maxStart = Math.max(1, 1 + n - sampleRange) - 2;
  const gotStart = got[0]! - bias;
  const expectedStart = expected[0]! - bias;
  if (expectedStart < 0 || expectedStart > maxStart) {
    return {
      name,
      ok: false,
      detail: `fixture start ${expectedStart} lies outside [0, ${maxStart}]: the start rule is misunderstood`,
    };
  }
  if (gotStart < 0 || gotStart > maxStart)
    return { name, ok: false, detail: `our start ${gotStart} lies outside [0, ${maxStart}]` };
  for (let k = 0; k < got.length; k++) {
    const gotStep = pythonMod(got[k]! - got[0]!, n);
    const expectedStep = pythonMod(expected[k]! - expected[0]!, n);
    if (gotStep !== expectedStep) {
      return {
        name,
        ok: false,
        detail: `offset of index ${k} from the start: got ${gotStep}, expected ${expectedStep} (mod ${n})`,
      };
    }
  }
  return {
    name,
    ok: true,
    detail: `random start (ours ${gotStart}, fixture ${expectedStart}, both in [0, ${maxStart}]); all ${got.length} offsets from the start equal (tolerance: exact)`,
  };
}

/**
 * Dense test with one clip: the original divides by zero; our documented fallback starts the
 * clip at frame 0, which must equal the first clip the original returns for the same video
 * with more clips (that clip always starts at 0).
 */
function denseSingleClipResult(
  name: string,
  c: SamplingCase,
  fixture: SamplingFixture,
  options: SamplingOptions,
): ParityResult {
  const reference = fixture.cases.find(
    (o) =>
      o.dense &&
      o.num_frames === c.num_frames &&
      o.num_segments === c.num_segments &&
      o.test_clips > 1 &&
      Array.isArray(o.test),
  );
  if (!reference) {
    return {
      name,
      ok: true,
      skipped: true,
      detail: 'original fails (dense, 1 clip); the fixture has no multi-clip case to check the fallback against',
    };
  }
  const expected = (reference.test as number[]).slice(0, c.num_segments);
  const result = exactResult(name, () => testIndices(c.num_frames, { ...options, testClips: 1 }), expected);
  return {
    ...result,
    detail: `original fails (${String(c.test)}); fallback = first clip of the ${reference.test_clips}-clip case: ${result.detail}`,
  };
}

export async function samplingParityChecks(fixtureDir: string): Promise<ParityResult[]> {
  const file = join(fixtureDir, 'sampling.json');
  if (!existsSync(file)) return [{ name: 'sampling', ok: false, skipped: true, detail: `${file} not found` }];
  const fixture = JSON.parse(readFileSync(file, 'utf8')) as SamplingFixture;
  if (
    !Array.isArray(fixture.cases) ||
    typeof fixture.index_bias !== 'number' ||
    typeof fixture.sample_range !== 'number'
  ) {
    return [{ name: 'sampling', ok: false, detail: `${file}: expected {index_bias, sample_range, cases: [...]}` }];
  }
  const bias = fixture.index_bias;
  const sampleRange = fixture.sample_range;
  const results: ParityResult[] = [];
  for (const c of fixture.cases) {
    const options: SamplingOptions = { numSegments: c.num_segments, indexBias: bias, dense: c.dense, sampleRange };

    const valName = caseName('val', c);
    if (typeof c.val === 'string') {
      results.push(errorResult(valName, () => valIndices(c.num_frames, options, new Rng(0)), c.val));
    } else if (c.dense && c.num_frames > sampleRange + 1) {
      results.push(strideResult(valName, c, options, bias, sampleRange));
    } else {
      results.push(exactResult(valName, () => valIndices(c.num_frames, options), c.val));
    }

    const testName = caseName('test', c);
    const runTest = () => testIndices(c.num_frames, { ...options, testClips: c.test_clips });
    if (typeof c.test !== 'string') results.push(exactResult(testName, runTest, c.test));
    else if (c.dense && c.test_clips === 1) results.push(denseSingleClipResult(testName, c, fixture, options));
    else results.push(errorResult(testName, runTest, c.test));
  }
  return results;
}
