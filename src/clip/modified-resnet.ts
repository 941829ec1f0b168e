/**
 * CLIP's modified ResNet image encoder (RN50 family): a 3-convolution stem with an average pool,
 * anti-aliased strided blocks (an average pool before the stride instead of a strided convolution)
 * and a QKV attention pool in place of global average pooling.
 */
import { Tensor, cat, randn, nn, F } from '../torch/index.ts';

export class AvgPool2d extends nn.Module {
  constructor(readonly kernelSize: number) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.avgPool2d(x, this.kernelSize);
  }
}

export class ReLU extends nn.Module {
  forward(x: Tensor): Tensor {
    return x.relu();
  }
}

export class Bottleneck extends nn.Module {
  static readonly expansion = 4;
  conv1: nn.Conv2d;
  bn1: nn.BatchNorm2d;
  conv2: nn.Conv2d;
  bn2: nn.BatchNorm2d;
  avgpool: nn.Layer;
  conv3: nn.Conv2d;
  bn3: nn.BatchNorm2d;
  downsample: nn.NamedSequential | null = null;

  constructor(
    inplanes: number,
    planes: number,
    readonly stride = 1,
  ) {
    super();
    // Every convolution has stride 1; a stride > 1 is an average pool after the second one.
    this.conv1 = this.registerModule('conv1', new nn.Conv2d(inplanes, planes, 1, { bias: false }));
    this.bn1 = this.registerModule('bn1', new nn.BatchNorm2d(planes));
    this.conv2 = this.registerModule('conv2', new nn.Conv2d(planes, planes, 3, { padding: 1, bias: false }));
    this.bn2 = this.registerModule('bn2', new nn.BatchNorm2d(planes));
    this.avgpool = this.registerModule('avgpool', stride > 1 ? new AvgPool2d(stride) : new nn.Identity());
    this.conv3 = this.registerModule('conv3', new nn.Conv2d(planes, planes * Bottleneck.expansion, 1, { bias: false }));
    this.bn3 = this.registerModule('bn3', new nn.BatchNorm2d(planes * Bottleneck.expansion));
    if (stride > 1 || inplanes !== planes * Bottleneck.expansion) {
      // The shortcut's average pool comes first, then a stride-1 convolution.
      this.downsample = this.registerModule(
        'downsample',
        new nn.NamedSequential([
          ['-1', new AvgPool2d(stride)],
          ['0', new nn.Conv2d(inplanes, planes * Bottleneck.expansion, 1, { stride: 1, bias: false })],
          ['1', new nn.BatchNorm2d(planes * Bottleneck.expansion)],
        ]),
      );
    }
  }

  forward(x: Tensor): Tensor {
    const identity = this.downsample ? this.downsample.forward(x) : x;
    let out = this.bn1.forward(this.conv1.forward(x)).relu();
    out = this.bn2.forward(this.conv2.forward(out)).relu();
    out = this.avgpool.forward(out);
    out = this.bn3.forward(this.conv3.forward(out));
    return out.add(identity).relu();
  }
}

/** Multi-head attention of the mean token (plus positions) over the feature map; returns the mean token. */
export class AttentionPool2d extends nn.Module {
  positional_embedding: Tensor;
  k_proj: nn.Linear;
  q_proj: nn.Linear;
  v_proj: nn.Linear;
  c_proj: nn.Linear;

  constructor(
    readonly spacialDim: number,
    readonly embedDim: number,
    readonly numHeads: number,
    outputDim?: number,
  ) {
    super();
    this.positional_embedding = this.registerParameter(
      'positional_embedding',
      randn([spacialDim ** 2 + 1, embedDim]).div(embedDim ** 0.5),
    );
    this.k_proj = this.registerModule('k_proj', new nn.Linear(embedDim, embedDim));
    this.q_proj = this.registerModule('q_proj', new nn.Linear(embedDim, embedDim));
    this.v_proj = this.registerModule('v_proj', new nn.Linear(embedDim, embedDim));
    this.c_proj = this.registerModule('c_proj', new nn.Linear(embedDim, outputDim ?? embedDim));
  }

