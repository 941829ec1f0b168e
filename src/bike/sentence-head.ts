/**
 * The attribute branch head (the original `sentence_text_logit`): two small MLPs map the class
 * prompt embeddings ("queries") and the attribute sentence embeddings to a shared space, where
 * their cosine similarity scores each video's sentence against each class.
 */
import { Tensor, nn } from '../torch/index.ts';
import { ReLU, initialiseHeadWeights } from './temporal-transformer.ts';
import { unitNormalise } from './interactions.ts';

function mlp(width: number): nn.Sequential {
  return new nn.Sequential([new nn.Linear(width, width), new ReLU(), new nn.Linear(width, width)]);
}

export class SentenceHead extends nn.Module {
  query_fc: nn.Sequential;
  sentence_fc: nn.Sequential;
  constructor(readonly embedDim: number) {
    super();
    this.query_fc = this.registerModule('query_fc', mlp(embedDim));
    this.sentence_fc = this.registerModule('sentence_fc', mlp(embedDim));
    initialiseHeadWeights(this);
  }

  /**
   * Logits `[sentences, queries]`: `sentenceEmbeddings` `[s, D]` (one attribute sentence per video)
   * against `queryEmbeddings` `[q, D]` (class prompts). The original feeds both already
   * unit-normalised; no logit scale here.
   */
  forward(queryEmbeddings: Tensor, sentenceEmbeddings: Tensor): Tensor {
    for (const [what, t] of [
      ['query', queryEmbeddings],
      ['sentence', sentenceEmbeddings],
    ] as const) {
      if (t.ndim !== 2 || t.size(1) !== this.embedDim) {
        throw new Error(`SentenceHead: ${what} embeddings must be [n, ${this.embedDim}], got shape [${t.shape}]`);
      }
    }
    const queries = unitNormalise(this.query_fc.forward(queryEmbeddings));
    const sentences = unitNormalise(this.sentence_fc.forward(sentenceEmbeddings));
    return sentences.matmul(queries.t());
  }
}
