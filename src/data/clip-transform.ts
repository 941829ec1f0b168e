/**
 * The original's spatial transforms for a clip (utils/Augmentation.py `get_augmentation`, test.py's
 * `--test_crops`), from decoded frames to a normalised `[views * frames, 3, S, S]` Float32Array.
 * Every frame of a clip shares one set of random choices, drawn in the original's order:
 *
 * train: `GroupScale(scale_size)` (bicubic) -> `GroupRandomSizedCrop(input_size)` (bilinear) ->
 *   `GroupRandomHorizontalFlip` (Something-Something: the `_sth` variant, which flips and swaps the
 *   left/right labels) -> `GroupRandomGrayscale(p=0.2)` (p=0 for Something-Something) -> normalise.
 * val/test: `GroupScale(scale_size)` (bicubic) -> 1 / 3 / 5 / 10 crops -> normalise; views are
 *   crop-major: view v holds frames `[v * N, (v + 1) * N)` of the input list (N = clips x T).
 */
import {
  isSomethingSomething,
  resizedSize,
  sampleSizedCrop,
  scaleTarget,
  testCropViews,
  type CropView,
  type SizedCrop,
  type Stage,
  type UniformSource,
} from './crop-geometry.ts';
import { CLIP_MEAN, CLIP_STD, normalizationTable, writeNormalizedFrame, type Normalization } from './frame-tensor.ts';
import { planResize, planSourceRect, resizeWindow, type ResampleFilter, type ResizePlan } from './pil-resample.ts';
import { boundingRect, frameSize, makeRgbImage, type Rect, type RgbImage } from './rgb-image.ts';
import { frameOps } from './frame-ops.ts';

export interface ClipTransformOptions {
  /** `data.input_size`: the crop side S. */
  inputSize: number;
  /** `data.dataset`: 'something' in it selects the Something-Something variants. */
  dataset?: string;
  /** Defaults to CLIP's mean and std. */
  normalization?: Normalization;
}

/** A clip ready to become a tensor: `data` is row-major `shape` = [views * frames, 3, S, S]. */
export interface ClipArray {
  data: Float32Array;
  shape: [number, number, number, number];
  views: number;
  framesPerView: number;
}

/** `GroupRandomHorizontalFlip_sth.target_transform`: classes that swap when a clip is mirrored. */
export const SOMETHING_FLIP_LABELS: ReadonlyMap<number, number> = new Map([
  [86, 87],
  [87, 86],
  [93, 94],
  [94, 93],
  [166, 167],
  [167, 166],
]);

/** Where a transform writes: given the clip's length in floats, an array of exactly that length. */
export type ClipOutput = (length: number) => Float32Array;

export interface TrainAugmentation {
  /** Crop of the scaled frames; null when `GroupRandomSizedCrop` used its fallback. */
  crop: Rect | null;
  flipped: boolean;
  grayscale: boolean;
}

export interface TrainTransformResult {
  clip: ClipArray;
  /** The label after the flip (changed only by Something-Something's left/right swap). */
  label: number;
  augmentation: TrainAugmentation;
}

function checkFrames(frames: readonly RgbImage[], what: string): void {
  if (frames.length === 0) throw new Error(`${what}: expected at least one frame, got none`);
}

function checkInputSize(inputSize: number): void {
  if (!Number.isInteger(inputSize) || inputSize <= 0)
    throw new Error(`input_size ${inputSize}: expected a positive integer`);
}

function inside(rect: Rect, width: number, height: number): boolean {
  return rect.x >= 0 && rect.y >= 0 && rect.x + rect.width <= width && rect.y + rect.height <= height;
}

function intersect(rect: Rect, width: number, height: number): Rect | null {
  const x0 = Math.max(rect.x, 0),
    y0 = Math.max(rect.y, 0);
  const x1 = Math.min(rect.x + rect.width, width),
    y1 = Math.min(rect.y + rect.height, height);
  return x1 > x0 && y1 > y0 ? { x: x0, y: y0, width: x1 - x0, height: y1 - y0 } : null;
}

