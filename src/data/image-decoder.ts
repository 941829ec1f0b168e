/**
 * JPEG / PNG (and the other still formats libvips reads) to 8-bit RGB through sharp (libvips with
 * libjpeg-turbo and libpng, prebuilt inside its npm packages). Matches PIL's `Image.open(p).convert('RGB')`:
 * the same libjpeg integer IDCT and fancy upsampling (identical bytes on the reference frames),
 * no EXIF rotation, the embedded ICC profile ignored, alpha dropped without compositing, grey
 * replicated to three channels.
 */
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { makeRgbImage, type Rect, type RgbImage } from './rgb-image.ts';
import { native } from '../torch/native.ts';

// The addon decodes JPEG with libjpeg-turbo directly (PIL's settings) when it was built with it:
// about 3x faster than going through libvips for frame-sized images.
const nativeJpeg = native.decodeJpeg;

function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length > 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

// Frames are decoded once each; libvips' operation cache would only hold memory.
sharp.cache(false);

/** Whether the data ends with the end-of-image marker (a file cut short does not). */
function endsWithEndOfImage(bytes: Uint8Array): boolean {
  return bytes.length > 4 && bytes[bytes.length - 2] === 0xff && bytes[bytes.length - 1] === 0xd9;
}

/**
 * Width and height from an encoded image's header (JPEG frame header, PNG IHDR) without decoding
 * it; null when the data is neither or the header is damaged.
 */
export function encodedImageSize(bytes: Uint8Array): { width: number; height: number } | null {
  if (bytes.length >= 24 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const width = view.getUint32(16), height = view.getUint32(20);
    return width > 0 && height > 0 ? { width, height } : null;
  }
  if (!isJpeg(bytes)) return null;
  let at = 2;
  while (at + 9 < bytes.length) {
    if (bytes[at] !== 0xff) return null;
    const marker = bytes[at + 1]!;
    if (marker === 0xff) { at++; continue; } // fill byte
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd9)) { at += 2; continue; } // no length
    const length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    // Start of frame (any coding but DHT, JPG and DAC, which share the range): precision, height, width.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      const height = (bytes[at + 5]! << 8) | bytes[at + 6]!, width = (bytes[at + 7]! << 8) | bytes[at + 8]!;
      return width > 0 && height > 0 ? { width, height } : null;
    }
    if (marker === 0xda || length < 2) return null; // scan data before any frame header
    at += 2 + length;
  }
  return null;
}

/**
 * Part of a frame to decode: `region` of a frame expected to be `frame` in size. JPEG frames of
 * that size decode just the region (the same pixels as decoding all); anything else decodes whole.
 */
export interface DecodeRegion {
  region: Rect;
  frame: { width: number; height: number };
}

/** Decodes an encoded image held in memory; `source` names it in errors. */
export async function decodeImage(bytes: Uint8Array, source: string, part?: DecodeRegion): Promise<RgbImage> {
  if (nativeJpeg && isJpeg(bytes)) {
    try {
      // Decoding stops after the region, so only a file whose end is intact is decoded in part:
      // a truncated one decodes whole and fails as PIL fails on it.
      if (part && endsWithEndOfImage(bytes)) {
        const { x, y, width: w, height: h } = part.region;
        const { width, height, region, data } = nativeJpeg(bytes, [x, y, w, h]);
        if (width === part.frame.width && height === part.frame.height) {
          const [rx, ry, rw, rh] = region;
          const image = makeRgbImage(rw, rh, data);
          if (rw !== width || rh !== height) image.partOf = { x: rx, y: ry, frameWidth: width, frameHeight: height };
          return image;
        }
      }
      const { width, height, data } = nativeJpeg(bytes);
      return makeRgbImage(width, height, data);
    } catch (error) {
      const message = (error as Error).message.replace(/^decodeJpeg: /, '');
      // CMYK files go to libvips; anything else is damaged.
      if (!/CMYK/.test(message)) throw new Error(`image ${source}: cannot decode (${message}); expected a readable JPEG or PNG`);
    }
  }
  try {
    // failOn 'warning' refuses truncated or damaged data, as PIL does (it raises on a truncated file).
    const { data, info } = await sharp(bytes, { failOn: 'warning', ignoreIcc: true, autoOrient: false })
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) {
      throw new Error(`decoded to ${info.channels} channels, expected 3`);
    }
    return makeRgbImage(info.width, info.height, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  } catch (error) {
    throw new Error(`image ${source}: cannot decode (${(error as Error).message}); expected a readable JPEG or PNG`);
  }
}

/**
 * Reads and decodes one image file. The read is synchronous: frames are small, and the promise
 * API's open/stat/read/close round trips cost the calling thread more than the read itself
 * (loader workers are threads of their own).
 */
export async function decodeImageFile(path: string, part?: DecodeRegion): Promise<RgbImage> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(`image ${path}: cannot read (${code ?? (error as Error).message})`);
  }
  return decodeImage(bytes, path, part);
}
