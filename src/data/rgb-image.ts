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
