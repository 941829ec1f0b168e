/**
 * JPEG / PNG (and the other still formats libvips reads) to 8-bit RGB through sharp (libvips with
 * libjpeg-turbo and libpng, prebuilt inside its npm packages). Matches PIL's `Image.open(p).convert('RGB')`:
 * the same libjpeg integer IDCT and fancy upsampling (identical bytes on the reference frames),
 * no EXIF rotation, the embedded ICC profile ignored, alpha dropped without compositing, grey
 * replicated to three channels, CMYK converted with PIL's formula, 16-bit PNG reduced as PIL
 * reduces it. What PIL decodes with libjpeg's warnings (junk between segments, damaged entropy
 * data) decodes; what PIL refuses (a file that ends before its image does) is a MediaError naming
 * the file and the reason, as is an image above the pixel limit (media-limits.ts), refused from
 * its header before anything is allocated.
 */
import { readFileSync } from 'node:fs';
import { constants as zlibConstants, deflateSync, inflateSync } from 'node:zlib';
import sharp from 'sharp';
import { MediaError } from './media-error.ts';
import { imageSizeRefusal, mediaLimits } from './media-limits.ts';
import { makeRgbImage, type PixelBuffers, type Rect, type RgbImage } from './rgb-image.ts';
// Loading the addon brings its frame kernels: the transforms of what these decoders return use them.
import './native-frame-ops.ts';
import { native, type DecodedJpeg } from '../torch/native.ts';

// The addon decodes JPEG with libjpeg-turbo directly (PIL's settings) when it was built with it:
// about 3x faster than going through libvips for frame-sized images.
const nativeJpeg = native.decodeJpeg;

/**
 * A region's columns are cut (jpeg_crop_scanline) only when it keeps at most this fraction of the
 * width; else whole rows are decoded. With libjpeg-turbo 2.1 a cut row costs nearly what a whole
 * one does (427x320 frames: keeping 3/4 of the columns decoded ~30% slower than whole rows), so
 * the cut pays only when it drops most of the row.
 */
const COLUMN_CROP_MAX_FRACTION = 0.6;

function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length > 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 24 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
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
  if (isPng(bytes)) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const width = view.getUint32(16),
      height = view.getUint32(20);
    return width > 0 && height > 0 ? { width, height } : null;
  }
  if (!isJpeg(bytes)) return null;
  let at = 2;
  while (at + 9 < bytes.length) {
    if (bytes[at] !== 0xff) {
      at++;
      continue;
    } // junk between segments: libjpeg and PIL skip it
    const marker = bytes[at + 1]!;
    if (marker === 0xff) {
      at++;
      continue;
    } // fill byte
    if (marker === 0x00) {
      at += 2;
      continue;
    } // a stray escaped FF, skipped likewise
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd9)) {
      at += 2;
      continue;
    } // no length
    const length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    // Start of frame (any coding but DHT, JPG and DAC, which share the range): precision, height, width.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      const height = (bytes[at + 5]! << 8) | bytes[at + 6]!,
        width = (bytes[at + 7]! << 8) | bytes[at + 8]!;
      return width > 0 && height > 0 ? { width, height } : null;
    }
    if (marker === 0xda || length < 2) return null; // scan data before any frame header
    at += 2 + length;
  }
  return null;
}

/**
 * Part of a frame to decode: `region` of a frame expected to be `frame` in size. JPEG frames of
 * that size decode the region's rows (the same pixels as decoding all), cut to its columns when
 * that pays (COLUMN_CROP_MAX_FRACTION); anything else decodes whole.
 */
export interface DecodeRegion {
  region: Rect;
  frame: { width: number; height: number };
}

/**
 * PNG header fields PIL's reading depends on; null when the data are not a PNG with an intact IHDR.
 */
