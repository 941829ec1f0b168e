/**
 * Stage 0 of the demo: a vision-language model made here, as CLIP was made, so that BIKE has
 * pre-trained knowledge to explore. The demo's small CLIP is trained contrastively on still frames of
 * the demo world (the training videos' JPEG frames) paired with captions built from the world's words
 * ("red discs", "a photo of blue rings", ...): CLIP's symmetric InfoNCE over the batch's
 * image-caption similarities, scaled by the learnt temperature. Several frames of a batch share a
 * colour and a shape, so every caption of the same colour and shape counts as a positive (the
 * targets of each row are spread over them); otherwise the loss is CLIP's. AdamW, linear warm-up then
 * cosine decay, weight decay on matrices only, the logit scale clamped at 100, as OpenAI's recipe.
 *
 * Frames are taken evenly over each video. Some captions name the video's motion as well, as a
 * thumbnail's caption names what its video does (src/demo/captions.ts); a frame's positives are the
 * captions of its colour and shape that name its motion or none. The weights are written as a safetensors file in OpenAI's
 * state-dict layout (`visual.*`, `transformer.*`, `token_embedding.weight`, `logit_scale`, ...), which
 * `network.arch` takes as any CLIP checkpoint; its tokenizer files are copied beside it.
 */
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { CLIP, createClip } from '../clip/model.ts';
import { decodeImageFile } from '../data/image-decoder.ts';
import { CLIP_MEAN, CLIP_STD } from '../data/frame-tensor.ts';
import { Rng } from '../data/rng.ts';
import { classPromptTokens, resolveTokenizer } from '../engine/datasets/text-prompts.ts';
import { F, Tensor, cat, fromTypedArray, manualSeed, noGrad, optim, saveSafetensors, tidy } from '../torch/index.ts';
import { CAPTION_TEMPLATES, MOTION_CAPTION_TEMPLATES, caption, conceptPhrase } from './captions.ts';
import type { DemoClass, DemoDataset } from './dataset.ts';
import { demoClipConfig, type DemoModelSize } from './demo-config.ts';

export interface PretrainSettings {
  steps: number;
  /** Image-caption pairs per step. */
  batchSize: number;
  lr: number;
  warmupSteps: number;
  weightDecay: number;
  /** Still frames taken from each training video. */
  framesPerVideo: number;
  seed: number;
}

export interface PretrainResult {
  /** The weights file (OpenAI layout, safetensors). */
  weights: string;
  steps: number;
  /** Mean loss over the first and the last tenth of the steps. */
  firstLoss: number;
  lastLoss: number;
  /** Loss of every step. */
  losses: number[];
  images: number;
  /** Zero-shot top-1 (percent) of the pre-trained CLIP on still frames of the held-out videos. */
  stillFrameTop1: number;
  stillFrameChance: number;
  stillFrameImages: number;
  logitScale: number;
}

interface Concept {
  colour: string;
  shape: DemoClass['shape'];
}

interface StillFrames {
  /** `count` RGB images of `size x size`, concatenated. */
  pixels: Uint8Array;
  count: number;
  size: number;
  /** Concept (colour, shape) index of each image. */
  concepts: Int32Array;
  /** Motion (index into the dataset's motions) of each image's video. */
  motions: Int32Array;
}

/** `count` frame numbers spread evenly over `frames` frames (first and last included). */
export function spreadFrames(frames: number, count: number): number[] {
  const n = Math.min(count, frames);
  return Array.from({ length: n }, (_, i) => (n === 1 ? 0 : Math.round((i * (frames - 1)) / (n - 1))));
}

function conceptsOf(dataset: DemoDataset): Concept[] {
  const seen = new Map<string, Concept>();
  for (const k of [...dataset.seen, ...dataset.unseen])
    seen.set(conceptPhrase(k.color, k.shape), { colour: k.color, shape: k.shape });
  return [...seen.values()];
}

