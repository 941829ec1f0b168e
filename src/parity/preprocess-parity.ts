/**
 * Parity of decoding and test-time preprocessing with the original (PIL + torchvision), against
 * `preprocess.safetensors`, `frame.png` and `frame.jpg` of a reference fixture directory:
 * decoded pixels (`decoded_rgb.*`), the 1-crop and 3-crop views (`center_crop_1.*`, `three_crop.*`)
 * by mean absolute difference in normalised units, and each view's crop position (the fixture's view
 * must match ours better than the same crop moved by up to 2 pixels).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ParityResult } from './parity-result.ts';
import type { RawTensor } from '../torch/serialization/raw-tensor.ts';
import { parseSafetensors } from '../torch/serialization/safetensors-format.ts';
import { testTransform, testViewsFor } from '../data/clip-transform.ts';
import { resizedSize, scaleTarget } from '../data/crop-geometry.ts';
import { CLIP_MEAN, CLIP_STD, normalizationTable, writeNormalizedFrame } from '../data/frame-tensor.ts';
import { decodeImageFile } from '../data/image-decoder.ts';
import { resizeWindow } from '../data/pil-resample.ts';
import type { RgbImage } from '../data/rgb-image.ts';
import { compareValues, measure } from './compare.ts';

/** Mean absolute difference allowed per source format, normalised units (resamplers differ slightly). */
export const PREPROCESS_TOLERANCE = { png: 0.03, jpg: 0.05 } as const;
/** Decoded bytes: PNG is lossless, so exact; JPEG decoders may round an IDCT differently. */
export const DECODE_TOLERANCE = { png: 0, jpg: 0.5 } as const;
const POSITION_SEARCH = 2;

type Format = keyof typeof PREPROCESS_TOLERANCE;

function float32Values(tensor: RawTensor, name: string): Float32Array {
  if (tensor.dtype !== 'float32')
    throw new Error(`preprocess.safetensors ${name}: dtype ${tensor.dtype}, expected float32`);
  const copy = tensor.data.slice();
  return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
}

function decodedCheck(format: Format, decoded: RgbImage, tensors: Map<string, RawTensor>): ParityResult {
  const name = `preprocess decoded_rgb.${format}`;
  const want = tensors.get(`decoded_rgb.${format}`);
  if (!want) return { name, ok: false, skipped: true, detail: `preprocess.safetensors has no decoded_rgb.${format}` };
  const [h, w, c] = want.shape;
  if (want.dtype !== 'uint8' || c !== 3 || h !== decoded.height || w !== decoded.width) {
    return {
      name,
      ok: false,
      detail: `fixture is ${want.dtype} [${want.shape}], we decoded [${decoded.height}, ${decoded.width}, 3] uint8`,
    };
  }
  return compareValues(
    name,
    decoded.data,
    want.data,
    { kind: 'absolute', atol: DECODE_TOLERANCE[format] },
    { statistic: 'mean', unit: ' levels' },
  );
}

/** Our view `v` of the frame moved by (dx, dy) on the resized image, normalised, flattened [3, S, S]. */
function shiftedView(
  resized: RgbImage,
  rect: { x: number; y: number },
  size: number,
  dx: number,
  dy: number,
): Float32Array {
  const out = new Float32Array(3 * size * size);
  const table = normalizationTable({ mean: CLIP_MEAN, std: CLIP_STD });
  writeNormalizedFrame(
    out,
    0,
    resized,
    { x: rect.x + dx, y: rect.y + dy, width: size, height: size },
    table,
    false,
    false,
  );
  return out;
}

function cropChecks(
  format: Format,
  key: string,
  testCrops: number,
  frame: RgbImage,
  tensors: Map<string, RawTensor>,
): ParityResult[] {
  const name = `preprocess ${key}.${format}`;
  const want = tensors.get(`${key}.${format}`);
  if (!want) return [{ name, ok: false, skipped: true, detail: `preprocess.safetensors has no ${key}.${format}` }];
  const [views, channels, size, size2] = want.shape;
  if (want.shape.length !== 4 || views !== testCrops || channels !== 3 || size !== size2) {
    return [{ name, ok: false, detail: `fixture shape [${want.shape}], expected [${testCrops}, 3, S, S]` }];
  }
  const expected = float32Values(want, `${key}.${format}`);
  const options = { inputSize: size!, testCrops, stage: 'test' as const };
  let got: Float32Array;
  try {
    got = testTransform([frame], options).data;
  } catch (error) {
    return [{ name, ok: false, detail: `threw "${(error as Error).message}"` }];
  }
  const results = [
    compareValues(
      name,
      got,
      expected,
      { kind: 'absolute', atol: PREPROCESS_TOLERANCE[format] },
      { statistic: 'mean', unit: ' normalised units' },
    ),
  ];

  // Crop position: among shifts of up to 2 px, the fixture's view must be closest to the unshifted one.
  const scaled = resizedSize(frame.width, frame.height, scaleTarget('', size!, 'test'));
  const resized = resizeWindow(frame, scaled.width, scaled.height, 'bicubic');
  const viewValues = 3 * size! * size!;
  testViewsFor(frame, options).forEach((view, v) => {
    let best = { dx: 0, dy: 0, mean: Infinity };
    for (let dy = -POSITION_SEARCH; dy <= POSITION_SEARCH; dy++) {
      for (let dx = -POSITION_SEARCH; dx <= POSITION_SEARCH; dx++) {
        const candidate = shiftedView(resized, view.rect, size!, dx, dy);
        const d = measure(
          candidate,
          expected.subarray(v * viewValues, (v + 1) * viewValues),
          { kind: 'absolute', atol: 0 },
          'mean',
        ).error;
        if (d < best.mean) best = { dx, dy, mean: d };
      }
    }
    results.push({
      name: `${name} view ${v} crop position`,
      ok: best.dx === 0 && best.dy === 0,
      detail:
        best.dx === 0 && best.dy === 0
          ? `crop at (${view.rect.x}, ${view.rect.y}) matches best among shifts of up to ${POSITION_SEARCH} px (tolerance: exact)`
          : `crop at (${view.rect.x}, ${view.rect.y}); the fixture matches (${view.rect.x + best.dx}, ${view.rect.y + best.dy}) better (tolerance: exact)`,
    });
  });
  return results;
}

export async function preprocessParityChecks(fixtureDir: string): Promise<ParityResult[]> {
  const tensorsPath = join(fixtureDir, 'preprocess.safetensors');
  if (!existsSync(tensorsPath)) {
    return [{ name: 'preprocess', ok: false, skipped: true, detail: `${tensorsPath} not found` }];
  }
  const { tensors } = parseSafetensors(readFileSync(tensorsPath), tensorsPath);
  const results: ParityResult[] = [];
  for (const format of ['png', 'jpg'] as const) {
    const framePath = join(fixtureDir, `frame.${format}`);
    if (!existsSync(framePath)) {
      results.push({ name: `preprocess frame.${format}`, ok: false, skipped: true, detail: `${framePath} not found` });
      continue;
    }
    let frame: RgbImage;
    try {
      frame = await decodeImageFile(framePath);
    } catch (error) {
      results.push({ name: `preprocess frame.${format}`, ok: false, detail: (error as Error).message });
      continue;
    }
    results.push(decodedCheck(format, frame, tensors));
    results.push(...cropChecks(format, 'center_crop_1', 1, frame, tensors));
    results.push(...cropChecks(format, 'three_crop', 3, frame, tensors));
  }
  return results;
}
