/**
 * Parity of layer 4 (and the full model over src/clip) with the original PyTorch BIKE on a reference
 * fixture directory: the video head, both interactions, the training logits, ground truth and
 * losses, the attribute branch, the original checkpoint format, and (bike-parity-training.ts)
 * gradients, the AdamW steps and the multi-view protocol. Tolerances as the fixtures README:
 * `|a-b| <= 1e-4 * max(1, max|expected|)` for outputs, losses and gradients; 1e-6 absolute for
 * parameters after AdamW; exact for token ids and the ground-truth matrix.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor, F, noGrad, tensor, tidy } from '../torch/index.ts';
import type { ParityResult } from './parity-result.ts';
import { loadPtFile } from '../torch/serialization/serialization.ts';
import { ClipTokenizer } from '../clip/tokenizer.ts';
import { defaultVocabularyPath } from './tokenizer-parity.ts';
import { VideoHead, type SimHeader } from '../bike/video-head.ts';
import type { Interaction } from '../bike/interactions.ts';
import { groundTruthMatrix, symmetricLoss } from '../bike/losses.ts';
import { attributeSentence, attributeSentenceTokens, DEFAULT_TOPK_ATTRIBUTES } from '../bike/attribute-sentence.ts';
import type { BikeModel } from '../bike/bike-model.ts';
import {
  buildFixtureModel,
  disposeFixture,
  disposeModule,
  loadBikeFixture,
  loadFixtureModel,
  missingFixtureFiles,
  weightsUnder,
  type BikeFixture,
} from './bike-fixture.ts';
import { compareExact, compareTensor, guarded } from './compare.ts';
import { trainingParityChecks } from './bike-parity-training.ts';

function fixtureHead(fixture: BikeFixture, simHeader: SimHeader, interaction: Interaction): VideoHead {
  const { meta } = fixture;
  const head = new VideoHead({
    simHeader,
    interaction,
    embedDim: meta.clip_config.embed_dim,
    contextLength: meta.clip_config.context_length,
    layers: meta.video_head.temporal_layers,
    heads: meta.video_head.heads,
  });
  if (simHeader === 'Transf') head.loadStateDict(weightsUnder(fixture, 'video_head.'));
  return head;
}

/** `expect.logits.transf_vcs` -> the head it names. */
function parseHeadVariant(key: string): { simHeader: SimHeader; interaction: Interaction } {
  const match = /^expect\.logits\.(transf|none)_(vcs|dp)$/.exec(key);
  if (!match) throw new Error(`cannot tell the head of "${key}" (expected expect.logits.<transf|none>_<vcs|dp>)`);
  return { simHeader: match[1] === 'transf' ? 'Transf' : 'None', interaction: match[2] === 'vcs' ? 'VCS' : 'DP' };
}

/** The `expect.logits.*` name of the head that meta.json trains. */
function metaHeadKey(fixture: BikeFixture): string {
  const { sim_header, interaction } = fixture.meta.video_head;
  return `expect.logits.${sim_header.toLowerCase()}_${interaction.toLowerCase()}`;
}

/** Frame features `[batch, T, D]` from the fixture's own CLIP outputs. */
function fixtureVideoFeatures(fixture: BikeFixture): Tensor {
  return fixture.get('expect.encode_image').view(-1, fixture.meta.num_segments, fixture.meta.clip_config.embed_dim);
}

/** A check that runs without recording gradients and frees what it creates. */
export function inference(name: string, check: () => ParityResult | ParityResult[]): ParityResult[] {
  return guarded(name, () => noGrad(() => tidy(check)));
}