/** The still frames of the videos a `path num_frames label` list names (frame folders under the dataset). */
async function readStillFrames(
  dataset: DemoDataset,
  list: string,
  classes: readonly DemoClass[],
  concepts: readonly Concept[],
  motions: readonly string[],
  perVideo: number,
): Promise<StillFrames> {
  const conceptIndex = new Map(concepts.map((c, i) => [conceptPhrase(c.colour, c.shape), i]));
  const jobs: { file: string; concept: number; motion: number }[] = [];
  readFileSync(list, 'utf8')
    .split('\n')
    .forEach((line, n) => {
      if (line.trim() === '') return;
      const [video, frames, label] = line.trim().split(/\s+/);
      const cls = classes[Number(label)];
      if (!video || !cls || !Number.isInteger(Number(frames)))
        throw new Error(
          `${list}:${n + 1}: expected "path num_frames label" with a label of ${classes.length} classes, got ${JSON.stringify(line)}`,
        );
      for (const f of spreadFrames(Number(frames), perVideo)) {
        jobs.push({
          file: path.join(
            dataset.framesRoot,
            video,
            dataset.imageTmpl.replace('{:05d}', String(f + 1).padStart(5, '0')),
          ),
          concept: conceptIndex.get(conceptPhrase(cls.color, cls.shape))!,
          motion: motions.indexOf(cls.motion),
        });
      }
    });
  const size = dataset.size;
  const pixels = new Uint8Array(jobs.length * size * size * 3);
  for (let start = 0; start < jobs.length; start += 64) {
    const images = await Promise.all(jobs.slice(start, start + 64).map((j) => decodeImageFile(j.file)));
    images.forEach((image, i) => {
      if (image.width !== size || image.height !== size)
        throw new Error(
          `${jobs[start + i]!.file}: ${image.width}x${image.height}, expected the dataset's ${size}x${size}`,
        );
      pixels.set(image.data, (start + i) * size * size * 3);
    });
  }
  return {
    pixels,
    count: jobs.length,
    size,
    concepts: Int32Array.from(jobs, (j) => j.concept),
    motions: Int32Array.from(jobs, (j) => j.motion),
  };
}

/** All still frames as one float tensor `[count, 3, size, size]` in [0, 1] (kept until disposed). */
function framesTensor(frames: StillFrames): Tensor {
  return tidy(() =>
    fromTypedArray(frames.pixels, [frames.count, frames.size, frames.size, 3])
      .permute(0, 3, 1, 2)
      .to('float32')
      .div(255)
      .contiguous()
      .keep(),
  );
}

interface View {
  /** Crop side in pixels, and its top-left corner. */
  side: number;
  x: number;
  y: number;
  flip: boolean;
}

/** The part of a frame the test transform keeps: resized to floor(input * 256 / 224), centre crop of input. */
function centreView(size: number, out: number): View {
  const side = Math.round((size * out) / Math.floor((out * 256) / 224));
  return { side, x: Math.floor((size - side) / 2), y: Math.floor((size - side) / 2), flip: false };
}

/**
 * Views of frames `indices` of `all` (from `framesTensor`): each the square crop `view` gives (random
 * with `rng`: a side of 50-100% of the frame anywhere in it, mirrored half of the time; else the test
 * transform's centre crop), resized to twice `out` and 2x2-averaged down to `out` (an antialiased
 * resize, as Pillow's), normalised with CLIP's mean and std: `[n, 3, out, out]`.
 */
function imageBatch(all: Tensor, size: number, indices: readonly number[], out: number, rng: Rng | null): Tensor {
  return tidy(() => {
    const views = indices.map((index) => {
      let view = centreView(size, out);
      if (rng) {
        const side = Math.round(size * (0.5 + 0.5 * rng.nextFloat()));
        view = { side, x: rng.nextInt(size - side + 1), y: rng.nextInt(size - side + 1), flip: rng.nextFloat() < 0.5 };
      }
      let crop = all.select(0, index).narrow(1, view.y, view.side).narrow(2, view.x, view.side).unsqueeze(0);
      crop = F.interpolate(crop, [2 * out, 2 * out], 'bilinear');
      return view.flip ? crop.flip([3]) : crop;
    });
    const batch = F.avgPool2d(cat(views, 0), 2);
    const mean = fromTypedArray(Float32Array.from(CLIP_MEAN), [1, 3, 1, 1]);
    const std = fromTypedArray(Float32Array.from(CLIP_STD), [1, 3, 1, 1]);
    return batch.sub(mean).div(std);
  });
}

function unit(t: Tensor): Tensor {
  return F.normalize(t, -1);
}

