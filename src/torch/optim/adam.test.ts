import { test } from 'node:test';
import assert from 'node:assert/strict';
import { manualSeed, randn, tensor, type Tensor } from '../index.ts';
import { Adam, AdamW, CPU_CHUNK, type AdamOptions } from './adam.ts';
import type { ParamGroupInput, AdamGroup } from './index.ts';

// Three parameters in two groups; parameter 1 has no gradient at step 1 (it must be skipped there and its
// step count must lag behind the others').
const INIT = [
  [0.5, -1.25, 2.0, 0.125],
  [1.0, -2.0, 0.25, 3.0],
  [0.75, -0.5, 1.5],
];
const SHAPES = [[4], [2, 2], [3]];
const GROUP_OF = [0, 0, 1];
const GRADS: (number[] | null)[][] = [
  [
    [0.3, -0.2, 1e-3, 4.0],
    [0.5, 0.5, -1.0, 2.0],
    [0.2, -0.7, 0.05],
  ],
  [[0.1, 0.2, -0.3, 0.4], null, [-0.4, 0.3, 0.9]],
  [
    [-1.0, 0.5, 0.25, -0.125],
    [0.1, 0.2, 0.3, 0.4],
    [0.6, 0.6, -0.6],
  ],
];

interface Hyper {
  lr: number[];
  weightDecay: number[];
  beta1: number;
  beta2: number;
  eps: number;
  decoupled: boolean;
  amsgrad?: boolean;
  maximize?: boolean;
}

/** Adam/AdamW in float64, straight from the algorithm's definition. */
function adamReference(h: Hyper): number[][] {
  const params = INIT.map((p) => [...p]);
  const m = INIT.map((p) => p.map(() => 0));
  const v = INIT.map((p) => p.map(() => 0));
  const vMax = INIT.map((p) => p.map(() => 0));
  const t = INIT.map(() => 0);
  for (const stepGrads of GRADS) {
    stepGrads.forEach((grad, i) => {
      if (grad === null) return;
      const g = GROUP_OF[i]!;
      const lr = h.lr[g]!;
      const wd = h.weightDecay[g]!;
      t[i]! += 1;
      const bc1 = 1 - h.beta1 ** t[i]!;
      const bc2 = 1 - h.beta2 ** t[i]!;
      params[i] = params[i]!.map((p, k) => {
        let gk = h.maximize ? -grad[k]! : grad[k]!;
        if (h.decoupled) p *= 1 - lr * wd;
        else gk += wd * p;
        m[i]![k] = h.beta1 * m[i]![k]! + (1 - h.beta1) * gk;
        v[i]![k] = h.beta2 * v[i]![k]! + (1 - h.beta2) * gk * gk;
        vMax[i]![k] = Math.max(vMax[i]![k]!, v[i]![k]!);
        const second = h.amsgrad ? vMax[i]![k]! : v[i]![k]!;
        return p - ((lr / bc1) * m[i]![k]!) / (Math.sqrt(second) / Math.sqrt(bc2) + h.eps);
      });
    });
  }
  return params;
}

function makeParams(): Tensor[] {
  return INIT.map((values, i) => tensor(values).reshape(SHAPES[i]!).keep().requiresGrad_(true));
}

function run(
  make: (groups: ParamGroupInput<AdamGroup>[]) => AdamW | Adam,
  groupOptions: Partial<AdamGroup>[],
): { params: Tensor[]; optimizer: AdamW | Adam } {
  const params = makeParams();
  const optimizer = make([
    { params: params.slice(0, 2), ...groupOptions[0] },
    { params: params.slice(2), ...groupOptions[1] },
  ]);
  for (const stepGrads of GRADS) {
    params.forEach((p, i) => {
      p.grad = stepGrads[i] ? tensor(stepGrads[i]!).reshape(SHAPES[i]!) : null;
    });
    optimizer.step();
  }
  return { params, optimizer };
}

function assertClose(params: Tensor[], expected: number[][], what: string): void {
  params.forEach((p, i) => {
    const actual = p.toArray();
    actual.forEach((a, k) => {
      const e = expected[i]![k]!;
      assert.ok(
        Math.abs(a - e) <= 2e-6 * Math.max(1, Math.abs(e)),
        `${what}: parameter ${i}[${k}] is ${a}, hand computation gives ${e}`,
      );
    });
  });
}

const BASE = { beta1: 0.9, beta2: 0.999, eps: 1e-8 };