/** The head, interactions, logits, ground truth and losses on the fixture's own CLIP outputs. */
function headChecks(fixture: BikeFixture): ParityResult[] {
  const results: ParityResult[] = [];
  results.push(
    ...inference('expect.logit_scale_exp', () =>
      compareTensor(
        'expect.logit_scale_exp',
        fixture.weights.get('clip.logit_scale')!.exp(),
        fixture.get('expect.logit_scale_exp'),
      ),
    ),
  );

  results.push(
    ...inference('expect.video_head.transf_agg', () => {
      const head = fixtureHead(fixture, 'Transf', fixture.meta.video_head.interaction);
      const aggregated = head.aggregate(fixtureVideoFeatures(fixture));
      disposeModule(head);
      return compareTensor('expect.video_head.transf_agg', aggregated, fixture.get('expect.video_head.transf_agg'));
    }),
  );

  for (const key of fixture.expectedNames('logits.')) {
    results.push(
      ...inference(key, () => {
        const { simHeader, interaction } = parseHeadVariant(key);
        const head = fixtureHead(fixture, simHeader, interaction);
        const logits = head.forward(
          fixtureVideoFeatures(fixture),
          fixture.get('expect.encode_text.tokens'),
          fixture.get('expect.encode_text.cls'),
        );
        disposeModule(head);
        return compareTensor(`${key} (${simHeader} + ${interaction}, on expect.encode_*)`, logits, fixture.get(key));
      }),
    );
  }

  results.push(
    ...inference('expect.train.*', () => {
      const labels = fixture.get('input.train_labels');
      const head = fixtureHead(fixture, fixture.meta.video_head.sim_header, fixture.meta.video_head.interaction);
      const text = (name: string) => fixture.get(name).indexSelect(0, labels);
      const similarity = head.forward(
        fixtureVideoFeatures(fixture),
        text('expect.encode_text.tokens'),
        text('expect.encode_text.cls'),
      );
      disposeModule(head);
      const logits = fixture.weights.get('clip.logit_scale')!.exp().mul(similarity);
      const groundTruth = groundTruthMatrix(labels);
      return [
        compareExact(
          'input.train_labels (vs meta.json train_labels)',
          labels,
          tensor(fixture.meta.train_labels, { dtype: 'int64' }),
        ),
        compareTensor('expect.train.logits (on expect.encode_*)', logits, fixture.get('expect.train.logits')),
        compareExact('expect.train.ground_truth', groundTruth, fixture.get('expect.train.ground_truth')),
        compareTensor(
          'expect.train.nce_loss (on expect.encode_*)',
          symmetricLoss(logits, groundTruth, 'NCE'),
          fixture.get('expect.train.nce_loss'),
        ),
        compareTensor(
          'expect.train.ds_loss (on expect.encode_*)',
          symmetricLoss(logits, groundTruth, 'DS'),
          fixture.get('expect.train.ds_loss'),
        ),
      ];
    }),
  );
  return results;
}

/** The whole model from frames and token ids (CLIP from src/clip) against the same expectations. */
function endToEndChecks(fixture: BikeFixture, model: BikeModel): ParityResult[] {
  const results: ParityResult[] = [];
  model.eval();
  const key = metaHeadKey(fixture);
  results.push(
    ...inference(`${key} (from frames)`, () => {
      const classes = model.classFeatures(fixture.get('input.text_tokens'));
      const similarity = model.predict(fixture.get('input.frames'), classes);
      return compareTensor(`${key} (from input.frames and input.text_tokens)`, similarity, fixture.get(key));
    }),
  );
  results.push(
    ...inference('expect.train.* (from frames)', () => {
      const step = model.trainingStep(
        fixture.get('input.frames'),
        fixture.get('input.train_labels'),
        fixture.get('input.text_tokens'),
        'NCE',
      );
      const ds = symmetricLoss(step.logits, step.groundTruth, 'DS');
      return [
        compareTensor('expect.train.logits (from frames)', step.logits, fixture.get('expect.train.logits')),
        compareTensor('expect.train.nce_loss (from frames)', step.loss, fixture.get('expect.train.nce_loss')),
        compareTensor('expect.train.ds_loss (from frames)', ds, fixture.get('expect.train.ds_loss')),
      ];
    }),
  );
  return results;
}