/** Zero-shot top-1 of `clip` on still frames among the concepts' prompts ("This is a video about red discs"). */
function stillFrameZeroShot(clip: CLIP, frames: StillFrames, prompts: Tensor, out: number): number {
  let correct = 0;
  const all = framesTensor(frames);
  noGrad(() => {
    const text = tidy(() => unit(clip.encodeText(prompts).cls).keep());
    for (let start = 0; start < frames.count; start += 256) {
      const indices = Array.from({ length: Math.min(256, frames.count - start) }, (_, i) => start + i);
      const best = tidy(() =>
        unit(clip.encodeImage(imageBatch(all, frames.size, indices, out, null)))
          .matmul(text.t())
          .argmax(-1)
          .toArray(),
      );
      best.forEach((b, i) => {
        if (b === frames.concepts[indices[i]!]) correct++;
      });
    }
    text.dispose();
  });
  all.dispose();
  return (100 * correct) / frames.count;
}

/** Learning rate at `step`: linear warm-up, then cosine decay to zero. */
export function pretrainLr(settings: Pick<PretrainSettings, 'lr' | 'warmupSteps' | 'steps'>, step: number): number {
  if (step < settings.warmupSteps) return (settings.lr * (step + 1)) / settings.warmupSteps;
  const progress = (step - settings.warmupSteps) / Math.max(1, settings.steps - settings.warmupSteps);
  return 0.5 * settings.lr * (1 + Math.cos(Math.PI * progress));
}

export interface PretrainOptions {
  dataset: DemoDataset;
  model: DemoModelSize;
  settings: PretrainSettings;
  /** Folder for the weights and the tokenizer files. */
  dir: string;
  log: (line: string) => void;
  /** Loss lines every this many steps (0: none). */
  printEvery?: number;
}

