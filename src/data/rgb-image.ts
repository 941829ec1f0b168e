/**
 * A decoded frame: 8-bit RGB, row-major, 3 interleaved bytes per pixel (the layout of PIL's
 * `np.array(img)` for an RGB image, `[H, W, 3]`).
 */
export interface RgbImage {
  width: number;
  height: number;
  /** `width * height * 3` bytes. */
  data: Uint8Array;
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