/**
 * PIL's `frame.resize(scaled, filter).crop(rect)` as an image plus the rect in its coordinates:
 * only pixels inside the resized frame are computed; the rest of `rect` is black padding.
 */
function resizedRegion(
  frame: RgbImage,
  scaled: { width: number; height: number },
  filter: ResampleFilter,
  rect: Rect,
): { image: RgbImage; region: Rect } {
  const inside = intersect(rect, scaled.width, scaled.height);
  if (!inside)
    return {
      image: makeRgbImage(rect.width, rect.height),
      region: { x: 0, y: 0, width: rect.width, height: rect.height },
    };
  const image = resizeWindow(frame, scaled.width, scaled.height, filter, undefined, inside);
  return { image, region: { x: rect.x - inside.x, y: rect.y - inside.y, width: rect.width, height: rect.height } };
}

/** The region as its own image, black where it leaves `image` (what PIL's crop returns). */
function materialize(image: RgbImage, region: Rect): RgbImage {
  if (region.x === 0 && region.y === 0 && region.width === image.width && region.height === image.height) return image;
  const out = makeRgbImage(region.width, region.height);
  const inside = intersect(region, image.width, image.height);
  if (inside) {
    for (let y = inside.y; y < inside.y + inside.height; y++) {
      const from = (y * image.width + inside.x) * 3;
      out.data.set(
        image.data.subarray(from, from + inside.width * 3),
        ((y - region.y) * region.width + (inside.x - region.x)) * 3,
      );
    }
  }
  return out;
}

/** The clip's array: `out` when given (e.g. its slot of a batch), else a new one. */
function allocateClip(views: number, framesPerView: number, size: number, out?: ClipOutput): ClipArray {
  const length = views * framesPerView * 3 * size * size;
  return {
    data: out ? out(length) : new Float32Array(length),
    shape: [views * framesPerView, 3, size, size],
    views,
    framesPerView,
  };
}

/** The random choices of one clip's training transform, drawn for frames of one size. */
export interface TrainPlan {
  frame: { width: number; height: number };
  sized: SizedCrop;
  /** `GroupRandomSizedCrop`'s fallback crop (of the frame rescaled to input_size) when `sized` found none. */
  fallbackCrop: Rect | null;
  flipped: boolean;
  grayscale: boolean;
}

/** Draws a clip's training transform for frames of `frame`'s size, in the original's order. */
export function planTrainTransform(
  frame: { width: number; height: number },
  options: ClipTransformOptions,
  rng: UniformSource,
): TrainPlan {
  const size = options.inputSize;
  checkInputSize(size);
  const dataset = options.dataset ?? '';
  const scaled = resizedSize(frame.width, frame.height, scaleTarget(dataset, size, 'train'));
  // Crop search, (fallback crop), flip, grayscale.
  const sized = sampleSizedCrop(rng, scaled.width, scaled.height);
  let fallbackCrop: Rect | null = null;
  if (!sized.found) {
    const rescaled = resizedSize(scaled.width, scaled.height, { kind: 'short-side', size });
    const x = rng.intInclusive(0, rescaled.width - size);
    const y = rng.intInclusive(0, rescaled.height - size);
    fallbackCrop = { x, y, width: size, height: size };
  }
  const flipped = rng.nextFloat() < 0.5;
  const grayscale = rng.nextFloat() < (isSomethingSomething(dataset) ? 0 : 0.2);
  return { frame: { width: frame.width, height: frame.height }, sized, fallbackCrop, flipped, grayscale };
}

/** The first resize of the kernel path for a frame of this size, or null where the general path runs. */
function trainCropResize(
  plan: TrainPlan,
  frame: { width: number; height: number },
  options: ClipTransformOptions,
): ResizePlan | null {
  const scaled = resizedSize(frame.width, frame.height, scaleTarget(options.dataset ?? '', options.inputSize, 'train'));
  if (
    !plan.sized.found ||
    !frameOps() ||
    options.inputSize < 4 ||
    !inside(plan.sized.rect, scaled.width, scaled.height)
  )
    return null;
  return planResize(frame, scaled.width, scaled.height, 'bicubic', undefined, plan.sized.rect);
}

