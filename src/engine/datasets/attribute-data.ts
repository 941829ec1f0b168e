/**
 * The attribute branch's data (datasets/video_attr.py with `train_video=False`): per video, its first
 * `select_topk_attributes` attribute words from the attribute JSON, as the sentence
 * "This is a video about a,b,c" in 77 token ids (cut when longer), with the video's label. No frames are
 * read. Batches follow the distributed sampler like the video loader (training shuffled per epoch with
 * the last partial batch dropped; evaluation in list order).
 */
import { attributeSentence } from '../../bike/attribute-sentence.ts';
import type { ClipTokenizer } from '../../clip/tokenizer.ts';
import { videoAttributes, type AttributeTable } from '../../data/attributes.ts';
import { DistributedSampler, batchIndices, numBatches } from '../../data/samplers.ts';
import type { VideoRecord } from '../../data/video-list.ts';

export interface AttributeBatch {
  /** Token ids `[B, contextLength]`, row-major. */
  tokens: BigInt64Array;
  contextLength: number;
  labels: Int32Array;
  indices: number[];
}

export interface AttributeSourceOptions {
  records: readonly VideoRecord[];
  table: AttributeTable;
  /** The attribute JSON (for errors). */
  file: string;
  topk: number;
  tokenizer: ClipTokenizer;
  contextLength: number;
  batchSize: number;
  training: boolean;
  seed: number;
  rank: number;
  worldSize: number;
}

export class AttributeBatchSource {
  readonly batchesPerEpoch: number;
  readonly records: readonly VideoRecord[];
  private readonly ids: BigInt64Array;
  private readonly sampler: DistributedSampler;

  constructor(private readonly options: AttributeSourceOptions) {
    this.records = options.records;
    if (options.records.length === 0)
      throw new Error(`attribute branch: no videos to ${options.training ? 'train' : 'evaluate'} on`);
    const n = options.contextLength;
    this.ids = new BigInt64Array(options.records.length * n);
    options.records.forEach((record, i) => {
      const words = videoAttributes(options.table, record.path, options.topk, options.file);
      const row = options.tokenizer.tokenize([attributeSentence(words, options.topk)], {
        contextLength: n,
        truncate: true,
      })[0]!;
      for (let c = 0; c < n; c++) this.ids[i * n + c] = BigInt(row[c]!);
    });
    this.sampler = new DistributedSampler({
      datasetSize: options.records.length,
      worldSize: options.worldSize,
      rank: options.rank,
      shuffle: options.training,
      seed: options.seed,
    });
    this.batchesPerEpoch = numBatches(this.sampler.numSamples, options.batchSize, options.training);
    if (this.batchesPerEpoch === 0) {
      throw new Error(
        `config data.batch_size: ${this.sampler.numSamples} attribute sentences per process make no full batch of ${options.batchSize}; lower the batch size`,
      );
    }
  }

  async *epoch(epoch: number): AsyncGenerator<AttributeBatch> {
    const n = this.options.contextLength;
    for (const indices of batchIndices(this.sampler.indices(epoch), this.options.batchSize, this.options.training)) {
      const tokens = new BigInt64Array(indices.length * n);
      indices.forEach((index, row) => tokens.set(this.ids.subarray(index * n, (index + 1) * n), row * n));
      yield { tokens, contextLength: n, labels: Int32Array.from(indices, (i) => this.records[i]!.label), indices };
    }
  }
}