function pngHeader(
  bytes: Uint8Array,
): { width: number; height: number; bitDepth: number; colorType: number; interlaced: boolean } | null {
  if (!isPng(bytes) || bytes.length < 33) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(12) !== 0x49484452) return null; // 'IHDR'
  return {
    width: view.getUint32(16),
    height: view.getUint32(20),
    bitDepth: bytes[24]!,
    colorType: bytes[25]!,
    interlaced: bytes[28] === 1,
  };
}

const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function pngChunk(type: string, data: Uint8Array): Buffer {
  const chunk = Buffer.alloc(12 + data.length);
  chunk.writeUInt32BE(data.length, 0);
  chunk.write(type, 4, 'latin1');
  chunk.set(data, 8);
  let crc = 0xffffffff;
  for (let i = 4; i < 8 + data.length; i++) crc = CRC_TABLE[(crc ^ chunk[i]!) & 0xff]! ^ (crc >>> 8);
  chunk.writeUInt32BE((crc ^ 0xffffffff) >>> 0, 8 + data.length);
  return chunk;
}

/**
 * A PNG libpng refused, as PIL reads it: PIL decodes the IDAT chunks' data as far as they go and
 * ignores what follows (a lost CRC, IEND or zlib checksum); it raises "image file is truncated"
 * only when the rows run out. So the inflated data must hold every row (every Adam7 pass): then
 * the file is rebuilt with them in one intact IDAT (the chunks before it kept) for libpng to
 * read; else the reason is a MediaError.
 */