/**
 * The pixels of a frame of the planned size that the training transform reads, or null when it
 * needs whole frames; decoders may decode just these.
 */
export function trainFrameRegion(plan: TrainPlan, options: ClipTransformOptions): Rect | null {
  const resize = trainCropResize(plan, plan.frame, options);
  return resize ? planSourceRect(resize) : null;
}

function wholeFrameNeeded(frame: RgbImage, i: number, what: string): void {
  if (frame.partOf)
    throw new Error(`${what}: frame ${i} holds only part of its frame, but this transform reads whole frames`);
}

/** Applies a drawn training transform to the clip's frames (whole frames, or the parts it reads). */
export function applyTrainTransform(
  frames: readonly RgbImage[],
  label: number,
  plan: TrainPlan,
  options: ClipTransformOptions,
  out?: ClipOutput,
): TrainTransformResult {
  checkFrames(frames, 'train transform');
  const size = options.inputSize;
  checkInputSize(size);
  const dataset = options.dataset ?? '';
  const something = isSomethingSomething(dataset);
  const target = scaleTarget(dataset, size, 'train');
  const normalization = options.normalization ?? { mean: CLIP_MEAN, std: CLIP_STD };
  const table = normalizationTable(normalization);
  const { sized, fallbackCrop, flipped, grayscale } = plan;

  const clip = allocateClip(1, frames.length, size, out);
  const frameValues = 3 * size * size;
  const whole: Rect = { x: 0, y: 0, width: size, height: size };
  const ops = frameOps();
  frames.forEach((frame, i) => {
    const offset = i * frameValues;
    const cropResize = trainCropResize(plan, frameSize(frame), options);
    if (cropResize && ops) {
      // Fast path, same pixels: both resizes and the normalisation in the kernel memory.
      ops.reset();
      const cropped = ops.resize(frame, cropResize);
      const final = ops.resize(cropped, planResize(cropped, size, size, 'bilinear'));
      ops.normalize(final, whole, normalization.mean, normalization.std, flipped, grayscale, clip.data, offset);
      return;
    }
    wholeFrameNeeded(frame, i, 'train transform');
    const scaled = resizedSize(frame.width, frame.height, target);
    let cropped: RgbImage;
    if (sized.found) {
      const { image, region } = resizedRegion(frame, scaled, 'bicubic', sized.rect);
      cropped = resizeWindow(materialize(image, region), size, size, 'bilinear');
    } else {
      // GroupScale(input_size, bilinear) of the scaled frame, then GroupRandomCrop(input_size).
      const full = resizeWindow(frame, scaled.width, scaled.height, 'bicubic');
      const rescaled = resizedSize(scaled.width, scaled.height, { kind: 'short-side', size });
      const { image, region } = resizedRegion(full, rescaled, 'bilinear', fallbackCrop!);
      cropped = materialize(image, region);
    }
    writeNormalizedFrame(clip.data, offset, cropped, whole, table, flipped, grayscale);
  });

  const newLabel = something && flipped ? (SOMETHING_FLIP_LABELS.get(label) ?? label) : label;
  return { clip, label: newLabel, augmentation: { crop: sized.found ? sized.rect : null, flipped, grayscale } };
}

/**
 * The training transform of one clip; `rng` supplies every random choice (seeded `Rng`), drawn for
 * the first frame's size as the original does.
 */
export function trainTransform(
  frames: readonly RgbImage[],
  label: number,
  options: ClipTransformOptions,
  rng: UniformSource,
  out?: ClipOutput,
): TrainTransformResult {
  checkFrames(frames, 'train transform');
  return applyTrainTransform(frames, label, planTrainTransform(frameSize(frames[0]!), options, rng), options, out);
}

export interface TestTransformOptions extends ClipTransformOptions {
  /** test.py `--test_crops`: 1, 3, 5 or 10; validation during training uses 1. */
  testCrops?: number;
  /** 'val' (Augmentation.py) or 'test' (test.py); they differ only in Something-Something's scale. */
  stage?: Exclude<Stage, 'train'>;
}

