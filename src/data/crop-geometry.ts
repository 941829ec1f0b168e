/**
 * Where the original's group transforms resize and crop (datasets/transforms.py, torchvision's
 * Resize/CenterCrop on PIL images, test.py's multi-crop choices), as plain rectangles so every
 * frame of a clip can share them. Rectangles may reach outside the image where PIL's `crop` would
 * pad with black.
 */
import type { Rect } from './rgb-image.ts';
import { roundHalfEven } from './round-half-even.ts';

/** `{ kind: 'short-side' }`: torchvision `Resize(int)`; `{ kind: 'exact' }`: `Resize((h, w))`. */
export type ResizeTarget = { kind: 'short-side'; size: number } | { kind: 'exact'; width: number; height: number };

/** The size torchvision's `Resize` gives a `width x height` PIL image. */
export function resizedSize(width: number, height: number, target: ResizeTarget): { width: number; height: number } {
  if (target.kind === 'exact') return { width: target.width, height: target.height };
  const size = target.size;
  // torchvision: the short side becomes `size`, the long side int(size * long / short).
  if (width <= height) return { width: size, height: Math.trunc((size * height) / width) };
  return { width: Math.trunc((size * width) / height), height: size };
}

export type Stage = 'train' | 'val' | 'test';

/** Something-Something: the original keys its special cases on 'something' in `data.dataset`. */
export function isSomethingSomething(dataset: string): boolean {
  return dataset.includes('something');
}

/**
 * The resize before cropping. utils/Augmentation.py (train and val): `scale_size = 256 if
 * input_size == 224 else input_size`, short side, or (256, 320) for Something-Something;
 * test.py: the same, but (240, 320) for Something-Something.
 */
export function scaleTarget(dataset: string, inputSize: number, stage: Stage): ResizeTarget {
  if (isSomethingSomething(dataset)) {
    return stage === 'test' ? { kind: 'exact', width: 320, height: 240 } : { kind: 'exact', width: 320, height: 256 };
  }
  return { kind: 'short-side', size: inputSize === 224 ? 256 : inputSize };
}

/** torchvision `CenterCrop` on a PIL image (round half to even, as Python's round; padding where larger). */
export function centerCropRect(width: number, height: number, cropWidth: number, cropHeight: number): Rect {
  if (cropWidth > width || cropHeight > height) {
    // torchvision pads (left/top get the floor half) and crops the padded image's centre.
    const padLeft = cropWidth > width ? Math.floor((cropWidth - width) / 2) : 0;
    const padTop = cropHeight > height ? Math.floor((cropHeight - height) / 2) : 0;
    const paddedWidth = Math.max(width, cropWidth);
    const paddedHeight = Math.max(height, cropHeight);
    const inner = centerCropRect(paddedWidth, paddedHeight, cropWidth, cropHeight);
    return { x: inner.x - padLeft, y: inner.y - padTop, width: cropWidth, height: cropHeight };
  }
  return {
    x: roundHalfEven((width - cropWidth) / 2),
    y: roundHalfEven((height - cropHeight) / 2),
    width: cropWidth,
    height: cropHeight,
  };
}

/** Python's `//` on integers. */
function floorDiv(a: number, b: number): number {
  return Math.floor(a / b);
}

/** `GroupMultiScaleCrop.fill_fix_offset`: (x, y) offsets, 5 or (more_fix_crop) 13 of them, in its order. */
export function fixCropOffsets(
  moreFixCrop: boolean,
  width: number,
  height: number,
  cropWidth: number,
  cropHeight: number,
): [number, number][] {
  const wStep = floorDiv(width - cropWidth, 4);
  const hStep = floorDiv(height - cropHeight, 4);
  const offsets: [number, number][] = [
    [0, 0],
    [4 * wStep, 0],
    [0, 4 * hStep],
    [4 * wStep, 4 * hStep],
    [2 * wStep, 2 * hStep],
  ];
  if (moreFixCrop) {
    offsets.push(
      [0, 2 * hStep],
      [4 * wStep, 2 * hStep],
      [2 * wStep, 4 * hStep],
      [2 * wStep, 0],
      [wStep, hStep],
      [3 * wStep, hStep],
      [wStep, 3 * hStep],
      [3 * wStep, 3 * hStep],
    );
  }
  return offsets;
}

