/** The basic layers, with PyTorch's parameter names and default initialisation. */
import { Tensor, ones, zeros } from '../tensor.ts';
import * as F from '../functional.ts';
import { Module } from './module.ts';
import { defaultBias, defaultWeight, normal } from './init.ts';

export class Linear extends Module {
  weight: Tensor;
  bias: Tensor | null;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    bias = true,
  ) {
    super();
    this.weight = this.registerParameter('weight', defaultWeight([outFeatures, inFeatures]));
    this.bias = bias ? this.registerParameter('bias', defaultBias(outFeatures, [outFeatures, inFeatures])) : null;
  }
  forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }
}

export class Conv2d extends Module {
  weight: Tensor;
  bias: Tensor | null;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    readonly options: F.Conv2dOptions & { bias?: boolean } = {},
  ) {
    super();
    const shape = [outChannels, inChannels / (options.groups ?? 1), kernelSize, kernelSize];
    this.weight = this.registerParameter('weight', defaultWeight(shape));
    this.bias = (options.bias ?? true) ? this.registerParameter('bias', defaultBias(outChannels, shape)) : null;
  }
  forward(x: Tensor): Tensor {
    return F.conv2d(x, this.weight, this.bias, this.options);
  }
}

export class LayerNorm extends Module {
  weight: Tensor;
  bias: Tensor;
  constructor(
    readonly normalizedShape: number,
    readonly eps = 1e-5,
  ) {
    super();
    this.weight = this.registerParameter('weight', ones([normalizedShape]));
    this.bias = this.registerParameter('bias', zeros([normalizedShape]));
  }
  forward(x: Tensor): Tensor {
    return F.layerNorm(x, [this.normalizedShape], this.weight, this.bias, this.eps);
  }
}

export class BatchNorm2d extends Module {
  weight: Tensor;
  bias: Tensor;
  running_mean: Tensor;
  running_var: Tensor;
  num_batches_tracked: Tensor;
  constructor(
    readonly numFeatures: number,
    readonly eps = 1e-5,
    readonly momentum = 0.1,
  ) {
    super();
    this.weight = this.registerParameter('weight', ones([numFeatures]));
    this.bias = this.registerParameter('bias', zeros([numFeatures]));
    this.running_mean = this.registerBuffer('running_mean', zeros([numFeatures]));
    this.running_var = this.registerBuffer('running_var', ones([numFeatures]));
    this.num_batches_tracked = this.registerBuffer('num_batches_tracked', zeros([], { dtype: 'int64' }));
  }
  forward(x: Tensor): Tensor {
    if (this.training) this.num_batches_tracked.add_(1);
    return F.batchNorm(
      x,
      this.running_mean,
      this.running_var,
      this.weight,
      this.bias,
      this.training,
      this.momentum,
      this.eps,
    );
  }
}

export class Embedding extends Module {
  weight: Tensor;
  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
  ) {
    super();
    this.weight = this.registerParameter('weight', normal([numEmbeddings, embeddingDim], 1));
  }
  forward(indices: Tensor): Tensor {
    return F.embedding(this.weight, indices);
  }
}

export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.dropout(x, this.p, this.training);
  }
}

export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/** Something with a one-tensor forward. */
export interface Layer extends Module {
  forward(x: Tensor): Tensor;
}

/** Children named `0`, `1`, ... as PyTorch's `nn.Sequential`/`nn.ModuleList`. */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[] = [];
  constructor(modules: M[] = []) {
    super();
    for (const m of modules) this.append(m);
  }
  append(m: M): this {
    this.registerModule(String(this.items.length), m);
    this.items.push(m);
    return this;
  }
  get length(): number {
    return this.items.length;
  }
  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}

export class Sequential extends ModuleList<Layer> {
  forward(x: Tensor): Tensor {
    for (const m of this.items) x = m.forward(x);
    return x;
  }
}

/** A module whose children have explicit names, for `nn.Sequential(OrderedDict(...))` layouts. */
export class NamedSequential extends Module {
  readonly layers: Layer[] = [];
  constructor(named: [string, Layer][]) {
    super();
    for (const [name, m] of named) {
      this.registerModule(name, m);
      this.layers.push(m);
    }
  }
  forward(x: Tensor): Tensor {
    for (const m of this.layers) x = m.forward(x);
    return x;
  }
}