for (const foreach of [null, false] as const) {
  test(`AdamW (foreach ${foreach}): decoupled weight decay, two groups with their own lr and weight decay, 3 steps`, () => {
    const options: AdamOptions = { betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0.2, foreach };
    const { params } = run((groups) => new AdamW(groups, options), [{ lr: 0.01 }, { lr: 0.1, weight_decay: 0.05 }]);
    assertClose(
      params,
      adamReference({ ...BASE, lr: [0.01, 0.1], weightDecay: [0.2, 0.05], decoupled: true }),
      'AdamW',
    );
  });

  test(`Adam (foreach ${foreach}): L2 weight decay added to the gradient, 3 steps`, () => {
    const options: AdamOptions = { betas: [0.8, 0.99], eps: 1e-6, weight_decay: 0.1, foreach };
    const { params } = run((groups) => new Adam(groups, options), [{ lr: 0.05 }, { lr: 0.2, weight_decay: 0 }]);
    assertClose(
      params,
      adamReference({ beta1: 0.8, beta2: 0.99, eps: 1e-6, lr: [0.05, 0.2], weightDecay: [0.1, 0], decoupled: false }),
      'Adam',
    );
  });

  test(`AdamW (foreach ${foreach}) with amsgrad and maximize`, () => {
    const options: AdamOptions = { weight_decay: 0.01, amsgrad: true, maximize: true, foreach };
    const { params } = run((groups) => new AdamW(groups, options), [{ lr: 0.03 }, { lr: 0.07 }]);
    assertClose(
      params,
      adamReference({
        ...BASE,
        lr: [0.03, 0.07],
        weightDecay: [0.01, 0.01],
        decoupled: true,
        amsgrad: true,
        maximize: true,
      }),
      'AdamW amsgrad',
    );
  });
}

test('the reference differs from a wrong algorithm (the comparison can fail)', () => {
  const right = adamReference({ ...BASE, lr: [0.01, 0.1], weightDecay: [0.2, 0.05], decoupled: true });
  const coupled = adamReference({ ...BASE, lr: [0.01, 0.1], weightDecay: [0.2, 0.05], decoupled: false });
  const { params } = run(
    (groups) => new AdamW(groups, { weight_decay: 0.2 }),
    [{ lr: 0.01 }, { lr: 0.1, weight_decay: 0.05 }],
  );
  assertClose(params, right, 'AdamW');
  assert.throws(() => assertClose(params, coupled, 'AdamW vs Adam-style decay'));
});

test('AdamW matches PyTorch 1.13 bit for bit (values printed by torch.optim.AdamW)', () => {
  const p = tensor([0.5, -1.25, 2.0, 0.125]).keep().requiresGrad_(true);
  const q = tensor([
    [1.0, -2.0],
    [0.25, 3.0],
  ])
    .keep()
    .requiresGrad_(true);
  const optimizer = new AdamW(
    [
      { params: [p], lr: 0.01 },
      { params: [q], lr: 0.1, weight_decay: 0.0 },
    ],
    { betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0.2 },
  );
  const grads: [number[], number[][]][] = [
    [
      [0.3, -0.2, 1e-3, 4.0],
      [
        [0.5, 0.5],
        [-1.0, 2.0],
      ],
    ],
    [
      [0.1, 0.2, -0.3, 0.4],
      [
        [-0.5, 0.25],
        [1.0, 0.0],
      ],
    ],
    [
      [-1.0, 0.5, 0.25, -0.125],
      [
        [0.1, 0.2],
        [0.3, 0.4],
      ],
    ],
  ];
  for (const [gp, gq] of grads) {
    p.grad = tensor(gp);
    q.grad = tensor(gq);
    optimizer.step();
  }
  assert.deepEqual(p.toArray(), [0.48241570591926575, -1.2388416528701782, 1.9857823848724365, 0.10137320309877396]);
  assert.deepEqual(q.toArray(), [0.9003397226333618, -2.2825934886932373, 0.32749128341674805, 2.7696661949157715]);
});

test('multi-tensor and one-tensor-at-a-time paths give identical bits on the CPU', () => {
  const a = run(
    (groups) => new AdamW(groups, { weight_decay: 0.2, amsgrad: true, foreach: null }),
    [{ lr: 0.01 }, { lr: 0.1 }],
  );
  const b = run(
    (groups) => new AdamW(groups, { weight_decay: 0.2, amsgrad: true, foreach: false }),
    [{ lr: 0.01 }, { lr: 0.1 }],
  );
  a.params.forEach((p, i) => assert.deepEqual(p.toArray(), b.params[i]!.toArray()));
});

