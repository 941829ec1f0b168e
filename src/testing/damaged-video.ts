/**
 * Videos with damaged packets, made in the tests (no binary in the repository): a Motion-JPEG clip
 * encoded by the ffmpeg CLI, then the JPEG picture of chosen frames zeroed in place. The packets keep
 * their size and the container stays intact, so FFmpeg decodes every frame but those.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

/**
 * A 32x24, 25 fps test video whose red channel is 5 * frame number (lavfi + geq), in `codec` (mpeg4 by
 * default: every FFmpeg build has it); the container follows the file's extension (mp4, avi, mkv, ...).
 * `extraArgs` go before the output (e.g. `-movflags +faststart`).
 */
export function encodeTestVideo(
  file: string,
  options: { seconds?: number; codec?: string; pixelFormat?: string; extraArgs?: string[] } = {},
): string {
  const { seconds = 2, codec = 'mpeg4', pixelFormat = 'yuv420p', extraArgs = [] } = options;
  execFileSync(process.env.BIKE_FFMPEG ?? 'ffmpeg', [
    '-v',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `color=c=black:s=32x24:r=25:d=${seconds},format=gbrp,geq=r='N*5':g='128':b='64'`,
    '-c:v',
    codec,
    '-q:v',
    '2',
    '-pix_fmt',
    pixelFormat,
    ...extraArgs,
    file,
  ]);
  return file;
}

/** The test video (see `encodeTestVideo`) in Motion-JPEG, whose pictures `damageMjpegFrames` can find. */
export function encodeMjpeg(file: string, seconds = 2): string {
  return encodeTestVideo(file, { seconds, codec: 'mjpeg', pixelFormat: 'yuvj420p' });
}

/** [start, end) of each Motion-JPEG picture (SOI to EOI) stored in `bytes`, in file order. */
export function jpegPictures(bytes: Buffer): [number, number][] {
  const pictures: [number, number][] = [];
  for (
    let at = bytes.indexOf(Buffer.from([0xff, 0xd8, 0xff]));
    at >= 0;
    at = bytes.indexOf(Buffer.from([0xff, 0xd8, 0xff]), at + 2)
  ) {
    const end = bytes.indexOf(Buffer.from([0xff, 0xd9]), at);
    pictures.push([at, end + 2]);
    at = end;
  }
  return pictures;
}

/**
 * Writes `output`: the Motion-JPEG video `clean` with the pictures of `frames` (0-based, file order)
 * zeroed. Returns the number of pictures found, for the caller to check against the frame count.
 */
export function damageMjpegFrames(clean: string, output: string, frames: readonly number[]): number {
  const bytes = readFileSync(clean);
  const pictures = jpegPictures(bytes);
  for (const n of frames) {
    const picture = pictures[n];
    if (!picture) throw new Error(`${clean}: no picture ${n} to damage (${pictures.length} pictures)`);
    bytes.fill(0, picture[0], picture[1]);
  }
  writeFileSync(output, bytes);
  return pictures.length;
}