/** The attribute sentences and the sentence head. */
function attributeChecks(fixture: BikeFixture, model: BikeModel): ParityResult[] {
  const results: ParityResult[] = [];
  const vocabulary = defaultVocabularyPath(fixture.dir);
  if (!existsSync(vocabulary)) {
    results.push({
      name: 'input.attribute_sentence_tokens',
      ok: false,
      skipped: true,
      detail: `${vocabulary} is missing`,
    });
  } else {
    results.push(
      ...inference('input.attribute_sentence_tokens', () => {
        const tokenizer = ClipTokenizer.fromOpenAiVocabulary(vocabulary);
        const sentences = fixture.meta.attribute_lists.map((list) => attributeSentence(list, DEFAULT_TOPK_ATTRIBUTES));
        const rows = attributeSentenceTokens(tokenizer, sentences, fixture.meta.clip_config.context_length);
        return compareExact(
          'input.attribute_sentence_tokens (built from meta.json attribute_lists)',
          tensor(rows, { dtype: 'int64' }),
          fixture.get('input.attribute_sentence_tokens'),
        );
      }),
    );
  }
  model.eval();
  results.push(
    ...inference('expect.attributes.*', () => {
      const sentences = fixture.get('input.attribute_sentence_tokens');
      const classes = model.classFeatures(fixture.get('input.text_tokens'));
      const logits = model.attributeSimilarity(sentences, classes);
      const step = model.attributeTrainingStep(
        sentences,
        fixture.get('input.train_labels'),
        fixture.get('input.text_tokens'),
        'NCE',
      );
      return [
        compareTensor('expect.attributes.logits', logits, fixture.get('expect.attributes.logits')),
        compareTensor('expect.attributes.scores', F.softmax(logits, -1), fixture.get('expect.attributes.scores')),
        compareTensor('expect.attributes.train_logits', step.logits, fixture.get('expect.attributes.train_logits')),
        compareTensor('expect.attributes.nce_loss', step.loss, fixture.get('expect.attributes.nce_loss')),
      ];
    }),
  );
  return results;
}

/** `checkpoint_official.pt` (the original's torch.save) must give the outputs of weights.safetensors. */
function checkpointChecks(fixture: BikeFixture, reference: BikeModel): ParityResult[] {
  const name = 'checkpoint_official.pt';
  const path = join(fixture.dir, name);
  if (!existsSync(path)) return [{ name, ok: false, skipped: true, detail: `${path} is missing` }];
  return guarded(name, () => {
    const root = loadPtFile(path) as Record<string, unknown>;
    const stateDict = (key: string): Map<string, Tensor> => {
      const value = root?.[key];
      if (!value || typeof value !== 'object') throw new Error(`${path}: "${key}" is missing or not a dict`);
      const entries = value instanceof Map ? [...value] : Object.entries(value);
      for (const [k, t] of entries)
        if (!(t instanceof Tensor)) throw new Error(`${path}: ${key}["${k}"] is not a tensor`);
      return new Map(entries as [string, Tensor][]);
    };
    const model = buildFixtureModel(fixture.meta);
    const modelState = stateDict('model_state_dict');
    const headState = stateDict('fusion_model_state_dict');
    try {
      const target = model.loadOriginalStateDicts(modelState, headState);
      model.eval();
      reference.eval();
      const key = metaHeadKey(fixture);
      return noGrad(() =>
        tidy(() => {
          const frames = fixture.get('input.frames');
          const classes = model.classFeatures(fixture.get('input.text_tokens'));
          const fromCheckpoint = model.predict(frames, classes);
          const fromSafetensors = reference.predict(frames, reference.classFeatures(fixture.get('input.text_tokens')));
          const same = compareTensor(
            `${name} (fusion_model_state_dict -> ${target}) vs weights.safetensors`,
            fromCheckpoint,
            fromSafetensors,
            { kind: 'absolute', atol: 0 },
          );
          return [same, compareTensor(`${name}: ${key} from frames`, fromCheckpoint, fixture.get(key))];
        }),
      );
    } finally {
      disposeModule(model);
      for (const t of [...modelState.values(), ...headState.values()]) t.dispose();
    }
  });
}

export async function bikeParityChecks(fixtureDir: string): Promise<ParityResult[]> {
  const missing = missingFixtureFiles(fixtureDir);
  if (missing.length) return [{ name: 'bike', ok: false, skipped: true, detail: `${missing.join(', ')} missing` }];
  let fixture: BikeFixture;
  try {
    fixture = loadBikeFixture(fixtureDir);
  } catch (error) {
    return [{ name: 'bike fixture', ok: false, detail: (error as Error).message }];
  }
  const results: ParityResult[] = [];
  try {
    results.push(...headChecks(fixture));
    let model: BikeModel | null = null;
    results.push(
      ...guarded('bike model from weights.safetensors', () => {
        model = loadFixtureModel(fixture);
        return [];
      }),
    );
    if (model) {
      results.push(...endToEndChecks(fixture, model));
      results.push(...attributeChecks(fixture, model));
      results.push(...checkpointChecks(fixture, model));
      // Last: it trains the model in place (and checks multi-view scores with the trained weights).
      results.push(...trainingParityChecks(fixture, model));
      disposeModule(model);
    }
  } finally {
    disposeFixture(fixture);
  }
  return results;
}
