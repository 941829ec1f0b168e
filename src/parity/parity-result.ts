/** One line of `npm run parity`: a named comparison against a reference fixture. */
export interface ParityResult {
  /** What was compared, e.g. `tokenizer case 3` or `expect.encode_image`. */
  name: string;
  ok: boolean;
  /** The error measured and the tolerance it was held to, or why it failed. */
  detail: string;
  /** Set when the fixture file this check needs is absent. */
  skipped?: boolean;
}

/** Formats one result the way the parity command prints it. */
export function formatParityResult(r: ParityResult): string {
  const tag = r.skipped ? 'SKIP' : r.ok ? 'PASS' : 'FAIL';
  return `${tag} ${r.name}: ${r.detail}`;
}
