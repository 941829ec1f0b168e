/**
 * The demo's procedural video dataset. Class names are short phrases made of shared words,
 * `<colour> <shapes> <motion>` ("red discs fading in", "blue rings fading out"); a video shows a grid of
 * such shapes changing together. Colour and shape show in any frame; the motion needs the frames
 * together: half-size shapes may be growing or shrinking, faint ones fading in or out, and only the
 * frames before and after tell which.
 *
 * Why this design: the original training augmentation (random crops down to 8% of the frame, random
 * mirroring, random grayscale) is kept as it is, so whatever tells classes apart must survive a crop:
 * a grid shows the class in every part of the frame, a disc and a ring differ all along their outline,
 * and size and opacity changes show at any zoom, where left and right would be swapped by the mirroring.
 * A small model trained from scratch also reads size and opacity off a frame at once, where the
 * position of an object takes it far longer to learn.
 *
 * Every combination of the chosen words is a class; a regular subset of them is held out as unseen
 * classes for zero-shot (every word of them still occurs in seen classes). Each video is written both
 * as a frame folder (JPEG through sharp) and as an mp4 file (through FFmpeg), with annotation lists in
 * the original formats (`path num_frames label` for frames, `path label` for videos) and `id,name`
 * label CSVs for the seen and the unseen classes. The same options and seed give the same files.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { PROMPT_TEMPLATE } from '../engine/datasets/text-prompts.ts';
import { ATTRIBUTE_SENTENCE_PREFIX } from '../bike/attribute-sentence.ts';
import { Rng } from '../data/rng.ts';
import { sampleSeed } from '../data/video-dataset.ts';
import { PLURAL, allCaptions } from './captions.ts';
import { Mp4SegmentWriter } from './mp4-writer.ts';
import { resetFolder } from './owned-folders.ts';
import { renderVideo, type MotionKind, type Rgb, type ShapeKind } from './render.ts';
import { buildVocabulary, wordsOf, writeVocabulary, type VocabularyFiles } from './vocabulary.ts';

export const DEMO_COLORS: readonly { name: string; rgb: Rgb }[] = [
  { name: 'red', rgb: [215, 45, 40] },
  { name: 'green', rgb: [45, 185, 60] },
  { name: 'blue', rgb: [50, 90, 230] },
  { name: 'yellow', rgb: [230, 210, 45] },
];
export const DEMO_SHAPES: readonly ShapeKind[] = ['disc', 'ring', 'bar', 'cross', 'square', 'triangle'];
export const DEMO_MOTIONS: readonly MotionKind[] = ['fading in', 'fading out', 'growing', 'shrinking'];

export const FRAME_TEMPLATE = 'img_{:05d}.jpg';

export interface DemoDatasetOptions {
  /** Output folder (created; an existing dataset with the same options is reused). */
  dir: string;
  /** How many of DEMO_COLORS / DEMO_SHAPES / DEMO_MOTIONS to use (from the start of each list). */
  colors: number;
  shapes: number;
  motions: number;
  /**
   * Class (c, s, m) is held out for zero-shot when `(c + s + m) % unseenPeriod === 0`; 0 holds none out.
   * Every word must still occur in a seen class.
   */
  unseenPeriod: number;
  trainPerClass: number;
  valPerClass: number;
  /** Videos of each unseen class (the zero-shot test set). */
  zeroShotPerClass: number;
  frames: number;
  /** Frame width and height in pixels. */
  size: number;
  fps?: number;
  seed: number;
  /** Called with a line of progress now and then. */
  log?: (message: string) => void;
}

export interface DemoClass {
  name: string;
  color: string;
  shape: ShapeKind;
  motion: MotionKind;
}

export interface DemoSplit {
  /** `path num_frames label` list over `framesRoot`. */
  framesList: string;
  /** `path label` list over `videosRoot`. */
  videosList: string;
  videos: number;
}

export interface DemoDataset {
  dir: string;
  framesRoot: string;
  videosRoot: string;
  imageTmpl: string;
  frames: number;
  size: number;
  seen: DemoClass[];
  unseen: DemoClass[];
  /** `id,name` CSVs of the seen and the unseen classes. */
  labels: string;
  zeroShotLabels: string;
  train: DemoSplit;
  val: DemoSplit;
  zeroShot: DemoSplit | null;
  vocabulary: VocabularyFiles;
  /** Whether the files were made now (false: reused from an identical earlier call). */
  created: boolean;
}

const MANIFEST = 'dataset.json';

function slug(name: string): string {
  return name.replace(/[^a-z0-9]+/g, '_');
}