/** `GroupFullResSample` offsets: left, right, centre (the 3-crop test). */
export function fullResSampleOffsets(
  width: number,
  height: number,
  cropWidth: number,
  cropHeight: number,
): [number, number][] {
  const wStep = floorDiv(width - cropWidth, 4);
  const hStep = floorDiv(height - cropHeight, 4);
  return [
    [0, 2 * hStep],
    [4 * wStep, 2 * hStep],
    [2 * wStep, 2 * hStep],
  ];
}

/** One test view: a crop of the resized frames, mirrored or not. */
export interface CropView {
  rect: Rect;
  flip: boolean;
}

export const TEST_CROP_COUNTS = [1, 3, 5, 10] as const;

/**
 * The views of test.py's `--test_crops`, in the order the original stacks them (each view covers
 * every frame of every clip before the next view starts):
 * 1: centre (`GroupCenterCrop`); 3: left, right, centre (`GroupFullResSample`, no flip);
 * 5: upper-left, upper-right, lower-left, lower-right, centre (`GroupOverSample`, no flip);
 * 10: those five, each followed by its mirror image (`GroupOverSample` with flip).
 */
export function testCropViews(testCrops: number, width: number, height: number, cropSize: number): CropView[] {
  const rect = ([x, y]: [number, number]): Rect => ({ x, y, width: cropSize, height: cropSize });
  switch (testCrops) {
    case 1:
      return [{ rect: centerCropRect(width, height, cropSize, cropSize), flip: false }];
    case 3:
      return fullResSampleOffsets(width, height, cropSize, cropSize).map((o) => ({ rect: rect(o), flip: false }));
    case 5:
      return fixCropOffsets(false, width, height, cropSize, cropSize).map((o) => ({ rect: rect(o), flip: false }));
    case 10:
      return fixCropOffsets(false, width, height, cropSize, cropSize).flatMap((o) => [
        { rect: rect(o), flip: false },
        { rect: rect(o), flip: true },
      ]);
    default:
      throw new Error(`test_crops ${testCrops}: only 1, 3, 5 or 10 crops are supported`);
  }
}

/** The random source the training transform draws from (`Rng` in rng.ts provides these). */
export interface UniformSource {
  /** Uniform in [0, 1) (Python's `random.random()`). */
  nextFloat(): number;
  /** Uniform integer in [low, high] (Python's `random.randint`). */
  intInclusive(low: number, high: number): number;
}

/** The crop `GroupRandomSizedCrop` picks: `found` false means its fallback (scale + random crop). */
export type SizedCrop = { found: true; rect: Rect } | { found: false };

/**
 * `GroupRandomSizedCrop`'s search: up to 10 tries of an area fraction in [0.08, 1] and an aspect
 * ratio in [3/4, 4/3] (sides swapped with probability 1/2), drawing in the original's order.
 */
export function sampleSizedCrop(rng: UniformSource, width: number, height: number): SizedCrop {
  const area = width * height;
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = (0.08 + (1.0 - 0.08) * rng.nextFloat()) * area;
    const aspectRatio = 3 / 4 + (4 / 3 - 3 / 4) * rng.nextFloat();
    let w = roundHalfEven(Math.sqrt(targetArea * aspectRatio));
    let h = roundHalfEven(Math.sqrt(targetArea / aspectRatio));
    if (rng.nextFloat() < 0.5) [w, h] = [h, w];
    if (w <= width && h <= height) {
      const x = rng.intInclusive(0, width - w);
      const y = rng.intInclusive(0, height - h);
      return { found: true, rect: { x, y, width: w, height: h } };
    }
  }
  return { found: false };
}
