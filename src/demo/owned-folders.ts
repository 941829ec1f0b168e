/**
 * Folders the demo made, and only those, may be removed by it. A folder the demo creates gets a
 * marker file first; the demo removes or rewrites a folder only when that marker is in it (or the
 * folder does not exist, or is empty). Anything else is refused with an error naming the folder, so a
 * `--work-dir` pointing at a user's files never deletes them.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The marker file's name inside every folder the demo made. */
export const DEMO_MARKER = '.made-by-bike-demo';

export class NotOwnedError extends Error {}

function isOwned(dir: string): boolean {
  return existsSync(path.join(dir, DEMO_MARKER));
}

/**
 * Makes `dir` (and its parents) if needed and marks it as the demo's. An existing folder is
 * accepted when it is empty or already marked; otherwise `NotOwnedError` names it.
 */
export function claimFolder(dir: string, what: string): void {
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory())
      throw new NotOwnedError(
        `demo ${what} ${dir}: exists and is not a folder; the demo does not overwrite it (choose another --work-dir)`,
      );
    if (!isOwned(dir) && readdirSync(dir).length > 0) {
      throw new NotOwnedError(
        `demo ${what} ${dir}: the folder exists, is not empty and was not made by bike demo (no ${DEMO_MARKER} in it); the demo does not touch it: move it away or choose another --work-dir`,
      );
    }
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, DEMO_MARKER), 'This folder was made by `bike demo`, which may remove and remake it.\n');
}

/**
 * Removes `dir` recursively and makes it again, empty but for the marker, when it is the demo's
 * (or absent, or empty); otherwise `NotOwnedError` names it and nothing is removed.
 */
export function resetFolder(dir: string, what: string): void {
  if (existsSync(dir)) {
    claimFolder(dir, what); // refuses what is not ours
    rmSync(dir, { recursive: true, force: true });
  }
  claimFolder(dir, what);
}