/** Stage 0: pre-trains the demo's CLIP on captioned still frames and writes its weights. */
export async function pretrainClip(options: PretrainOptions): Promise<PretrainResult> {
  const { dataset, settings: s, log } = options;
  for (const [key, value, min] of [
    ['steps', s.steps, 1],
    ['batchSize', s.batchSize, 2],
    ['warmupSteps', s.warmupSteps, 0],
    ['framesPerVideo', s.framesPerVideo, 1],
  ] as const) {
    if (!Number.isInteger(value) || value < min)
      throw new Error(`demo stage 0 setting ${key}: expected an integer >= ${min}, got ${value}`);
  }
  const concepts = conceptsOf(dataset);
  const motions = [...new Set([...dataset.seen, ...dataset.unseen].map((k) => k.motion))];
  const train = await readStillFrames(
    dataset,
    dataset.train.framesList,
    dataset.seen,
    concepts,
    motions,
    s.framesPerVideo,
  );
  // Held out: the first and the last frame of every test video (the still-frame check is colour and shape).
  const heldOut = await readStillFrames(dataset, dataset.val.framesList, dataset.seen, concepts, motions, 2);
  const tokenizer = resolveTokenizer({ vocab: dataset.vocabulary.dir });
  const config = demoClipConfig(options.model, dataset.vocabulary.size);
  manualSeed(s.seed);
  const rng = new Rng(s.seed);
  const clip = createClip(config);
  const out = config.image_resolution;
  // Every caption: colour-shape templates (motion -1), then those naming each motion.
  const entries = concepts.flatMap((c, ci) => [
    ...CAPTION_TEMPLATES.map((t) => ({ concept: ci, motion: -1, text: caption(t, c.colour, c.shape) })),
    ...motions.flatMap((m, mi) =>
      MOTION_CAPTION_TEMPLATES.map((t) => ({ concept: ci, motion: mi, text: caption(t, c.colour, c.shape, m) })),
    ),
  ]);
  const captions = entries.map((e) => e.text);
  const byKey = new Map<string, number[]>();
  entries.forEach((e, i) => {
    const key = `${e.concept}/${e.motion}`;
    if (!byKey.has(key)) byKey.set(key, []);
    byKey.get(key)!.push(i);
  });
  const pick = (list: number[]) => list[rng.nextInt(list.length)]!;
  const captionTokens = fromTypedArray(
    Int32Array.from(tokenizer.tokenize(captions, { contextLength: config.context_length }).flat()),
    [captions.length, config.context_length],
  )
    .to('int64')
    .keep();
  const prompts = classPromptTokens(
    tokenizer,
    concepts.map((c) => conceptPhrase(c.colour, c.shape)),
    config.context_length,
    config.vocab_size,
  ).keep();
  const named = [...clip.namedParameters()];
  const decayed = named.filter(([name, p]) => p.ndim >= 2 && !name.includes('embedding')).map(([, p]) => p);
  const rest = named.filter(([name, p]) => !(p.ndim >= 2 && !name.includes('embedding'))).map(([, p]) => p);
  const optimizer = new optim.AdamW(
    [
      { params: decayed, weight_decay: s.weightDecay },
      { params: rest, weight_decay: 0 },
    ],
    { lr: s.lr, betas: [0.9, 0.98], eps: 1e-6 },
  );
  const maxLogit = Math.log(100);
  const losses: number[] = [];
  const trainFrames = framesTensor(train);
  const before = stillFrameZeroShot(clip, heldOut, prompts, out);
  log(
    `stage 0: ${train.count} still frames of ${dataset.train.videos} training videos, ${captions.length} captions (${concepts.length} colours x shapes, ${motions.length} motions); ` +
      `CLIP ViT ${config.vision_layers}x${config.vision_width}/${config.vision_patch_size} @${out}, text ${config.transformer_layers}x${config.transformer_width}, embed ${config.embed_dim} (${named.reduce((n, [, p]) => n + p.numel, 0)} parameters); ` +
      `untrained: ${before.toFixed(1)}% zero-shot on held-out still frames`,
  );
  clip.train();
  try {
    for (let step = 0; step < s.steps; step++) {
      const lr = pretrainLr(s, step);
      for (const group of optimizer.paramGroups) group.lr = lr;
      const indices = Array.from({ length: s.batchSize }, () => rng.nextInt(train.count));
      // Half of the captions name the motion too.
      const captionIds = indices.map((i) =>
        pick(byKey.get(`${train.concepts[i]}/${rng.nextFloat() < 0.5 ? train.motions[i] : -1}`)!),
      );
      const loss = tidy(() => {
        const images = unit(clip.encodeImage(imageBatch(trainFrames, train.size, indices, out, rng)));
        const text = unit(
          clip.encodeText(captionTokens.indexSelect(0, fromTypedArray(Int32Array.from(captionIds)).to('int64'))).cls,
        );
        const logits = clip.logit_scale.exp().mul(images.matmul(text.t()));
        // positives[i][j]: caption j fits image i (its colour and shape, and its motion or none).
        const positives = new Float32Array(s.batchSize * s.batchSize);
        indices.forEach((image, i) =>
          captionIds.forEach((id, j) => {
            const e = entries[id]!;
            if (e.concept === train.concepts[image] && (e.motion < 0 || e.motion === train.motions[image]))
              positives[i * s.batchSize + j] = 1;
          }),
        );
        const fits = fromTypedArray(positives, [s.batchSize, s.batchSize]);
        // Symmetric InfoNCE: image -> caption and caption -> image, the targets spread over the positives.
        const imageToText = fits.div(fits.sum(1, true)).mul(F.logSoftmax(logits, 1)).sum(1).mean().neg();
        const fitsT = fits.t();
        const textToImage = fitsT.div(fitsT.sum(1, true)).mul(F.logSoftmax(logits.t(), 1)).sum(1).mean().neg();
        const value = imageToText.add(textToImage).div(2);
        value.backward();
        return value.item();
      });
      optimizer.step();
      optimizer.zeroGrad();
      noGrad(() => clip.logit_scale.clamp_(0, maxLogit));
      losses.push(loss);
      if (options.printEvery && (step + 1) % options.printEvery === 0)
        log(`stage 0: step ${step + 1}/${s.steps} loss ${loss.toFixed(4)} lr ${lr.toExponential(2)}`);
    }
  } finally {
    clip.eval();
    trainFrames.dispose();
  }
  const stillFrameTop1 = stillFrameZeroShot(clip, heldOut, prompts, out);
  captionTokens.dispose();
  prompts.dispose();
  mkdirSync(options.dir, { recursive: true });
  const weights = path.join(options.dir, 'demo-clip.safetensors');
  saveSafetensors(weights, clip.stateDict(), { format: 'pt', made_by: 'bike demo stage 0' });
  // The tokenizer travels with the weights, as vocabularies do with real CLIP checkpoints.
  for (const file of [dataset.vocabulary.vocabJson, dataset.vocabulary.mergesTxt])
    copyFileSync(file, path.join(options.dir, path.basename(file)));
  const tenth = Math.max(1, Math.floor(losses.length / 10));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const logitScale = Math.exp(clip.logit_scale.item());
  return {
    weights,
    steps: s.steps,
    firstLoss: mean(losses.slice(0, tenth)),
    lastLoss: mean(losses.slice(-tenth)),
    losses,
    images: train.count,
    stillFrameTop1,
    stillFrameChance: 100 / concepts.length,
    stillFrameImages: heldOut.count,
    logitScale,
  };
}
