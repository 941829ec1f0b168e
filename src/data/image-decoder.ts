/**
 * JPEG / PNG (and the other still formats libvips reads) to 8-bit RGB through sharp (libvips with
 * libjpeg-turbo and libpng, prebuilt inside its npm packages). Matches PIL's `Image.open(p).convert('RGB')`:
 * the same libjpeg integer IDCT and fancy upsampling (identical bytes on the reference frames),
 * no EXIF rotation, the embedded ICC profile ignored, alpha dropped without compositing, grey
 * replicated to three channels.
 */
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { makeRgbImage, type RgbImage } from './rgb-image.ts';
import { native } from '../torch/native.ts';

type JpegDecoder = (bytes: Uint8Array) => { width: number; height: number; data: Uint8Array };
// The addon decodes JPEG with libjpeg-turbo directly (PIL's settings) when it was built with it:
// about 3x faster than going through libvips for frame-sized images.
const nativeJpeg = (native as unknown as { decodeJpeg?: JpegDecoder }).decodeJpeg;

function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length > 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

// Frames are decoded once each; libvips' operation cache would only hold memory.
sharp.cache(false);

/** Decodes an encoded image held in memory; `source` names it in errors. */
export async function decodeImage(bytes: Uint8Array, source: string): Promise<RgbImage> {
  if (nativeJpeg && isJpeg(bytes)) {
    try {
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
export async function decodeImageFile(path: string): Promise<RgbImage> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(`image ${path}: cannot read (${code ?? (error as Error).message})`);
  }
  return decodeImage(bytes, path);
}
