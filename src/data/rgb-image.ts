/**
 * A decoded frame: 8-bit RGB, row-major, 3 interleaved bytes per pixel (the layout of PIL's
 * `np.array(img)` for an RGB image, `[H, W, 3]`).
 */
export interface RgbImage {
  width: number;
  height: number;
  /** `width * height * 3` bytes. */
  data: Uint8Array;
  /**
   * Set when the image is only part of a decoded frame (decoders can stop at the pixels a transform
   * reads): the image is the rectangle at (x, y) of a `frameWidth x frameHeight` frame.
   */
  partOf?: FramePart;
}

export interface FramePart {
  x: number;
  y: number;
  frameWidth: number;
  frameHeight: number;
}

/** The size of the whole frame an image belongs to (its own size unless it is part of one). */
export function frameSize(image: RgbImage): { width: number; height: number } {
  return image.partOf
    ? { width: image.partOf.frameWidth, height: image.partOf.frameHeight }
    : { width: image.width, height: image.height };
}

/**
 * Pixel arrays of decoded frames handed back for the next frames a thread decodes. A fresh array
 * per frame is zeroed and counts as V8 external memory, whose growth (hundreds of MB/s in a loader)
 * keeps V8 collecting; a reused one costs neither. Only arrays this pool made are taken back, each
 * once however many images share it.
 */
export class PixelBuffers {
  private readonly free: Uint8Array[] = [];
  private readonly made = new WeakSet<ArrayBufferLike>();

  constructor(private readonly capacity = 32) {}

  /** An array of at least `bytes` bytes: a free one, else a new one. */
  take(bytes: number): Uint8Array {
    const at = this.free.findIndex((array) => array.length >= bytes);
    if (at >= 0) return this.free.splice(at, 1)[0]!;
    const array = new Uint8Array(bytes);
    this.made.add(array.buffer);
    return array;
  }

  /** Takes back the arrays of these images (and `spare` ones) that came from this pool. */
  give(images: readonly RgbImage[], spare: readonly Uint8Array[] = []): void {
    const buffers = new Set([...images.map((image) => image.data.buffer), ...spare.map((array) => array.buffer)]);
    for (const buffer of buffers) {
      if (!this.made.has(buffer) || this.free.some((array) => array.buffer === buffer)) continue;
      if (this.free.length >= this.capacity) this.free.shift();
      this.free.push(new Uint8Array(buffer));
    }
  }
}

/** An axis-aligned rectangle in pixels: left, top, width, height. */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export function makeRgbImage(width: number, height: number, data?: Uint8Array): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`image size ${width}x${height}: expected positive integer width and height`);
  }
  const bytes = width * height * 3;
  if (data && data.length !== bytes) {
    throw new Error(`image ${width}x${height}x3: expected ${bytes} bytes, got ${data.length}`);
  }
  return { width, height, data: data ?? new Uint8Array(bytes) };
}

/** The smallest rectangle holding both. */
export function boundingRect(a: Rect, b: Rect): Rect {
  const x = Math.min(a.x, b.x),
    y = Math.min(a.y, b.y);
  return {
    x,
    y,
    width: Math.max(a.x + a.width, b.x + b.width) - x,
    height: Math.max(a.y + a.height, b.y + b.height) - y,
  };
}

/** The frame kernels' normalisation takes regions inside the image and at least 4 pixels wide. */
export function checkNormalizeRegion(image: { width: number; height: number }, region: Rect): void {
  const { x, y, width: w, height: h } = region;
  if (w < 4 || h < 1 || x < 0 || y < 0 || x + w > image.width || y + h > image.height) {
    throw new Error(
      `normalize region (x=${x}, y=${y}, ${w}x${h}): expected at least 4 pixels wide, inside ${image.width}x${image.height}`,
    );
  }
}
