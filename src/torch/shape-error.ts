/**
 * Data of the wrong shape for what it is given to: `what` names the input (e.g. `frame 3`),
 * `expected` and `actual` are the two shapes (or sizes) that disagree.
 */
export class ShapeError extends Error {
  readonly what: string;
  readonly expected: readonly number[];
  readonly actual: readonly number[];

  constructor(what: string, expected: readonly number[], actual: readonly number[], detail?: string) {
    super(
      `${what}: expected shape [${expected.join(', ')}], got [${actual.join(', ')}]${detail ? ` (${detail})` : ''}`,
    );
    this.name = 'ShapeError';
    this.what = what;
    this.expected = expected;
    this.actual = actual;
  }
}