test('the chunked CPU update of large parameters gives the bits of the multi-tensor kernels', () => {
  // numel > CPU_CHUNK and not a multiple of it (the last chunk is partial); the transposed one is not
  // contiguous, so it takes the whole-tensor path; one small parameter is never chunked.
  const shapes = [[3, CPU_CHUNK / 2 + 7], [CPU_CHUNK + 5], [5, 3]];
  const cases: [string, (params: Tensor[], foreach: boolean | null) => AdamW | Adam][] = [
    ['AdamW', (ps, foreach) => new AdamW(ps, { lr: 0.01, weight_decay: 0.1, foreach })],
    ['AdamW amsgrad+maximize', (ps, foreach) => new AdamW(ps, { lr: 0.01, amsgrad: true, maximize: true, foreach })],
    ['Adam L2', (ps, foreach) => new Adam(ps, { lr: 0.01, weight_decay: 0.1, foreach })],
  ];
  for (const [what, make] of cases) {
    const results = [null, false].map((foreach) => {
      manualSeed(7);
      const params = shapes.map((shape) => randn(shape).keep().requiresGrad_(true));
      params.push(
        randn([CPU_CHUNK / 4 + 3, 6])
          .t()
          .keep()
          .requiresGrad_(true),
      );
      const optimizer = make(params, foreach);
      for (let step = 0; step < 3; step++) {
        for (const p of params) p.grad = randn(p.shape).keep();
        optimizer.step();
      }
      return params;
    });
    results[0]!.forEach((p, i) => {
      const q = results[1]![i]!;
      assert.equal(p.ne(q).sum().item(), 0, `${what}: parameter ${i} differs between the two paths`);
    });
  }
});

test('parameters without a gradient are skipped: no state, no change, their step count lags', () => {
  const params = makeParams();
  const optimizer = new AdamW([{ params }], { lr: 0.1 });
  params[0]!.grad = tensor([1, 1, 1, 1]);
  optimizer.step();
  assert.equal(optimizer.state.has(params[1]!), false);
  assert.deepEqual(params[1]!.toArray(), INIT[1]);
  params[1]!.grad = tensor([
    [1, 1],
    [1, 1],
  ]);
  optimizer.step();
  assert.equal(optimizer.state.get(params[0]!)!.step, 2);
  assert.equal(optimizer.state.get(params[1]!)!.step, 1);
});

test('zeroGrad drops the gradients (set to none)', () => {
  const params = makeParams();
  const optimizer = new AdamW(params);
  params.forEach((p) => {
    p.grad = tensor(p.toArray()).reshape(p.shape);
  });
  optimizer.zeroGrad();
  for (const p of params) assert.equal(p.grad, null);
});

test('groups take defaults for unspecified keys, and lr stays writable for schedulers', () => {
  const params = makeParams();
  const optimizer = new AdamW(
    [{ params: params.slice(0, 1) }, { params: params.slice(1), lr: 0.5, betas: [0.8, 0.9] }],
    { lr: 0.01, weight_decay: 0.2 },
  );
  assert.equal(optimizer.paramGroups[0]!.lr, 0.01);
  assert.deepEqual(optimizer.paramGroups[0]!.betas, [0.9, 0.999]);
  assert.equal(optimizer.paramGroups[1]!.lr, 0.5);
  assert.deepEqual(optimizer.paramGroups[1]!.betas, [0.8, 0.9]);
  assert.equal(optimizer.paramGroups[1]!.weight_decay, 0.2);
  optimizer.paramGroups[0]!.lr = 0.25;
  assert.equal(optimizer.stateDict().param_groups[0]!.lr, 0.25);
});

test('invalid hyper-parameters and parameters are refused with the group and key named', () => {
  const params = makeParams();
  assert.throws(() => new AdamW(params, { lr: -1 }), /AdamW parameter group 0: 'lr' must be a finite number >= 0/);
  assert.throws(
    () => new AdamW([{ params: [params[0]!] }, { params: [params[1]!], betas: [0.9, 1.0] }]),
    /group 1: 'betas' must be two numbers in \[0, 1\)/,
  );
  assert.throws(() => new Adam(params, { weight_decay: -0.1 }), /'weight_decay' must be a finite number >= 0/);
  assert.throws(
    () => new AdamW([{ params: [params[0]!] }, { params: [params[0]!] }]),
    /group 1: params\[0\] already appears/,
  );
  assert.throws(() => new AdamW(params, { capturable: true }), /'capturable' = true is not supported/);
  const nonLeaf = params[0]!.mul(2);
  assert.throws(() => new AdamW([nonLeaf]), /params\[0\] is not a leaf tensor/);
  assert.throws(() => new AdamW([]), /empty parameter list/);
});