function repairPng(
  bytes: Uint8Array,
  header: NonNullable<ReturnType<typeof pngHeader>>,
  refuse: (reason: string) => never,
): Uint8Array {
  const { width, height, bitDepth, colorType, interlaced } = header;
  const channels = PNG_CHANNELS[colorType];
  if (channels === undefined) return refuse(`cannot decode (unknown PNG colour type ${colorType})`);
  const rowBytes = (w: number) => (w === 0 ? 0 : 1 + Math.ceil((w * channels * bitDepth) / 8));
  let expected = 0;
  if (!interlaced) expected = height * rowBytes(width);
  else {
    // Adam7: [x0, y0, dx, dy] of the seven passes.
    for (const [x0, y0, dx, dy] of [
      [0, 0, 8, 8],
      [4, 0, 8, 8],
      [0, 4, 4, 8],
      [2, 0, 4, 4],
      [0, 2, 2, 4],
      [1, 0, 2, 2],
      [0, 1, 1, 2],
    ] as const) {
      const w = Math.ceil((width - x0) / dx),
        h = Math.ceil((height - y0) / dy);
      if (w > 0 && h > 0) expected += h * rowBytes(w);
    }
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const before: Uint8Array[] = [],
    data: Uint8Array[] = [];
  let at = 8;
  while (at + 8 <= bytes.length) {
    const length = view.getUint32(at),
      type = view.getUint32(at + 4);
    const end = Math.min(bytes.length, at + 12 + length);
    if (type === 0x49444154)
      data.push(bytes.subarray(at + 8, Math.min(bytes.length, at + 8 + length))); // IDAT
    else if (data.length > 0) break;
    else if (end - at < 12 + length)
      return refuse(
        `the file ends inside its ${String.fromCharCode(...bytes.subarray(at + 4, at + 8))} chunk, before the image data: the file is truncated`,
      );
    else before.push(bytes.subarray(at, end));
    at = end;
  }
  if (data.length === 0) return refuse('the file ends before its image data (IDAT) begin: the file is truncated');
  let rows: Buffer;
  try {
    // Z_SYNC_FLUSH returns what a cut stream holds instead of failing on its missing end.
    rows = inflateSync(Buffer.concat(data), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
  } catch (error) {
    return refuse(`cannot decode (its compressed image data are damaged: ${(error as Error).message})`);
  }
  if (rows.length < expected)
    return refuse(`the image data end after ${rows.length} of ${expected} bytes: the file is truncated`);
  return Buffer.concat([
    bytes.subarray(0, 8),
    ...before,
    pngChunk('IDAT', deflateSync(rows.subarray(0, expected), { level: 1 })),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}

/**
 * 16-bit PNGs as PIL's `convert('RGB')` makes them: PIL reads 16-bit RGB, RGBA and grey+alpha
 * by their high bytes, and 16-bit grey as 32-bit integers ("I") that convert to 8 bits by clipping
 * to 0..255.
 */
async function decodePng16(bytes: Uint8Array, colorType: number, limitInputPixels: number): Promise<RgbImage> {
  const grey = colorType === 0 || colorType === 4;
  // The file's own 16-bit samples (libvips would otherwise turn grey + alpha into 8-bit sRGB).
  const { data, info } = await sharp(bytes, { failOn: 'warning', ignoreIcc: true, autoOrient: false, limitInputPixels })
    .toColourspace(grey ? 'grey16' : 'rgb16')
    .raw({ depth: 'ushort' })
    .toBuffer({ resolveWithObject: true });
  const samples = new Uint16Array(data.buffer, data.byteOffset, data.byteLength >> 1);
  const { width, height, channels } = info;
  const out = new Uint8Array(width * height * 3);
  for (let i = 0, o = 0; o < out.length; i += channels, o += 3) {
    if (grey) {
      const v = colorType === 0 ? Math.min(samples[i]!, 255) : samples[i]! >> 8;
      out[o] = v;
      out[o + 1] = v;
      out[o + 2] = v;
    } else {
      out[o] = samples[i]! >> 8;
      out[o + 1] = samples[i + 1]! >> 8;
      out[o + 2] = samples[i + 2]! >> 8;
    }
  }
  return makeRgbImage(width, height, out);
}

/**
 * Decodes an encoded image held in memory; `source` names it in errors (a MediaError). JPEG pixels
 * go into an array from `pixels` when given (hand it back with `pixels.give` once the image is used).
 */
export async function decodeImage(
  bytes: Uint8Array,
  source: string,
  part?: DecodeRegion,
  pixels?: PixelBuffers,
): Promise<RgbImage> {
  const { maxPixels } = mediaLimits();
  const refuse = (reason: string): never => {
    throw new MediaError('image', source, reason);
  };
  const cannot = (detail: string): never => refuse(`cannot decode (${detail}); expected a readable JPEG or PNG`);
  // Refused from the header, before a decoder allocates the pixels it claims.
  const claimed = encodedImageSize(bytes);
  const tooLarge = claimed && imageSizeRefusal(claimed.width, claimed.height);
  if (tooLarge) refuse(`too large: ${tooLarge}`);
  if (nativeJpeg && isJpeg(bytes)) {
    let decoded: DecodedJpeg;
    // Large enough for the whole frame the header claims (a region needs less).
    const into = claimed ? pixels?.take(claimed.width * claimed.height * 3) : undefined;
    try {
      // Decoding stops after the region, so only a file whose end is intact is decoded in part:
      // a truncated one decodes whole and fails as PIL fails on it.
      if (part && endsWithEndOfImage(bytes)) {
        const { x, y, width: w, height: h } = part.region;
        const cut = !claimed || w <= claimed.width * COLUMN_CROP_MAX_FRACTION;
        decoded = nativeJpeg(bytes, cut ? [x, y, w, h] : [0, y, claimed.width, h], maxPixels, into);
        const { width, height, region, data } = decoded;
        if (width === part.frame.width && height === part.frame.height) {
          const [rx, ry, rw, rh] = region;
          const image = makeRgbImage(rw, rh, data);
          if (rw !== width || rh !== height) image.partOf = { x: rx, y: ry, frameWidth: width, frameHeight: height };
          return image;
        }
      }
      decoded = nativeJpeg(bytes, undefined, maxPixels, into);
    } catch (error) {
      if (into) pixels!.give([], [into]);
      const message = (error as Error).message.replace(/^decodeJpeg: /, '');
      if (/above the limit of/.test(message)) refuse(`too large: ${message}`);
      return cannot(message);
    }
    return makeRgbImage(decoded.width, decoded.height, decoded.data);
  }
  return decodeImageWithLibvips(bytes, source);
}

/**
 * The decoding through sharp (libvips) alone: PNG and the other formats, and JPEG where the addon
 * was built without libjpeg (exported for its tests). JPEG follows PIL here too: damaged data
 * libjpeg warns about decodes, a truncated file is refused (sharp's failOn 'truncated'), CMYK
 * converts with PIL's formula.
 */
export async function decodeImageWithLibvips(bytes: Uint8Array, source: string): Promise<RgbImage> {
  const { maxPixels } = mediaLimits();
  const refuse = (reason: string): never => {
    throw new MediaError('image', source, reason);
  };
  const cannot = (detail: string): never => refuse(`cannot decode (${detail}); expected a readable JPEG or PNG`);
  const claimed = encodedImageSize(bytes);
  const tooLarge = claimed && imageSizeRefusal(claimed.width, claimed.height);
  if (tooLarge) refuse(`too large: ${tooLarge}`);
  const jpeg = isJpeg(bytes);
  const png = pngHeader(bytes);
  // failOn 'warning' refuses truncated or damaged data, as PIL does (it raises on a truncated file).
  const decodeSharp = async (input: Uint8Array): Promise<RgbImage> => {
    if (png && png.bitDepth === 16) return decodePng16(input, png.colorType, maxPixels);
    const image = sharp(input, {
      failOn: jpeg ? 'truncated' : 'warning',
      ignoreIcc: true,
      autoOrient: false,
      limitInputPixels: maxPixels,
    });
    if (jpeg && (await image.metadata()).space === 'cmyk') {
      // libvips reads Adobe's inverted CMYK the right way up, as PIL's "CMYK;I" does.
      const { data, info } = await image
        .pipelineColourspace('cmyk')
        .toColourspace('cmyk')
        .raw({ depth: 'uchar' })
        .toBuffer({ resolveWithObject: true });
      const out = new Uint8Array(info.width * info.height * 3);
      for (let i = 0, o = 0; o < out.length; i += info.channels, o += 3) {
        const nk = 255 - data[i + 3]!;
        for (let c = 0; c < 3; c++) {
          const t = data[i + c]! * nk + 128; // PIL's MULDIV255
          out[o + c] = Math.max(0, nk - (((t >> 8) + t) >> 8));
        }
      }
      return makeRgbImage(info.width, info.height, out);
    }
    const { data, info } = await image
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) {
      throw new Error(`decoded to ${info.channels} channels, expected 3`);
    }
    return makeRgbImage(info.width, info.height, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  };
  try {
    try {
      return await decodeSharp(bytes);
    } catch (error) {
      // libpng refuses a PNG whose last CRC, IEND or zlib checksum is missing; PIL reads it when
      // every row is there.
      if (!png || /exceeds pixel limit/i.test((error as Error).message)) throw error;
      return await decodeSharp(repairPng(bytes, png, refuse));
    }
  } catch (error) {
    if (error instanceof MediaError) throw error;
    const message = (error as Error).message;
    if (/exceeds pixel limit/i.test(message))
      refuse(`too large: more than the limit of ${maxPixels} pixels (BIKE_MAX_PIXELS)`);
    return cannot(message);
  }
}

/**
 * Reads and decodes one image file. The read is synchronous: frames are small, and the promise
 * API's open/stat/read/close round trips cost the calling thread more than the read itself
 * (loader workers are threads of their own).
 */
export async function decodeImageFile(path: string, part?: DecodeRegion, pixels?: PixelBuffers): Promise<RgbImage> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new MediaError('image', path, `cannot read (${code ?? (error as Error).message})`);
  }
  return decodeImage(bytes, path, part, pixels);
}
