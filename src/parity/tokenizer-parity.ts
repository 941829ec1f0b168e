/**
 * Parity of the tokenizer with OpenAI's `clip.tokenize` on the reference fixture's `tokenizer.json`:
 * each case's ids (start/end tokens included, padding dropped) or "error: too long", and the ids of
 * the truncating variant. Token ids must match exactly.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ParityResult } from './parity-result.ts';
import { ClipTokenizer } from '../clip/tokenizer.ts';
import { firstDifference } from './compare.ts';

const TOO_LONG = 'error: too long';

interface TokenizerCase {
  text: string;
  ids: number[] | string;
  ids_truncate: number[];
}

/** The vocabulary beside the fixtures: `<fixtureDir>/../../clip/bpe_simple_vocab_16e6.txt.gz`. */
export function defaultVocabularyPath(fixtureDir: string): string {
  return resolve(fixtureDir, '..', '..', 'clip', 'bpe_simple_vocab_16e6.txt.gz');
}

function isIdList(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((id) => Number.isInteger(id));
}

/** First difference between a padded row and the expected unpadded ids (zeros after them), or undefined if equal. */
function rowDifference(row: readonly number[], expected: readonly number[]): string | undefined {
  if (expected.length > row.length) return `expected ${expected.length} ids, the row holds ${row.length}`;
  const padded = Array.from({ length: row.length }, (_, i) => (i < expected.length ? expected[i]! : 0));
  return firstDifference(row, padded, (i) => `position ${i}${i >= expected.length ? ' (padding)' : ''}`) ?? undefined;
}

function checkCase(
  tokenizer: ClipTokenizer,
  testCase: TokenizerCase,
  contextLength: number,
): { ok: boolean; detail: string } {
  const problems: string[] = [];
  if (testCase.ids === TOO_LONG) {
    try {
      tokenizer.tokenize([testCase.text], { contextLength });
      problems.push(`expected "too long", but it fit in ${contextLength} tokens`);
    } catch (error) {
      if (!/too long/.test((error as Error).message)) problems.push(`unexpected error: ${(error as Error).message}`);
    }
  } else if (isIdList(testCase.ids)) {
    try {
      const difference = rowDifference(tokenizer.tokenize([testCase.text], { contextLength })[0]!, testCase.ids);
      if (difference) problems.push(`ids differ at ${difference}`);
    } catch (error) {
      problems.push(`threw: ${(error as Error).message}`);
    }
  } else {
    problems.push(`fixture "ids" must be a list of ids or "${TOO_LONG}", got ${JSON.stringify(testCase.ids)}`);
  }

  if (isIdList(testCase.ids_truncate)) {
    const truncated = tokenizer.tokenize([testCase.text], { contextLength, truncate: true })[0]!;
    const difference = rowDifference(truncated, testCase.ids_truncate);
    if (difference) problems.push(`truncating ids differ at ${difference}`);
  } else {
    problems.push(`fixture "ids_truncate" must be a list of ids, got ${JSON.stringify(testCase.ids_truncate)}`);
  }

  if (problems.length > 0) return { ok: false, detail: problems.join('; ') };
  const what = testCase.ids === TOO_LONG ? 'refused as too long' : `${testCase.ids.length} ids equal`;
  return {
    ok: true,
    detail: `${what}, truncating variant equal (${testCase.ids_truncate.length} ids); exact match required`,
  };
}

export async function tokenizerParityChecks(
  fixtureDir: string,
  vocabularyPath = defaultVocabularyPath(fixtureDir),
): Promise<ParityResult[]> {
  const fixturePath = join(fixtureDir, 'tokenizer.json');
  if (!existsSync(fixturePath)) {
    return [{ name: 'tokenizer', ok: false, skipped: true, detail: `${fixturePath} is absent` }];
  }
  let fixture: { context_length?: unknown; cases?: unknown };
  try {
    fixture = JSON.parse(readFileSync(fixturePath, 'utf8'));
  } catch (error) {
    return [{ name: 'tokenizer', ok: false, detail: `${fixturePath}: not valid JSON (${(error as Error).message})` }];
  }
  if (!Array.isArray(fixture.cases)) {
    return [{ name: 'tokenizer', ok: false, detail: `${fixturePath}: expected a "cases" array` }];
  }
  const contextLength = fixture.context_length ?? 77;
  if (typeof contextLength !== 'number') {
    return [
      {
        name: 'tokenizer',
        ok: false,
        detail: `${fixturePath}: "context_length" must be a number, got ${JSON.stringify(contextLength)}`,
      },
    ];
  }
  let tokenizer: ClipTokenizer;
  try {
    tokenizer = ClipTokenizer.fromOpenAiVocabulary(vocabularyPath);
  } catch (error) {
    return [{ name: 'tokenizer', ok: false, detail: `cannot load the BPE vocabulary: ${(error as Error).message}` }];
  }

  return (fixture.cases as unknown[]).map((entry, index) => {
    const testCase = entry as TokenizerCase;
    const label =
      typeof testCase?.text === 'string'
        ? JSON.stringify(testCase.text.length > 40 ? `${testCase.text.slice(0, 40)}...` : testCase.text)
        : '?';
    const name = `tokenizer case ${index} ${label}`;
    if (typeof testCase?.text !== 'string') {
      return { name, ok: false, detail: `${fixturePath}: cases[${index}].text must be a string` };
    }
    return { name, ...checkCase(tokenizer, testCase, contextLength) };
  });
}