/** The views a test transform of frames of this size makes (for callers that lay out batches). */
export function testViewsFor(frame: { width: number; height: number }, options: TestTransformOptions): CropView[] {
  const target = scaleTarget(options.dataset ?? '', options.inputSize, options.stage ?? 'test');
  const scaled = resizedSize(frame.width, frame.height, target);
  return testCropViews(options.testCrops ?? 1, scaled.width, scaled.height, options.inputSize);
}

/** The rectangle of the scaled frame that covers every view. */
function coverOf(views: readonly CropView[]): Rect {
  return views.reduce((cover, view) => boundingRect(cover, view.rect), views[0]!.rect);
}

/** The resize of the kernel path for a frame of this size, or null where the general path runs. */
function testCoverResize(
  frame: { width: number; height: number },
  cover: Rect,
  options: TestTransformOptions,
): ResizePlan | null {
  const scaled = resizedSize(
    frame.width,
    frame.height,
    scaleTarget(options.dataset ?? '', options.inputSize, options.stage ?? 'test'),
  );
  if (!frameOps() || options.inputSize < 4 || !inside(cover, scaled.width, scaled.height)) return null;
  return planResize(frame, scaled.width, scaled.height, 'bicubic', undefined, cover);
}

/**
 * The pixels of frames of this size that the test transform reads, or null when it needs whole
 * frames; decoders may decode just these.
 */
export function testFrameRegion(frame: { width: number; height: number }, options: TestTransformOptions): Rect | null {
  checkInputSize(options.inputSize);
  const resize = testCoverResize(frame, coverOf(testViewsFor(frame, options)), options);
  return resize ? planSourceRect(resize) : null;
}

/**
 * The validation / test transform: `frames` is the sampled list (all clips, clip-major); the result
 * holds `views = testCrops` blocks of `frames.length` frames. Frames may be the parts that
 * `testFrameRegion` names.
 */
export function testTransform(frames: readonly RgbImage[], options: TestTransformOptions, out?: ClipOutput): ClipArray {
  checkFrames(frames, 'test transform');
  const size = options.inputSize;
  checkInputSize(size);
  const target = scaleTarget(options.dataset ?? '', size, options.stage ?? 'test');
  const normalization = options.normalization ?? { mean: CLIP_MEAN, std: CLIP_STD };
  const table = normalizationTable(normalization);
  // The original computes the crop offsets from the first frame's size and applies them to all.
  const views = testViewsFor(frameSize(frames[0]!), options);
  const cover = coverOf(views);

  const clip = allocateClip(views.length, frames.length, size, out);
  const frameValues = 3 * size * size;
  const ops = frameOps();
  frames.forEach((frame, i) => {
    // One resize of the part every view needs, then each view is a region of it.
    const coverResize = testCoverResize(frameSize(frame), cover, options);
    if (coverResize && ops) {
      ops.reset();
      const image = ops.resize(frame, coverResize);
      views.forEach((view, v) => {
        const region: Rect = { x: view.rect.x - cover.x, y: view.rect.y - cover.y, width: size, height: size };
        ops.normalize(
          image,
          region,
          normalization.mean,
          normalization.std,
          view.flip,
          false,
          clip.data,
          (v * frames.length + i) * frameValues,
        );
      });
      return;
    }
    wholeFrameNeeded(frame, i, 'test transform');
    const scaled = resizedSize(frame.width, frame.height, target);
    const { image, region: coverRegion } = resizedRegion(frame, scaled, 'bicubic', cover);
    views.forEach((view, v) => {
      const region: Rect = {
        x: coverRegion.x + (view.rect.x - cover.x),
        y: coverRegion.y + (view.rect.y - cover.y),
        width: size,
        height: size,
      };
      writeNormalizedFrame(clip.data, (v * frames.length + i) * frameValues, image, region, table, view.flip, false);
    });
  });
  return clip;
}
