/**
 * The attribute branch (train_attributes.py): the sentence of each video's attributes and the prompt
 * of its class go through CLIP's frozen text encoder (unit-normalised end-of-text features), are
 * gathered across ranks, and the sentence head's `logit_scale`-scaled similarities `[N, N]` are
 * trained with NCE or DS against the label-equality matrix. Evaluation (`validate_text`) scores each
 * sentence against every class prompt, softmax over the classes.
 */
import type { BikeModel, TextFeatures } from '../../bike/bike-model.ts';
import { unitNormalise } from '../../bike/interactions.ts';
import { groundTruthMatrix, symmetricLoss, type LossType } from '../../bike/losses.ts';
import { validationScores } from '../../bike/scores.ts';
import { fromTypedArray, noGrad, tidy, type Tensor } from '../../torch/index.ts';
import type { AttributeBatch, AttributeBatchSource } from '../datasets/attribute-data.ts';
import type { Collectives } from '../distributed/collectives.ts';
import type { ScoreCollection } from '../evaluation/collect-scores.ts';
import { Progress, type RunLogger } from '../logging/logging.ts';

export interface AttributeLossContext {
  model: BikeModel;
  collectives: Collectives;
  classTokens: Tensor;
  /** Class prompt features when the text encoder is frozen and deterministic. */
  cachedText: TextFeatures | null;
  lossType: LossType;
  device: string;
}

function tokensOf(batch: AttributeBatch, device: string): Tensor {
  return fromTypedArray(batch.tokens, [batch.labels.length, batch.contextLength], { device });
}

export function attributeLoss(ctx: AttributeLossContext, batch: AttributeBatch): { loss: Tensor; rows: number } {
  const { model, collectives } = ctx;
  const head = model.sentence_head;
  if (!head) throw new Error('attribute branch: the model has no sentence head');
  const labels = fromTypedArray(batch.labels, undefined, { device: ctx.device }).to('int64');
  const sentences = unitNormalise(model.encodeText(tokensOf(batch, ctx.device)).cls);
  const promptCls = ctx.cachedText
    ? ctx.cachedText.cls.indexSelect(0, labels)
    : model.encodeText(ctx.classTokens.indexSelect(0, labels)).cls;
  const prompts = unitNormalise(promptCls);
  const allSentences = collectives.allGatherWithGrad(sentences);
  const allPrompts = collectives.allGatherWithGrad(prompts);
  const logits = model.logitScale().mul(head.forward(allPrompts, allSentences));
  const groundTruth = groundTruthMatrix(
    collectives.allGather(labels),
    logits.dtype === 'float64' ? 'float64' : 'float32',
  );
  return { loss: symmetricLoss(logits.to(groundTruth.dtype), groundTruth, ctx.lossType), rows: logits.size(0) };
}

/** Scores `[videos, classes]` of every attribute sentence (all ranks gathered, list order). */
export async function collectAttributeScores(options: {
  model: BikeModel;
  source: AttributeBatchSource;
  classes: TextFeatures;
  collectives: Collectives;
  device: string;
  logger?: RunLogger;
  printFreq?: number;
}): Promise<ScoreCollection> {
  const { model, source, classes, collectives, device } = options;
  model.eval();
  const firstRow = new Map<number, { scores: Float32Array; label: number }>();
  let numClasses = 0;
  const progress = options.logger
    ? new Progress(options.logger, 'attributes eval', source.batchesPerEpoch, options.printFreq ?? 10)
    : null;
  let step = 0;
  for await (const batch of source.epoch(0)) {
    const b = batch.labels.length;
    const gathered = tidy(() =>
      noGrad(() => {
        const scores = validationScores(model.attributeSimilarity(tokensOf(batch, device), classes), b).contiguous();
        return {
          scores: collectives.allGather(scores).to('float32'),
          labels: collectives.allGather(fromTypedArray(batch.labels, undefined, { device }).to('int64')),
          indices: collectives.allGather(
            fromTypedArray(Int32Array.from(batch.indices), undefined, { device }).to('int64'),
          ),
        };
      }),
    );
    numClasses = gathered.scores.size(1);
    const scores = gathered.scores.toTypedArray() as Float32Array;
    const labels = gathered.labels.toArray();
    gathered.indices.toArray().forEach((index, row) => {
      if (!firstRow.has(index))
        firstRow.set(index, { scores: scores.slice(row * numClasses, (row + 1) * numClasses), label: labels[row]! });
    });
    for (const t of Object.values(gathered)) t.dispose();
    progress?.update(step++, {});
  }
  progress?.done();
  const order = [...firstRow.keys()].sort((a, b) => a - b);
  const out = new Float32Array(order.length * numClasses);
  order.forEach((index, i) => out.set(firstRow.get(index)!.scores, i * numClasses));
  return {
    scores: out,
    videos: order.length,
    classes: numClasses,
    labels: Int32Array.from(order, (index) => firstRow.get(index)!.label),
    indices: Int32Array.from(order),
    features: null,
    framesPerVideo: 0,
    featureDim: 0,
  };
}
