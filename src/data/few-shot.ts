/**
 * Few-shot training lists (`data.shot` in the configs), as train.py builds them: K videos per
 * class, then the selection repeated so an epoch keeps roughly the full list's length.
 */
import type { Rng } from './rng.ts';

export interface FewShotSelection<T> {
  /** K videos per class, classes in order of first appearance in the list, videos in draw order. */
  selected: T[];
  /** `selected` repeated floor(list length / selected length) times: the training epoch list. */
  epochList: T[];
  /** How many times `selected` is repeated in `epochList`. */
  repeats: number;
}

/**
 * Picks `shot` videos per class without replacement (Python's random.sample per class) and
 * repeats the picks whole-list-wise like `select_vids * n_repeat`.
 *
 * Differences from the original, on purpose: the draw uses the given seeded Rng (train.py uses
 * Python's unseeded global `random`, so each run and each rank picked differently); and a class
 * with fewer than `shot` videos is an error naming it (random.sample raises a bare ValueError).
 * Pass the list after the usual short-video filter, as train.py does.
 */
export function selectFewShot<T extends { label: number }>(
  records: readonly T[],
  shot: number,
  rng: Rng,
  source = 'training list',
): FewShotSelection<T> {
  if (!Number.isInteger(shot) || shot < 1) throw new Error(`data.shot must be an integer >= 1, got ${shot}`);
  if (records.length === 0) throw new Error(`${source}: no videos to pick ${shot}-shot samples from`);
  const byClass = new Map<number, T[]>();
  for (const r of records) {
    const group = byClass.get(r.label);
    if (group) group.push(r);
    else byClass.set(r.label, [r]);
  }
  const selected: T[] = [];
  for (const [label, videos] of byClass) {
    if (videos.length < shot) {
      throw new Error(
        `${source}: class ${label} has ${videos.length} video(s); data.shot = ${shot} needs at least ${shot} per class`,
      );
    }
    // Partial Fisher-Yates: the first `shot` slots become a uniform sample, in draw order.
    const pool = videos.slice();
    for (let i = 0; i < shot; i++) {
      const j = i + rng.nextInt(pool.length - i);
      const tmp = pool[i]!;
      pool[i] = pool[j]!;
      pool[j] = tmp;
      selected.push(pool[i]!);
    }
  }
  const repeats = Math.floor(records.length / selected.length);
  const epochList: T[] = [];
  for (let k = 0; k < repeats; k++) epochList.push(...selected);
  return { selected, epochList, repeats };
}
