import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, type Tensor } from '../index.ts';
import { SGD, type SgdOptions } from './sgd.ts';

const INIT = [
  [0.5, -1.25, 2.0],
  [1.0, -2.0, 0.25, 3.0],
  [0.75, -0.5],
];
const GROUP_OF = [0, 0, 1];
const GRADS: (number[] | null)[][] = [
  [
    [0.3, -0.2, 4.0],
    [0.5, 0.5, -1.0, 2.0],
    [0.2, -0.7],
  ],
  [[0.1, 0.2, -0.3], null, [-0.4, 0.3]],
  [
    [-1.0, 0.5, 0.25],
    [0.1, 0.2, 0.3, 0.4],
    [0.6, -0.6],
  ],
];

interface Hyper {
  lr: number[];
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  maximize?: boolean;
}

/** SGD in float64 from its definition: the momentum buffer starts as the first (decayed) gradient. */
function sgdReference(h: Hyper): number[][] {
  const params = INIT.map((p) => [...p]);
  const buffers: (number[] | null)[] = INIT.map(() => null);
  for (const stepGrads of GRADS) {
    stepGrads.forEach((grad, i) => {
      if (grad === null) return;
      const lr = h.lr[GROUP_OF[i]!]!;
      const d = grad.map((g, k) => (h.maximize ? -g : g) + h.weightDecay * params[i]![k]!);
      let update = d;
      if (h.momentum !== 0) {
        const previous = buffers[i];
        const buffer = previous === null ? [...d] : previous.map((b, k) => h.momentum * b + (1 - h.dampening) * d[k]!);
        buffers[i] = buffer;
        update = h.nesterov ? d.map((x, k) => x + h.momentum * buffer[k]!) : buffer;
      }
      params[i] = params[i]!.map((p, k) => p - lr * update[k]!);
    });
  }
  return params;
}

function run(options: SgdOptions, lrs: [number, number]): { params: Tensor[]; optimizer: SGD } {
  const params = INIT.map((v) => tensor(v).keep().requiresGrad_(true));
  const optimizer = new SGD(
    [
      { params: params.slice(0, 2), lr: lrs[0] },
      { params: params.slice(2), lr: lrs[1] },
    ],
    options,
  );
  for (const stepGrads of GRADS) {
    params.forEach((p, i) => {
      p.grad = stepGrads[i] ? tensor(stepGrads[i]!) : null;
    });
    optimizer.step();
  }
  return { params, optimizer };
}

function assertClose(params: Tensor[], expected: number[][], what: string): void {
  params.forEach((p, i) =>
    p.toArray().forEach((a, k) => {
      const e = expected[i]![k]!;
      assert.ok(
        Math.abs(a - e) <= 1e-6 * Math.max(1, Math.abs(e)),
        `${what}: parameter ${i}[${k}] is ${a}, hand computation gives ${e}`,
      );
    }),
  );
}

const CASES: [string, SgdOptions, Omit<Hyper, 'lr'>][] = [
  ['plain', {}, { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false }],
  ['weight decay', { weight_decay: 0.1 }, { momentum: 0, dampening: 0, weightDecay: 0.1, nesterov: false }],
  ['momentum', { momentum: 0.9 }, { momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false }],
  [
    'momentum, dampening, weight decay',
    { momentum: 0.8, dampening: 0.3, weight_decay: 0.05 },
    { momentum: 0.8, dampening: 0.3, weightDecay: 0.05, nesterov: false },
  ],
  [
    'nesterov',
    { momentum: 0.9, nesterov: true, weight_decay: 5e-4 },
    { momentum: 0.9, dampening: 0, weightDecay: 5e-4, nesterov: true },
  ],
  [
    'maximize',
    { momentum: 0.5, maximize: true },
    { momentum: 0.5, dampening: 0, weightDecay: 0, nesterov: false, maximize: true },
  ],
];

for (const foreach of [null, false] as const) {
  for (const [name, options, hyper] of CASES) {
    test(`SGD ${name} (foreach ${foreach}), two groups with their own lr, 3 steps`, () => {
      const { params } = run({ ...options, foreach }, [0.1, 0.03]);
      assertClose(params, sgdReference({ ...hyper, lr: [0.1, 0.03] }), `SGD ${name}`);
    });
  }
}

test('SGD with momentum differs from without (the comparison can fail)', () => {
  const { params } = run({ momentum: 0.9 }, [0.1, 0.03]);
  assert.throws(() =>
    assertClose(
      params,
      sgdReference({ momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, lr: [0.1, 0.03] }),
      'SGD',
    ),
  );
});

test('SGD leaves .grad untouched and records momentum buffers as PyTorch does', () => {
  const { params, optimizer } = run({ momentum: 0.9, nesterov: true, weight_decay: 0.1 }, [0.1, 0.03]);
  assert.deepEqual(
    params[0]!.grad!.toArray().map((x) => Math.fround(x)),
    GRADS[2]![0]!.map((x) => Math.fround(x)),
  );
  assert.ok(optimizer.state.get(params[0]!)!.momentum_buffer !== null);
  const plain = run({}, [0.1, 0.03]);
  assert.equal(plain.optimizer.state.get(plain.params[0]!)!.momentum_buffer, null);
  const state = plain.optimizer.stateDict().state;
  assert.deepEqual(Object.keys(state), ['0', '1', '2']);
});

test('SGD requires lr and checks Nesterov settings', () => {
  const p = tensor([1, 2]).keep().requiresGrad_(true);
  assert.throws(
    () => new SGD([p]),
    /SGD parameter group 0 didn't specify a value of required optimization parameter lr/,
  );
  assert.throws(
    () => new SGD([p], { lr: 0.1, nesterov: true }),
    /Nesterov momentum requires a momentum > 0 and zero dampening/,
  );
  assert.throws(() => new SGD([p], { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true }), /zero dampening/);
  assert.throws(() => new SGD([p], { lr: 0.1, momentum: -1 }), /'momentum' must be a finite number >= 0/);
});
