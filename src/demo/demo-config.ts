/**
 * The demo's configs, written as original BIKE YAML files (the same keys as configs/k400/*.yaml), as a
 * user with real CLIP weights writes them: `network.arch` is the path of the CLIP weights stage 0
 * pre-trained (src/demo/pretrain.ts, OpenAI's state-dict layout), `init: True` loads all of them, the
 * text encoder is frozen (`fix_text: True`) and CLIP learns at `lr * clip_ratio`; the video head is
 * `Transf` + `VCS`. One file trains the video branch on the seen classes, one the attribute branch,
 * one evaluates zero-shot on the unseen classes.
 */
import { writeFileSync } from 'node:fs';
import type { ClipConfig } from '../clip/config.ts';
import type { DemoDataset } from './dataset.ts';

export interface DemoModelSize {
  /** CLIP's joint embedding width (also the temporal transformer's width). */
  embedDim: number;
  /** Frames are cropped to this many pixels (data.input_size = image_resolution). */
  resolution: number;
  patchSize: number;
  visionWidth: number;
  visionLayers: number;
  textWidth: number;
  /**
   * Text attention heads. Loading trained weights infers `transformer_width // 64` heads, as CLIP's
   * build_model does, so the demo uses exactly that many.
   */
  textHeads: number;
  textLayers: number;
  /** Token rows of the prompts (77 in CLIP; the demo's sentences are short). */
  contextLength: number;
}

/** The CLIP hyper-parameters of the demo's model (what stage 0 builds and the weights imply). */
export function demoClipConfig(m: DemoModelSize, vocabSize: number): ClipConfig {
  if (m.textHeads !== Math.floor(m.textWidth / 64)) {
    throw new Error(
      `demo model: textHeads ${m.textHeads} with textWidth ${m.textWidth}; weights load with textWidth // 64 = ${Math.floor(m.textWidth / 64)} heads (CLIP's build_model), so use that`,
    );
  }
  return {
    embed_dim: m.embedDim,
    image_resolution: m.resolution,
    vision_layers: m.visionLayers,
    vision_width: m.visionWidth,
    vision_patch_size: m.patchSize,
    context_length: m.contextLength,
    vocab_size: vocabSize,
    transformer_width: m.textWidth,
    transformer_heads: m.textHeads,
    transformer_layers: m.textLayers,
  };
}

export interface DemoTraining {
  numSegments: number;
  batchSize: number;
  epochs: number;
  attributeEpochs: number;
  lr: number;
  attributeLr: number;
  warmupEpochs: number;
  weightDecay: number;
  /** CLIP's learning rate is `lr * clipRatio` (solver.clip_ratio). */
  clipRatio: number;
  /** Attribute words per video the attribute branch reads. */
  topkAttributes: number;
  /** Validate (and save a checkpoint) every this many epochs. */
  evalFreq: number;
  workers: number;
  seed: number;
}

export interface DemoConfigFiles {
  video: string;
  attributes: string;
  zeroShot: string | null;
}

function yamlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

function yamlNumber(value: number): string {
  // PyYAML 1.1 reads `1e-3` as a string; write floats with a dot and a signed exponent.
  if (Number.isInteger(value)) return String(value);
  const [mantissa, exponent] = value.toExponential().split('e') as [string, string];
  return `${mantissa.includes('.') ? mantissa : `${mantissa}.0`}e${exponent.startsWith('-') ? exponent : `+${exponent}`}`;
}

interface ConfigParts {
  dataset: DemoDataset;
  /** The pre-trained CLIP weights (network.arch). */
  clipWeights: string;
  inputSize: number;
  training: DemoTraining;
  outputPath: string;
  labels: string;
  numClasses: number;
  trainList: string;
  valList: string;
  valRoot: string;
  modality: 'RGB' | 'video';
  epochs: number;
  lr: number;
  attributes?: { train: string; val: string };
}

function configText(p: ConfigParts): string {
  const { training: t } = p;
  return `# Written by \`bike demo\`: BIKE on the demo's procedural videos, from the small CLIP its stage 0 pre-trained.
resume:
pretrain:
seed: ${t.seed}
data:
    dataset: bike-demo
    modality: ${p.modality}
    num_segments: ${t.numSegments}
    seg_length: 1
    batch_size: ${t.batchSize}
    workers: ${t.workers}
    num_classes: ${p.numClasses}
    image_tmpl: ${yamlString(p.dataset.imageTmpl)}
    train_root: ${yamlString(p.dataset.framesRoot)}
    train_list: ${yamlString(p.trainList)}
    val_root: ${yamlString(p.valRoot)}
    val_list: ${yamlString(p.valList)}
    label_list: ${yamlString(p.labels)}
    input_size: ${p.inputSize}
    random_shift: True
    output_path: ${yamlString(p.outputPath)}
${
  p.attributes
    ? `    select_topk_attributes: ${t.topkAttributes}
    attributes_train_path: ${yamlString(p.attributes.train)}
    attributes_val_path: ${yamlString(p.attributes.val)}
`
    : ''
}network:
    arch: ${yamlString(p.clipWeights)}
    init: True
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
    epochs: ${p.epochs}
    start_epoch: 0
    epoch_offset: 0
    optim: adamw
    lr: ${yamlNumber(p.lr)}
    lr_warmup_step: ${t.warmupEpochs}
    weight_decay: ${yamlNumber(t.weightDecay)}
    loss_type: NCE
    evaluate: False
    clip_ratio: ${yamlNumber(t.clipRatio)}
    grad_accumulation_steps: 1
logging:
    print_freq: 10
    eval_freq: ${t.evalFreq}
`;
}

/** Writes the three configs into `dir` and returns their paths. */
export function writeDemoConfigs(
  dir: string,
  dataset: DemoDataset,
  model: DemoModelSize,
  training: DemoTraining,
  outputPath: string,
  attributeFiles: { train: string; val: string },
  clipWeights: string,
): DemoConfigFiles {
  const common = {
    dataset,
    clipWeights,
    inputSize: model.resolution,
    training,
    outputPath,
    labels: dataset.labels,
    numClasses: dataset.seen.length,
    trainList: dataset.train.framesList,
    modality: 'RGB' as const,
  };
  const video = `${dir}/video.yaml`;
  const attributes = `${dir}/attributes.yaml`;
  // Training validates on the held-out frame folders; the attribute branch reads the same lists.
  writeFileSync(
    video,
    configText({
      ...common,
      valList: dataset.val.framesList,
      valRoot: dataset.framesRoot,
      epochs: training.epochs,
      lr: training.lr,
      attributes: attributeFiles,
    }),
  );
  writeFileSync(
    attributes,
    configText({
      ...common,
      valList: dataset.val.framesList,
      valRoot: dataset.framesRoot,
      epochs: training.attributeEpochs,
      lr: training.attributeLr,
      attributes: attributeFiles,
    }),
  );
  let zeroShot: string | null = null;
  if (dataset.zeroShot) {
    zeroShot = `${dir}/zeroshot.yaml`;
    // Zero-shot reads the unseen classes' mp4 files, so both storage formats are exercised.
    writeFileSync(
      zeroShot,
      configText({
        ...common,
        labels: dataset.zeroShotLabels,
        numClasses: dataset.unseen.length,
        valList: dataset.zeroShot.videosList,
        valRoot: dataset.videosRoot,
        modality: 'video',
        epochs: training.epochs,
        lr: training.lr,
      }),
    );
  }
  return { video, attributes, zeroShot };
}
