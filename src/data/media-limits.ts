/**
 * The one place that bounds how much memory decoding a file may take, checked against the sizes
 * in its header before anything is allocated (a 16x16 JPEG can claim 65500x65500 pixels):
 * - `maxPixels`: pixels of one image or one video frame. The default is Pillow's decompression
 *   bomb limit (`2 * Image.MAX_IMAGE_PIXELS`, 178,956,970 pixels, 537 MB as RGB): well above an 8K
 *   frame (33 MP) and 100 MP photos, and what the original's Pillow refuses too.
 * - `maxVideoPixels`: pixels of all the frames one video read returns together (frames asked x
 *   width x height). The default, 2^30 (3 GiB as RGB), holds 32 frames of 8K video or 500 of 1080p.
 * Environment: BIKE_MAX_PIXELS, BIKE_MAX_VIDEO_PIXELS (positive integers); `setMediaLimits`
 * overrides both for the process, and writes them to its environment so that worker threads
 * started afterwards (the loader's, which copy the environment) apply them too.
 */
export interface MediaLimits {
  maxPixels: number;
  maxVideoPixels: number;
}

export const DEFAULT_MEDIA_LIMITS: Readonly<MediaLimits> = Object.freeze({
  maxPixels: 178_956_970,
  maxVideoPixels: 2 ** 30,
});

/** One RGB typed array holds at most 2^32 - 1 bytes in this Node: no limit may exceed it. */
const CEILING = Math.floor((2 ** 32 - 1) / 3);

let overrides: Partial<MediaLimits> = {};
const ENVIRONMENT = { maxPixels: 'BIKE_MAX_PIXELS', maxVideoPixels: 'BIKE_MAX_VIDEO_PIXELS' } as const;
/** The environment's own values, from before the first override, to restore when one is lifted. */
const environmentBefore: Partial<Record<keyof MediaLimits, string | undefined>> = {};

function fromEnvironment(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text.trim() === '') return fallback;
  const value = Number(text.trim());
  if (!Number.isSafeInteger(value) || value < 1 || value > CEILING) {
    throw new RangeError(`${name}=${text}: expected a whole number of pixels from 1 to ${CEILING}`);
  }
  return value;
}

function checked(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > CEILING) {
    throw new RangeError(`media limit ${name} = ${value}: expected a whole number of pixels from 1 to ${CEILING}`);
  }
  return value;
}

/** The limits in force: `setMediaLimits`' values, else the environment's, else the defaults. */
export function mediaLimits(): MediaLimits {
  return {
    maxPixels: overrides.maxPixels ?? fromEnvironment('BIKE_MAX_PIXELS', DEFAULT_MEDIA_LIMITS.maxPixels),
    maxVideoPixels:
      overrides.maxVideoPixels ?? fromEnvironment('BIKE_MAX_VIDEO_PIXELS', DEFAULT_MEDIA_LIMITS.maxVideoPixels),
  };
}

/** Sets limits for this process (undefined fields go back to the environment / defaults). */
export function setMediaLimits(limits: Partial<MediaLimits>): void {
  const next: Partial<MediaLimits> = {};
  if (limits.maxPixels !== undefined) next.maxPixels = checked('maxPixels', limits.maxPixels);
  if (limits.maxVideoPixels !== undefined) next.maxVideoPixels = checked('maxVideoPixels', limits.maxVideoPixels);
  for (const key of ['maxPixels', 'maxVideoPixels'] as const) {
    const name = ENVIRONMENT[key];
    if (overrides[key] === undefined && next[key] !== undefined) environmentBefore[key] = process.env[name];
    if (next[key] !== undefined) process.env[name] = String(next[key]);
    else if (overrides[key] !== undefined) {
      const before = environmentBefore[key];
      if (before === undefined) delete process.env[name];
      else process.env[name] = before;
    }
  }
  overrides = next;
}

/** The reason an image of this size is refused, or null when it is within the limit. */
export function imageSizeRefusal(width: number, height: number, limits: MediaLimits = mediaLimits()): string | null {
  const pixels = width * height;
  if (pixels <= limits.maxPixels) return null;
  return `${width}x${height} is ${pixels} pixels, above the limit of ${limits.maxPixels} (BIKE_MAX_PIXELS)`;
}
