/** Limits of the loader, shared with the config's validation (no heavy imports here). */

/** Loader threads per process at most: a worker per core of the largest machines, with room. */
export const MAX_LOADER_WORKERS = 64;