  forward(x: Tensor): Tensor {
    const [N, C, H, W] = x.shape as [number, number, number, number];
    if (H * W + 1 !== this.positional_embedding.size(0)) {
      throw new Error(
        `AttentionPool2d: a ${H}x${W} feature map needs ${H * W + 1} positions, the model has ${this.positional_embedding.size(0)} (input resolution ${this.spacialDim * 32} expected)`,
      );
    }
    x = x.reshape(N, C, H * W).permute(2, 0, 1); // NCHW -> (HW)NC
    x = cat([x.mean(0, true), x], 0); // (HW+1)NC
    x = x.add(this.positional_embedding.unsqueeze(1).to(x.dtype));
    // F.multi_head_attention_forward with separate q/k/v projection weights.
    const L = x.size(0);
    const heads = this.numHeads;
    const headDim = C / heads;
    const split = (t: Tensor) =>
      t
        .contiguous()
        .view(L, N * heads, headDim)
        .transpose(0, 1);
    const q = split(this.q_proj.forward(x));
    const k = split(this.k_proj.forward(x));
    const v = split(this.v_proj.forward(x));
    const attended = F.scaledDotProductAttention(q, k, v, { training: this.training });
    const out = this.c_proj.forward(attended.transpose(0, 1).contiguous().view(L, N, C));
    return out.select(0, 0);
  }
}

export interface ModifiedResNetOptions {
  layers: [number, number, number, number];
  outputDim: number;
  heads: number;
  inputResolution?: number;
  width?: number;
}

export class ModifiedResNet extends nn.Module {
  readonly outputDim: number;
  readonly inputResolution: number;
  conv1: nn.Conv2d;
  bn1: nn.BatchNorm2d;
  conv2: nn.Conv2d;
  bn2: nn.BatchNorm2d;
  conv3: nn.Conv2d;
  bn3: nn.BatchNorm2d;
  avgpool: AvgPool2d;
  relu: ReLU;
  layer1: nn.Sequential;
  layer2: nn.Sequential;
  layer3: nn.Sequential;
  layer4: nn.Sequential;
  attnpool: AttentionPool2d;
  private inplanes: number;

  constructor(o: ModifiedResNetOptions) {
    super();
    const width = o.width ?? 64;
    this.outputDim = o.outputDim;
    this.inputResolution = o.inputResolution ?? 224;
    // the 3-layer stem
    this.conv1 = this.registerModule('conv1', new nn.Conv2d(3, width / 2, 3, { stride: 2, padding: 1, bias: false }));
    this.bn1 = this.registerModule('bn1', new nn.BatchNorm2d(width / 2));
    this.conv2 = this.registerModule('conv2', new nn.Conv2d(width / 2, width / 2, 3, { padding: 1, bias: false }));
    this.bn2 = this.registerModule('bn2', new nn.BatchNorm2d(width / 2));
    this.conv3 = this.registerModule('conv3', new nn.Conv2d(width / 2, width, 3, { padding: 1, bias: false }));
    this.bn3 = this.registerModule('bn3', new nn.BatchNorm2d(width));
    this.avgpool = this.registerModule('avgpool', new AvgPool2d(2));
    this.relu = this.registerModule('relu', new ReLU());
    // residual layers
    this.inplanes = width;
    this.layer1 = this.registerModule('layer1', this.makeLayer(width, o.layers[0]));
    this.layer2 = this.registerModule('layer2', this.makeLayer(width * 2, o.layers[1], 2));
    this.layer3 = this.registerModule('layer3', this.makeLayer(width * 4, o.layers[2], 2));
    this.layer4 = this.registerModule('layer4', this.makeLayer(width * 8, o.layers[3], 2));
    const embedDim = width * 32; // the ResNet feature dimension
    this.attnpool = this.registerModule(
      'attnpool',
      new AttentionPool2d(Math.floor(this.inputResolution / 32), embedDim, o.heads, o.outputDim),
    );
  }

  private makeLayer(planes: number, blocks: number, stride = 1): nn.Sequential {
    const layers = [new Bottleneck(this.inplanes, planes, stride)];
    this.inplanes = planes * Bottleneck.expansion;
    for (let i = 1; i < blocks; i++) layers.push(new Bottleneck(this.inplanes, planes));
    return new nn.Sequential(layers);
  }

  get stages(): nn.Sequential[] {
    return [this.layer1, this.layer2, this.layer3, this.layer4];
  }

  /** `x`: `[N, 3, R, R]` -> `[N, output_dim]`. */
  forward(x: Tensor): Tensor {
    if (x.ndim !== 4 || x.size(1) !== 3)
      throw new Error(`ModifiedResNet: expected frames [N, 3, H, W], got [${x.shape}]`);
    x = x.to(this.conv1.weight.dtype);
    for (const [conv, bn] of [
      [this.conv1, this.bn1],
      [this.conv2, this.bn2],
      [this.conv3, this.bn3],
    ] as const) {
      x = bn.forward(conv.forward(x)).relu();
    }
    x = this.avgpool.forward(x);
    for (const stage of this.stages) x = stage.forward(x);
    return this.attnpool.forward(x);
  }
}