function checkCount(value: number, key: string, min: number, max = Infinity): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(
      `demo dataset option ${key}: expected an integer in [${min}, ${max === Infinity ? '∞' : max}], got ${value}`,
    );
  }
}

/** The seen and unseen classes the options describe. */
export function demoClasses(options: Pick<DemoDatasetOptions, 'colors' | 'shapes' | 'motions' | 'unseenPeriod'>): {
  seen: DemoClass[];
  unseen: DemoClass[];
} {
  checkCount(options.colors, 'colors', 1, DEMO_COLORS.length);
  checkCount(options.shapes, 'shapes', 1, DEMO_SHAPES.length);
  checkCount(options.motions, 'motions', 1, DEMO_MOTIONS.length);
  checkCount(options.unseenPeriod, 'unseenPeriod', 0);
  const seen: DemoClass[] = [];
  const unseen: DemoClass[] = [];
  for (let c = 0; c < options.colors; c++) {
    for (let s = 0; s < options.shapes; s++) {
      for (let m = 0; m < options.motions; m++) {
        const color = DEMO_COLORS[c]!.name;
        const shape = DEMO_SHAPES[s]!;
        const motion = DEMO_MOTIONS[m]!;
        const entry = { name: `${color} ${PLURAL[shape]} ${motion}`, color, shape, motion };
        (options.unseenPeriod > 0 && (c + s + m) % options.unseenPeriod === 0 ? unseen : seen).push(entry);
      }
    }
  }
  const seenWords = new Set(seen.flatMap((k) => [k.color, k.shape, k.motion]));
  const missing = [...new Set(unseen.flatMap((k) => [k.color, k.shape, k.motion]))].filter((w) => !seenWords.has(w));
  if (missing.length > 0) {
    throw new Error(
      `demo dataset option unseenPeriod ${options.unseenPeriod}: the words ${missing.map((w) => `"${w}"`).join(', ')} occur only in held-out classes; zero-shot needs every word seen in training (use a larger period)`,
    );
  }
  if (seen.length < 2)
    throw new Error(
      `demo dataset: ${seen.length} seen class; expected at least 2 (more colours, shapes or motions, or a larger unseenPeriod)`,
    );
  return { seen, unseen };
}

function labelCsv(classes: readonly DemoClass[]): string {
  return `id,name\n${classes.map((k, i) => `${i},${k.name}`).join('\n')}\n`;
}

interface PlannedVideo {
  cls: DemoClass;
  label: number;
  name: string;
  seed: number;
}

function plan(
  split: string,
  splitIndex: number,
  classes: readonly DemoClass[],
  perClass: number,
  seed: number,
): PlannedVideo[] {
  const videos: PlannedVideo[] = [];
  classes.forEach((cls, label) => {
    for (let v = 0; v < perClass; v++) {
      const name = `${split}/${slug(cls.name)}_${String(v).padStart(3, '0')}`;
      videos.push({ cls, label, name, seed: sampleSeed(seed + splitIndex, label, v) });
    }
  });
  return videos;
}

async function writeFrames(folder: string, pixels: Uint8Array, frames: number, size: number): Promise<void> {
  mkdirSync(folder, { recursive: true });
  const frameBytes = size * size * 3;
  await Promise.all(
    Array.from({ length: frames }, (_, f) =>
      sharp(pixels.subarray(f * frameBytes, (f + 1) * frameBytes), { raw: { width: size, height: size, channels: 3 } })
        .jpeg({ quality: 92 })
        .toFile(path.join(folder, `img_${String(f + 1).padStart(5, '0')}.jpg`)),
    ),
  );
}

async function writeSplit(
  dataset: DemoDataset,
  videos: PlannedVideo[],
  o: DemoDatasetOptions,
  listName: string,
): Promise<DemoSplit> {
  const colors = new Map(DEMO_COLORS.map((c) => [c.name, c.rgb]));
  const writer = new Mp4SegmentWriter({
    width: o.size,
    height: o.size,
    frames: o.frames,
    fps: o.fps ?? 8,
    outputs: videos.map((v) => path.join(dataset.videosRoot, `${v.name}.mp4`)),
  });
  try {
    for (const [i, video] of videos.entries()) {
      const pixels = renderVideo(
        { color: colors.get(video.cls.color)!, shape: video.cls.shape, motion: video.cls.motion },
        { width: o.size, height: o.size, frames: o.frames },
        new Rng(video.seed),
      );
      await Promise.all([
        writeFrames(path.join(dataset.framesRoot, video.name), pixels, o.frames, o.size),
        writer.add(pixels),
      ]);
      if ((i + 1) % 200 === 0) o.log?.(`demo data: ${listName} ${i + 1}/${videos.length} videos`);
    }
    await writer.finish();
  } catch (error) {
    writer.abort();
    throw error;
  }
  const framesList = path.join(dataset.dir, `${listName}_frames.txt`);
  const videosList = path.join(dataset.dir, `${listName}_videos.txt`);
  writeFileSync(framesList, `${videos.map((v) => `${v.name} ${o.frames} ${v.label}`).join('\n')}\n`);
  writeFileSync(videosList, `${videos.map((v) => `${v.name}.mp4 ${v.label}`).join('\n')}\n`);
  return { framesList, videosList, videos: videos.length };
}

