/**
 * A tiny frame-folder dataset for the command tests: classes told apart by the colour of a square
 * that moves across a noisy background, written as PNG frames with sharp (the image library the data
 * layer decodes with), plus annotation lists in the original formats (`path num_frames label`), an
 * `id,name` label CSV, and a config whose `network.arch` is a small CLIP hyper-parameter mapping.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { Rng } from '../data/rng.ts';

export const SYNTHETIC_CLASSES: readonly { name: string; rgb: [number, number, number] }[] = [
  { name: 'red', rgb: [220, 30, 30] },
  { name: 'green', rgb: [30, 200, 40] },
  { name: 'blue', rgb: [30, 50, 220] },
  { name: 'yellow', rgb: [230, 220, 30] },
];

export interface SyntheticDatasetOptions {
  dir: string;
  trainPerClass: number;
  valPerClass: number;
  frames: number;
  width: number;
  height: number;
  seed?: number;
}

export interface SyntheticDataset {
  root: string;
  trainList: string;
  valList: string;
  labelCsv: string;
  classNames: string[];
}

async function writeVideo(
  folder: string,
  color: [number, number, number],
  options: SyntheticDatasetOptions,
  rng: Rng,
): Promise<void> {
  mkdirSync(folder, { recursive: true });
  const { width, height, frames } = options;
  const size = Math.floor(height / 2);
  const x0 = rng.nextInt(width - size);
  const y0 = rng.nextInt(height - size);
  const dx = rng.nextInt(3) - 1;
  for (let f = 0; f < frames; f++) {
    const pixels = Buffer.alloc(width * height * 3);
    for (let i = 0; i < width * height; i++) {
      const grey = 90 + rng.nextInt(60);
      pixels[i * 3] = grey;
      pixels[i * 3 + 1] = grey;
      pixels[i * 3 + 2] = grey;
    }
    const x = Math.min(width - size, Math.max(0, x0 + dx * f * 2));
    for (let y = y0; y < y0 + size; y++) {
      for (let c = x; c < x + size; c++) pixels.set(color, (y * width + c) * 3);
    }
    await sharp(pixels, { raw: { width, height, channels: 3 } })
      .png()
      .toFile(path.join(folder, `img_${String(f + 1).padStart(5, '0')}.png`));
  }
}

/** Writes the dataset under `options.dir` and returns its files. */
export async function makeSyntheticDataset(options: SyntheticDatasetOptions): Promise<SyntheticDataset> {
  const rng = new Rng(options.seed ?? 7);
  const root = path.join(options.dir, 'frames');
  const lines: Record<'train' | 'val', string[]> = { train: [], val: [] };
  for (const split of ['train', 'val'] as const) {
    const perClass = split === 'train' ? options.trainPerClass : options.valPerClass;
    for (let label = 0; label < SYNTHETIC_CLASSES.length; label++) {
      for (let v = 0; v < perClass; v++) {
        const name = `${split}/${SYNTHETIC_CLASSES[label]!.name}_${v}`;
        await writeVideo(path.join(root, name), SYNTHETIC_CLASSES[label]!.rgb, options, rng);
        lines[split].push(`${name} ${options.frames} ${label}`);
      }
    }
  }
  const trainList = path.join(options.dir, 'train.txt');
  const valList = path.join(options.dir, 'val.txt');
  const labelCsv = path.join(options.dir, 'labels.csv');
  writeFileSync(trainList, `${lines.train.join('\n')}\n`);
  writeFileSync(valList, `${lines.val.join('\n')}\n`);
  writeFileSync(labelCsv, `id,name\n${SYNTHETIC_CLASSES.map((c, i) => `${i},${c.name}`).join('\n')}\n`);
  return { root, trainList, valList, labelCsv, classNames: SYNTHETIC_CLASSES.map((c) => c.name) };
}

export interface TinyConfigOptions {
  dataset: SyntheticDataset;
  outputPath: string;
  epochs: number;
  batchSize: number;
  numSegments: number;
  seed?: number;
  lr?: number;
  attributesTrain?: string;
  attributesVal?: string;
  extra?: string;
}

/** An original-format YAML config over the synthetic dataset with a tiny CLIP (width 64, one layer each). */
export function tinyConfig(o: TinyConfigOptions): string {
  const d = o.dataset;
  return `resume:
pretrain:
seed: ${o.seed ?? 1024}
data:
    dataset: synthetic
    modality: RGB
    num_segments: ${o.numSegments}
    seg_length: 1
    batch_size: ${o.batchSize}
    workers: 0
    num_classes: ${d.classNames.length}
    image_tmpl: 'img_{:05d}.png'
    train_root: '${d.root}'
    train_list: '${d.trainList}'
    val_root: '${d.root}'
    val_list: '${d.valList}'
    label_list: '${d.labelCsv}'
    input_size: 32
    random_shift: True
    output_path: '${o.outputPath}'
${o.attributesTrain ? `    select_topk_attributes: 3\n    attributes_train_path: '${o.attributesTrain}'\n    attributes_val_path: '${o.attributesVal}'\n` : ''}network:
    arch:
        embed_dim: 32
        image_resolution: 32
        vision_layers: 1
        vision_width: 64
        vision_patch_size: 8
        context_length: 77
        vocab_size: 49408
        transformer_width: 64
        transformer_heads: 1
        transformer_layers: 1
    init: False
    tm: False
    drop_out: 0.0
    emb_dropout: 0.0
    sim_header: Transf
    interaction: VCS
    joint_st: False
    drop: 0
    fix_text: True
    fix_video: False
solver:
    type: cosine
    epochs: ${o.epochs}
    start_epoch: 0
    epoch_offset: 0
    optim: adamw
    lr: ${o.lr ?? 2e-3}
    lr_warmup_step: 0
    weight_decay: 0.0
    loss_type: NCE
    evaluate: False
    clip_ratio: 1.0
    grad_accumulation_steps: 1
logging:
    print_freq: 2
    eval_freq: 1
${o.extra ?? ''}`;
}
