/**
 * JPEG / PNG (and the other still formats libvips reads) to 8-bit RGB through sharp (libvips with
 * libjpeg-turbo and libpng, prebuilt inside its npm packages). Matches PIL's `Image.open(p).convert('RGB')`:
 * the same libjpeg integer IDCT and fancy upsampling (identical bytes on the reference frames),
 * no EXIF rotation, the embedded ICC profile ignored, alpha dropped without compositing, grey
 * replicated to three channels.
 */
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { makeRgbImage, type RgbImage } from './rgb-image.ts';

// Frames are decoded once each; libvips' operation cache would only hold memory.
sharp.cache(false);

/** Decodes an encoded image held in memory; `source` names it in errors. */
export async function decodeImage(bytes: Uint8Array, source: string): Promise<RgbImage> {
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

/** Reads and decodes one image file. */
export async function decodeImageFile(path: string): Promise<RgbImage> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(`image ${path}: cannot read (${code ?? (error as Error).message})`);
  }
  return decodeImage(bytes, path);
}