/** What makes two datasets the same (the manifest compares it); `version` changes with the drawing. */
function identity(o: DemoDatasetOptions): Record<string, unknown> {
  const { colors, shapes, motions, unseenPeriod, trainPerClass, valPerClass, zeroShotPerClass, frames, size, seed } = o;
  return {
    version: 5,
    colors,
    shapes,
    motions,
    unseenPeriod,
    trainPerClass,
    valPerClass,
    zeroShotPerClass,
    frames,
    size,
    fps: o.fps ?? 8,
    seed,
  };
}

/** Makes the dataset under `options.dir` (or reuses the identical one already there). */
export async function makeDemoDataset(options: DemoDatasetOptions): Promise<DemoDataset> {
  checkCount(options.trainPerClass, 'trainPerClass', 1);
  checkCount(options.valPerClass, 'valPerClass', 1);
  checkCount(options.zeroShotPerClass, 'zeroShotPerClass', 0);
  // The original drops videos of fewer than 8 frames from training and validation.
  checkCount(options.frames, 'frames', 8);
  checkCount(options.size, 'size', 16);
  const { seen, unseen } = demoClasses(options);
  const dir = path.resolve(options.dir);
  const manifestFile = path.join(dir, MANIFEST);
  const id = identity(options);
  if (existsSync(manifestFile)) {
    try {
      const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as { identity: unknown; dataset: DemoDataset };
      if (JSON.stringify(manifest.identity) === JSON.stringify(id)) return { ...manifest.dataset, created: false };
    } catch {
      // An unreadable manifest: make the dataset again.
    }
  }
  // Only a folder this program made is removed (src/demo/owned-folders.ts); a user's is refused by name.
  resetFolder(dir, 'dataset folder');
  // Every word the demo's texts use is one token: prompts, attribute sentences, class names and the
  // captions stage 0 pre-trains CLIP on.
  const words = {
    colours: [...new Set([...seen, ...unseen].map((k) => k.color))],
    shapes: [...new Set([...seen, ...unseen].map((k) => k.shape))],
  };
  const texts = [
    PROMPT_TEMPLATE.replace('{}', ''),
    ATTRIBUTE_SENTENCE_PREFIX,
    ',',
    ...seen.map((k) => k.name),
    ...unseen.map((k) => k.name),
    ...allCaptions(words.colours, words.shapes, [...new Set([...seen, ...unseen].map((k) => k.motion))]),
  ];
  const vocabulary = writeVocabulary(path.join(dir, 'vocab'), buildVocabulary(wordsOf(texts)));
  const dataset: DemoDataset = {
    dir,
    framesRoot: path.join(dir, 'frames'),
    videosRoot: path.join(dir, 'videos'),
    imageTmpl: FRAME_TEMPLATE,
    frames: options.frames,
    size: options.size,
    seen,
    unseen,
    labels: path.join(dir, 'labels.csv'),
    zeroShotLabels: path.join(dir, 'zeroshot_labels.csv'),
    train: null as unknown as DemoSplit,
    val: null as unknown as DemoSplit,
    zeroShot: null,
    vocabulary,
    created: true,
  };
  writeFileSync(dataset.labels, labelCsv(seen));
  dataset.train = await writeSplit(
    dataset,
    plan('train', 0, seen, options.trainPerClass, options.seed),
    options,
    'train',
  );
  dataset.val = await writeSplit(dataset, plan('val', 1, seen, options.valPerClass, options.seed), options, 'val');
  if (unseen.length > 0 && options.zeroShotPerClass > 0) {
    writeFileSync(dataset.zeroShotLabels, labelCsv(unseen));
    dataset.zeroShot = await writeSplit(
      dataset,
      plan('zeroshot', 2, unseen, options.zeroShotPerClass, options.seed),
      options,
      'zeroshot',
    );
  }
  writeFileSync(
    manifestFile,
    `${JSON.stringify({ identity: id, dataset: { ...dataset, created: undefined } }, null, 2)}\n`,
  );
  return dataset;
}
